"""The hub's REST API as the platform service uses it (its own token, least privilege).

Async (tornado's HTTP client): the service never blocks its event loop on the hub.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest


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
        return json.loads(response.body) if response.body else None

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
        path = f"users/{quote(user, safe='')}/server"
        if server:
            path = f"users/{quote(user, safe='')}/servers/{quote(server, safe='')}"
        try:
            await self._call("DELETE", path)
        except HTTPClientError as exc:
            if exc.code == 404:
                return False
            raise
        return True
