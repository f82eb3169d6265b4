"""Named points where the daemon can be made to die, for the crash-safety tests.

The checkpointer promises that a kill at any step leaves the previous ready
checkpoint in use and that the next start finishes or removes what was half made
(``checkpointer.lifecycle.recover``). Killing a process "at a step" from outside
races the step; these points make the kill exact: with
``TENANTHUB_CHECKPOINTER_FAILPOINT=<name>`` in its environment the daemon sends
itself SIGKILL when it reaches that point (no cleanup, no ``finally``: the same as
``kill -9`` or a node losing power). Unset, ``hit`` is one dictionary lookup.

Points, in the order a checkpoint passes them:
``created`` (record requested), ``committed`` (image made, record says committing),
``verified`` (record says verifying, image checked), ``pushed`` (image in the
registry, record still says pushing).
"""

from __future__ import annotations

import logging
import os
import signal

ENV = "TENANTHUB_CHECKPOINTER_FAILPOINT"
POINTS = ("created", "committed", "verified", "pushed")

log = logging.getLogger("tenanthub.checkpointer")


def hit(point: str) -> None:
    """Die here if the environment names this point."""
    if os.environ.get(ENV) == point:
        log.warning("failpoint %s: killing the checkpointer (SIGKILL)", point)
        for handler in logging.getLogger().handlers:
            handler.flush()
        os.kill(os.getpid(), signal.SIGKILL)
