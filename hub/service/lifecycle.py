"""The service lives as long as the hub that started it.

JupyterHub stops its managed services when it stops cleanly. When the hub is
killed (OOM, SIGKILL, a crashed container entrypoint) the service would live on
as an orphan holding its port, and the next hub's service could not bind it. So
the service also stops when its parent process changes.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable

log = logging.getLogger("tenanthub.service")


def parent_gone(started_parent: int, current_parent: int) -> bool:
    """Re-parented (to init or a subreaper): the process that started us has exited."""
    return started_parent != current_parent


async def stop_when_parent_exits(
    stop: asyncio.Event,
    every: float = 2.0,
    getppid: Callable[[], int] = os.getppid,
) -> None:
    started = getppid()
    while not stop.is_set():
        await asyncio.sleep(every)
        if parent_gone(started, getppid()):
            log.warning("The hub that started this service (pid %d) is gone; stopping.", started)
            stop.set()
