"""``python -m hub.service``: the platform service, as the hub starts it (a managed service).

The hub passes ``JUPYTERHUB_SERVICE_URL``, ``JUPYTERHUB_SERVICE_PREFIX``, the
service's API token and OAuth client settings in the environment; TenantHub adds
``TENANTHUB_CONFIG``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from urllib.parse import urlparse

from tornado.httpserver import HTTPServer

from hub import logs
from hub.app.context import config_path_from_env, get_context
from hub.app.proxy import secret_file
from hub.service.app import make_app
from hub.service.console import console_handlers
from hub.service.context import ServiceContext
from hub.service.datasets.seed import seed_sources
from hub.service.hub_client import HubClient
from hub.service.jobs.backend import job_backend
from hub.service.jobs.scheduler import Scheduler
from hub.service.lifecycle import stop_when_parent_exits
from hub.service.sampler import UsageSampler
from hub.tenancy import db

log = logging.getLogger("tenanthub.service")


async def serve() -> None:
    platform = get_context(config_path_from_env())
    settings = platform.config.logging
    logs.configure("tenanthub-service", settings.format, settings.level)
    # the hub migrates at its start; a database a newer TenantHub migrated stops us here
    await platform.run(db.check_not_newer, platform.engine)
    url = urlparse(os.environ["JUPYTERHUB_SERVICE_URL"])
    prefix = os.environ.get("JUPYTERHUB_SERVICE_PREFIX", "/services/tenanthub/")
    secret = secret_file(platform.data_dir / "secrets" / "tenanthub-service-cookie-secret")
    service = ServiceContext(platform=platform, hub=HubClient())
    service.jobs = job_backend(platform)
    try:
        await platform.run(seed_sources, service.datasets, platform.config)
    except Exception as exc:  # unusable keys, DB down: the API says so per call
        log.error("data sources from the config were not seeded: %s", exc)
    app = make_app(service, prefix, secret.encode(), extra=console_handlers(prefix, service))
    server = HTTPServer(
        app, max_body_size=platform.config.service.max_body_bytes + 4096, xheaders=True
    )
    # TENANTHUB_SERVICE_BIND (service.bind): in a pod 0.0.0.0, while the url names its Service
    bind = os.environ.get("TENANTHUB_SERVICE_BIND") or url.hostname or "127.0.0.1"
    server.listen(url.port or 80, bind)
    log.info("TenantHub service on %s (prefix %s)", os.environ["JUPYTERHUB_SERVICE_URL"], prefix)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    sampler = asyncio.create_task(UsageSampler(service).run(stop))
    tasks = [sampler]
    if platform.config.jobs.enabled:
        scheduler = Scheduler(service.job_store, service.jobs.runner, platform.config.jobs)
        service.job_scheduler = scheduler
        tasks.append(asyncio.create_task(scheduler.run(stop)))
    log.info("job runs go to the %s backend", service.jobs.kind)
    watch = asyncio.create_task(stop_when_parent_exits(stop))
    await stop.wait()
    server.stop()
    watch.cancel()
    sampler.cancel()  # a tick in flight is history nobody waits for
    # the scheduler ends on its own at the end of a tick (runs go on without the service)
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task


def main() -> None:
    logs.configure("tenanthub-service")  # until the config says otherwise
    try:
        asyncio.run(serve())
    except db.SchemaTooNew as exc:
        log.error("cannot start: %s", exc)
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
