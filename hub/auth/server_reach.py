"""Which servers a filtered scope reaches, with tenants taken into account.

JupyterHub filters scopes by *user*: ``delete:servers!group=tenant-vision`` reaches
every server of every user in the group. A user in two tenants has one server per
tenant, so the admin of ``vision`` would also reach that user's ``nlp`` server.
TenantHub narrows a tenant group filter to the servers that run in that tenant;
every other filter (``!user=``, ``!server=``, a group that is not a tenant's, or
unfiltered access) keeps JupyterHub's meaning.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from hub.tenancy.names import tenant_of_group


def server_tenant(
    state: Mapping[str, Any] | None, user_options: Mapping[str, Any] | None
) -> str | None:
    """The tenant a server runs (or was asked to run) in; None when not yet decided.

    The spawner state holds the tenant admission decided; ``user_options`` holds it
    for a server that is stopped (its state is cleared) or still being admitted.
    """
    chosen = (state or {}).get("tenanthub")
    if isinstance(chosen, Mapping) and isinstance(chosen.get("tenant"), str):
        return str(chosen["tenant"])
    tenant = (user_options or {}).get("tenant")
    return tenant if isinstance(tenant, str) and tenant else None


def filter_reaches_server(
    filters: Mapping[str, Collection[str]],
    owner: str,
    server_name: str,
    owner_groups: Collection[str],
    tenant: str | None,
) -> bool:
    """Does a parsed scope filter (``{"user": {...}, "group": {...}, ...}``) reach this server?

    Unfiltered access (JupyterHub's ``Scope.ALL``) is not a mapping and is decided by
    the caller. A tenant group reaches only servers of that tenant; a server whose
    tenant is not decided yet is reached only by the filters JupyterHub would use for
    a single user (never by a tenant group), so nobody acts on it across tenants.
    """
    if f"{owner}/{server_name}" in filters.get("server", ()):
        return True
    if owner in filters.get("user", ()):
        return True
    for group in set(filters.get("group", ())) & set(owner_groups):
        group_tenant = tenant_of_group(group)
        if group_tenant is None or group_tenant == tenant:
            return True
    return False
