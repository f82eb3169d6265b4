"""Every API route, from each resource's module (one list per resource)."""

from __future__ import annotations

from hub.service.api import (
    audit,
    checkpoints,
    datasets,
    jobs,
    members,
    profiles,
    quotas,
    servers,
    tenants,
    usage,
)
from hub.service.api.framework import Route

ROUTES: list[Route] = [
    *tenants.ROUTES,
    *members.ROUTES,
    *quotas.ROUTES,
    *profiles.ROUTES,
    *usage.ROUTES,
    *servers.ROUTES,
    *audit.ROUTES,
    *checkpoints.ROUTES,
    *jobs.ROUTES,
    *datasets.ROUTES,
]


def route_for(method: str, path: str) -> Route:
    """The route for ``method`` and OpenAPI-style ``path`` (the console calls routes by these)."""
    for route in ROUTES:
        if route.method == method and route.path == path:
            return route
    raise KeyError(f"{method} {path}")
