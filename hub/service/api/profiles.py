"""A tenant's allowed profiles: every platform profile with allowed true/false, and set them."""

from __future__ import annotations

from collections.abc import Sequence

from hub.config.schema import Profile
from hub.service.api.calls import in_tenant
from hub.service.api.framework import ApiError, Call, Page, Route, not_yours
from hub.service.api.models import ProfileOut, ProfilesIn, ProfilesOut
from hub.service.policy import Permission
from hub.tenancy.profiles import profile_allowed
from hub.tenancy.store import TenantView


def allowed_profiles_problem(
    profiles: Sequence[Profile], tenant: str, wanted: list[str] | None
) -> str | None:
    """Why ``wanted`` cannot be tenant's allowed profiles (None: it can). Pure.

    Refused: names the platform does not have (the message lists the ones it
    has), profiles that the config reserves for other tenants (they would be
    listed but never offered), and an empty list, which would let the tenant's
    members start nothing; null is how to allow every profile.
    """
    if wanted is None:
        return None
    known = [p.name for p in profiles]
    if not wanted:
        return (
            "allowed_profiles is empty, so members could start no server at all; send null to "
            f"allow every profile, or name some of {known}."
        )
    unknown = sorted(set(wanted) - set(known))
    if unknown:
        return f"Unknown profiles {unknown}; the platform has {known or 'none'}."
    elsewhere = [
        f"{p.name!r} is only for tenants {sorted(p.allowed_tenants)}"
        for p in profiles
        if p.name in wanted and p.allowed_tenants and tenant not in p.allowed_tenants
    ]
    if elsewhere:
        return (
            f"Not for tenant {tenant!r}: {'; '.join(elsewhere)} "
            "(profiles[].allowed_tenants in the config)."
        )
    return None


def profile_rows(profiles: Sequence[Profile], view: TenantView) -> list[ProfileOut]:
    """Every platform profile, in config order, with whether the tenant may use it (pure)."""
    return [
        ProfileOut(
            name=p.name,
            display_name=p.display_name or p.name,
            allowed=profile_allowed(p, view.name, view.allowed_profiles),
        )
        for p in profiles
    ]


async def list_profiles(call: Call) -> Page[ProfileOut]:
    platform = call.service.platform
    view = await in_tenant(call, platform.store.tenant, call.tenant)
    if view is None:
        raise ApiError(404, not_yours(call.tenant))
    rows = profile_rows(platform.config.profiles, view)
    return Page[ProfileOut](
        items=call.paging.window(rows),
        total=len(rows),
        limit=call.paging.limit,
        offset=call.paging.offset,
    )


async def set_profiles(call: Call) -> ProfilesOut:
    body: ProfilesIn = call.body
    platform = call.service.platform
    wanted = None if body.allowed_profiles is None else sorted(set(body.allowed_profiles))
    problem = allowed_profiles_problem(platform.config.profiles, call.tenant, wanted)
    if problem:
        raise ApiError(422, problem)
    view = await in_tenant(
        call,
        platform.store.set_allowed_profiles,
        call.tenant,
        None if wanted is None else tuple(wanted),
        call.actor.name,
    )
    return ProfilesOut(
        tenant=view.name,
        allowed_profiles=None if view.allowed_profiles is None else sorted(view.allowed_profiles),
        profiles=profile_rows(platform.config.profiles, view),
    )


ROUTES = [
    Route("GET", "/tenants/{tenant}/profiles", Permission.PROFILES_READ, list_profiles,
          "Every platform profile, with whether this tenant's members may pick it",
          response=Page[ProfileOut], paged=True),
    Route("PUT", "/tenants/{tenant}/profiles", Permission.PROFILES_WRITE, set_profiles,
          "Set the profiles this tenant allows (null: every profile)",
          body=ProfilesIn, response=ProfilesOut),
]  # fmt: skip
