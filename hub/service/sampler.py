"""The usage sampler: one coroutine that records every tenant's usage at a fixed interval.

Each tick (``service.usage_sample_every`` seconds) makes one call to the hub
for the active servers, reads every tenant's quota and storage spec in one
query, computes each tenant's usage (``hub.service.usage``), writes all of it
in one batch, deletes samples older than ``service.usage_retention``, and keeps
the servers' part in ``ServiceContext.live_usage`` for the all-tenants usage
page. A failing tick (hub or DB unreachable) is logged and the next tick tries
again: the sampler never takes the service down.

The clock is injected (``clock()`` returns an aware UTC datetime), so tests can
run ticks at chosen times, as jupyterhub-idle-culler does with ``utcnow``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from hub.service.context import ServiceContext
from hub.service.usage import LiveUsage, samples_for, used_by_tenant
from hub.tenancy.quota import Resources
from hub.tenancy.usage_store import TenantBasis, UsageSample, UsageStore

log = logging.getLogger("tenanthub.service")

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class TickResult:
    at: datetime
    recorded: int
    pruned: int


def record_tick(
    store: UsageStore,
    bases: list[TenantBasis],
    used: dict[str, Resources],
    at: datetime,
    retention: timedelta,
) -> TickResult:
    """The DB part of a tick (worker thread): write the samples, prune past retention."""
    samples: list[UsageSample] = samples_for(bases, used, at)
    recorded = store.record(samples)
    pruned = store.prune(at - retention)
    return TickResult(at, recorded, pruned)


def live_snapshot(
    bases: list[TenantBasis], used: dict[str, Resources], at: datetime
) -> dict[str, LiveUsage]:
    """Every tenant's server usage at ``at`` (zero for tenants without servers)."""
    return {b.name: LiveUsage(at, used.get(b.name, Resources())) for b in bases}


class UsageSampler:
    def __init__(
        self,
        service: ServiceContext,
        every: float | None = None,
        retention: float | None = None,
        clock: Clock = utcnow,
    ) -> None:
        settings = service.config.service
        self.service = service
        self.every = float(every if every is not None else settings.usage_sample_every)
        self.retention = timedelta(
            seconds=retention if retention is not None else settings.usage_retention
        )
        self.clock = clock
        self.failures = 0

    async def tick(self) -> TickResult:
        """One sample of every tenant; raises what went wrong (``run`` logs it)."""
        service = self.service
        platform = service.platform
        servers = await service.hub.active_servers()
        at = self.clock()
        _total, bases = await platform.run(service.usage_store.tenant_bases)
        used = used_by_tenant(servers, platform.config.profiles)
        result = await platform.run(
            record_tick, service.usage_store, bases, used, at, self.retention
        )
        # one assignment: a reader sees the previous snapshot or this one, never a mix
        service.live_usage = live_snapshot(bases, used, at)
        return result

    async def run(self, stop: asyncio.Event) -> None:
        """Tick every ``every`` seconds (measured from tick start) until ``stop`` is set."""
        log.info(
            "usage sampler: every %gs, keeping %gh of history",
            self.every,
            self.retention.total_seconds() / 3600,
        )
        while not stop.is_set():
            started = time.monotonic()
            try:
                result = await self.tick()
            except Exception as exc:
                self.failures += 1
                log.warning(
                    "usage sample failed (%s: %s); trying again in %gs",
                    type(exc).__name__,
                    exc,
                    self.every,
                )
            else:
                self.failures = 0
                log.debug(
                    "usage sample at %s: %d recorded, %d pruned",
                    result.at.isoformat(),
                    result.recorded,
                    result.pruned,
                )
            wait = max(0.0, self.every - (time.monotonic() - started))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=wait)
