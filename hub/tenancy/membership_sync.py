"""Replacing one source's memberships of a user (what a directory login does).

At every LDAP or OAuth login the directory says which tenants the user is
in; memberships with that source are made to match exactly (added, role
changed, removed), in one transaction with an audit entry per change.
Memberships from other sources (config, console) are never touched.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

from sqlalchemy import select

from hub.tenancy.models import AuditRow, MembershipRow, TenantRow
from hub.tenancy.store import MEMBERSHIP_SOURCES, ROLE_RANK, TenantStore


@dataclass(frozen=True)
class MembershipChanges:
    added: dict[str, str] = field(default_factory=dict)  # tenant -> role
    changed: dict[str, str] = field(default_factory=dict)  # tenant -> new role
    removed: list[str] = field(default_factory=list)
    unknown_tenants: list[str] = field(default_factory=list)

    @property
    def any(self) -> bool:
        return bool(self.added or self.changed or self.removed)


def group_mappings(store: TenantStore) -> dict[str, list[tuple[str, str]]]:
    """``{tenant: [(group, role), ...]}`` from the database (the runtime truth)."""
    with store.session() as session:
        rows = session.execute(select(TenantRow.name, TenantRow.group_mappings)).all()
    return {name: [(m["group"], m["role"]) for m in (mappings or [])] for name, mappings in rows}


def sync_source_memberships(
    store: TenantStore, username: str, source: str, wanted: Mapping[str, str], actor: str
) -> MembershipChanges:
    """Make ``username``'s memberships from ``source`` exactly ``wanted`` ({tenant: role})."""
    if source not in MEMBERSHIP_SOURCES or source in ("config",):
        raise ValueError(f"cannot sync memberships of source {source!r}")
    for role in wanted.values():
        if role not in ROLE_RANK:
            raise ValueError(f"role must be one of {sorted(ROLE_RANK)}, not {role!r}")
    added: dict[str, str] = {}
    changed: dict[str, str] = {}
    removed: list[str] = []
    with store.session() as session:
        tenants = {
            row.name: row
            for row in session.scalars(select(TenantRow).where(TenantRow.name.in_(list(wanted))))
        }
        unknown = sorted(set(wanted) - set(tenants))
        current = {
            m.tenant.name: m
            for m in session.scalars(
                select(MembershipRow).where(
                    MembershipRow.username == username, MembershipRow.source == source
                )
            )
        }
        for tenant, membership in current.items():
            if tenant not in wanted:
                session.delete(membership)
                removed.append(tenant)
            elif membership.role != wanted[tenant]:
                membership.role = wanted[tenant]
                changed[tenant] = wanted[tenant]
        for tenant, role in wanted.items():
            if tenant in tenants and tenant not in current:
                session.add(
                    MembershipRow(
                        tenant_id=tenants[tenant].id, username=username, role=role, source=source
                    )
                )
                added[tenant] = role
        events: list[tuple[str, str, str | None]] = [
            *(("membership.add", t, r) for t, r in added.items()),
            *(("membership.change", t, r) for t, r in changed.items()),
            *(("membership.remove", t, None) for t in removed),
        ]
        for action, tenant, new_role in events:
            session.add(
                AuditRow(
                    actor=actor,
                    action=action,
                    target=f"{tenant}/{username}",
                    detail=json.dumps({"role": new_role, "source": source}, sort_keys=True),
                )
            )
    return MembershipChanges(added, changed, sorted(removed), unknown)
