"""The service lives as long as the hub that started it.

JupyterHub stops its managed services when it stops cleanly. When the hub is
killed (OOM, SIGKILL, a crashed container entrypoint) the service would live on
as an orphan holding its port, and the next hub's service could not bind it. So
the service also stops when its parent process changes.

Which parent: the hub puts its own PID in the service's environment
(``TENANTHUB_HUB_PID``, set by ``hub.app.traits``), because a service that is still
importing when the hub dies is re-parented before it could read its parent: it
would take init (or a subreaper) for its hub and never stop. Without the variable
(started by hand) the parent at the time of the call is taken.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable

log = logging.getLogger("tenanthub.service")

HUB_PID_ENV = "TENANTHUB_HUB_PID"


def hub_pid(env: dict[str, str] | None = None, getppid: Callable[[], int] = os.getppid) -> int:
    """The PID of the hub that started this process (see the module's docstring)."""
    value = (os.environ if env is None else env).get(HUB_PID_ENV, "")
    return int(value) if value.isdigit() else getppid()


def parent_gone(started_parent: int, current_parent: int) -> bool:
    """Re-parented (to init or a subreaper): the process that started us has exited."""
    return started_parent != current_parent


async def stop_when_parent_exits(
    stop: asyncio.Event,
    every: float = 2.0,
    getppid: Callable[[], int] = os.getppid,
    parent: int | None = None,
) -> None:
    started = hub_pid(getppid=getppid) if parent is None else parent
    while not stop.is_set():
        await asyncio.sleep(every)
        if parent_gone(started, getppid()):
            log.warning("The hub that started this service (pid %d) is gone; stopping.", started)
            stop.set()
