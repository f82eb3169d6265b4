"""Removing a tenant from the platform database (its memberships, quota and profiles go too).

Kept apart from the everyday store API because it is the one destructive
operation: callers confirm first (the tenant's name, repeated). Only database
rows go. The tenant's files stay wherever its backend keeps them (local
folders, Docker volumes, the Kubernetes volume, which is ``Retain``);
``tenanthub k8s delete-tenant`` also removes the namespace.

What removal does *not* stop: a tenant that is still listed in the config file
comes back at the next hub start, because seeding creates every config tenant
that is missing from the database (``hub.tenancy.seed``). It then has the
config's values and config members only; quota, profile and member changes
made in the console or API are gone. Callers warn about that
(``still_in_config``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from hub.config.schema import PlatformConfig
from hub.tenancy.models import AuditRow, TenantRow
from hub.tenancy.store import TenantNotFound, TenantStore

__all__ = ["RemovedTenant", "TenantNotFound", "delete_tenant", "remove_tenant", "still_in_config"]


@dataclass(frozen=True)
class RemovedTenant:
    """What went with a tenant, and what a caller needs to say where its data stays."""

    name: str
    removed: dict[str, int]  # memberships, profiles
    storage: dict[str, Any] = field(default_factory=dict)  # the tenant's storage spec
    source: str = "manual"  # who created it: config | manual
    members: tuple[str, ...] = ()  # user names of every membership that went


def remove_tenant(store: TenantStore, name: str, actor: str) -> RemovedTenant:
    """Delete tenant ``name``'s rows in one transaction, audited; TenantNotFound if missing."""
    with store.session() as session:
        row = session.scalar(select(TenantRow).where(TenantRow.name == name))
        if row is None:
            raise TenantNotFound(name)
        removed = {"memberships": len(row.memberships), "profiles": len(row.profiles)}
        gone = RemovedTenant(
            name=name,
            removed=removed,
            storage=dict(row.storage or {}),
            source=row.source,
            members=tuple(sorted({m.username for m in row.memberships})),
        )
        session.delete(row)
        session.add(
            AuditRow(
                actor=actor,
                action="tenant.delete",
                target=name,
                detail=json.dumps({**removed, "source": row.source}, sort_keys=True),
            )
        )
    return gone


def delete_tenant(store: TenantStore, name: str, actor: str) -> dict[str, int]:
    """Delete tenant ``name``; returns what went with it (memberships, profiles)."""
    return remove_tenant(store, name, actor).removed


def still_in_config(config: PlatformConfig, name: str) -> bool:
    """True when the config still lists ``name``: the next start seeds it again."""
    return config.tenant(name) is not None
