"""Which profiles a user may pick in a tenant.

A profile is offered in a tenant when the profile allows the tenant (its
``allowed_tenants`` is empty or names it), the tenant allows the profile (its
allowed list is "all" or names it), and it could ever fit the tenant's quota
(a GPU profile is not offered to a tenant whose GPU quota is 0).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from hub.config.schema import Profile
from hub.tenancy.quota import QuotaLimits, Resources, server_request, shortfalls


def profile_allowed(profile: Profile, tenant: str, tenant_profiles: frozenset[str] | None) -> bool:
    """``tenant_profiles`` None means the tenant allows every profile."""
    if profile.allowed_tenants and tenant not in profile.allowed_tenants:
        return False
    return tenant_profiles is None or profile.name in tenant_profiles


def could_ever_fit(profile: Profile, limits: QuotaLimits) -> bool:
    """False when one server of the profile exceeds the tenant quota even with nothing running."""
    return not shortfalls(limits, Resources(), server_request(profile))


def profiles_for_tenant(
    profiles: Sequence[Profile],
    tenant: str,
    tenant_profiles: frozenset[str] | None,
    limits: QuotaLimits,
) -> list[Profile]:
    """Profiles offered in ``tenant``, default profile first, otherwise in config order."""
    usable = [
        p
        for p in profiles
        if profile_allowed(p, tenant, tenant_profiles) and could_ever_fit(p, limits)
    ]
    return sorted(usable, key=lambda p: not p.default)


def pick_profile(offered: Iterable[Profile], requested: str | None) -> Profile | None:
    """The profile a request names, or the first offered when it names none."""
    offered = list(offered)
    if requested is None or requested == "":
        return offered[0] if offered else None
    return next((p for p in offered if p.name == requested), None)
