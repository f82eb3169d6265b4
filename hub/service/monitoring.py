"""The service's monitoring routes: ``/metrics``, ``/health/live``, ``/health/ready``.

* ``GET /metrics``: Prometheus text (``hub.service.metrics``). Like JupyterHub's
  ``/hub/metrics`` (``JupyterHub.authenticate_prometheus``): the caller's token must
  carry the ``read:metrics`` scope, unless ``service.authenticate_metrics`` is off.
  The token goes to the hub once per scrape (``HubAuth`` caches the answer).
* ``GET /health/live``: the event loop answers (no I/O).
* ``GET /health/ready``: the platform DB answers ``SELECT 1`` and the hub's API
  answers, each within ``READY_TIMEOUT`` s; otherwise a 503 that says which failed.

Health routes need no token and their bodies hold no secret (no URL, no DB error
text: those go to the service log).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from jupyterhub.services.auth import HubOAuth
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import Engine, text
from tornado import web
from tornado.httpclient import AsyncHTTPClient, HTTPRequest

from hub.metrics_auth import bearer, problem
from hub.service import metrics
from hub.tenancy.usage_store import UsageStore

log = logging.getLogger("tenanthub.service")

READY_TIMEOUT = 2.0


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    message: str = ""


def readiness(checks: list[Check]) -> tuple[int, dict[str, Any]]:
    """Status and body of ``/health/ready`` for these checks (pure)."""
    failed = [c for c in checks if not c.ok]
    body: dict[str, Any] = {
        "status": "not ready" if failed else "ready",
        "checks": {c.name: "ok" if c.ok else c.message for c in checks},
    }
    return (503 if failed else 200), body


def select_one(engine: Engine) -> None:
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))


async def check_db(service: Any) -> Check:
    timeout = READY_TIMEOUT
    try:
        # its own thread, not the DB pool's: a hung DB must not hold up the API's workers
        await asyncio.wait_for(asyncio.to_thread(select_one, service.platform.engine), timeout)
    except TimeoutError:
        log.warning("readiness: the platform DB did not answer SELECT 1 within %g s", timeout)
        return Check("db", False, f"the platform database did not answer within {timeout:g} s")
    except Exception as exc:
        log.warning("readiness: the platform DB failed SELECT 1: %s", exc)
        return Check("db", False, f"the platform database is unreachable ({type(exc).__name__})")
    return Check("db", True)


async def check_hub(service: Any) -> Check:
    timeout = READY_TIMEOUT
    # the hub API's root answers its version without a token
    request = HTTPRequest(
        service.hub.api_url + "/", request_timeout=timeout, connect_timeout=timeout
    )
    try:
        await AsyncHTTPClient().fetch(request)
    except Exception as exc:
        log.warning("readiness: the hub API did not answer: %s", exc)
        return Check("hub", False, f"the hub's API is unreachable ({type(exc).__name__})")
    return Check("hub", True)


class _Plain(web.RequestHandler):
    def set_default_headers(self) -> None:
        self.set_header("Cache-Control", "no-store")

    def check_xsrf_cookie(self) -> None:  # GET only; nothing here changes state
        return


class LiveHandler(_Plain):
    def get(self) -> None:
        self.finish({"status": "alive"})


class ReadyHandler(_Plain):
    def initialize(self, service: Any) -> None:
        self.service = service

    async def get(self) -> None:
        checks = await asyncio.gather(check_db(self.service), check_hub(self.service))
        status, body = readiness(list(checks))
        self.set_status(status)
        self.finish(body)


async def refresh_snapshot(service: Any) -> None:
    """Quotas and job runs from the DB, servers from the usage sampler's last tick."""
    platform = service.platform
    _total, bases = await platform.run(UsageStore(platform.engine).tenant_bases)
    runs = await platform.run(metrics.run_counts, platform.engine)
    live = dict(service.live_usage)
    sampled = max((u.at for u in live.values()), default=None)
    metrics.SNAPSHOT.snapshot = metrics.Snapshot(
        bases=bases,
        servers_used={name: usage.used for name, usage in live.items()},
        runs=runs,
        sampled_at=sampled,
    )


class MetricsHandler(_Plain):
    def initialize(self, service: Any) -> None:
        self.service = service

    def refuse(self, status: int, message: str) -> None:
        self.set_status(status)
        self.finish({"status": status, "message": message})

    async def get(self) -> None:
        if self.service.config.service.authenticate_metrics:
            token = bearer(self.request.headers.get("Authorization"))
            model = None
            if token is not None:
                model = await HubOAuth.instance().user_for_token(token, sync=False)
            refused = problem(token, (model.get("scopes") or ()) if model else None)
            if refused is not None:
                self.refuse(*refused)
                return
        try:
            await refresh_snapshot(self.service)
        except Exception as exc:  # DB down: the event metrics still count; gauges are old
            log.warning("metrics: the DB snapshot failed (%s); serving the last one", exc)
        self.set_header("Content-Type", CONTENT_TYPE_LATEST)
        self.finish(generate_latest(metrics.REGISTRY))


def monitoring_handlers(prefix: str, service: Any) -> list[Any]:
    return [
        (f"{prefix}metrics", MetricsHandler, {"service": service}),
        (f"{prefix}health/live", LiveHandler),
        (f"{prefix}health/ready", ReadyHandler, {"service": service}),
    ]
