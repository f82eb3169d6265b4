"""usage samples: per-tenant usage recorded by the service's sampler, for the charts

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 15:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "th_usage_samples",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant", sa.String(length=40), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("servers", sa.Integer(), nullable=False),
        sa.Column("cpu_millis", sa.BigInteger(), nullable=False),
        sa.Column("memory_bytes", sa.BigInteger(), nullable=False),
        sa.Column("gpu", sa.Integer(), nullable=False),
        sa.Column("storage_bytes", sa.BigInteger(), nullable=False),
        sa.Column("running_jobs", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_th_usage_samples")),
    )
    with op.batch_alter_table("th_usage_samples", schema=None) as batch_op:
        batch_op.create_index("ix_th_usage_samples_tenant_at", ["tenant", "at"], unique=False)
        batch_op.create_index(batch_op.f("ix_th_usage_samples_at"), ["at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("th_usage_samples", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_th_usage_samples_at"))
        batch_op.drop_index("ix_th_usage_samples_tenant_at")
    op.drop_table("th_usage_samples")
