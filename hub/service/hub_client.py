"""The hub's REST API as the platform service uses it (its own token, least privilege).

Async (tornado's HTTP client): the service never blocks its event loop on the hub.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import quote

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest

log = logging.getLogger("tenanthub.service")


class GroupSync(StrEnum):
    """What happened to a JupyterHub group change (membership changes never fail on it)."""

    DONE = "done"
    #: the user has never signed in, so the hub has no such user yet: their first
    #: login puts them in the group (the authenticator hands the hub their groups)
    NO_USER = "no-user"
    #: the group does not exist and this service may not create groups
    #: (``admin:groups``): the next login of any member of the tenant creates it
    NO_GROUP = "no-group"


class StopState(StrEnum):
    STOPPED = "stopped"  # the hub answered 204: the server is gone
    STOPPING = "stopping"  # 202: the hub is stopping it


class HubRefused(Exception):
    """The hub answered a request with an error; ``code`` and the hub's own message."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def hub_message(exc: HTTPClientError) -> str:
    """The ``message`` of the hub's JSON error body (short; never the request)."""
    body = exc.response.body if exc.response is not None else b""
    try:
        message = json.loads(body or b"{}").get("message") or ""
    except (ValueError, AttributeError):
        message = ""
    return str(message or exc.message or "")[:300]


@dataclass(frozen=True)
class ServerInfo:
    """One active server as the hub reports it, with the tenant it was admitted to."""

    user: str
    name: str  # "" for the default server
    tenant: str | None
    profile: str | None
    ready: bool
    pending: str | None
    started: str | None
    last_activity: str | None
    url: str


def servers_from_users(users: list[dict[str, Any]]) -> list[ServerInfo]:
    """Flatten the hub's user models into their active servers (pure)."""
    out = []
    for user in users:
        for name, server in (user.get("servers") or {}).items():
            options = server.get("user_options") or {}
            out.append(
                ServerInfo(
                    user=user["name"],
                    name=name,
                    tenant=options.get("tenant") if isinstance(options, dict) else None,
                    profile=options.get("profile") if isinstance(options, dict) else None,
                    ready=bool(server.get("ready")),
                    pending=server.get("pending"),
                    started=server.get("started"),
                    last_activity=server.get("last_activity"),
                    url=server.get("url", ""),
                )
            )
    return out


class HubClient:
    def __init__(self, api_url: str | None = None, token: str | None = None) -> None:
        self.api_url = (api_url or os.environ["JUPYTERHUB_API_URL"]).rstrip("/")
        self._token = token or os.environ["JUPYTERHUB_API_TOKEN"]
        self._http = AsyncHTTPClient()

    async def _call(self, method: str, path: str, body: Any = None) -> Any:
        _code, data = await self._request(method, path, body)
        return data

    async def _request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        request = HTTPRequest(
            f"{self.api_url}/{path}",
            method=method,
            headers={
                "Authorization": f"token {self._token}",
                "Accept": "application/jupyterhub-pagination+json",
            },
            body=None if body is None else json.dumps(body),
            allow_nonstandard_methods=True,
            request_timeout=30,
        )
        response = await self._http.fetch(request)
        return response.code, (json.loads(response.body) if response.body else None)

    async def active_servers(self) -> list[ServerInfo]:
        """Every active server (running or pending) of every user, page by page."""
        users: list[dict[str, Any]] = []
        offset = 0
        while True:
            page = await self._call("GET", f"users?state=active&offset={offset}&limit=200")
            items = page["items"] if isinstance(page, dict) else page
            users.extend(items)
            following = (
                (page.get("_pagination") or {}).get("next") if isinstance(page, dict) else None
            )
            if not following:
                break
            offset = following["offset"]
        return servers_from_users(users)

    async def stop_server(self, user: str, server: str) -> bool:
        """Ask the hub to stop a server; False when the hub does not know it."""
        return await self.stop(user, server) is not None

    async def stop(self, user: str, server: str) -> StopState | None:
        """Ask the hub to stop a server: stopped (204) or stopping (202); None when the hub
        does not know it. HubRefused when the hub will not (e.g. a start still pending)."""
        path = f"users/{quote(user, safe='')}/server"
        if server:
            path = f"users/{quote(user, safe='')}/servers/{quote(server, safe='')}"
        try:
            code, _ = await self._request("DELETE", path)
        except HTTPClientError as exc:
            if exc.code == 404:
                return None
            if exc.code in (400, 409):
                raise HubRefused(exc.code, hub_message(exc)) from None
            raise
        return StopState.STOPPING if code == 202 else StopState.STOPPED

    # ------------------------------------------------------------------ tenant groups
    #
    # The authenticator hands JupyterHub each user's tenant groups at every login and
    # auth refresh (``manage_groups``). When the API changes a membership, these calls
    # bring the group up to date at once, so a tenant admin's group-filtered scopes
    # (``!group=tenant-<t>``) cover the new member, and stop covering a removed one,
    # without waiting for that user's next login.

    async def group_users(self, group: str) -> list[str] | None:
        """The user names in ``group``; None when the group does not exist."""
        try:
            model = await self._call("GET", f"groups/{quote(group, safe='')}")
        except HTTPClientError as exc:
            if exc.code == 404:
                return None
            raise
        return sorted(str(u) for u in (model or {}).get("users") or ())

    async def add_group_user(self, group: str, user: str) -> GroupSync:
        """Put ``user`` in ``group``, creating the group when it is missing (if allowed)."""
        path = f"groups/{quote(group, safe='')}"
        try:
            await self._call("POST", f"{path}/users", {"users": [user]})
            return GroupSync.DONE
        except HTTPClientError as exc:
            if exc.code == 400:  # "No such user": never signed in
                return GroupSync.NO_USER
            if exc.code != 404:
                raise
        try:
            await self._call("POST", path, {"users": [user]})
        except HTTPClientError as exc:
            if exc.code == 400:
                return GroupSync.NO_USER
            if exc.code == 403:
                return GroupSync.NO_GROUP
            if exc.code == 409:  # created meanwhile (a login): add to it
                await self._call("POST", f"{path}/users", {"users": [user]})
                return GroupSync.DONE
            raise
        return GroupSync.DONE

    async def remove_group_users(self, group: str, users: list[str]) -> GroupSync:
        """Take ``users`` (who must exist in the hub) out of ``group``; a missing group
        has nobody in it."""
        if not users:
            return GroupSync.DONE
        try:
            await self._call(
                "DELETE", f"groups/{quote(group, safe='')}/users", {"users": list(users)}
            )
        except HTTPClientError as exc:
            if exc.code == 404:
                return GroupSync.NO_GROUP
            if exc.code == 400:
                return GroupSync.NO_USER
            raise
        return GroupSync.DONE
