"""Tenants: list, read, create, rename, delete (and who am I).

Deleting removes the tenant's database rows only (memberships, quota, allowed
profiles, jobs and runs, data sources; refused while a run runs); its data stays
where the backend keeps it and the answer says where. A deleted tenant that the
config file still lists is created again from the config at the next hub start
(``hub.tenancy.seed``): the answer says that too, so it never comes back as a
surprise.
"""

from __future__ import annotations

import logging

from hub.config.loader import load_config
from hub.config.schema import PlatformConfig, Quota
from hub.service import tenant_data
from hub.service.api.calls import from_hub, in_tenant, require_tenant
from hub.service.api.convert import tenant_out
from hub.service.api.data_kept import data_kept_sentence, kept_locations, reseed_warning
from hub.service.api.framework import ApiError, Call, Page, Route, not_yours
from hub.service.api.models import (
    TenantDeleted,
    TenantDeleteIn,
    TenantIn,
    TenantOut,
    TenantPatch,
    WhoAmI,
)
from hub.service.api.profiles import allowed_profiles_problem
from hub.service.hub_client import HubClient
from hub.service.policy import Permission
from hub.service.tenant_data import RunsActive
from hub.tenancy.names import group_for
from hub.tenancy.quota import QuotaLimits
from hub.tenancy.seed import TenantSpec
from hub.tenancy.store import TenantExists
from hub.tenancy.tenant_removal import remove_tenant, still_in_config

log = logging.getLogger("tenanthub.service")


async def whoami(call: Call) -> WhoAmI:
    actor = call.actor
    return WhoAmI(name=actor.name, platform_admin=actor.platform_admin, tenants=dict(actor.roles))


#: pages built from the store's cached rows: (rows, page) by (id(rows), caller's roles)
_PAGES: dict[tuple[object, ...], tuple[object, Page[TenantOut]]] = {}


async def list_tenants(call: Call) -> Page[TenantOut]:
    platform = call.service.platform
    names = None if call.actor.platform_admin else sorted(call.actor.roles)
    search = call.query.get("q", "").strip()[:100]
    total, rows = await platform.read(
        platform.store.tenant_summaries, names, search, call.paging.offset, call.paging.limit
    )
    # the store hands back the same rows object while its page cache holds: the page
    # built from it for callers with the same roles can be handed out again as well
    key = (id(rows), call.actor.platform_admin, tuple(sorted(call.actor.roles.items())))
    built = _PAGES.get(key)
    if built is not None and built[0] is rows:
        return built[1]
    page = Page[TenantOut](
        items=[tenant_out(r, call.actor) for r in rows],
        total=total,
        limit=call.paging.limit,
        offset=call.paging.offset,
    )
    if len(_PAGES) > 256:
        _PAGES.clear()
    _PAGES[key] = (rows, page)
    return page


async def get_tenant(call: Call) -> TenantOut:
    platform = call.service.platform
    _total, rows = await platform.run(platform.store.tenant_summaries, [call.tenant], "", 0, 1)
    if not rows:
        raise ApiError(404, not_yours(call.tenant))
    out = tenant_out(rows[0], call.actor)
    out.checkpoints = await platform.run(call.service.checkpoint_store.ready_count, call.tenant)
    return out


async def create_tenant(call: Call) -> TenantOut:
    body: TenantIn = call.body
    platform = call.service.platform
    problem = allowed_profiles_problem(platform.config.profiles, body.name, body.allowed_profiles)
    if problem:
        raise ApiError(422, problem)
    spec = TenantSpec(
        name=body.name,
        display_name=body.display_name or body.name,
        limits=QuotaLimits.from_quota(Quota(**body.quota.model_dump())),
        allowed_profiles=None
        if body.allowed_profiles is None
        else tuple(sorted(set(body.allowed_profiles))),
        members=(),
        storage={},
        group_mappings=(),
    )
    try:
        await platform.run(platform.store.create_tenant, spec, call.actor.name)
    except TenantExists:
        raise ApiError(409, f"Tenant {body.name!r} already exists; pick another name.") from None
    call.path = {**call.path, "tenant": body.name}
    return await get_tenant(call)


async def update_tenant(call: Call) -> TenantOut:
    body: TenantPatch = call.body
    platform = call.service.platform
    if body.display_name is not None:
        await in_tenant(
            call, platform.store.set_display_name, call.tenant, body.display_name, call.actor.name
        )
    return await get_tenant(call)


def current_config(path: object, loaded: PlatformConfig) -> PlatformConfig:
    """The config file as the next hub start will read it; the loaded one if it is unreadable."""
    try:
        return load_config(str(path)) if path else loaded
    except Exception:  # an invalid file stops the next start anyway; say what we know
        return loaded


async def delete_tenant(call: Call) -> TenantDeleted:
    body: TenantDeleteIn = call.body
    tenant = call.tenant
    if body.confirm != tenant:
        raise ApiError(
            422,
            f"Deleting tenant {tenant!r} removes its members, quota, profiles, jobs and data "
            "sources; to confirm, "
            f'repeat its name exactly: {{"confirm": "{tenant}"}}.',
        )
    platform = call.service.platform
    hub: HubClient = call.service.hub
    await require_tenant(call)
    running = [s for s in await from_hub(hub.active_servers()) if s.tenant == tenant]
    if running:
        names = ", ".join(sorted(f"{s.user}/{s.name}" if s.name else s.user for s in running))
        raise ApiError(
            409,
            f"Tenant {tenant!r} still has {len(running)} running server(s) ({names}); stop them "
            f"first (DELETE /tenants/{tenant}/servers/<user>), then delete the tenant.",
        )
    removed_too = await remove_jobs_and_sources(call, tenant)
    gone = await in_tenant(call, remove_tenant, platform.store, tenant, call.actor.name)
    await empty_hub_group(hub, tenant)
    config = await platform.run(current_config, platform.config_path, platform.config)
    places = kept_locations(
        tenant,
        gone.storage,
        config.backend.kind,
        platform.data_dir,
        config.backend.kubernetes.namespace_prefix,
    )
    again = still_in_config(config, tenant)
    return TenantDeleted(
        tenant=tenant,
        removed={**gone.removed, **removed_too},
        data_kept=data_kept_sentence(tenant, places),
        kept=places,
        still_in_config=again,
        warning=reseed_warning(tenant, str(platform.config_path or "the config file"))
        if again
        else None,
    )


async def remove_jobs_and_sources(call: Call, tenant: str) -> dict[str, int]:
    """``hub.service.tenant_data``: a 409, nothing removed, while a run starts or runs;
    its output notebook stays in its owner's home like every file."""
    platform = call.service.platform
    try:
        return await platform.run(tenant_data.remove_jobs_and_sources, platform.engine, tenant)
    except RunsActive as exc:
        raise ApiError(
            409,
            f"Tenant {tenant!r} still has {exc}; cancel them first "
            f"(POST /tenants/{tenant}/runs/<id>/cancel), then delete the tenant.",
        ) from None


async def empty_hub_group(hub: HubClient, tenant: str) -> None:
    """Take everyone out of the tenant's JupyterHub group, so the group-filtered scopes of
    its (former) tenant admins reach nobody from now on. Best effort: the DB is the truth
    and every user's next login or auth refresh syncs their groups anyway."""
    group = group_for(tenant)
    try:
        users = await hub.group_users(group)
        if users:
            await hub.remove_group_users(group, users)
    except Exception as exc:
        log.warning(
            "tenant %s deleted, but its hub group %s was not emptied: %s", tenant, group, exc
        )


ROUTES = [
    Route("GET", "/me", Permission.WHOAMI, whoami, "Who the caller is and their tenant roles",
          response=WhoAmI),
    Route("GET", "/tenants", Permission.TENANTS_LIST, list_tenants,
          "Tenants the caller may see (all for platform admins), by name",
          response=Page[TenantOut], paged=True,
          query={"q": "Only tenants whose name or display name contains this"}),
    Route("POST", "/tenants", Permission.TENANT_CREATE, create_tenant, "Create a tenant",
          body=TenantIn, response=TenantOut, status=201),
    Route("GET", "/tenants/{tenant}", Permission.TENANT_READ, get_tenant, "One tenant",
          response=TenantOut),
    Route("PATCH", "/tenants/{tenant}", Permission.TENANT_UPDATE, update_tenant,
          "Change a tenant's display name (its name, and so its namespace, never changes)",
          body=TenantPatch, response=TenantOut),
    Route("DELETE", "/tenants/{tenant}", Permission.TENANT_DELETE, delete_tenant,
          "Delete a tenant's members, quota, profiles, jobs and data sources (body: the name "
          "again; 409 while one of its runs runs); its data "
          "stays, and a tenant still in the config file is created again at the next start",
          body=TenantDeleteIn, response=TenantDeleted),
]  # fmt: skip
