"""Usage history in the platform DB: what the usage sampler writes and the charts read.

Kept apart from ``hub.tenancy.store`` (tenants, memberships, audit) because its
rows are a time series: written in one batch per sampling tick, read as a
window of one tenant's samples, deleted by age. Row volume is
``tenants x retention / interval`` (defaults: 60 s for 8 days = 11,520 rows a
tenant). Like the store, methods are synchronous and return frozen
dataclasses; callers on an event loop run them in a worker thread.

It also reads the tenants' quota and storage spec (``tenant_bases``) in one
statement, because the sampler needs every tenant's at every tick and one
query per tenant would not do with a thousand tenants.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, delete, func, insert, select

from hub.tenancy.models import QuotaRow, TenantRow, UsageSampleRow
from hub.tenancy.quota import QuotaLimits


@dataclass(frozen=True)
class TenantBasis:
    """What a tenant's usage is measured against: its quota and its storage spec."""

    name: str
    limits: QuotaLimits
    storage: Mapping[str, Any]


@dataclass(frozen=True)
class UsageSample:
    """A tenant's usage at one moment (base units: millicores, bytes, counts)."""

    tenant: str
    at: datetime
    servers: int
    cpu_millis: int
    memory_bytes: int
    gpu: int
    storage_bytes: int
    running_jobs: int


def as_utc(value: datetime) -> datetime:
    """SQLite hands back naive datetimes: everything here is written in UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


_SAMPLES = UsageSampleRow.__table__
_TENANTS = TenantRow.__table__
_QUOTAS = QuotaRow.__table__


class UsageStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # ------------------------------------------------------------------ tenants

    def tenant_bases(
        self, names: Sequence[str] | None = None, offset: int = 0, limit: int | None = None
    ) -> tuple[int, list[TenantBasis]]:
        """Tenants by name (``names``: only these; None: all), one page, and how many match."""
        t, q = _TENANTS, _QUOTAS
        query = select(
            t.c.name, t.c.storage, q.c.cpu_millis, q.c.memory_bytes, q.c.gpu, q.c.servers,
            q.c.storage_bytes, q.c.running_jobs,
        ).select_from(t.outerjoin(q, q.c.tenant_id == t.c.id))  # fmt: skip
        counted = select(func.count()).select_from(t)
        if names is not None:
            query = query.where(t.c.name.in_(list(names)))
            counted = counted.where(t.c.name.in_(list(names)))
        query = query.order_by(t.c.name).offset(offset)
        if limit is not None:
            query = query.limit(limit)
        with self.engine.connect() as conn:
            total = conn.scalar(counted) or 0
            rows = conn.execute(query).all()
        return total, [
            TenantBasis(
                name=row.name,
                limits=QuotaLimits(
                    cpu_millis=row.cpu_millis,
                    memory_bytes=row.memory_bytes,
                    gpu=row.gpu,
                    servers=row.servers,
                    storage_bytes=row.storage_bytes,
                    running_jobs=row.running_jobs,
                ),
                storage=dict(row.storage or {}),
            )
            for row in rows
        ]

    # ------------------------------------------------------------------ samples

    def record(self, samples: Sequence[UsageSample]) -> int:
        """Write one tick's samples in one transaction (one multi-row insert)."""
        if not samples:
            return 0
        rows = [{**asdict(s), "at": as_utc(s.at)} for s in samples]
        with self.engine.begin() as conn:
            conn.execute(insert(UsageSampleRow), rows)
        return len(rows)

    def history(self, tenant: str, since: datetime, until: datetime) -> list[UsageSample]:
        """The tenant's samples with ``since <= at <= until``, oldest first."""
        s = _SAMPLES
        query = (
            select(
                s.c.tenant, s.c.at, s.c.servers, s.c.cpu_millis, s.c.memory_bytes, s.c.gpu,
                s.c.storage_bytes, s.c.running_jobs,
            )
            .where(s.c.tenant == tenant, s.c.at >= as_utc(since), s.c.at <= as_utc(until))
            .order_by(s.c.at, s.c.id)
        )  # fmt: skip
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [
            UsageSample(
                tenant=r.tenant,
                at=as_utc(r.at),
                servers=r.servers,
                cpu_millis=r.cpu_millis,
                memory_bytes=r.memory_bytes,
                gpu=r.gpu,
                storage_bytes=r.storage_bytes,
                running_jobs=r.running_jobs,
            )
            for r in rows
        ]

    def prune(self, before: datetime) -> int:
        """Delete every sample older than ``before`` (the retention limit); how many went."""
        with self.engine.begin() as conn:
            result = conn.execute(delete(UsageSampleRow).where(UsageSampleRow.at < as_utc(before)))
        return int(result.rowcount or 0)
