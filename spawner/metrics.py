"""Spawn metrics, in the hub process: JupyterHub serves its default prometheus_client
registry on ``/hub/metrics``, so these are registered there (on import, which the
spawner classes do).

Labels: ``backend`` (local, docker, kubernetes), ``profile`` (a configured profile's
name, or ``unknown`` for a refused spawn that named none or one that does not exist)
and ``reason`` (``REASONS``): never the user or server name.
"""

from __future__ import annotations

import asyncio
from collections.abc import Container

from prometheus_client import Counter, Histogram
from tornado import web

SPAWN_DURATION = Histogram(
    "tenanthub_spawn_duration_seconds",
    "Time from a TenantHub spawner's start until the new server accepts connections "
    "(successful spawns).",
    ["backend", "profile"],
    buckets=(0.5, 1, 2, 3, 5, 7.5, 10, 15, 20, 30, 45, 60, 90, 120, 180, 300, 600),
)
SPAWN_FAILURES = Counter(
    "tenanthub_spawn_failures",
    "Spawns that failed or were refused, by backend, profile and reason.",
    ["backend", "profile", "reason"],
)

#: why a spawn failed: a closed set (``failure_reason`` maps every exception onto it)
REASONS = ("not_allowed", "quota", "conflict", "timeout", "cancelled", "backend_error")
UNKNOWN_PROFILE = "unknown"


def failure_reason(exc: BaseException) -> str:
    """The spawn failure's reason label (pure). A tenancy refusal says its own
    (``TenancyRefused.metrics_reason``: quota) or is read from its status: 409 a second server
    in the tenant, another 4xx not allowed, a 5xx the backend's."""
    if isinstance(exc, asyncio.CancelledError):
        return "cancelled"
    if isinstance(exc, TimeoutError):
        return "timeout"
    reason = getattr(exc, "metrics_reason", None)
    if isinstance(exc, web.HTTPError) and hasattr(exc, "jupyterhub_message"):
        if reason in REASONS:
            return str(reason)
        if exc.status_code == 409:
            return "conflict"
        if exc.status_code < 500:
            return "not_allowed"
    return "backend_error"


def profile_label(name: object, configured: Container[str]) -> str:
    """A profile label only from the configured set: free text never becomes a label."""
    return name if isinstance(name, str) and name in configured else UNKNOWN_PROFILE
