"""Run code in a Jupyter kernel through the proxy, the way JupyterLab does (REST + websocket)."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime
from typing import Any

from tornado.httpclient import HTTPRequest
from tornado.websocket import websocket_connect

from tests.integration.hubrunner import Browser


def _message(code: str, session: str) -> dict[str, Any]:
    return {
        "header": {
            "msg_id": uuid.uuid4().hex,
            "username": "test",
            "session": session,
            "msg_type": "execute_request",
            "version": "5.3",
            "date": datetime.now(UTC).isoformat(),
        },
        "parent_header": {},
        "metadata": {},
        "content": {
            "code": code,
            "silent": False,
            "store_history": False,
            "user_expressions": {},
            "allow_stdin": False,
            "stop_on_error": True,
        },
        "channel": "shell",
        "buffers": [],
    }


async def _execute(url: str, cookie: str, code: str, limit: float) -> dict[str, Any]:
    session = uuid.uuid4().hex
    request = HTTPRequest(url + f"?session_id={session}", headers={"Cookie": cookie})
    conn = await websocket_connect(request)
    try:
        msg = _message(code, session)
        await conn.write_message(json.dumps(msg))
        reply: dict[str, Any] | None = None
        idle = False
        async with asyncio.timeout(limit):
            while reply is None or not idle:
                raw = await conn.read_message()
                if raw is None:
                    raise RuntimeError("kernel websocket closed")
                if isinstance(raw, bytes):
                    continue
                data = json.loads(raw)
                if data.get("parent_header", {}).get("msg_id") != msg["header"]["msg_id"]:
                    continue
                if data["msg_type"] == "execute_reply":
                    reply = data["content"]
                if data["msg_type"] == "status" and data["content"]["execution_state"] == "idle":
                    idle = True
        assert reply is not None
        return reply
    finally:
        conn.close()


def run_in_new_kernel(browser: Browser, code: str, server: str = "", timeout: float = 60) -> dict:
    """Start a kernel with the server's REST API, run ``code`` over its websocket, shut it down."""
    created = browser.server_api("POST", "kernels", server=server, json={"name": "python3"})
    assert created.status_code == 201, created.text
    kernel_id = created.json()["id"]
    ws_url = (
        browser.server_url(server).replace("http://", "ws://") + f"api/kernels/{kernel_id}/channels"
    )
    cookie = "; ".join(f"{c.name}={c.value}" for c in browser.session.cookies)
    try:
        return asyncio.run(_execute(ws_url, cookie, code, timeout))
    finally:
        browser.server_api("DELETE", f"kernels/{kernel_id}", server=server)
