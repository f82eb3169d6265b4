"""The audit log: a tenant's entries (its tenant admins), every entry (platform admins).

Every state change of the API writes one entry in the same transaction as the
change (actor, action, target, JSON detail without secrets). A tenant's
entries are those whose target is the tenant or starts with ``<tenant>/``
(its members and servers); they stay readable after the tenant is deleted,
to platform admins.
"""

from __future__ import annotations

from hub.service.api.framework import Call, Page, Route
from hub.service.api.models import AuditOut
from hub.service.policy import Permission
from hub.tenancy.store import AuditEntry


def audit_out(entry: AuditEntry) -> AuditOut:
    return AuditOut(
        at=entry.at.isoformat(),
        actor=entry.actor,
        action=entry.action,
        target=entry.target,
        detail=entry.detail,
    )


async def page_of(call: Call, tenant: str | None) -> Page[AuditOut]:
    platform = call.service.platform
    total, entries = await platform.run(
        platform.store.audit_page, tenant, call.paging.offset, call.paging.limit
    )
    return Page[AuditOut](
        items=[audit_out(e) for e in entries],
        total=total,
        limit=call.paging.limit,
        offset=call.paging.offset,
    )


async def tenant_audit(call: Call) -> Page[AuditOut]:
    return await page_of(call, call.tenant)


async def platform_audit(call: Call) -> Page[AuditOut]:
    return await page_of(call, None)


ROUTES = [
    Route("GET", "/tenants/{tenant}/audit", Permission.AUDIT_READ, tenant_audit,
          "Audit entries of the tenant, its members and servers, newest first",
          response=Page[AuditOut], paged=True),
    Route("GET", "/audit", Permission.PLATFORM_AUDIT_READ, platform_audit,
          "Every audit entry, newest first", response=Page[AuditOut], paged=True),
]  # fmt: skip
