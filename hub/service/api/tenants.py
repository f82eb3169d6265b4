"""Tenants: list, read, create (and who am I)."""

from __future__ import annotations

from hub.config.schema import Quota
from hub.service.api.convert import tenant_out
from hub.service.api.framework import ApiError, Call, Page, Route, not_yours
from hub.service.api.models import TenantIn, TenantOut, WhoAmI
from hub.service.policy import Permission
from hub.tenancy.quota import QuotaLimits
from hub.tenancy.seed import TenantSpec
from hub.tenancy.store import TenantExists


async def whoami(call: Call) -> WhoAmI:
    actor = call.actor
    return WhoAmI(name=actor.name, platform_admin=actor.platform_admin, tenants=dict(actor.roles))


async def list_tenants(call: Call) -> Page[TenantOut]:
    platform = call.service.platform
    names = None if call.actor.platform_admin else sorted(call.actor.roles)
    search = call.query.get("q", "").strip()[:100]
    total, rows = await platform.run(
        platform.store.tenant_summaries, names, search, call.paging.offset, call.paging.limit
    )
    return Page[TenantOut](
        items=[tenant_out(r, call.actor) for r in rows],
        total=total,
        limit=call.paging.limit,
        offset=call.paging.offset,
    )


async def get_tenant(call: Call) -> TenantOut:
    platform = call.service.platform
    _total, rows = await platform.run(platform.store.tenant_summaries, [call.tenant], "", 0, 1)
    if not rows:
        raise ApiError(404, not_yours(call.tenant))
    return tenant_out(rows[0], call.actor)


async def create_tenant(call: Call) -> TenantOut:
    body: TenantIn = call.body
    platform = call.service.platform
    known = {p.name for p in platform.config.profiles}
    unknown = sorted(set(body.allowed_profiles or ()) - known)
    if unknown:
        raise ApiError(
            422, f"Unknown profiles {unknown}; the platform has {sorted(known) or 'none'}."
        )
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
]  # fmt: skip
