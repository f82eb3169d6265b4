"""The tenancy store: the only code that reads and writes the platform tables.

Methods are synchronous (SQLAlchemy sessions); callers on an event loop run
them in a worker thread (see ``hub.app.context.PlatformContext.run``). What
comes out are frozen dataclasses, never ORM rows, so callers cannot
accidentally lazy-load on the event loop.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, Select, bindparam, distinct, func, or_, select
from sqlalchemy.orm import Session, selectinload, sessionmaker

from hub.config.schema import PlatformConfig
from hub.tenancy.models import AuditRow, MembershipRow, QuotaRow, TenantProfileRow, TenantRow
from hub.tenancy.quota import QuotaLimits
from hub.tenancy.seed import (
    DbTenantState,
    SeedAction,
    SeedDecision,
    TenantSpec,
    decide_seed,
    spec_from_config,
)

log = logging.getLogger("tenanthub.tenancy")

ROLE_RANK = {"member": 1, "admin": 2}
MEMBERSHIP_SOURCES = frozenset({"config", "ldap", "oauth", "manual"})


@dataclass(frozen=True)
class TenantView:
    name: str
    display_name: str
    limits: QuotaLimits
    allowed_profiles: frozenset[str] | None  # None: all profiles


class TenantExists(ValueError):
    """A tenant with this name already exists."""


@dataclass(frozen=True)
class TenantSummary:
    """A tenant as lists show it: its view and how many people are in it."""

    view: TenantView
    members: int


@dataclass(frozen=True)
class Membership:
    """A user's effective place in one tenant (highest role over all sources)."""

    tenant: TenantView
    role: str


def _limits(row: QuotaRow | None) -> QuotaLimits:
    if row is None:
        return QuotaLimits()
    return QuotaLimits(
        cpu_millis=row.cpu_millis,
        memory_bytes=row.memory_bytes,
        gpu=row.gpu,
        servers=row.servers,
        storage_bytes=row.storage_bytes,
        running_jobs=row.running_jobs,
    )


def _view(row: TenantRow) -> TenantView:
    return TenantView(
        name=row.name,
        display_name=row.display_name or row.name,
        limits=_limits(row.quota),
        allowed_profiles=None if row.all_profiles else frozenset(p.profile for p in row.profiles),
    )


def _spec(row: TenantRow) -> TenantSpec:
    return TenantSpec(
        name=row.name,
        display_name=row.display_name,
        limits=_limits(row.quota),
        allowed_profiles=None
        if row.all_profiles
        else tuple(sorted(p.profile for p in row.profiles)),
        members=tuple(
            sorted((m.username, m.role) for m in row.memberships if m.source == "config")
        ),
        storage=dict(row.storage or {}),
        group_mappings=tuple((g["group"], g["role"]) for g in (row.group_mappings or [])),
    )


def _apply_spec(session: Session, row: TenantRow, spec: TenantSpec) -> None:
    row.display_name = spec.display_name
    row.storage = dict(spec.storage)
    row.group_mappings = [{"group": g, "role": r} for g, r in spec.group_mappings]
    row.all_profiles = spec.allowed_profiles is None
    row.profiles = [TenantProfileRow(profile=p) for p in (spec.allowed_profiles or ())]
    limits = spec.limits
    if row.quota is None:
        row.quota = QuotaRow()
    for field in ("cpu_millis", "memory_bytes", "gpu", "servers", "storage_bytes", "running_jobs"):
        setattr(row.quota, field, getattr(limits, field))
    wanted = dict(spec.members)
    for membership in list(row.memberships):
        if membership.source != "config":
            continue
        if membership.username not in wanted:
            row.memberships.remove(membership)
            session.delete(membership)
        else:
            membership.role = wanted.pop(membership.username)
    for user, role in wanted.items():
        row.memberships.append(MembershipRow(username=user, role=role, source="config"))


def _memberships_of_statement() -> Select[Any]:
    m, t, q, p = (
        MembershipRow.__table__,
        TenantRow.__table__,
        QuotaRow.__table__,
        TenantProfileRow.__table__,
    )
    return (
        select(
            m.c.role, t.c.name, t.c.display_name, t.c.all_profiles, q.c.cpu_millis,
            q.c.memory_bytes, q.c.gpu, q.c.servers, q.c.storage_bytes, q.c.running_jobs,
            p.c.profile,
        )
        .select_from(
            m.join(t, m.c.tenant_id == t.c.id)
            .outerjoin(q, q.c.tenant_id == t.c.id)
            .outerjoin(p, p.c.tenant_id == t.c.id)
        )
        .where(m.c.username == bindparam("username"))
    )  # fmt: skip


_MEMBERSHIPS_OF = _memberships_of_statement()


class TenantStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self._sessions.begin() as session:
            yield session

    # ------------------------------------------------------------------ reads

    def memberships_of(self, username: str) -> list[Membership]:
        """Every tenant ``username`` belongs to, with the effective role, by tenant name.

        Runs on every spawn, so it is one Core statement built once (no ORM identity
        map; building the select each call cost three times as much as running it):
        memberships x tenants x quotas, with allowed profiles left-joined.
        """
        with self.engine.connect() as conn:
            rows = conn.execute(_MEMBERSHIPS_OF, {"username": username}).all()
        roles: dict[str, str] = {}
        tenants: dict[str, tuple[str, bool, QuotaLimits]] = {}
        profiles: dict[str, set[str]] = {}
        for row in rows:
            name = row.name
            if name not in roles or ROLE_RANK[row.role] > ROLE_RANK[roles[name]]:
                roles[name] = row.role
            tenants[name] = (
                row.display_name or name,
                bool(row.all_profiles),
                QuotaLimits(
                    cpu_millis=row.cpu_millis,
                    memory_bytes=row.memory_bytes,
                    gpu=row.gpu,
                    servers=row.servers,
                    storage_bytes=row.storage_bytes,
                    running_jobs=row.running_jobs,
                ),
            )
            allowed = profiles.setdefault(name, set())
            if row.profile is not None:
                allowed.add(row.profile)
        out = []
        for name in sorted(tenants):
            display, all_profiles, limits = tenants[name]
            view = TenantView(
                name=name,
                display_name=display,
                limits=limits,
                allowed_profiles=None if all_profiles else frozenset(profiles[name]),
            )
            out.append(Membership(view, roles[name]))
        return out

    def tenant(self, name: str) -> TenantView | None:
        with self.session() as session:
            row = session.scalar(select(TenantRow).where(TenantRow.name == name))
            return _view(row) if row else None

    def tenant_names(self) -> list[str]:
        with self.session() as session:
            return list(session.scalars(select(TenantRow.name).order_by(TenantRow.name)))

    def tenant_summaries(
        self, names: list[str] | None, search: str = "", offset: int = 0, limit: int = 50
    ) -> tuple[int, list[TenantSummary]]:
        """One page of tenants by name (``names``: only these; None: all), with member
        counts, and how many match in total. ``search`` matches name or display name."""
        counts = (
            select(MembershipRow.tenant_id, func.count(distinct(MembershipRow.username)).label("n"))
            .group_by(MembershipRow.tenant_id)
            .subquery()
        )
        query = select(TenantRow, func.coalesce(counts.c.n, 0)).outerjoin(
            counts, counts.c.tenant_id == TenantRow.id
        )
        if names is not None:
            query = query.where(TenantRow.name.in_(names))
        if search:
            pattern = (
                "%" + search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            )
            query = query.where(
                or_(
                    TenantRow.name.ilike(pattern, escape="\\"),
                    TenantRow.display_name.ilike(pattern, escape="\\"),
                )
            )
        with self.session() as session:
            total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
            rows = session.execute(query.order_by(TenantRow.name).offset(offset).limit(limit)).all()
            return total, [TenantSummary(_view(row), int(n)) for row, n in rows]

    def tenant_spec(self, name: str) -> TenantSpec | None:
        with self.session() as session:
            row = session.scalar(
                select(TenantRow)
                .where(TenantRow.name == name)
                .options(selectinload(TenantRow.memberships))
            )
            return _spec(row) if row else None

    def audit_entries(self, limit: int = 100) -> list[dict[str, Any]]:
        with self.session() as session:
            rows = session.scalars(select(AuditRow).order_by(AuditRow.id.desc()).limit(limit))
            return [
                {
                    "at": r.at,
                    "actor": r.actor,
                    "action": r.action,
                    "target": r.target,
                    "detail": r.detail,
                }
                for r in rows
            ]

    # ------------------------------------------------------------------ writes

    def audit(
        self, actor: str, action: str, target: str, detail: dict[str, Any] | None = None
    ) -> None:
        with self.session() as session:
            session.add(
                AuditRow(
                    actor=actor,
                    action=action,
                    target=target,
                    detail=json.dumps(detail or {}, sort_keys=True),
                )
            )

    def create_tenant(self, spec: TenantSpec, actor: str) -> None:
        """Add a tenant made in the console or API (source ``manual``); TenantExists if taken."""
        with self.session() as session:
            if session.scalar(select(TenantRow.id).where(TenantRow.name == spec.name)):
                raise TenantExists(spec.name)
            row = TenantRow(name=spec.name, source="manual")
            session.add(row)
            _apply_spec(session, row, spec)
            session.add(
                AuditRow(
                    actor=actor,
                    action="tenant.create",
                    target=spec.name,
                    detail=json.dumps({"display_name": spec.display_name}),
                )
            )

    def update_tenant(self, spec: TenantSpec, actor: str) -> None:
        """Replace a tenant's seedable state (what the console/API will call)."""
        with self.session() as session:
            row = session.scalar(
                select(TenantRow)
                .where(TenantRow.name == spec.name)
                .options(selectinload(TenantRow.memberships))
            )
            if row is None:
                raise KeyError(spec.name)
            _apply_spec(session, row, spec)
            session.add(
                AuditRow(actor=actor, action="tenant.update", target=spec.name, detail="{}")
            )

    def add_membership(
        self, tenant: str, username: str, role: str, source: str, actor: str
    ) -> None:
        if role not in ROLE_RANK:
            raise ValueError(f"role must be one of {sorted(ROLE_RANK)}, not {role!r}")
        if source not in MEMBERSHIP_SOURCES:
            raise ValueError(f"source must be one of {sorted(MEMBERSHIP_SOURCES)}, not {source!r}")
        with self.session() as session:
            row = session.scalar(select(TenantRow).where(TenantRow.name == tenant))
            if row is None:
                raise KeyError(tenant)
            session.add(
                MembershipRow(tenant_id=row.id, username=username, role=role, source=source)
            )
            session.add(
                AuditRow(
                    actor=actor,
                    action="membership.add",
                    target=f"{tenant}/{username}",
                    detail=json.dumps({"role": role, "source": source}),
                )
            )

    def seed(self, config: PlatformConfig, actor: str = "config") -> list[SeedDecision]:
        """Seed tenants from the config (idempotent; see hub.tenancy.seed for the rules)."""
        specs = [spec_from_config(t) for t in config.tenants]
        with self.session() as session:
            rows = {
                r.name: r
                for r in session.scalars(
                    select(TenantRow).options(selectinload(TenantRow.memberships))
                )
            }
            states = {
                name: DbTenantState(_spec(row), row.source, row.seeded_fingerprint)
                for name, row in rows.items()
            }
            decisions = decide_seed(specs, states)
            by_name = {s.name: s for s in specs}
            for decision in decisions:
                spec = by_name.get(decision.tenant)
                if decision.action is SeedAction.CREATE and spec:
                    row = TenantRow(name=spec.name, source="config")
                    session.add(row)
                    _apply_spec(session, row, spec)
                    row.seeded_fingerprint = spec.fingerprint()
                elif decision.action is SeedAction.UPDATE and spec:
                    row = rows[spec.name]
                    _apply_spec(session, row, spec)
                    row.seeded_fingerprint = spec.fingerprint()
                elif decision.action is SeedAction.UNCHANGED and spec:
                    rows[spec.name].seeded_fingerprint = spec.fingerprint()
                if decision.action is not SeedAction.UNCHANGED:
                    session.add(
                        AuditRow(
                            actor=actor,
                            action=f"tenant.seed.{decision.action.value}",
                            target=decision.tenant,
                            detail=json.dumps({"reason": decision.reason}),
                        )
                    )
                level = (
                    logging.WARNING
                    if decision.action in (SeedAction.KEEP_DB, SeedAction.ORPHANED)
                    else logging.INFO
                )
                log.log(
                    level,
                    "seed tenant %s: %s (%s)",
                    decision.tenant,
                    decision.action.value,
                    decision.reason,
                )
        return decisions
