"""One event line per request to the platform service (tornado's ``log_function``).

Tornado's own access line has the method, URI (query string included, where a
client may have put a token) and time, but not who asked or for which tenant.
This one has the event fields of :mod:`hub.logs`: tenant (from the path), user
(when the handler identified one), duration, outcome, plus method, path without
the query string, and status. Health checks and scrapes are logged at DEBUG so
a probe every few seconds does not bury the requests people make.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from hub import logs
from hub.app.log_safety import safe_value

log = logging.getLogger("tenanthub.service.access")

_TENANT = re.compile(r"/tenants/([^/]+)")
_QUIET = re.compile(r"/(health(/live|/ready)?|metrics)$")


def outcome_of(status: int) -> str:
    """ok below 400, refused for 4xx (the caller's request), error for 5xx (ours)."""
    return "ok" if status < 400 else "refused" if status < 500 else "error"


def tenant_of(path: str) -> str | None:
    found = _TENANT.search(path)
    return found.group(1)[:64] if found else None


def level_of(path: str, status: int) -> int:
    if status >= 500:
        return logging.ERROR
    if status >= 400:
        return logging.WARNING
    return logging.DEBUG if _QUIET.search(path) else logging.INFO


def user_of(handler: Any) -> str | None:
    """The name the handler identified, without asking anyone (``current_user`` cached)."""
    model = getattr(handler, "_current_user", None)
    if isinstance(model, dict):
        name = model.get("name")
        return str(name) if name else None
    return None


def log_request(handler: Any) -> None:
    request = handler.request
    status = int(handler.get_status())
    path = safe_value(request.path)[:300]
    logs.event(
        log, "request", outcome_of(status),
        tenant=tenant_of(request.path), user=user_of(handler),
        duration_s=request.request_time(), method=request.method, path=path, status=status,
        level=level_of(request.path, status),
    )  # fmt: skip
