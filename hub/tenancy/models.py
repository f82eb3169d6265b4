"""Platform tables (prefixed ``th_`` so they can share a database with JupyterHub's).

Schema changes go through Alembic migrations in ``hub/tenancy/migrations``;
nothing here calls ``create_all`` outside tests of the models themselves.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class TenantRow(Base):
    __tablename__ = "th_tenants"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(40), unique=True, nullable=False)
    display_name: Mapped[str] = mapped_column(String(255), nullable=False, default="")
    all_profiles: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    storage: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    group_mappings: Mapped[list[dict[str, Any]]] = mapped_column(JSON, nullable=False, default=list)
    source: Mapped[str] = mapped_column(String(16), nullable=False, default="manual")
    #: Fingerprint of the tenant as the config last seeded it; see hub.tenancy.seed.
    seeded_fingerprint: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )

    quota: Mapped[QuotaRow] = relationship(
        back_populates="tenant", uselist=False, cascade="all, delete-orphan", lazy="joined"
    )
    memberships: Mapped[list[MembershipRow]] = relationship(
        back_populates="tenant", cascade="all, delete-orphan"
    )
    profiles: Mapped[list[TenantProfileRow]] = relationship(
        back_populates="tenant", cascade="all, delete-orphan", lazy="selectin"
    )


class QuotaRow(Base):
    """One row per tenant; NULL in a column means no limit."""

    __tablename__ = "th_quotas"

    tenant_id: Mapped[int] = mapped_column(
        ForeignKey("th_tenants.id", ondelete="CASCADE"), primary_key=True
    )
    cpu_millis: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    memory_bytes: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    gpu: Mapped[int | None] = mapped_column(Integer, nullable=True)
    servers: Mapped[int | None] = mapped_column(Integer, nullable=True)
    storage_bytes: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    running_jobs: Mapped[int | None] = mapped_column(Integer, nullable=True)

    tenant: Mapped[TenantRow] = relationship(back_populates="quota")


class MembershipRow(Base):
    """User x tenant x role, per source; a user's role is the highest over sources."""

    __tablename__ = "th_memberships"
    __table_args__ = (UniqueConstraint("tenant_id", "username", "source", name="uq_th_membership"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(
        ForeignKey("th_tenants.id", ondelete="CASCADE"), nullable=False, index=True
    )
    username: Mapped[str] = mapped_column(String(255), nullable=False, index=True)
    role: Mapped[str] = mapped_column(String(16), nullable=False)  # member | admin
    source: Mapped[str] = mapped_column(String(16), nullable=False)  # config|ldap|oauth|manual
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    tenant: Mapped[TenantRow] = relationship(back_populates="memberships")


class TenantProfileRow(Base):
    """A profile allowed in a tenant (only consulted when the tenant's all_profiles is false)."""

    __tablename__ = "th_tenant_profiles"

    tenant_id: Mapped[int] = mapped_column(
        ForeignKey("th_tenants.id", ondelete="CASCADE"), primary_key=True
    )
    profile: Mapped[str] = mapped_column(String(63), primary_key=True)

    tenant: Mapped[TenantRow] = relationship(back_populates="profiles")


class AuditRow(Base):
    __tablename__ = "th_audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(255), nullable=False)
    action: Mapped[str] = mapped_column(String(64), nullable=False)
    target: Mapped[str] = mapped_column(String(255), nullable=False)
    detail: Mapped[str] = mapped_column(Text, nullable=False, default="")


class UsageSampleRow(Base):
    """A tenant's usage at one moment, written by the service's usage sampler for the charts.

    Keyed by tenant *name*, not id: samples are history, kept (until retention
    prunes them) when a tenant is deleted. Pruning reads ``at`` alone, hence its
    own index besides (tenant, at) for the per-tenant history.
    """

    __tablename__ = "th_usage_samples"
    __table_args__ = (Index("ix_th_usage_samples_tenant_at", "tenant", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant: Mapped[str] = mapped_column(String(40), nullable=False)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, index=True)
    servers: Mapped[int] = mapped_column(Integer, nullable=False)
    cpu_millis: Mapped[int] = mapped_column(BigInteger, nullable=False)
    memory_bytes: Mapped[int] = mapped_column(BigInteger, nullable=False)
    gpu: Mapped[int] = mapped_column(Integer, nullable=False)
    storage_bytes: Mapped[int] = mapped_column(BigInteger, nullable=False)
    running_jobs: Mapped[int] = mapped_column(Integer, nullable=False)


class CheckpointRow(Base):
    """One checkpoint of a user's server: an image the checkpointer made (or is making).

    Keyed by names, not ids, like the usage samples: a checkpoint belongs to a user
    and a server, which live in JupyterHub's tables, and it outlives a deleted
    tenant until its images are removed. ``deleted`` marks what the user deleted:
    the row stays until the checkpointer has removed the image and its tag. The
    latest-ready lookup of a spawn reads (user, server, tenant, profile, state),
    hence the index; the daemon's restart recovery reads (node, state).
    """

    __tablename__ = "th_checkpoints"
    __table_args__ = (
        Index("ix_th_checkpoints_owner", "user", "server", "tenant", "profile", "state"),
        Index("ix_th_checkpoints_node_state", "node", "state"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user: Mapped[str] = mapped_column(String(255), nullable=False)
    server: Mapped[str] = mapped_column(String(255), nullable=False, default="")
    tenant: Mapped[str] = mapped_column(String(40), nullable=False)
    profile: Mapped[str] = mapped_column(String(63), nullable=False)
    base_image: Mapped[str] = mapped_column(String(512), nullable=False)
    node: Mapped[str] = mapped_column(String(255), nullable=False)
    state: Mapped[str] = mapped_column(String(16), nullable=False)
    image: Mapped[str | None] = mapped_column(String(512), nullable=True)
    digest: Mapped[str | None] = mapped_column(String(100), nullable=True)
    size_bytes: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    message: Mapped[str] = mapped_column(Text, nullable=False, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    deleted: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)


class JobRow(Base):
    """A notebook job as its owner submitted it (``hub.service.jobs.model.JobSpec``).

    Keyed by tenant and owner *names*, like checkpoints: a job belongs to a user who
    lives in JupyterHub's tables. A scheduled job carries its cron state: the scheduler
    fires the slots in ``(fired_until, now]`` and sets ``next_fire_at`` to the next one,
    so finding the due jobs reads one index. ``cancelled_at`` stops its schedule for good;
    ``paused`` stops it until resumed (no ``next_fire_at`` while paused; a resumed job's
    window starts at the resume, so the slots of the pause never fire).
    """

    __tablename__ = "th_jobs"
    __table_args__ = (Index("ix_th_jobs_tenant_owner", "tenant", "owner"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant: Mapped[str] = mapped_column(String(40), nullable=False)
    owner: Mapped[str] = mapped_column(String(255), nullable=False)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    notebook: Mapped[str] = mapped_column(String(1024), nullable=False)
    parameters: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    profile: Mapped[str] = mapped_column(String(63), nullable=False)
    kernel: Mapped[str | None] = mapped_column(String(100), nullable=True)
    timeout: Mapped[int] = mapped_column(Integer, nullable=False)
    priority: Mapped[int] = mapped_column(Integer, nullable=False)
    retries: Mapped[int] = mapped_column(Integer, nullable=False)
    cron: Mapped[str | None] = mapped_column(String(255), nullable=True)
    timezone: Mapped[str | None] = mapped_column(String(64), nullable=True)
    missed: Mapped[str | None] = mapped_column(String(16), nullable=True)  # None: config
    next_fire_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), nullable=True, index=True
    )
    fired_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    cancelled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    cancelled_by: Mapped[str | None] = mapped_column(String(255), nullable=True)
    paused: Mapped[bool] = mapped_column(
        Boolean, nullable=False, default=False, server_default=false()
    )


class JobRunRow(Base):
    """One attempt of a job: queued, claimed by a scheduler instance, run by a runner.

    ``(job_id, slot, attempt)`` is unique: a cron slot inserts attempt 1 once, whichever
    scheduler instance fires it and however often it restarts (a one-off run has no
    slot). ``retry_of`` is unique too: a failed attempt is retried at most once.
    ``instance`` and ``lease_until`` say which scheduler watches an active run; another
    instance adopts the run once the lease has expired. ``tenant`` and ``priority`` are
    copied from the job so the queue and the quota count read this table alone.
    """

    __tablename__ = "th_job_runs"
    __table_args__ = (
        UniqueConstraint("job_id", "slot", "attempt", name="uq_th_job_runs_slot"),
        Index("ix_th_job_runs_queue", "state", "priority", "queued_at"),
        Index("ix_th_job_runs_tenant_state", "tenant", "state"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[int] = mapped_column(
        ForeignKey("th_jobs.id", ondelete="CASCADE"), nullable=False, index=True
    )
    tenant: Mapped[str] = mapped_column(String(40), nullable=False)
    owner: Mapped[str] = mapped_column(String(255), nullable=False)
    priority: Mapped[int] = mapped_column(Integer, nullable=False)
    attempt: Mapped[int] = mapped_column(Integer, nullable=False)
    slot: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    retry_of: Mapped[int | None] = mapped_column(
        ForeignKey("th_job_runs.id", ondelete="SET NULL"), nullable=True, unique=True
    )
    state: Mapped[str] = mapped_column(String(16), nullable=False)
    reason: Mapped[str] = mapped_column(Text, nullable=False, default="")
    exit_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    cancelled_by: Mapped[str | None] = mapped_column(String(255), nullable=True)
    runner: Mapped[str | None] = mapped_column(String(32), nullable=True)
    handle: Mapped[str | None] = mapped_column(Text, nullable=True)
    instance: Mapped[str | None] = mapped_column(String(255), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    log_tail: Mapped[str] = mapped_column(Text, nullable=False, default="")
    queued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
