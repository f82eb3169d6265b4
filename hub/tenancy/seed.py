"""Deciding what seeding the config does to tenants already in the database.

The database is the runtime truth: admins change tenants in the console and
API. The config file seeds them. To never silently overwrite an admin's
change, each seeded tenant stores a fingerprint of what the config last wrote.
At the next start, for each tenant in the config:

* not in the DB                      -> ``create`` it;
* the DB already equals the config   -> ``unchanged``;
* the DB still equals what the config last seeded, and the config changed
                                     -> ``update`` it to the new config;
* the DB was changed since the last seed (console/API), or the tenant was
  created outside the config         -> ``keep_db``: nothing is written, a
  warning names the tenant, and the audit log records the skip. To make the
  config win again, change the tenant back in the console, or delete and
  re-seed it.

Tenants seeded earlier but no longer in the config are left alone
(``orphaned``, logged): removing a line from a file never deletes a team.
Only memberships with source ``config`` are seeded; memberships from LDAP,
OAuth or the console are never touched here.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

from hub.config.schema import Tenant
from hub.tenancy.quota import QuotaLimits


@dataclass(frozen=True)
class TenantSpec:
    """The seedable state of a tenant, comparable between config and DB."""

    name: str
    display_name: str
    limits: QuotaLimits
    allowed_profiles: tuple[str, ...] | None  # None: all profiles
    members: tuple[tuple[str, str], ...]  # (user, role), config-sourced only, sorted
    storage: dict[str, Any]
    group_mappings: tuple[tuple[str, str], ...]

    def fingerprint(self) -> str:
        data = asdict(self)
        return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


def spec_from_config(tenant: Tenant) -> TenantSpec:
    return TenantSpec(
        name=tenant.name,
        display_name=tenant.display_name or tenant.name,
        limits=QuotaLimits.from_quota(tenant.quota),
        allowed_profiles=tuple(sorted(set(tenant.profiles))) if tenant.profiles else None,
        members=tuple(sorted((m.user, m.role) for m in tenant.members)),
        storage=tenant.storage.model_dump(mode="json"),
        group_mappings=tuple((g.group, g.role) for g in tenant.group_mappings),
    )


class SeedAction(StrEnum):
    CREATE = "create"
    UNCHANGED = "unchanged"
    UPDATE = "update"
    KEEP_DB = "keep_db"
    ORPHANED = "orphaned"


@dataclass(frozen=True)
class SeedDecision:
    tenant: str
    action: SeedAction
    reason: str


@dataclass(frozen=True)
class DbTenantState:
    spec: TenantSpec
    source: str
    seeded_fingerprint: str | None


def decide_seed(config_specs: list[TenantSpec], db: dict[str, DbTenantState]) -> list[SeedDecision]:
    """Pure: what seeding should do for each tenant (see the module docstring)."""
    decisions = []
    in_config = set()
    for spec in config_specs:
        in_config.add(spec.name)
        state = db.get(spec.name)
        if state is None:
            decisions.append(SeedDecision(spec.name, SeedAction.CREATE, "new tenant from config"))
            continue
        current = state.spec.fingerprint()
        if state.source != "config":
            decisions.append(
                SeedDecision(
                    spec.name,
                    SeedAction.KEEP_DB,
                    f"tenant was created by {state.source}, not by the config; config ignored",
                )
            )
        elif current == spec.fingerprint():
            decisions.append(SeedDecision(spec.name, SeedAction.UNCHANGED, "matches the config"))
        elif state.seeded_fingerprint == current:
            decisions.append(
                SeedDecision(spec.name, SeedAction.UPDATE, "config changed; DB had no other edits")
            )
        else:
            decisions.append(
                SeedDecision(
                    spec.name,
                    SeedAction.KEEP_DB,
                    "tenant was changed in the console/API since it was seeded; the DB wins "
                    "and the config's differing values are not applied",
                )
            )
    for name, state in sorted(db.items()):
        if name not in in_config and state.source == "config":
            decisions.append(
                SeedDecision(name, SeedAction.ORPHANED, "no longer in the config; left in place")
            )
    return decisions
