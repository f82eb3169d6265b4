"""data sources: each tenant's connections to files, S3, SQL, Hive and HDFS

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24 02:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "th_data_sources",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=63), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("secrets", sa.Text(), nullable=True),
        sa.Column("secret_names", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_th_data_sources")),
        sa.UniqueConstraint("tenant", "name", name="uq_th_data_sources_tenant_name"),
    )


def downgrade() -> None:
    op.drop_table("th_data_sources")
