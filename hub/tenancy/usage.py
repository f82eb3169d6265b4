"""Live quota usage of servers, kept in the hub process.

Checking a spawn against the quota must count servers that are still
starting, and two spawns racing for the last slot must not both pass. The
hub runs spawns on one event loop, so an in-memory ledger with an atomic
``reserve`` (check and add in one step, no await in between) gives exactly
that, at the cost of nothing per spawn (each tenant's total is kept up to date,
not summed over every server). After a hub restart the ledger is rebuilt from
the servers JupyterHub still knows about.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from hub.tenancy.quota import QuotaLimits, QuotaShortfall, Resources, shortfalls

ZERO = Resources()


@dataclass(frozen=True)
class Allocation:
    key: str  # "<user>/<server name>"
    tenant: str
    user: str
    resources: Resources


class UsageLedger:
    """Allocations by key, with each tenant's total and each (user, tenant)'s servers kept
    up to date on every change, so a spawn's check costs the same with 5 or 5000 servers."""

    def __init__(self) -> None:
        self._allocations: dict[str, Allocation] = {}
        self._totals: dict[str, Resources] = {}  # tenant -> sum of its allocations
        self._servers: dict[tuple[str, str], dict[str, None]] = {}  # (user, tenant) -> keys
        self.loaded = False

    # the only two places that change _allocations: every index follows them

    def _add(self, allocation: Allocation) -> None:
        self._remove(allocation.key)
        self._allocations[allocation.key] = allocation
        tenant = allocation.tenant
        self._totals[tenant] = self._totals.get(tenant, ZERO) + allocation.resources
        self._servers.setdefault((allocation.user, tenant), {})[allocation.key] = None

    def _remove(self, key: str) -> Allocation | None:
        allocation = self._allocations.pop(key, None)
        if allocation is None:
            return None
        tenant = allocation.tenant
        remaining = self._totals[tenant] - allocation.resources
        if remaining == ZERO:
            del self._totals[tenant]
        else:
            self._totals[tenant] = remaining
        keys = self._servers[(allocation.user, tenant)]
        del keys[key]
        if not keys:
            del self._servers[(allocation.user, tenant)]
        return allocation

    def used(self, tenant: str, observed: Iterable[Allocation] = ()) -> Resources:
        """Usage of ``tenant``: servers this hub started or is starting, plus ``observed``
        ones (e.g. containers found by label) it did not start itself."""
        total = self._totals.get(tenant, ZERO)
        extra = {
            a.key: a for a in observed if a.tenant == tenant and a.key not in self._allocations
        }
        for allocation in extra.values():
            total = total + allocation.resources
        return total

    def server_in_tenant(
        self, user: str, tenant: str, observed: Iterable[Allocation] = ()
    ) -> str | None:
        """Key of ``user``'s server in ``tenant``, if one is running or starting."""
        keys = self._servers.get((user, tenant))
        if keys:
            return next(iter(keys))
        for allocation in observed:  # an observed key the ledger has is the ledger's
            if (
                allocation.user == user
                and allocation.tenant == tenant
                and allocation.key not in self._allocations
            ):
                return allocation.key
        return None

    def reserve(
        self, allocation: Allocation, limits: QuotaLimits, observed: Iterable[Allocation] = ()
    ) -> list[QuotaShortfall]:
        """Add ``allocation`` if it fits (returns []), else change nothing and say why."""
        observed = [a for a in observed if a.key != allocation.key]
        previous = self._remove(allocation.key)
        problems = shortfalls(limits, self.used(allocation.tenant, observed), allocation.resources)
        if problems:
            if previous is not None:
                self._add(previous)
            return problems
        self._add(allocation)
        return []

    def record(self, allocation: Allocation) -> None:
        """Count a server that already exists (rebuilding after a restart), quota or not."""
        self._add(allocation)

    def release(self, key: str) -> Allocation | None:
        return self._remove(key)

    def get(self, key: str) -> Allocation | None:
        return self._allocations.get(key)
