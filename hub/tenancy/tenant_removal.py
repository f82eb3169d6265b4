"""Removing a tenant from the platform database (its memberships, quota and profiles go too).

Kept apart from the everyday store API because it is the one destructive
operation: callers confirm first (the tenant's name, repeated) and the
backend removes the tenant's runtime objects (the Kubernetes namespace) while
its data stays (the volume is ``Retain``).
"""

from __future__ import annotations

import json

from sqlalchemy import select

from hub.tenancy.models import AuditRow, TenantRow
from hub.tenancy.store import TenantStore


class TenantNotFound(KeyError):
    pass


def delete_tenant(store: TenantStore, name: str, actor: str) -> dict[str, int]:
    """Delete tenant ``name``; returns what went with it (memberships, profiles)."""
    with store.session() as session:
        row = session.scalar(select(TenantRow).where(TenantRow.name == name))
        if row is None:
            raise TenantNotFound(name)
        gone = {"memberships": len(row.memberships), "profiles": len(row.profiles)}
        session.delete(row)
        session.add(
            AuditRow(actor=actor, action="tenant.delete", target=name, detail=json.dumps(gone))
        )
    return gone
