"""jobs: notebook jobs, their runs, and the (job, slot, attempt) key that fires a slot once

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 01:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "th_jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant", sa.String(length=40), nullable=False),
        sa.Column("owner", sa.String(length=255), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("notebook", sa.String(length=1024), nullable=False),
        sa.Column("parameters", sa.JSON(), nullable=False),
        sa.Column("profile", sa.String(length=63), nullable=False),
        sa.Column("kernel", sa.String(length=100), nullable=True),
        sa.Column("timeout", sa.Integer(), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("retries", sa.Integer(), nullable=False),
        sa.Column("cron", sa.String(length=255), nullable=True),
        sa.Column("timezone", sa.String(length=64), nullable=True),
        sa.Column("missed", sa.String(length=16), nullable=True),
        sa.Column("next_fire_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("fired_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancelled_by", sa.String(length=255), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_th_jobs")),
    )
    with op.batch_alter_table("th_jobs", schema=None) as batch_op:
        batch_op.create_index("ix_th_jobs_tenant_owner", ["tenant", "owner"], unique=False)
        batch_op.create_index(batch_op.f("ix_th_jobs_next_fire_at"), ["next_fire_at"], unique=False)

    op.create_table(
        "th_job_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("tenant", sa.String(length=40), nullable=False),
        sa.Column("owner", sa.String(length=255), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("slot", sa.DateTime(timezone=True), nullable=True),
        sa.Column("retry_of", sa.Integer(), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("exit_code", sa.Integer(), nullable=True),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.Column("cancelled_by", sa.String(length=255), nullable=True),
        sa.Column("runner", sa.String(length=32), nullable=True),
        sa.Column("handle", sa.Text(), nullable=True),
        sa.Column("instance", sa.String(length=255), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("log_tail", sa.Text(), nullable=False),
        sa.Column("queued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["th_jobs.id"],
            name=op.f("fk_th_job_runs_job_id_th_jobs"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["retry_of"],
            ["th_job_runs.id"],
            name=op.f("fk_th_job_runs_retry_of_th_job_runs"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_th_job_runs")),
        sa.UniqueConstraint("job_id", "slot", "attempt", name="uq_th_job_runs_slot"),
        sa.UniqueConstraint("retry_of", name=op.f("uq_th_job_runs_retry_of")),
    )
    with op.batch_alter_table("th_job_runs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_th_job_runs_job_id"), ["job_id"], unique=False)
        batch_op.create_index(
            "ix_th_job_runs_queue", ["state", "priority", "queued_at"], unique=False
        )
        batch_op.create_index("ix_th_job_runs_tenant_state", ["tenant", "state"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("th_job_runs", schema=None) as batch_op:
        batch_op.drop_index("ix_th_job_runs_tenant_state")
        batch_op.drop_index("ix_th_job_runs_queue")
        batch_op.drop_index(batch_op.f("ix_th_job_runs_job_id"))
    op.drop_table("th_job_runs")
    with op.batch_alter_table("th_jobs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_th_jobs_next_fire_at"))
        batch_op.drop_index("ix_th_jobs_tenant_owner")
    op.drop_table("th_jobs")
