"""Platform dataclasses -> API response models (pure)."""

from __future__ import annotations

from hub.config.quantities import byte_quantity, cpu_quantity
from hub.service.api.models import QuotaOut, TenantOut
from hub.service.policy import Actor
from hub.tenancy.quota import QuotaLimits
from hub.tenancy.store import TenantSummary


def quota_out(limits: QuotaLimits) -> QuotaOut:
    return QuotaOut(
        cpu=None if limits.cpu_millis is None else cpu_quantity(limits.cpu_millis),
        memory=None if limits.memory_bytes is None else byte_quantity(limits.memory_bytes),
        gpu=limits.gpu,
        servers=limits.servers,
        storage=None if limits.storage_bytes is None else byte_quantity(limits.storage_bytes),
        running_jobs=limits.running_jobs,
    )


def your_role(actor: Actor, tenant: str) -> str | None:
    role = actor.role_in(tenant)
    if role is None and actor.platform_admin:
        return "platform-admin"
    return role


def tenant_out(summary: TenantSummary, actor: Actor) -> TenantOut:
    view = summary.view
    return TenantOut(
        name=view.name,
        display_name=view.display_name,
        quota=quota_out(view.limits),
        allowed_profiles=None if view.allowed_profiles is None else sorted(view.allowed_profiles),
        members=summary.members,
        your_role=your_role(actor, view.name),
    )
