"""A tenant's quota: read it, replace it.

``PUT`` replaces the whole quota: a resource left out (or null) has no limit
afterwards, so what the caller sends is exactly what applies. Values are
validated by ``QuotaIn`` (negative, absurdly large, a missing or wrong unit:
422 with the key path). The spawner reads the quota from the database at
every spawn, so a new quota applies to the next server started; running
servers are not stopped by a lower one.
"""

from __future__ import annotations

from hub.config.schema import Quota
from hub.service.api.calls import in_tenant
from hub.service.api.convert import quota_out
from hub.service.api.framework import ApiError, Call, Route, not_yours
from hub.service.api.models import QuotaIn, QuotaOut
from hub.service.policy import Permission
from hub.tenancy.quota import QuotaLimits


async def get_quota(call: Call) -> QuotaOut:
    platform = call.service.platform
    view = await platform.run(platform.store.tenant, call.tenant)
    if view is None:
        raise ApiError(404, not_yours(call.tenant))
    return quota_out(view.limits)


async def set_quota(call: Call) -> QuotaOut:
    body: QuotaIn = call.body
    limits = QuotaLimits.from_quota(Quota(**body.model_dump()))
    platform = call.service.platform
    view = await in_tenant(call, platform.store.set_quota, call.tenant, limits, call.actor.name)
    return quota_out(view.limits)


ROUTES = [
    Route("GET", "/tenants/{tenant}/quota", Permission.QUOTA_READ, get_quota,
          "The tenant's quota (null: no limit on that resource)", response=QuotaOut),
    Route("PUT", "/tenants/{tenant}/quota", Permission.QUOTA_WRITE, set_quota,
          "Replace the tenant's whole quota (a resource left out or null: no limit)",
          body=QuotaIn, response=QuotaOut),
]  # fmt: skip
