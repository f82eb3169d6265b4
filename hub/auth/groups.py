"""Directory groups -> tenant memberships, and memberships -> JupyterHub groups and roles.

Pure rules. The authenticators feed them what the directory says (LDAP group
names, the OIDC groups claim) and the tenants' ``group_mappings``; the
results are written by the store (memberships with source ``ldap``/``oauth``)
and handed to JupyterHub in the auth model (``groups``, ``roles``), which
JupyterHub keeps in its own tables (``manage_groups`` / ``manage_roles``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from hub.tenancy.names import group_for

ROLE_RANK = {"member": 1, "admin": 2}

#: What a tenant admin may do, limited to the users of their tenant's group: see
#: them and their servers, and stop those servers. Not: open them (privacy), start
#: them, change users, or anything outside the group.
TENANT_ADMIN_SCOPES = (
    "list:users",
    "read:users",
    "read:users:activity",
    "read:servers",
    "delete:servers",
    "read:groups",
    "list:groups",
)


#: Every user may sign in to the platform service (``/services/tenanthub``); what they
#: see there is decided by the service from their tenant roles.
PLATFORM_USER_ROLE: dict[str, Any] = {
    "name": "tenanthub-user",
    "description": "Sign in to the TenantHub service (API and console)",
    "scopes": ["access:services!service=tenanthub"],
}
#: Platform admins carry the service's own admin scope, so their API tokens (and the
#: service's OAuth token for them) say so without the service asking for more.
PLATFORM_ADMIN_ROLE: dict[str, Any] = {
    "name": "tenanthub-platform-admin",
    "description": "Manage every tenant in TenantHub",
    "scopes": ["custom:tenanthub:admin"],
}


def memberships_from_groups(
    groups: Iterable[str], mappings: Mapping[str, Sequence[tuple[str, str]]]
) -> dict[str, str]:
    """``{tenant: role}`` for the directory ``groups`` a user is in (highest role wins).

    ``mappings`` is ``{tenant: [(group, role), ...]}`` from the tenants'
    ``group_mappings``. Group names compare case-insensitively, as LDAP does.
    """
    have = {g.casefold() for g in groups}
    out: dict[str, str] = {}
    for tenant, rules in mappings.items():
        for group, role in rules:
            if group.casefold() in have and ROLE_RANK[role] > ROLE_RANK.get(out.get(tenant, ""), 0):
                out[tenant] = role
    return out


def is_in_any(groups: Iterable[str], wanted: Iterable[str]) -> bool:
    have = {g.casefold() for g in groups}
    return any(w.casefold() in have for w in wanted)


def hub_groups(memberships: Mapping[str, str]) -> list[str]:
    """The JupyterHub groups of a user: one per tenant they belong to."""
    return sorted(group_for(tenant) for tenant in memberships)


def tenant_admin_role_name(tenant: str) -> str:
    return f"tenant-admin-{tenant}"


def tenant_admin_role(tenant: str) -> dict[str, Any]:
    """A JupyterHub role whose scopes are filtered to the tenant's group (``!group=``)."""
    group = group_for(tenant)
    return {
        "name": tenant_admin_role_name(tenant),
        "description": f"Admin of tenant {tenant}: see and stop the servers of its users",
        "scopes": [f"{scope}!group={group}" for scope in TENANT_ADMIN_SCOPES],
    }


def hub_roles(
    memberships: Mapping[str, str], default_roles: Sequence[dict[str, Any]], admin: bool = False
) -> list[dict[str, Any]]:
    """Roles for the auth model: JupyterHub's ``user`` role (and ``admin`` for platform
    admins) plus one per administered tenant.

    With ``manage_roles`` JupyterHub strips every role the model does not
    list, so the default roles must be listed too.
    """
    wanted = {"user", "admin"} if admin else {"user"}
    defaults = [dict(r) for r in default_roles if r["name"] in wanted]
    platform = [PLATFORM_USER_ROLE, PLATFORM_ADMIN_ROLE] if admin else [PLATFORM_USER_ROLE]
    admin_roles = [
        tenant_admin_role(tenant) for tenant, role in sorted(memberships.items()) if role == "admin"
    ]
    return [*defaults, *(dict(r) for r in platform), *admin_roles]
