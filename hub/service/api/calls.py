"""Calls from an operation to the store and the hub, with their failures as API errors."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from tornado.httpclient import HTTPClientError

from hub.service.api.framework import ApiError, Call, not_yours
from hub.tenancy.store import TenantNotFound

T = TypeVar("T")
log = logging.getLogger("tenanthub.service")


async def in_tenant(call: Call, fn: Callable[..., T], *args: Any) -> T:
    """Run ``fn(*args)`` on the platform's worker threads for the tenant in the path.

    A platform admin may name any tenant, so one that does not exist reaches the
    store; it answers like a tenant the caller may not see (one 404 sentence).
    """
    platform = call.service.platform
    try:
        return await platform.run(fn, *args)
    except TenantNotFound:
        raise ApiError(404, not_yours(call.tenant)) from None


async def require_tenant(call: Call) -> None:
    """404 (the not-yours sentence) unless the tenant in the path exists."""
    platform = call.service.platform
    if await platform.run(platform.store.tenant, call.tenant) is None:
        raise ApiError(404, not_yours(call.tenant))


async def from_hub(awaitable: Awaitable[T]) -> T:
    """Await a hub API call; the hub failing or not answering becomes a 502 saying so."""
    try:
        return await awaitable
    except (HTTPClientError, OSError) as exc:
        code = getattr(exc, "code", None)
        log.warning("hub API call failed: %s", exc)
        raise ApiError(
            502,
            f"The hub did not answer as expected ({code or 'no connection'}); nothing was "
            "changed here. Try again; if it persists, the hub and service logs say why.",
        ) from None
