"""JupyterHub's server API handlers, narrowed so a tenant admin reaches only their tenant's servers.

A tenant admin's scopes are filtered to the tenant's group (``!group=tenant-a``),
and JupyterHub applies a group filter to *all* servers of a user in the group. For
a user in tenants A and B, the admin of A would see and stop the user's B server.
These subclasses apply :func:`hub.auth.server_reach.filter_reaches_server` on top
of JupyterHub's own check: to the ``servers`` of user models (list and single
user) and their default ``server`` URL, to one server (read, start, change, stop)
and to its spawn progress.

The authenticator registers them (``get_handlers``) under the same URL patterns
as JupyterHub's; JupyterHub puts the authenticator's handlers first, so these win.
"""

from __future__ import annotations

from typing import Any

from jupyterhub.apihandlers.users import (
    SpawnProgressAPIHandler,
    UserAPIHandler,
    UserListAPIHandler,
    UserServerAPIHandler,
)
from jupyterhub.scopes import Scope
from tornado import web

from hub.auth.server_reach import filter_reaches_server, server_tenant

#: the message (and status) JupyterHub gives for a filtered scope that does not reach
NOT_REACHED = "No access to resources or resources not found"


class TenantServerReach:
    """Mixin for JupyterHub API handlers: tenant group filters reach only that tenant's servers."""

    parsed_scopes: dict[str, Any]

    def server_reached(self, scope: str, spawner: Any) -> bool:
        """May the current request use ``scope`` on this server (Spawner or orm.Spawner)?"""
        filters = self.parsed_scopes.get(scope)
        if filters is None:
            return False
        if filters is Scope.ALL:
            return True
        orm_spawner = getattr(spawner, "orm_spawner", spawner)
        owner = orm_spawner.user
        return filter_reaches_server(
            filters,
            owner.name,
            orm_spawner.name,
            {group.name for group in owner.groups},
            server_tenant(orm_spawner.state, orm_spawner.user_options),
        )

    def get_scope_filter(self, req_scope: str) -> Any:
        upstream = super().get_scope_filter(req_scope)  # type: ignore[misc]

        def has_access(resource: Any, kind: str) -> Any:
            if kind != "server":
                return upstream(resource, kind)
            return bool(upstream(resource, kind)) and self.server_reached(req_scope, resource)

        return has_access

    def user_model(self, user: Any) -> Any:
        """JupyterHub's model, with the default server's ``server``/``pending`` fields
        blanked when the caller's ``read:users`` filter does not reach that server."""
        model = super().user_model(user)  # type: ignore[misc]
        if model.get("server") or model.get("pending"):
            default = getattr(user, "orm_spawners", {}).get("")
            if default is not None and not self.server_reached("read:users", default):
                model["server"] = model["pending"] = None
        return model

    def require_server_reach(self, scope: str, user_name: str, server_name: str) -> None:
        """404 like JupyterHub's own filter miss when ``scope`` does not reach the server.

        Anything else (no credentials, no such user or server, a scope missing
        altogether) is left to JupyterHub's handler, which answers as it always does.
        """
        if getattr(self, "current_user", None) is None:
            return
        filters = self.parsed_scopes.get(scope)
        if filters is None or filters is Scope.ALL:
            return
        user = self.find_user(user_name)  # type: ignore[attr-defined]
        orm_spawner = None if user is None else user.orm_spawners.get(server_name)
        if orm_spawner is not None and not self.server_reached(scope, orm_spawner):
            raise web.HTTPError(404, NOT_REACHED)


class TenantUserListAPIHandler(TenantServerReach, UserListAPIHandler):
    """``GET /api/users``: each user's ``servers`` only as far as the caller reaches."""


class TenantUserAPIHandler(TenantServerReach, UserAPIHandler):
    """``/api/users/:name``: the user model's ``servers`` only as far as the caller reaches."""


class TenantUserServerAPIHandler(TenantServerReach, UserServerAPIHandler):
    """``/api/users/:name/server(s/:server)``: read, create, start, change, stop one server."""

    async def get(self, user_name: str, server_name: str = "") -> Any:
        self.require_server_reach("read:servers", user_name, server_name)
        return await super().get(user_name, server_name)

    async def put(self, user_name: str, server_name: str = "") -> Any:
        self.require_server_reach("start:servers", user_name, server_name)
        return await super().put(user_name, server_name)

    async def post(self, user_name: str, server_name: str = "") -> Any:
        self.require_server_reach("start:servers", user_name, server_name)
        return await super().post(user_name, server_name)

    async def patch(self, user_name: str, server_name: str = "") -> Any:
        self.require_server_reach("start:servers", user_name, server_name)
        return await super().patch(user_name, server_name)

    async def delete(self, user_name: str, server_name: str = "") -> Any:
        self.require_server_reach("delete:servers", user_name, server_name)
        return await super().delete(user_name, server_name)


class TenantSpawnProgressAPIHandler(TenantServerReach, SpawnProgressAPIHandler):
    """``.../progress``: the spawn event stream of a server the caller reaches."""

    async def get(self, user_name: str, server_name: str = "") -> Any:
        self.require_server_reach("read:servers", user_name, server_name)
        return await super().get(user_name, server_name)


def tenant_server_handlers() -> list[tuple[str, type]]:
    """The URL patterns (JupyterHub's own, without the hub prefix) these handlers replace."""
    return [
        (r"/api/users", TenantUserListAPIHandler),
        (r"/api/users/([^/]+)", TenantUserAPIHandler),
        (r"/api/users/([^/]+)/server", TenantUserServerAPIHandler),
        (r"/api/users/([^/]+)/server/progress", TenantSpawnProgressAPIHandler),
        (r"/api/users/([^/]+)/servers/([^/]*)", TenantUserServerAPIHandler),
        (r"/api/users/([^/]+)/servers/([^/]*)/progress", TenantSpawnProgressAPIHandler),
    ]
