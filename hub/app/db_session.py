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


def guard_shutdown(app: Any) -> None:
    """Heal the session first when JupyterHub shuts down, and never hang after.

    A SIGTERM in the same second as a database restart would still meet the dead
    connection in JupyterHub's clean-up; a clean-up that raises leaves JupyterHub's event
    loop running, the process hanging until it is killed. JupyterHub's signal handler
    looks ``shutdown_cancel_tasks`` up on the instance when the signal comes, so this
    wraps it there.
    """
    original = app.shutdown_cancel_tasks
    if getattr(original, "_tenanthub_guarded", False):
        return

    async def shutdown_cancel_tasks(sig: Any = None) -> None:
        session = getattr(app, "db", None)
        if session is not None:
            release_idle_transaction(session)
        try:
            await original(sig)
        except Exception:
            log.exception("The hub's clean-up failed; stopping anyway")
            asyncio.get_running_loop().stop()

    shutdown_cancel_tasks._tenanthub_guarded = True  # type: ignore[attr-defined]
    app.shutdown_cancel_tasks = shutdown_cancel_tasks


def start_releasing(app_instance: Any, every: float = RELEASE_EVERY) -> None:
    """Schedule the release on the running event loop, for ``app_instance().db``
    (JupyterHub's singleton: it has no session yet while its config is loaded), and
    guard its shutdown."""
    loop = asyncio.get_running_loop()

    def tick() -> None:
        try:
            app = app_instance()
            session = getattr(app, "db", None)
            if session is not None:
                guard_shutdown(app)
                release_idle_transaction(session)
        except Exception:  # never let the timer die: the next tick tries again
            log.exception("Releasing the hub's idle database transaction failed")
        loop.call_later(every, tick)

    loop.call_later(every, tick)
