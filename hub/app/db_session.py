"""Give JupyterHub's database connection back to the pool while the hub is idle.

JupyterHub runs every request on one shared SQLAlchemy session. A request that only
reads leaves that session's transaction open, and with it a pooled connection, until
some later request commits. If the database restarts meanwhile, that connection is
dead, and the pool's ping at checkout (JupyterHub registers one) never sees it: the
next request fails on it (the hub's API answers 403 "Missing or invalid credentials"),
and a SIGTERM's clean-up dies on it and the hub hangs until it is killed.

Every ``RELEASE_EVERY`` seconds the hub ends a transaction that has nothing to write
(a commit, as any handler's commit would). A connection that died meanwhile fails that
commit; it is rolled back and dropped, and the next use checks out a live one.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

log = logging.getLogger("tenanthub.hub.db")

RELEASE_EVERY = 1.0


def holds_only_reads(session: Any) -> bool:
    """An open transaction with no pending writes (pure: reads the session's state)."""
    return bool(session.in_transaction()) and not (session.dirty or session.new or session.deleted)


def release_idle_transaction(session: Any) -> bool:
    """End a read-only transaction; True when one was ended (or found dead)."""
    if not holds_only_reads(session):
        return False
    try:
        session.commit()
    except SQLAlchemyError as exc:
        log.warning(
            "The hub's database connection was lost (%s); the next use reconnects",
            type(exc).__name__,
        )
        session.rollback()
    return True


def start_releasing(app_instance: Any, every: float = RELEASE_EVERY) -> None:
    """Schedule the release on the running event loop, for ``app_instance().db``
    (JupyterHub's singleton: it has no session yet while its config is loaded)."""
    loop = asyncio.get_running_loop()

    def tick() -> None:
        try:
            session = getattr(app_instance(), "db", None)
            if session is not None:
                release_idle_transaction(session)
        except Exception:  # never let the timer die: the next tick tries again
            log.exception("Releasing the hub's idle database transaction failed")
        loop.call_later(every, tick)

    loop.call_later(every, tick)
