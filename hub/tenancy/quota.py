"""Quota arithmetic: does a request fit in what a tenant has left?

Pure functions over integers (millicores, bytes, counts). A server counts
against the CPU and memory quota with its profile's *limit* (its guarantee
when no limit is set): the Kubernetes backend sets both ``requests.*`` and
``limits.*`` of the tenant ResourceQuota to the quota, so the stricter sum,
the limits, is what must fit.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from hub.config.quantities import human_bytes, human_cpu, parse_bytes, parse_cpu_millis
from hub.config.schema import Profile, Quota


@dataclass(frozen=True)
class Resources:
    """An amount of the resources a quota limits."""

    cpu_millis: int = 0
    memory_bytes: int = 0
    gpu: int = 0
    servers: int = 0
    storage_bytes: int = 0
    running_jobs: int = 0

    # spelled out: these run on every spawn and quota check
    def __add__(self, other: Resources) -> Resources:
        return Resources(
            self.cpu_millis + other.cpu_millis,
            self.memory_bytes + other.memory_bytes,
            self.gpu + other.gpu,
            self.servers + other.servers,
            self.storage_bytes + other.storage_bytes,
            self.running_jobs + other.running_jobs,
        )

    def __sub__(self, other: Resources) -> Resources:
        return Resources(
            self.cpu_millis - other.cpu_millis,
            self.memory_bytes - other.memory_bytes,
            self.gpu - other.gpu,
            self.servers - other.servers,
            self.storage_bytes - other.storage_bytes,
            self.running_jobs - other.running_jobs,
        )


@dataclass(frozen=True)
class QuotaLimits:
    """A tenant's quota as integers; None means no limit on that resource."""

    cpu_millis: int | None = None
    memory_bytes: int | None = None
    gpu: int | None = None
    servers: int | None = None
    storage_bytes: int | None = None
    running_jobs: int | None = None

    @classmethod
    def from_quota(cls, quota: Quota) -> QuotaLimits:
        return cls(
            cpu_millis=parse_cpu_millis(quota.cpu) if quota.cpu is not None else None,
            memory_bytes=parse_bytes(quota.memory) if quota.memory is not None else None,
            gpu=quota.gpu,
            servers=quota.servers,
            storage_bytes=parse_bytes(quota.storage) if quota.storage is not None else None,
            running_jobs=quota.running_jobs,
        )


_LABELS = {
    "cpu_millis": "cpu",
    "memory_bytes": "memory",
    "gpu": "gpu",
    "servers": "servers",
    "storage_bytes": "storage",
    "running_jobs": "running jobs",
}


def _show(resource: str, amount: int) -> str:
    if resource == "cpu_millis":
        return human_cpu(amount)
    if resource in ("memory_bytes", "storage_bytes"):
        return human_bytes(amount)
    return str(amount)


@dataclass(frozen=True)
class QuotaShortfall:
    """One resource a request does not fit in: which, how much is used, asked, allowed."""

    resource: str
    used: int
    requested: int
    limit: int

    @property
    def label(self) -> str:
        return _LABELS[self.resource]

    def describe(self) -> str:
        return (
            f"{self.label}: {_show(self.resource, self.used)} of "
            f"{_show(self.resource, self.limit)} in use, this needs "
            f"{_show(self.resource, self.requested)} more"
        )


def shortfalls(limits: QuotaLimits, used: Resources, requested: Resources) -> list[QuotaShortfall]:
    """Every resource where ``used + requested`` would exceed the limit (empty: it fits)."""
    out = []
    for f in fields(Resources):
        limit = getattr(limits, f.name)
        ask = getattr(requested, f.name)
        have = getattr(used, f.name)
        if limit is not None and ask > 0 and have + ask > limit:
            out.append(QuotaShortfall(f.name, have, ask, limit))
    return out


def quota_message(tenant: str, problems: list[QuotaShortfall]) -> str:
    """The sentence a user sees on the spawn page when a request does not fit."""
    detail = "; ".join(p.describe() for p in problems)
    return (
        f"Tenant {tenant!r} is over quota: {detail}. Stop another server in this tenant "
        "or ask a tenant admin to raise the quota."
    )


def server_request(profile: Profile) -> Resources:
    """What one server of ``profile`` counts against its tenant's quota."""
    cpu = profile.cpu.limit or profile.cpu.guarantee
    memory = profile.memory.limit or profile.memory.guarantee
    return Resources(
        cpu_millis=parse_cpu_millis(cpu) if cpu else 0,
        memory_bytes=parse_bytes(memory) if memory else 0,
        gpu=profile.gpu,
        servers=1,
    )
