"""Who may do what in the platform service: one table, one pure decision.

Every API route names a :class:`Permission`; the service checks it centrally
before the route's operation runs (no handler can forget), and the route x role
test walks this table. Roles: platform admin (JupyterHub admin, or a token with
``custom:tenanthub:admin``), tenant admin and member (from the platform DB).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

PLATFORM_ADMIN_SCOPE = "custom:tenanthub:admin"
#: the checkpointer daemon's scope: report checkpoints of the servers on its node
CHECKPOINTS_SCOPE = "custom:tenanthub:checkpoints"


class Level(StrEnum):
    """The least a caller must be for a permission."""

    SIGNED_IN = "signed-in"  # any authenticated user (answers are filtered to their tenants)
    MEMBER = "member"  # member (or admin) of the tenant in the path
    TENANT_ADMIN = "tenant-admin"  # admin of the tenant in the path
    PLATFORM_ADMIN = "platform-admin"
    CHECKPOINTER = "checkpointer"  # a token with CHECKPOINTS_SCOPE (the checkpointer service)
    SELF = "self"  # the user named in the path, nobody else (tenant admins neither)


class Permission(StrEnum):
    WHOAMI = "whoami"
    TENANTS_LIST = "tenants:list"
    TENANT_READ = "tenant:read"
    TENANT_CREATE = "tenant:create"
    TENANT_UPDATE = "tenant:update"
    TENANT_DELETE = "tenant:delete"
    MEMBERS_READ = "members:read"
    MEMBERS_WRITE = "members:write"
    QUOTA_READ = "quota:read"
    QUOTA_WRITE = "quota:write"
    PROFILES_READ = "profiles:read"
    PROFILES_WRITE = "profiles:write"
    USAGE_READ = "usage:read"
    SERVERS_READ = "servers:read"
    SERVERS_STOP = "servers:stop"
    AUDIT_READ = "audit:read"
    PLATFORM_AUDIT_READ = "audit:read-all"
    PLATFORM_USAGE_READ = "usage:read-all"
    CHECKPOINTS_REPORT = "checkpoints:report"
    CHECKPOINTS_READ_ALL = "checkpoints:read-all"
    OWN_CHECKPOINTS_READ = "checkpoints:read-own"
    OWN_CHECKPOINTS_DELETE = "checkpoints:delete-own"
    JOBS_SUBMIT = "jobs:submit"
    JOBS_READ = "jobs:read"
    JOBS_CANCEL = "jobs:cancel"
    DATASETS_READ = "datasets:read"
    DATASETS_MANAGE = "datasets:manage"


#: The table. Tenant admins run their tenant (members, servers) but do not set their
#: own quota or profiles, create or delete tenants: that is the platform's call.
REQUIRED: Mapping[Permission, Level] = {
    Permission.WHOAMI: Level.SIGNED_IN,
    Permission.TENANTS_LIST: Level.SIGNED_IN,
    Permission.TENANT_READ: Level.MEMBER,
    Permission.TENANT_CREATE: Level.PLATFORM_ADMIN,
    Permission.TENANT_UPDATE: Level.PLATFORM_ADMIN,
    Permission.TENANT_DELETE: Level.PLATFORM_ADMIN,
    Permission.MEMBERS_READ: Level.TENANT_ADMIN,
    Permission.MEMBERS_WRITE: Level.TENANT_ADMIN,
    Permission.QUOTA_READ: Level.MEMBER,
    Permission.QUOTA_WRITE: Level.PLATFORM_ADMIN,
    Permission.PROFILES_READ: Level.MEMBER,
    Permission.PROFILES_WRITE: Level.PLATFORM_ADMIN,
    Permission.USAGE_READ: Level.MEMBER,
    Permission.SERVERS_READ: Level.TENANT_ADMIN,
    Permission.SERVERS_STOP: Level.TENANT_ADMIN,
    Permission.AUDIT_READ: Level.TENANT_ADMIN,
    Permission.PLATFORM_AUDIT_READ: Level.PLATFORM_ADMIN,
    Permission.PLATFORM_USAGE_READ: Level.PLATFORM_ADMIN,
    # checkpoints are a user's own environment: not even their tenant's admins see them
    Permission.CHECKPOINTS_REPORT: Level.CHECKPOINTER,
    Permission.CHECKPOINTS_READ_ALL: Level.CHECKPOINTER,
    Permission.OWN_CHECKPOINTS_READ: Level.SELF,
    Permission.OWN_CHECKPOINTS_DELETE: Level.SELF,
    # jobs: members submit and see their own; which job is whose is the route's check
    # (a member sees only theirs, the tenant's admins everyone's)
    Permission.JOBS_SUBMIT: Level.MEMBER,
    Permission.JOBS_READ: Level.MEMBER,
    Permission.JOBS_CANCEL: Level.MEMBER,
    # data sources: members browse and read them, the tenant's admins register them
    Permission.DATASETS_READ: Level.MEMBER,
    Permission.DATASETS_MANAGE: Level.TENANT_ADMIN,
}


@dataclass(frozen=True)
class Actor:
    """The caller: a user (or token) as the hub identified it, with its tenant roles."""

    name: str
    platform_admin: bool = False
    roles: Mapping[str, str] = field(default_factory=dict)  # tenant -> "member" | "admin"
    #: the token's scopes (as the hub reported them), for the custom:tenanthub:* checks
    scopes: frozenset[str] = frozenset()
    service: bool = False  # a JupyterHub service, never a user (so never SELF)

    def role_in(self, tenant: str) -> str | None:
        return self.roles.get(tenant)

    def administers(self) -> list[str]:
        return sorted(t for t, r in self.roles.items() if r == "admin")


class Decision(StrEnum):
    ALLOW = "allow"
    NOT_FOUND = "not-found"  # the tenant is none of the caller's business: do not confirm it exists
    FORBIDDEN = "forbidden"  # the caller knows the tenant but lacks the role


def decide(
    actor: Actor, permission: Permission, tenant: str | None = None, username: str | None = None
) -> Decision:
    """May ``actor`` use ``permission`` (on ``tenant`` for tenant-scoped permissions, on the
    user ``username`` of the path for SELF ones)?

    A caller who is not in the tenant gets NOT_FOUND rather than FORBIDDEN, so the
    API never tells a member of A whether tenant B exists.
    """
    level = REQUIRED[permission]
    if actor.platform_admin:
        return Decision.ALLOW
    if level is Level.SIGNED_IN:
        return Decision.ALLOW
    if level is Level.PLATFORM_ADMIN:
        return Decision.FORBIDDEN
    if level is Level.CHECKPOINTER:
        return Decision.ALLOW if CHECKPOINTS_SCOPE in actor.scopes else Decision.FORBIDDEN
    if level is Level.SELF:
        mine = not actor.service and username is not None and username == actor.name
        return Decision.ALLOW if mine else Decision.FORBIDDEN
    role = actor.role_in(tenant) if tenant else None
    if role is None:
        return Decision.NOT_FOUND
    if level is Level.TENANT_ADMIN and role != "admin":
        return Decision.FORBIDDEN
    return Decision.ALLOW


def visible_tenants(actor: Actor, tenants: list[str]) -> list[str]:
    """The tenants a list shows the caller: all for a platform admin, else theirs."""
    if actor.platform_admin:
        return tenants
    return [t for t in tenants if t in actor.roles]


def required_message(permission: Permission, tenant: str | None) -> str:
    """What a refused caller needs, said so a person can act on it."""
    level = REQUIRED[permission]
    if level is Level.PLATFORM_ADMIN:
        return f"Only platform admins may do this ({permission.value})."
    if level is Level.CHECKPOINTER:
        return (
            f"Only the checkpointer service (a token with {CHECKPOINTS_SCOPE}) "
            f"may do this ({permission.value})."
        )
    if level is Level.SELF:
        return f"Only the user named in the path may do this ({permission.value})."
    if level is Level.TENANT_ADMIN:
        return f"Only admins of tenant {tenant!r} may do this ({permission.value})."
    return f"Only members of tenant {tenant!r} may do this ({permission.value})."
