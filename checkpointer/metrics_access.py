"""Who may scrape the checkpointer's ``/metrics``: like the platform service's and the
hub's, a JupyterHub token with the ``read:metrics`` scope (``service.authenticate_metrics``
turns all three off together).

In a cluster the checkpointer listens on each node's address, which every pod on that
node can reach; its metrics name tenants and profiles, so they are not left open. The
token is checked by asking the hub for its scopes (``GET /hub/api/user`` sent with it,
as JupyterHub's HubAuth does); an accepted token is remembered for a minute by its
hash, so a scrape every few seconds costs the hub one call a minute. The decision is
pure (``hub.metrics_auth``, shared with the platform service); the hub call is
injected.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from hub.metrics_auth import bearer, problem

REMEMBER_SECONDS = 60.0
REMEMBER_AT_MOST = 1000

ScopesOf = Callable[[str], Awaitable[frozenset[str] | None]]


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
