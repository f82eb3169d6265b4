"""Live quota usage of servers, kept in the hub process.

Checking a spawn against the quota must count servers that are still
starting, and two spawns racing for the last slot must not both pass. The
hub runs spawns on one event loop, so an in-memory ledger with an atomic
``reserve`` (check and add in one step, no await in between) gives exactly
that, at the cost of nothing per spawn. After a hub restart the ledger is
rebuilt from the servers JupyterHub still knows about.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from hub.tenancy.quota import QuotaLimits, QuotaShortfall, Resources, shortfalls


@dataclass(frozen=True)
class Allocation:
    key: str  # "<user>/<server name>"
    tenant: str
    user: str
    resources: Resources


class UsageLedger:
    def __init__(self) -> None:
        self._allocations: dict[str, Allocation] = {}
        self.loaded = False

    def _merged(self, observed: Iterable[Allocation]) -> dict[str, Allocation]:
        """Ledger entries plus observed servers the ledger does not know (same key: once)."""
        observed = list(observed)
        if not observed:
            return self._allocations
        merged = {a.key: a for a in observed}
        merged.update(self._allocations)
        return merged

    def used(self, tenant: str, observed: Iterable[Allocation] = ()) -> Resources:
        """Usage of ``tenant``: servers this hub started or is starting, plus ``observed``
        ones (e.g. containers found by label) it did not start itself."""
        total = Resources()
        for allocation in self._merged(observed).values():
            if allocation.tenant == tenant:
                total = total + allocation.resources
        return total

    def server_in_tenant(
        self, user: str, tenant: str, observed: Iterable[Allocation] = ()
    ) -> str | None:
        """Key of ``user``'s server in ``tenant``, if one is running or starting."""
        for allocation in self._merged(observed).values():
            if allocation.user == user and allocation.tenant == tenant:
                return allocation.key
        return None

    def reserve(
        self, allocation: Allocation, limits: QuotaLimits, observed: Iterable[Allocation] = ()
    ) -> list[QuotaShortfall]:
        """Add ``allocation`` if it fits (returns []), else change nothing and say why."""
        observed = [a for a in observed if a.key != allocation.key]
        previous = self._allocations.pop(allocation.key, None)
        problems = shortfalls(limits, self.used(allocation.tenant, observed), allocation.resources)
        if problems:
            if previous is not None:
                self._allocations[previous.key] = previous
            return problems
        self._allocations[allocation.key] = allocation
        return []

    def record(self, allocation: Allocation) -> None:
        """Count a server that already exists (rebuilding after a restart), quota or not."""
        self._allocations[allocation.key] = allocation

    def release(self, key: str) -> Allocation | None:
        return self._allocations.pop(key, None)

    def get(self, key: str) -> Allocation | None:
        return self._allocations.get(key)
