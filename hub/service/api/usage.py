"""Usage: a tenant's live usage against its quota, its history, and every tenant's (admins).

What "used" counts is defined in ``hub.service.usage``. A tenant's own usage is
measured when asked (one call to the hub for the active servers), so it is
right after a spawn or a stop; the all-tenants page reads the sampler's latest
snapshot (at most ``service.usage_sample_every`` old) and measures afresh only
when the snapshot does not cover a tenant on the page yet.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from hub.service.api.framework import ApiError, Call, Page, QueryParam, Route, not_yours
from hub.service.api.models import UsageHistoryOut, UsageOut, UsagePoint
from hub.service.policy import Permission
from hub.service.usage import (
    WINDOWS,
    LiveUsage,
    downsample,
    resource_usage,
    tenant_resources,
    used_by_tenant,
)
from hub.tenancy.quota import Resources
from hub.tenancy.usage_store import TenantBasis, UsageSample


def iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="seconds")


def usage_out(basis: TenantBasis, live: LiveUsage) -> UsageOut:
    return UsageOut(
        tenant=basis.name,
        at=iso(live.at),
        resources=resource_usage(tenant_resources(basis, live.used), basis.limits),
    )


def point(sample: UsageSample) -> UsagePoint:
    return UsagePoint(
        at=iso(sample.at),
        servers=sample.servers,
        cpu_millis=sample.cpu_millis,
        memory_bytes=sample.memory_bytes,
        gpu=sample.gpu,
        storage_bytes=sample.storage_bytes,
        running_jobs=sample.running_jobs,
    )


async def basis_of(call: Call) -> TenantBasis:
    """The tenant in the path, or 404 (platform admins pass the policy for any name)."""
    store = call.service.usage_store
    _total, bases = await call.service.platform.run(store.tenant_bases, [call.tenant])
    if not bases:
        raise ApiError(404, not_yours(call.tenant))
    return bases[0]


async def measure_now(call: Call) -> tuple[datetime, dict[str, LiveUsage]]:
    """Every tenant's server usage from one fresh call to the hub."""
    servers = await call.service.hub.active_servers()
    at = datetime.now(UTC)
    used = used_by_tenant(servers, call.service.config.profiles)
    return at, {tenant: LiveUsage(at, r) for tenant, r in used.items()}


async def tenant_usage(call: Call) -> UsageOut:
    basis, (at, live) = await asyncio.gather(basis_of(call), measure_now(call))
    return usage_out(basis, live.get(basis.name) or LiveUsage(at, Resources()))


def window_of(call: Call) -> str:
    window = call.query.get("window", "24h")
    if window not in WINDOWS:
        shown = window[:20]
        raise ApiError(422, f"window must be one of {', '.join(WINDOWS)}, not {shown!r}.")
    return window


async def tenant_usage_history(call: Call) -> UsageHistoryOut:
    window = window_of(call)
    basis = await basis_of(call)
    until = datetime.now(UTC)
    since = until - WINDOWS[window]
    store = call.service.usage_store
    samples = await call.service.platform.run(store.history, basis.name, since, until)
    return UsageHistoryOut(
        tenant=basis.name,
        window=window,
        points=[point(s) for s in downsample(samples, since, until)],
    )


async def platform_usage(call: Call) -> Page[UsageOut]:
    store = call.service.usage_store
    total, bases = await call.service.platform.run(
        store.tenant_bases, None, call.paging.offset, call.paging.limit
    )
    snapshot: dict[str, LiveUsage] = call.service.live_usage
    at = next(iter(snapshot.values())).at if snapshot else None
    if at is None or any(b.name not in snapshot for b in bases):
        at, snapshot = await measure_now(call)
    items = [usage_out(b, snapshot.get(b.name) or LiveUsage(at, Resources())) for b in bases]
    return Page[UsageOut](
        items=items, total=total, limit=call.paging.limit, offset=call.paging.offset
    )


ROUTES = [
    Route("GET", "/tenants/{tenant}/usage", Permission.USAGE_READ, tenant_usage,
          "The tenant's live usage against its quota (servers, cpu, memory, gpu, storage, jobs)",
          response=UsageOut),
    Route("GET", "/tenants/{tenant}/usage/history", Permission.USAGE_READ, tenant_usage_history,
          "The tenant's recorded usage over a window, at most 300 points (peak per point)",
          response=UsageHistoryOut,
          query={"window": QueryParam("24h (default) or 7d", tuple(WINDOWS))}),
    Route("GET", "/usage", Permission.PLATFORM_USAGE_READ, platform_usage,
          "Live usage of every tenant, by name (platform admins)",
          response=Page[UsageOut], paged=True),
]  # fmt: skip
