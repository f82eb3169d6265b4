"""A tenant's members: list, add, change role, remove.

A user's place in a tenant can come from several sources at once: the config
file, LDAP or OAuth groups (synced at each login), and this API (``manual``);
the highest role counts. The API changes only what it made, the ``manual``
membership: what the config or a directory says is changed there, and a 409
says where. Usernames are stored lower case, as JupyterHub normalizes them.

After each change the tenant's JupyterHub group (``tenant-<t>``) is brought up
to date through the hub API, so a tenant admin's group-filtered scopes cover a
new member, and stop covering a removed one, at once. A changed *role* (a new
tenant admin) reaches JupyterHub's roles at that user's next login or auth
refresh: the service may not grant hub roles.
"""

from __future__ import annotations

import logging

from hub.service.api.calls import in_tenant
from hub.service.api.framework import ApiError, Call, Page, Route
from hub.service.api.models import MemberIn, MemberOut, MemberPatch, MemberRemoved
from hub.service.hub_client import GroupSync, HubClient
from hub.service.policy import Permission
from hub.tenancy.names import group_for
from hub.tenancy.store import (
    ManualMembershipExists,
    MemberNotFound,
    MemberView,
    NotManualMembership,
)

log = logging.getLogger("tenanthub.service")

#: Where a membership the API does not own is changed, by source.
WHERE = {
    "config": "the config file (tenants[].members of this tenant; applied at the next hub start)",
    "ldap": "the LDAP directory (the user's groups, mapped by the tenant's group_mappings; "
    "synced at each login)",
    "oauth": "the identity provider (the user's groups claim, mapped by the tenant's "
    "group_mappings; synced at each login)",
}


def member_out(member: MemberView) -> MemberOut:
    return MemberOut.model_validate(
        {
            "user": member.user,
            "role": member.role,
            "sources": [source for source, _ in member.sources],
            "source_roles": dict(member.sources),
        }
    )


def not_manual_message(tenant: str, member: MemberView, action: str) -> str:
    """The 409 for changing a membership that only the config or a directory gives (pure)."""
    where = "; ".join(WHERE.get(s, s) for s, _ in member.sources)
    sources = ", ".join(s for s, _ in member.sources)
    text = (
        f"{member.user!r} is in tenant {tenant!r} only through {sources} "
        f"(role {member.role}), which the API does not {action}: change it in {where}."
    )
    if action == "change":
        text += (
            " To give a higher role here, add one: POST /tenants/"
            f'{tenant}/members {{"user": "{member.user}", "role": "admin"}} '
            "(the highest role of all sources counts)."
        )
    return text


def username_of(call: Call) -> str:
    return call.path["username"].lower()


async def list_members(call: Call) -> Page[MemberOut]:
    platform = call.service.platform
    total, members = await in_tenant(
        call, platform.store.tenant_members, call.tenant, call.paging.offset, call.paging.limit
    )
    return Page[MemberOut](
        items=[member_out(m) for m in members],
        total=total,
        limit=call.paging.limit,
        offset=call.paging.offset,
    )


async def add_member(call: Call) -> MemberOut:
    body: MemberIn = call.body
    user = body.user.lower()
    platform = call.service.platform
    try:
        member = await in_tenant(
            call, platform.store.add_manual_member, call.tenant, user, body.role, call.actor.name
        )
    except ManualMembershipExists as exc:
        raise ApiError(
            409,
            f"{user!r} was already added to tenant {call.tenant!r} here (role "
            f"{exc.member.role_from('manual')}); change the role with PATCH /tenants/"
            f'{call.tenant}/members/{user} {{"role": "..."}}.',
        ) from None
    await sync_hub_group(call.service.hub, call.tenant, user, member)
    return member_out(member)


async def change_member(call: Call) -> MemberOut:
    body: MemberPatch = call.body
    user = username_of(call)
    platform = call.service.platform
    try:
        member = await in_tenant(
            call, platform.store.set_manual_role, call.tenant, user, body.role, call.actor.name
        )
    except MemberNotFound:
        raise ApiError(404, not_a_member(call.tenant, user)) from None
    except NotManualMembership as exc:
        raise ApiError(409, not_manual_message(call.tenant, exc.member, "change")) from None
    return member_out(member)


async def remove_member(call: Call) -> MemberRemoved:
    user = username_of(call)
    platform = call.service.platform
    try:
        remaining = await in_tenant(
            call, platform.store.remove_manual_member, call.tenant, user, call.actor.name
        )
    except MemberNotFound:
        raise ApiError(404, not_a_member(call.tenant, user)) from None
    except NotManualMembership as exc:
        raise ApiError(409, not_manual_message(call.tenant, exc.member, "remove")) from None
    await sync_hub_group(call.service.hub, call.tenant, user, remaining)
    return MemberRemoved(
        tenant=call.tenant,
        user=user,
        remaining=None if remaining is None else member_out(remaining),
    )


def not_a_member(tenant: str, user: str) -> str:
    return (
        f"{user!r} is not a member of tenant {tenant!r}; "
        f"add them with POST /tenants/{tenant}/members."
    )


async def sync_hub_group(hub: HubClient, tenant: str, user: str, member: MemberView | None) -> None:
    """Make the user's place in the tenant's hub group match the DB (``member`` None: out).

    Never fails the request: the DB change is made, and every login and auth
    refresh syncs the user's groups from the DB anyway; the log says what was left.
    """
    group = group_for(tenant)
    try:
        if member is None:
            result = await hub.remove_group_users(group, [user])
        else:
            result = await hub.add_group_user(group, user)
    except Exception as exc:
        log.warning("hub group %s not updated for %s: %s (next login syncs it)", group, user, exc)
        return
    if result is GroupSync.NO_GROUP and member is not None:
        log.info("hub group %s does not exist yet; the next login of a member creates it", group)
    elif result is GroupSync.NO_USER and member is not None:
        log.info("%s has not signed in yet; their first login puts them in %s", user, group)


ROUTES = [
    Route("GET", "/tenants/{tenant}/members", Permission.MEMBERS_READ, list_members,
          "Members of the tenant by user name: effective role and where it comes from",
          response=Page[MemberOut], paged=True),
    Route("POST", "/tenants/{tenant}/members", Permission.MEMBERS_WRITE, add_member,
          "Add a member (source 'manual'); 409 when already added here",
          body=MemberIn, response=MemberOut, status=201),
    Route("PATCH", "/tenants/{tenant}/members/{username}", Permission.MEMBERS_WRITE,
          change_member, "Change the role of a member added here (source 'manual')",
          body=MemberPatch, response=MemberOut),
    Route("DELETE", "/tenants/{tenant}/members/{username}", Permission.MEMBERS_WRITE,
          remove_member,
          "Remove the membership added here (source 'manual'); others stay, and are returned",
          response=MemberRemoved),
]  # fmt: skip
