"""Checkpoint before stop: the spawner asks the server's node to save it, with a bound.

A server that is stopped (by its user, an admin or the idle culler) may never
have sat idle long enough for the checkpointer's own tick, so whatever was
installed since the last checkpoint would be lost. Before stopping, the spawner
asks the checkpointer of the server's node (``checkpointer.endpoint``) and waits
at most ``checkpoint.stop_wait`` seconds. Whatever happens (no checkpointer on
that node, a failure, the bound passing) the stop goes on: a checkpoint is a
convenience, never a reason to keep a server the user wants gone. The
checkpointer finishes a checkpoint it started even when the wait runs out; the
next start then uses the previous one, or this one if it is ready by then.

The decision (ask or not, where) is pure; ``ask`` is the HTTP adapter.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest

log = logging.getLogger("JupyterHub")


@dataclass(frozen=True)
class StopCheckpoint:
    url: str
    user: str
    server: str
    wait: float


def plan_stop_checkpoint(
    *,
    enabled: bool,
    profile_checkpoints: bool,
    supported: bool,
    node_host: str | None,
    port: int,
    wait: float,
    user: str,
    server: str,
) -> StopCheckpoint | str:
    """Whom to ask and how long to wait, or why not to ask (a sentence for the log)."""
    if not supported:
        return "this backend runs processes, not images: nothing to checkpoint"
    if not enabled:
        return "checkpoints are off (checkpoint.enabled)"
    if not profile_checkpoints:
        return "the server's profile does not checkpoint"
    if wait <= 0:
        return "checkpoint.stop_wait is 0"
    if not node_host:
        return "the server's node is unknown"
    host = f"[{node_host}]" if ":" in node_host else node_host
    return StopCheckpoint(f"http://{host}:{port}/checkpoint", user, server, wait)


def describe(answer: dict[str, Any]) -> str:
    """One log line from the checkpointer's answer (pure)."""
    outcome = str(answer.get("outcome") or "unknown")
    checkpoint = answer.get("checkpoint") or {}
    message = str(answer.get("message") or "")
    if outcome == "ready":
        return f"checkpoint {checkpoint.get('id')} ready"
    return f"{outcome}: {message}" if message else outcome


async def ask(plan: StopCheckpoint, token: str) -> str:
    """Ask the node's checkpointer and wait up to the bound. Never raises: returns what
    happened, for the log (the token is sent, never logged)."""
    request = HTTPRequest(
        plan.url,
        method="POST",
        headers={"Authorization": f"token {token}", "Content-Type": "application/json"},
        body=json.dumps({"user": plan.user, "server": plan.server}),
        connect_timeout=min(5.0, plan.wait),
        request_timeout=plan.wait,
        follow_redirects=False,
    )
    try:
        answer = await AsyncHTTPClient().fetch(request, raise_error=False)
    except OSError as exc:
        return f"no checkpointer answers at {plan.url} ({exc})"
    if answer.code == 599:
        error = answer.error
        if isinstance(error, HTTPClientError) or "Timeout" in type(error).__name__:
            return (
                f"the checkpoint did not finish within {plan.wait:.0f} s (checkpoint.stop_wait); "
                "the checkpointer completes it on its own"
            )
        return f"no checkpointer answers at {plan.url} ({error})"
    try:
        body = json.loads(answer.body or b"{}")
    except ValueError:
        body = {}
    body = body if isinstance(body, dict) else {}
    if answer.code >= 400 and "outcome" not in body:
        return f"the checkpointer refused ({answer.code}): {body.get('error') or answer.reason}"
    return describe(body)
