"""The node-local HTTP endpoint of the checkpointer: the spawner's "checkpoint before stop".

Before a server stops (culled, or stopped by its user) the hub's spawner asks
the checkpointer of the server's node to save it now and waits a bounded time
(``checkpoint.stop_wait``), so the environment survives even when the server
never sat idle long enough for a tick to catch it.

Routes:

- ``POST /checkpoint`` with ``{"user": ..., "server": ...}``: checkpoint that
  server if it changed; answers when it is done with the outcome (``ready``,
  ``skipped`` with the message the user reads, ``unchanged``, ``failed``,
  ``not-here``, ``ignored``). The checkpoint continues when the caller gives up
  waiting (its bound passed): a stop never leaves a half-made checkpoint behind
  because the caller hung up.
- ``GET /health`` (and ``/health/live``): liveness (the loop answers) and the last
  tick's time.
- ``GET /health/ready``: readiness: the platform API answers (503 and which check
  failed otherwise; no URL or token in the body).
- ``GET /metrics``: checkpoint duration/size histograms and failures (Prometheus), for a
  token with the ``read:metrics`` scope (``checkpointer.metrics_access``).

Only the hub may ask: the request carries the checkpointer's own service token
(``Authorization: token ...``), which the hub generated and keeps in its secrets
(and a chart keeps in the Secret both read). A notebook server on the same node
does not have it. The token is compared in constant time and never logged.
Bodies are small JSON objects; anything else is a 4xx with a sentence.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import re
from dataclasses import dataclass
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from tornado import web
from tornado.httpserver import HTTPServer

from checkpointer import metrics as ckpt_metrics
from checkpointer.daemon import Checkpointer, Outcome
from checkpointer.metrics_access import MetricsAccess
from hub.metrics_auth import bearer

log = logging.getLogger("tenanthub.checkpointer")

MAX_BODY = 4096
READY_TIMEOUT = 3.0
#: probes and scrapes answered 200 are not logged (they come every few seconds)
QUIET = frozenset({"/health", "/health/live", "/health/ready", "/metrics"})
#: JupyterHub user names are free-form but never contain "/" or control characters;
#: server names are "" (the default server) or a short name.
_NAME = re.compile(r"^[^\x00-\x1f/]{1,255}$")
_SERVER = re.compile(r"^[^\x00-\x1f/]{0,255}$")


@dataclass(frozen=True)
class StopRequest:
    user: str
    server: str


def parse_stop_request(body: bytes) -> StopRequest | str:
    """The request, or the sentence that says what is wrong with it (pure)."""
    if len(body) > MAX_BODY:
        return f"the body is over {MAX_BODY} bytes"
    try:
        data = json.loads(body or b"null")
    except ValueError:
        return "the body is not JSON"
    if not isinstance(data, dict):
        return 'the body must be a JSON object: {"user": "...", "server": "..."}'
    unknown = sorted(set(data) - {"user", "server"})
    if unknown:
        return f"unknown field(s): {', '.join(unknown)}"
    user, server = data.get("user"), data.get("server", "")
    if not isinstance(user, str) or not _NAME.match(user):
        return "user must be a user name (1-255 characters, no '/')"
    if not isinstance(server, str) or not _SERVER.match(server):
        return "server must be a server name ('' for the default server, no '/')"
    return StopRequest(user, server)


def token_matches(header: str | None, token: str) -> bool:
    """``Authorization: token <t>`` (or ``Bearer <t>``) carries exactly ``token`` (pure)."""
    given = bearer(header)
    if given is None or not token:
        return False
    return hmac.compare_digest(given.encode(), token.encode())


def outcome_json(outcome: Outcome) -> dict[str, Any]:
    """What the spawner is told (no image internals beyond what the user's API shows)."""
    checkpoint = outcome.checkpoint
    return {
        "outcome": outcome.action,
        "message": (checkpoint.message if checkpoint and checkpoint.message else outcome.reason),
        "checkpoint": None
        if checkpoint is None
        else {"id": checkpoint.id, "state": checkpoint.state, "image": checkpoint.image},
    }


class _Base(web.RequestHandler):
    daemon: Checkpointer
    token: str

    def initialize(self, daemon: Checkpointer, token: str) -> None:
        self.daemon = daemon
        self.token = token

    def set_default_headers(self) -> None:
        self.set_header("Content-Type", "application/json")
        self.set_header("Cache-Control", "no-store")

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        reason = self._reason
        exc = kwargs.get("exc_info", (None, None))[1]
        if isinstance(exc, web.HTTPError) and exc.log_message:
            reason = exc.log_message
        self.finish({"error": reason})

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        if isinstance(value, web.HTTPError):
            return  # a client error, answered with its sentence; nothing to log
        super().log_exception(typ, value, tb)


class HealthHandler(_Base):
    def get(self) -> None:
        last = self.daemon.last_tick
        self.finish(
            {
                "status": "ok",
                "node": self.daemon.settings.node,
                "last_tick": last.isoformat() if last else None,
            }
        )


class ReadyHandler(_Base):
    """Ready when the platform API answers (its OpenAPI document: public, no token)."""

    async def get(self) -> None:
        problem = await self.daemon.api.reachable(within=READY_TIMEOUT)
        self.set_status(503 if problem else 200)
        self.finish(
            {
                "status": "not ready" if problem else "ready",
                "checks": {"platform_api": problem or "ok"},
            }
        )


class MetricsHandler(_Base):
    """Checkpoint metrics (``checkpointer.metrics``): counts by tenant and profile, no
    names of users or images; a token with ``read:metrics`` unless ``access`` is None
    (``service.authenticate_metrics: false``)."""

    access: MetricsAccess | None

    def initialize(
        self, daemon: Checkpointer, token: str, access: MetricsAccess | None = None
    ) -> None:
        super().initialize(daemon, token)
        self.access = access

    async def get(self) -> None:
        if self.access is not None:
            refused = await self.access.check(self.request.headers.get("Authorization"))
            if refused is not None:
                status, message = refused
                self.set_status(status)
                self.finish({"status": status, "message": message})
                return
        self.set_header("Content-Type", CONTENT_TYPE_LATEST)
        self.finish(generate_latest(ckpt_metrics.REGISTRY))


class CheckpointHandler(_Base):
    async def post(self) -> None:
        if not token_matches(self.request.headers.get("Authorization"), self.token):
            raise web.HTTPError(401, "a valid checkpointer token is required")
        request = parse_stop_request(self.request.body)
        if isinstance(request, str):
            raise web.HTTPError(400, request)
        # shielded: the caller's timeout (its stop_wait) must not cancel a commit or push
        task = asyncio.ensure_future(
            self.daemon.checkpoint_before_stop(request.user, request.server)
        )
        self.application.settings["tasks"].add(task)
        task.add_done_callback(self.application.settings["tasks"].discard)
        try:
            outcome = await asyncio.shield(task)
        except Exception as exc:
            log.exception("checkpoint before stop of %s/%s failed", request.user, request.server)
            raise web.HTTPError(500, f"the checkpoint failed: {exc}") from None
        status = 404 if outcome.action == "not-here" else 200
        self.set_status(status)
        self.finish(outcome_json(outcome))


def make_app(
    daemon: Checkpointer, token: str, metrics_access: MetricsAccess | None = None
) -> web.Application:
    args = {"daemon": daemon, "token": token}
    return web.Application(
        [
            (r"/health", HealthHandler, args),
            (r"/health/live", HealthHandler, args),
            (r"/health/ready", ReadyHandler, args),
            (r"/metrics", MetricsHandler, {**args, "access": metrics_access}),
            (r"/checkpoint", CheckpointHandler, args),
        ],
        tasks=set(),
        log_function=_log_request,
    )


def _log_request(handler: web.RequestHandler) -> None:
    # method, path and status only: never headers (the token) or bodies
    status = handler.get_status()
    if handler.request.path in QUIET and status == 200:
        return
    log.info(
        "%s %s %d %.0f ms",
        handler.request.method,
        handler.request.path,
        status,
        1000 * handler.request.request_time(),
    )


def start(
    daemon: Checkpointer,
    token: str,
    host: str,
    port: int,
    metrics_access: MetricsAccess | None = None,
) -> HTTPServer:
    """Listen on ``host:port`` (loopback on one machine; the node's address in a DaemonSet)."""
    server = HTTPServer(
        make_app(daemon, token, metrics_access), max_body_size=MAX_BODY * 4, xheaders=False
    )
    server.listen(port, address=host)
    log.info("checkpoint requests on http://%s:%d/checkpoint", host, port)
    return server
