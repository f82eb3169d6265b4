"""Admission of a spawn request: membership, tenant, profile (pure).

Given what a user asked for and what the database says about them, decide
which tenant and profile the server runs with, or refuse with a message the
user can act on. Quota is checked afterwards against the live ledger.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from hub.config.schema import Profile
from hub.tenancy.profiles import pick_profile, profiles_for_tenant
from hub.tenancy.store import Membership


class AdmissionRefused(Exception):
    """A spawn that must not happen; ``str()`` is shown to the user."""


NO_TENANT = (
    "You are not a member of any tenant, so you cannot start a server. "
    "Ask a platform admin or your team's tenant admin to add you to a tenant."
)


@dataclass(frozen=True)
class Admission:
    membership: Membership
    profile: Profile
    offered: tuple[Profile, ...]


def offered_profiles(profiles: Sequence[Profile], membership: Membership) -> list[Profile]:
    tenant = membership.tenant
    return profiles_for_tenant(profiles, tenant.name, tenant.allowed_profiles, tenant.limits)


def admit(
    memberships: Sequence[Membership],
    profiles: Sequence[Profile],
    requested_tenant: str | None,
    requested_profile: str | None,
    server_name: str,
) -> Admission:
    """Pick tenant and profile for a spawn, or raise AdmissionRefused saying why.

    The tenant is, in order: the one requested; the one the named server is
    named after; the user's only tenant. A user in several tenants who names
    none is asked to choose.
    """
    if not memberships:
        raise AdmissionRefused(NO_TENANT)
    by_name = {m.tenant.name: m for m in memberships}
    tenant = requested_tenant or None
    if tenant is None and server_name in by_name:
        tenant = server_name
    if tenant is None:
        if len(memberships) > 1:
            raise AdmissionRefused(
                "You are a member of several tenants "
                f"({', '.join(sorted(by_name))}); choose one in the spawn form."
            )
        tenant = memberships[0].tenant.name
    membership = by_name.get(tenant)
    if membership is None:
        raise AdmissionRefused(
            f"You are not a member of tenant {tenant!r}. "
            f"Your tenants: {', '.join(sorted(by_name))}."
        )
    if server_name and server_name in by_name and server_name != tenant:
        raise AdmissionRefused(
            f"The server named {server_name!r} belongs to tenant {server_name!r}; "
            f"it cannot run in tenant {tenant!r}."
        )
    offered = offered_profiles(profiles, membership)
    if not offered:
        raise AdmissionRefused(
            f"Tenant {tenant!r} has no profile you can start (none allowed, or none fits its "
            "quota). Ask a tenant admin to allow a profile."
        )
    profile = pick_profile(offered, requested_profile)
    if profile is None:
        raise AdmissionRefused(
            f"Profile {requested_profile!r} is not available in tenant {tenant!r}. "
            f"Available: {', '.join(p.name for p in offered)}."
        )
    return Admission(membership, profile, tuple(offered))
