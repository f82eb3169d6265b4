"""Who may scrape the checkpointer's ``/metrics``: like the platform service's and the
hub's, a JupyterHub token with the ``read:metrics`` scope (``service.authenticate_metrics``
turns all three off together).

In a cluster the checkpointer listens on each node's address, which every pod on that
node can reach; its metrics name tenants and profiles, so they are not left open. The
token is checked by asking the hub for its scopes (``GET /hub/api/user`` sent with it,
as JupyterHub's HubAuth does); an accepted token is remembered for a minute by its
hash, so a scrape every few seconds costs the hub one call a minute. The decision is
pure (``problem``); the hub call is injected.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

METRICS_SCOPE = "read:metrics"
REMEMBER_SECONDS = 60.0
REMEMBER_AT_MOST = 1000

ScopesOf = Callable[[str], Awaitable[frozenset[str] | None]]


def bearer(header: str | None) -> str | None:
    """The token of ``Authorization: token <t>`` or ``Bearer <t>`` (pure)."""
    scheme, _, token = (header or "").partition(" ")
    token = token.strip()
    return token if scheme.lower() in ("token", "bearer") and token else None


def problem(token: str | None, scopes: frozenset[str] | None) -> tuple[int, str] | None:
    """None when ``token`` (with ``scopes``, None: unknown to the hub) may scrape; else
    the status and message of the refusal (pure)."""
    if token is None:
        return 401, f"Send 'Authorization: token <API token>' with the {METRICS_SCOPE} scope."
    if scopes is None or METRICS_SCOPE not in scopes:
        return 403, f"Access to metrics requires scope '{METRICS_SCOPE}'."
    return None


@dataclass
class MetricsAccess:
    scopes_of: ScopesOf
    clock: Callable[[], float] = time.monotonic
    _accepted: dict[str, float] = field(default_factory=dict)  # sha256(token) -> until

    async def check(self, header: str | None) -> tuple[int, str] | None:
        """None when the request may scrape, else (status, message); 503 when the hub,
        which knows the tokens, does not answer."""
        token = bearer(header)
        if token is None:
            return problem(None, None)
        key = hashlib.sha256(token.encode()).hexdigest()
        now = self.clock()
        if self._accepted.get(key, 0.0) > now:
            return None
        try:
            scopes = await self.scopes_of(token)
        except Exception:  # the hub is down or answers nonsense: refuse, say why
            return 503, "The hub does not answer, so the token cannot be checked; try again."
        refused = problem(token, scopes)
        if refused is None:
            if len(self._accepted) >= REMEMBER_AT_MOST:
                self._accepted.clear()
            self._accepted[key] = now + REMEMBER_SECONDS
        return refused
