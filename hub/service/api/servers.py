"""A tenant's running servers: list them, stop one (tenant admins and platform admins).

The hub knows servers, the tenant each was started in comes from its
``user_options`` (set by the spawn form): a server counts as the tenant's only
when it runs *in* that tenant, so the admin of A never sees or stops the
server a member of A runs in tenant B.

Stopping answers 202 with the state the hub reported: ``stopped`` (the hub
answered 204, the server is gone) or ``stopping`` (the hub answered 202 and
stops it in the background; the list shows it until it is gone).
"""

from __future__ import annotations

from hub.service.api.calls import from_hub, require_tenant
from hub.service.api.framework import ApiError, Call, Page, Route
from hub.service.api.models import ServerOut, ServerStopped
from hub.service.hub_client import HubClient, HubRefused, ServerInfo
from hub.service.policy import Permission


def running_in(servers: list[ServerInfo], tenant: str) -> list[ServerInfo]:
    """The servers running in ``tenant``, by user then server name (pure)."""
    return sorted((s for s in servers if s.tenant == tenant), key=lambda s: (s.user, s.name))


def server_out(server: ServerInfo) -> ServerOut:
    return ServerOut(
        user=server.user,
        server=server.name,
        profile=server.profile,
        ready=server.ready,
        pending=server.pending,
        started=server.started,
        last_activity=server.last_activity,
    )


def server_label(user: str, name: str) -> str:
    return f"server {name!r} of {user!r}" if name else f"the default server of {user!r}"


def capitalized(text: str) -> str:
    """``str.capitalize`` would lower-case the user name inside."""
    return text[:1].upper() + text[1:]


async def list_servers(call: Call) -> Page[ServerOut]:
    await require_tenant(call)
    hub: HubClient = call.service.hub
    servers = running_in(await from_hub(hub.active_servers()), call.tenant)
    return Page[ServerOut](
        items=[server_out(s) for s in call.paging.window(servers)],
        total=len(servers),
        limit=call.paging.limit,
        offset=call.paging.offset,
    )


async def stop_server(call: Call) -> ServerStopped:
    user = call.path["username"]
    name = call.query.get("server", "")
    hub: HubClient = call.service.hub
    running = running_in(await from_hub(hub.active_servers()), call.tenant)
    if not any(s.user == user and s.name == name for s in running):
        raise ApiError(
            404,
            f"{capitalized(server_label(user, name))} is not running in tenant "
            f"{call.tenant!r}; GET /tenants/{call.tenant}/servers lists those that are.",
        )
    try:
        state = await from_hub(hub.stop(user, name))
    except HubRefused as exc:
        raise ApiError(
            409, f"The hub will not stop {server_label(user, name)} now: {exc.message}"
        ) from None
    if state is None:  # gone between the list and the stop
        raise ApiError(404, f"{capitalized(server_label(user, name))} is no longer running.")
    platform = call.service.platform
    await platform.run(
        platform.store.audit,
        call.actor.name,
        "server.stop",
        f"{call.tenant}/{user}",
        {"server": name, "state": state.value},
    )
    return ServerStopped(tenant=call.tenant, user=user, server=name, state=state.value)


ROUTES = [
    Route("GET", "/tenants/{tenant}/servers", Permission.SERVERS_READ, list_servers,
          "Servers running (or starting) in the tenant, by user", response=Page[ServerOut],
          paged=True),
    Route("DELETE", "/tenants/{tenant}/servers/{username}", Permission.SERVERS_STOP,
          stop_server,
          "Stop a user's server that runs in this tenant (202: state stopped or stopping)",
          response=ServerStopped, status=202,
          query={"server": "The server's name; empty or absent: the default server"}),
]  # fmt: skip
