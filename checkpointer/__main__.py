"""``python -m checkpointer``: the node's checkpointer daemon (Docker mode).

Configuration is the platform's own file (``TENANTHUB_CONFIG``, like the service):
its ``checkpoint:`` and ``profiles:`` sections. The daemon reads no database; it
reaches the platform at ``TENANTHUB_HUB_URL`` (default: the hub's address from the
config, on loopback) with the checkpointer service token from
``TENANTHUB_CHECKPOINTER_TOKEN``, ``TENANTHUB_CHECKPOINTER_TOKEN_FILE`` or, on a
one-machine install, the hub's secrets folder. ``TENANTHUB_NODE`` names the node
(default: the host name). The token is never logged.

It also listens for the spawner's "checkpoint before stop" requests
(``checkpointer.endpoint``) on ``checkpoint.daemon_port`` at
``TENANTHUB_CHECKPOINTER_BIND`` (default 127.0.0.1; a DaemonSet binds the node's
address).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
from collections.abc import Mapping
from typing import Any

from checkpointer.daemon import Checkpointer, DockerDetails, settings_from_config
from checkpointer.platform_client import PlatformClient, load_token

log = logging.getLogger("tenanthub.checkpointer")
CONFIG_ENV = "TENANTHUB_CONFIG"


def hub_url(config: Any, env: Mapping[str, str]) -> str:
    """Where the hub (proxy) answers: TENANTHUB_HUB_URL, else the config's ip/port/base_url."""
    if env.get("TENANTHUB_HUB_URL"):
        url = env["TENANTHUB_HUB_URL"]
        return url if url.endswith("/") else url + "/"
    ip = config.hub.ip
    if ip in ("", "0.0.0.0", "::"):  # noqa: S104 - an address read, not bound
        ip = "127.0.0.1"
    return f"http://{ip}:{config.hub.port}{config.hub.base_url}"


async def serve(env: Mapping[str, str]) -> None:
    import docker

    from checkpointer.drivers.docker import DockerDriver
    from hub.app.service_tokens import CHECKPOINTER, token_path
    from hub.config.loader import load_config

    path = env.get(CONFIG_ENV)
    if not path:
        raise SystemExit(f"{CONFIG_ENV} is not set: point it at tenanthub.yaml")
    config = load_config(path)
    node = env.get("TENANTHUB_NODE") or socket.gethostname()
    token = load_token(env, token_path(config.hub.data_dir, CHECKPOINTER.name))
    settings = settings_from_config(config, node)
    client = docker.from_env()
    daemon = Checkpointer(
        settings=settings,
        driver=DockerDriver(client),
        api=PlatformClient(hub_url(config, env), token),
        details=DockerDetails(client),
    )
    log.info(
        "checkpointer on node %s: every %.0f s, idle after %s, registry %s",
        node, settings.check_every, settings.idle_after, settings.registry,
    )  # fmt: skip
    from checkpointer import endpoint

    bind = env.get("TENANTHUB_CHECKPOINTER_BIND") or "127.0.0.1"
    listener = endpoint.start(daemon, token, bind, config.checkpoint.port(config.hub))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await daemon.run(stop)
    finally:
        listener.stop()


def main() -> None:
    logging.basicConfig(
        level=logging.INFO,
        format="[%(levelname)1.1s %(asctime)s tenanthub-checkpointer] %(message)s",
    )
    asyncio.run(serve(os.environ))


if __name__ == "__main__":
    main()
