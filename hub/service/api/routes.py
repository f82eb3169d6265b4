"""Every API route, from each resource's module (one list per resource)."""

from __future__ import annotations

from hub.service.api import tenants
from hub.service.api.framework import Route

ROUTES: list[Route] = [
    *tenants.ROUTES,
]
