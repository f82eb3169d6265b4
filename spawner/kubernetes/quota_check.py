"""Pure pre-check of a pod against its namespace's live ResourceQuota.

The ledger pre-check knows what TenantHub started; the ResourceQuota knows
everything in the namespace (jobs, pods started by other hub replicas, by
tenant admins). Checking it before creating the pod gives the user the
quota's own numbers instead of a raw admission error, and creates nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hub.config.quantities import parse_bytes, parse_cpu_millis

_CPU = {"requests.cpu", "limits.cpu", "cpu"}
_MEMORY = {"requests.memory", "limits.memory", "memory"}


def _amount(resource: str, value: str) -> int:
    if resource in _CPU:
        return parse_cpu_millis(value)
    if resource in _MEMORY or resource.endswith("storage"):
        return parse_bytes(value)
    return int(parse_cpu_millis(value) // 1000)  # counts and extended resources ("1", "2")


def _show(resource: str, amount: int) -> str:
    if resource in _CPU:
        return f"{amount}m" if amount % 1000 else str(amount // 1000)
    if resource in _MEMORY:
        for unit, size in (("Gi", 2**30), ("Mi", 2**20), ("Ki", 2**10)):
            if amount % size == 0 and amount >= size:
                return f"{amount // size}{unit}"
        return str(amount)
    return str(amount)


@dataclass(frozen=True)
class LiveShortfall:
    resource: str
    used: int
    requested: int
    hard: int

    def describe(self) -> str:
        r = self.resource
        return (
            f"{r}: {_show(r, self.used)} in use + {_show(r, self.requested)} requested "
            f"> {_show(r, self.hard)} allowed"
        )


def pod_quota_usage(pod: dict[str, Any]) -> dict[str, str]:
    """What a pod counts against a ResourceQuota: pods, requests.* and limits.*."""
    totals: dict[str, int] = {"pods": 1}
    shown: dict[str, str] = {}
    for container in pod.get("spec", {}).get("containers", []):
        resources = container.get("resources") or {}
        for kind in ("requests", "limits"):
            for name, value in (resources.get(kind) or {}).items():
                key = f"{kind}.{name}"
                if kind == "limits" and name not in ("cpu", "memory"):
                    continue  # extended resources are quota'd as requests.<name> only
                totals[key] = totals.get(key, 0) + _amount(key, str(value))
        # extended resources (nvidia.com/gpu) are requested through their limit
        for name, value in (resources.get("limits") or {}).items():
            if "/" in name and name not in (resources.get("requests") or {}):
                key = f"requests.{name}"
                totals[key] = totals.get(key, 0) + _amount(key, str(value))
    for key, amount in totals.items():
        shown[key] = _show(key, amount) if key in _CPU | _MEMORY else str(amount)
    return shown


def live_quota_shortfalls(
    hard: dict[str, str], used: dict[str, str], request: dict[str, str]
) -> list[LiveShortfall]:
    """Resources where used + request would exceed the quota's hard limit."""
    out = []
    for resource, limit in sorted(hard.items()):
        if resource not in request:
            continue
        h = _amount(resource, limit)
        u = _amount(resource, used.get(resource, "0"))
        r = _amount(resource, request[resource])
        if u + r > h:
            out.append(LiveShortfall(resource, u, r, h))
    return out


def live_quota_message(tenant: str, problems: list[LiveShortfall]) -> str:
    listed = "; ".join(p.describe() for p in problems)
    return (
        f"Tenant {tenant!r} is over its Kubernetes quota: {listed}. Nothing was started. "
        "Stop another server or job in this tenant, pick a smaller profile, or ask a tenant "
        "admin to raise the quota."
    )
