"""Platform log messages go where JupyterHub's go.

TenantHub's modules log to ``tenanthub.*`` loggers (provisioning, membership
sync, seeding). JupyterHub configures handlers only on its own ``JupyterHub``
logger, so without this those messages reached no handler inside the hub and
were lost. Making ``tenanthub`` a child of ``JupyterHub`` sends them through
JupyterHub's handlers, format and level, whenever those are set up (JupyterHub
sets them after reading the config file, which is when this runs).
"""

from __future__ import annotations

import logging

PLATFORM_LOGGER = "tenanthub"


def route_platform_logs(hub_logger: str = "JupyterHub") -> logging.Logger:
    platform = logging.getLogger(PLATFORM_LOGGER)
    platform.parent = logging.getLogger(hub_logger)
    platform.propagate = True
    if platform.level == logging.NOTSET:
        platform.setLevel(logging.INFO)
    return platform
