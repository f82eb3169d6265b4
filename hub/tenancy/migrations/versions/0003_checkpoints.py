"""checkpoints: images of idle servers made by the checkpointer, and their lifecycle

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 20:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "th_checkpoints",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user", sa.String(length=255), nullable=False),
        sa.Column("server", sa.String(length=255), nullable=False),
        sa.Column("tenant", sa.String(length=40), nullable=False),
        sa.Column("profile", sa.String(length=63), nullable=False),
        sa.Column("base_image", sa.String(length=512), nullable=False),
        sa.Column("node", sa.String(length=255), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("image", sa.String(length=512), nullable=True),
        sa.Column("digest", sa.String(length=100), nullable=True),
        sa.Column("size_bytes", sa.BigInteger(), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_th_checkpoints")),
    )
    with op.batch_alter_table("th_checkpoints", schema=None) as batch_op:
        batch_op.create_index(
            "ix_th_checkpoints_owner",
            ["user", "server", "tenant", "profile", "state"],
            unique=False,
        )
        batch_op.create_index("ix_th_checkpoints_node_state", ["node", "state"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("th_checkpoints", schema=None) as batch_op:
        batch_op.drop_index("ix_th_checkpoints_node_state")
        batch_op.drop_index("ix_th_checkpoints_owner")
    op.drop_table("th_checkpoints")
