"""Live usage of tenants against their quotas, and history downsampling (pure).

What "used" means, per resource (the same arithmetic the spawn pre-check uses,
``hub.tenancy.quota.server_request``):

* ``servers``, ``cpu``, ``memory``, ``gpu``: the sum over the tenant's *active*
  servers (running, starting or stopping: they hold their resources until they
  are gone) of what one server of its profile counts against the quota, i.e.
  the profile's limit (its guarantee when it sets no limit). This is what the
  servers *request*, not what they consume at the moment. A server whose
  profile is no longer in the config still counts as a server, with no CPU,
  memory or GPU (its size is unknown).
* ``storage``: the size of the tenant's volume claim as its storage spec
  requests it (``TenantStorage.size``; the spec's default when the tenant has
  none of its own, as the Kubernetes backend provisions it). It is the amount
  the tenant asks for, not the bytes written on the volume.
* ``running_jobs``: always 0 for now; the job runner does not exist yet, and
  will report the tenant's running jobs here when it does.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError

from hub.config.quantities import human_bytes, human_cpu, parse_bytes
from hub.config.schema import Profile, TenantStorage
from hub.service.api.models import ResourceUsage
from hub.service.hub_client import ServerInfo
from hub.tenancy.quota import QuotaLimits, Resources, server_request
from hub.tenancy.usage_store import TenantBasis, UsageSample

#: API resource name -> the Resources / QuotaLimits field it reads, in display order
RESOURCES: tuple[tuple[str, str], ...] = (
    ("cpu", "cpu_millis"),
    ("memory", "memory_bytes"),
    ("gpu", "gpu"),
    ("servers", "servers"),
    ("storage", "storage_bytes"),
    ("running_jobs", "running_jobs"),
)

#: the most points a history answer holds, whatever the window (a chart is a few
#: hundred pixels wide; more points only cost bytes)
MAX_POINTS = 300

WINDOWS: Mapping[str, timedelta] = {"24h": timedelta(hours=24), "7d": timedelta(days=7)}

ONE_SERVER = Resources(servers=1)


@dataclass(frozen=True)
class LiveUsage:
    """What the tenant's servers request at ``at`` (storage and jobs are added later)."""

    at: datetime
    used: Resources


def storage_request_bytes(storage: Mapping[str, Any]) -> int:
    """The bytes the tenant's storage spec requests (its default size for an empty spec).

    The DB keeps the spec as a dict (validated when it was written); one that
    no longer validates counts as 0 rather than failing the whole usage page.
    """
    try:
        return parse_bytes(TenantStorage.model_validate(dict(storage)).size)
    except (ValidationError, ValueError):
        return 0


def server_resources(server: ServerInfo, profiles: Mapping[str, Profile]) -> Resources:
    """What one active server counts against its tenant's quota."""
    profile = profiles.get(server.profile or "")
    return server_request(profile) if profile is not None else ONE_SERVER


def used_by_tenant(
    servers: Iterable[ServerInfo], profiles: Sequence[Profile]
) -> dict[str, Resources]:
    """Servers, CPU, memory and GPU requested per tenant by its active servers.

    Servers without a tenant (started before TenantHub, or not admitted) count for nobody.
    """
    by_name = {p.name: p for p in profiles}
    totals: dict[str, Resources] = defaultdict(Resources)
    for server in servers:
        if server.tenant:
            totals[server.tenant] = totals[server.tenant] + server_resources(server, by_name)
    return dict(totals)


def tenant_resources(basis: TenantBasis, servers_used: Resources | None) -> Resources:
    """The tenant's full usage: its servers' requests plus its storage request (jobs: 0)."""
    used = servers_used or Resources()
    return Resources(
        cpu_millis=used.cpu_millis,
        memory_bytes=used.memory_bytes,
        gpu=used.gpu,
        servers=used.servers,
        storage_bytes=storage_request_bytes(basis.storage),
        running_jobs=0,
    )


def _display(field: str, amount: int) -> str:
    if field == "cpu_millis":
        return human_cpu(amount)
    if field in ("memory_bytes", "storage_bytes"):
        return human_bytes(amount)
    return str(amount)


def fraction(used: int, limit: int | None) -> float | None:
    """used / limit (None: no limit). A limit of 0 reads as full (1.0): nothing more fits."""
    if limit is None:
        return None
    if limit == 0:
        return 1.0
    return round(used / limit, 4)


def resource_usage(used: Resources, limits: QuotaLimits) -> list[ResourceUsage]:
    """One entry per quota resource: used against limit, with displays for people."""
    out = []
    for resource, field in RESOURCES:
        amount = int(getattr(used, field))
        limit = getattr(limits, field)
        out.append(
            ResourceUsage(
                resource=resource,
                used=amount,
                limit=limit,
                used_display=_display(field, amount),
                limit_display=None if limit is None else _display(field, limit),
                fraction=fraction(amount, limit),
            )
        )
    return out


def samples_for(
    bases: Iterable[TenantBasis], used: Mapping[str, Resources], at: datetime
) -> list[UsageSample]:
    """One history sample per tenant (tenants without servers too: a zero is a data point)."""
    samples = []
    for basis in bases:
        r = tenant_resources(basis, used.get(basis.name))
        samples.append(
            UsageSample(
                tenant=basis.name,
                at=at,
                servers=r.servers,
                cpu_millis=r.cpu_millis,
                memory_bytes=r.memory_bytes,
                gpu=r.gpu,
                storage_bytes=r.storage_bytes,
                running_jobs=r.running_jobs,
            )
        )
    return samples


_SAMPLE_VALUES = tuple(f.name for f in fields(UsageSample) if f.name not in ("tenant", "at"))


def downsample(
    samples: Sequence[UsageSample], start: datetime, end: datetime, max_points: int = MAX_POINTS
) -> list[UsageSample]:
    """At most ``max_points`` points over ``[start, end]``, from samples ordered by time.

    The window is cut into ``max_points`` equal buckets; each non-empty bucket
    gives one point at its latest sample's time with the *peak* of every value
    in it, so a short burst up to the quota still shows on a 7-day chart.
    Fewer samples than that come back as they are.
    """
    if len(samples) <= max_points:
        return list(samples)
    span = (end - start) / max_points
    buckets: dict[int, list[UsageSample]] = defaultdict(list)
    for sample in samples:
        index = min(max_points - 1, max(0, int((sample.at - start) / span)))
        buckets[index].append(sample)
    out = []
    for index in sorted(buckets):
        group = buckets[index]
        peaks = {name: max(getattr(s, name) for s in group) for name in _SAMPLE_VALUES}
        out.append(UsageSample(tenant=group[-1].tenant, at=group[-1].at, **peaks))
    return out
