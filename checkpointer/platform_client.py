"""The checkpointer's HTTP client: the platform API's checkpoint routes, the hub, the servers.

The checkpointer never writes the platform DB: it creates a checkpoint record and
reports each step through the platform API (``/services/tenanthub/api/v1``) with
its own service token (scopes ``custom:tenanthub:checkpoints``,
``read:users:activity``, ``read:servers``). The same token reads a user's
activity from the hub's REST API. A server's ``/api/status`` and ``/api/kernels``
are read with that server's own token (which has ``access:servers`` for exactly
that server, as JupyterHub gives every server): the checkpointer's role has no
``access:servers``, so a leaked checkpointer token opens nobody's notebook.

Async (tornado's HTTP client, already a dependency of the hub): the daemon
watches many servers from one event loop. Tokens are sent in headers only and
never appear in errors, logs or ``repr``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest

from checkpointer.idle import parse_time
from checkpointer.lifecycle import Record, parse_state

API_PATH = "services/tenanthub/api/v1/"
HUB_API_PATH = "hub/api/"
TOKEN_ENV = "TENANTHUB_CHECKPOINTER_TOKEN"  # noqa: S105 - a variable name
TOKEN_FILE_ENV = "TENANTHUB_CHECKPOINTER_TOKEN_FILE"  # noqa: S105 - a variable name
PAGE = 200


class PlatformError(Exception):
    """An HTTP call failed; ``status`` (0: no answer) and a message without any token."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}" if status else message)
        self.status = status
        self.message = message


class TokenMissing(RuntimeError):
    pass


def load_token(env: Mapping[str, str], default_file: Path | None = None) -> str:
    """The service token: ``TENANTHUB_CHECKPOINTER_TOKEN``, else the file named by
    ``TENANTHUB_CHECKPOINTER_TOKEN_FILE``, else ``default_file`` (the hub's secrets
    folder on a one-machine install). A group- or world-readable file is refused."""
    value = env.get(TOKEN_ENV, "").strip()
    if value:
        return value
    named = env.get(TOKEN_FILE_ENV, "").strip()
    path = Path(named) if named else default_file
    if path is None or not path.exists():
        where = f"{path}" if path else "no file"
        raise TokenMissing(
            f"no checkpointer token: set {TOKEN_ENV} or {TOKEN_FILE_ENV} ({where} does not exist)"
        )
    if os.stat(path).st_mode & 0o077:
        raise TokenMissing(f"{path} is readable by others; chmod 600 it (it holds a token)")
    token = path.read_text().strip()
    if not token:
        raise TokenMissing(f"{path} is empty")
    return token


@dataclass(frozen=True)
class Checkpoint:
    """A checkpoint record as the platform API returns it."""

    id: int
    user: str
    server: str
    tenant: str
    profile: str
    base_image: str
    node: str
    state: str
    image: str | None
    digest: str | None
    size_bytes: int | None
    message: str
    created_at: datetime
    deleted: bool

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Checkpoint:
        created = parse_time(data.get("created_at"))
        if created is None:
            raise PlatformError(0, f"checkpoint {data.get('id')} has no created_at")
        return cls(
            id=int(data["id"]),
            user=str(data["user"]),
            server=str(data.get("server") or ""),
            tenant=str(data["tenant"]),
            profile=str(data.get("profile") or ""),
            base_image=str(data.get("base_image") or ""),
            node=str(data.get("node") or ""),
            state=str(data["state"]),
            image=data.get("image"),
            digest=data.get("digest"),
            size_bytes=data.get("size_bytes"),
            message=str(data.get("message") or ""),
            created_at=created,
            deleted=bool(data.get("deleted")),
        )

    def record(self) -> Record:
        """The lifecycle's view of it (for ``recover``)."""
        return Record(
            id=str(self.id),
            state=parse_state(self.state),
            tenant=self.tenant,
            user=self.user,
            server=self.server,
            created_at=self.created_at,
            image=self.image,
            digest=self.digest,
            deleted=self.deleted,
        )


@dataclass(frozen=True)
class ServerEndpoint:
    """Where one notebook server answers and the token it accepts (its own)."""

    url: str  # ends with "/", e.g. http://127.0.0.1:41234/user/alice/
    token: str = field(repr=False)


class PlatformClient:
    """Platform API (checkpoint routes) and hub API, with the checkpointer's token."""

    def __init__(self, base_url: str, token: str, *, timeout: float = 30.0) -> None:
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self._token = token
        self.timeout = timeout
        self.http = AsyncHTTPClient()

    def __repr__(self) -> str:
        return f"PlatformClient({self.base_url!r})"

    async def _json(
        self,
        method: str,
        url: str,
        body: Mapping[str, Any] | None = None,
        token: str | None = None,
    ) -> Any:
        request = HTTPRequest(
            url,
            method=method,
            headers={
                "Authorization": f"token {token or self._token}",
                "Content-Type": "application/json",
                "Accept": "application/json",
            },
            body=json.dumps(body) if body is not None else None,
            request_timeout=self.timeout,
            connect_timeout=min(self.timeout, 10.0),
            follow_redirects=False,
        )
        # the path only: query strings are ours, but keep messages short and token-free
        where = f"{method} {url.split('?', 1)[0]}"
        try:
            answer = await self.http.fetch(request)
        except HTTPClientError as exc:
            raise PlatformError(exc.code, f"{where}: {_message(exc)}") from None
        except OSError as exc:
            raise PlatformError(0, f"{where}: no answer ({exc})") from None
        if not answer.body:
            return None
        try:
            return json.loads(answer.body)
        except ValueError:
            raise PlatformError(answer.code, f"{where}: the answer is not JSON") from None

    async def reachable(self, within: float = 3.0) -> str | None:
        """None when the platform API answers (its public OpenAPI document), else why not
        (a sentence without the URL or the token: it goes into a health body)."""
        request = HTTPRequest(
            self._api("openapi.json"), request_timeout=within, connect_timeout=within
        )
        try:
            await self.http.fetch(request)
        except HTTPClientError as exc:
            return f"the platform API answered {exc.code}"
        except Exception as exc:
            return f"the platform API is unreachable ({type(exc).__name__})"
        return None

    # ----------------------------------------------------------------- platform API

    def _api(self, path: str, query: Mapping[str, Any] | None = None) -> str:
        url = self.base_url + API_PATH + path
        return f"{url}?{urlencode(query)}" if query else url

    async def create(
        self, *, user: str, server: str, tenant: str, profile: str, base_image: str, node: str
    ) -> Checkpoint:
        body = {"user": user, "server": server, "tenant": tenant, "profile": profile,
                "base_image": base_image, "node": node}  # fmt: skip
        return Checkpoint.from_api(await self._json("POST", self._api("checkpoints"), body))

    async def step(
        self,
        checkpoint_id: int,
        state: str,
        *,
        image: str | None = None,
        digest: str | None = None,
        size_bytes: int | None = None,
        message: str | None = None,
    ) -> tuple[Checkpoint, list[Checkpoint]]:
        """Report a step; returns the record and the checkpoints retention retired (on ready)."""
        body: dict[str, Any] = {"state": state}
        for key, value in (
            ("image", image),
            ("digest", digest),
            ("size_bytes", size_bytes),
            ("message", message),
        ):
            if value is not None:
                body[key] = value
        data = await self._json("PATCH", self._api(f"checkpoints/{checkpoint_id}"), body)
        return (
            Checkpoint.from_api(data["checkpoint"]),
            [Checkpoint.from_api(c) for c in data.get("expired") or []],
        )

    async def checkpoints(
        self, *, node: str | None = None, state: str | None = None, deleted: bool | None = None
    ) -> list[Checkpoint]:
        """Every matching record (all pages, oldest first)."""
        query: dict[str, Any] = {"limit": PAGE}
        if node is not None:
            query["node"] = node
        if state is not None:
            query["state"] = state
        if deleted is not None:
            query["deleted"] = "true" if deleted else "false"
        out: list[Checkpoint] = []
        while True:
            page = await self._json("GET", self._api("checkpoints", {**query, "offset": len(out)}))
            items = page.get("items") or []
            out.extend(Checkpoint.from_api(c) for c in items)
            if not items or len(out) >= int(page.get("total") or 0):
                return out

    # ----------------------------------------------------------------- hub API

    async def hub_user(self, name: str) -> dict[str, Any] | None:
        """``GET /hub/api/users/<name>`` (activity and servers), None when no such user."""
        url = self.base_url + HUB_API_PATH + "users/" + quote(name, safe="")
        try:
            data = await self._json("GET", url)
        except PlatformError as exc:
            if exc.status == 404:
                return None
            raise
        return dict(data)

    async def token_scopes(self, token: str) -> frozenset[str] | None:
        """The scopes of somebody else's ``token`` (``GET /hub/api/user`` sent with it, as
        JupyterHub's HubAuth asks); None when the hub does not know the token."""
        if not token:  # never fall back to our own token
            return None
        try:
            model = await self._json("GET", self.base_url + HUB_API_PATH + "user", token=token)
        except PlatformError as exc:
            if exc.status in (401, 403):
                return None
            raise
        return frozenset((model or {}).get("scopes") or ())

    # ----------------------------------------------------------------- the server

    async def server_status(
        self, endpoint: ServerEndpoint
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """jupyter_server's ``/api/status`` and ``/api/kernels``, read without counting as
        activity (``/api/status`` never does; ``/api/kernels`` is told ``no_track_activity``)."""
        status = await self._json("GET", endpoint.url + "api/status", token=endpoint.token)
        kernels = await self._json(
            "GET", endpoint.url + "api/kernels?no_track_activity=1", token=endpoint.token
        )
        return dict(status or {}), [dict(k) for k in kernels or []]


def _message(exc: HTTPClientError) -> str:
    body = exc.response.body if exc.response is not None else b""
    try:
        message = json.loads(body or b"{}").get("message") or ""
    except (ValueError, AttributeError):
        message = ""
    return str(message or exc.message or "")[:500]
