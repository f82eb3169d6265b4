"""The tenancy store: the only code that reads and writes the platform tables.

Methods are synchronous (SQLAlchemy sessions); callers on an event loop run
them in a worker thread (see ``hub.app.context.PlatformContext.run``). What
comes out are frozen dataclasses, never ORM rows, so callers cannot
accidentally lazy-load on the event loop.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, Select, bindparam, distinct, event, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import ORMExecuteState, Session, selectinload, sessionmaker

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
QUOTA_FIELDS = ("cpu_millis", "memory_bytes", "gpu", "servers", "storage_bytes", "running_jobs")


def _check_role(role: str) -> None:
    if role not in ROLE_RANK:
        raise ValueError(f"role must be one of {sorted(ROLE_RANK)}, not {role!r}")


@dataclass(frozen=True)
class TenantView:
    name: str
    display_name: str
    limits: QuotaLimits
    allowed_profiles: frozenset[str] | None  # None: all profiles


class TenantExists(ValueError):
    """A tenant with this name already exists."""


class TenantNotFound(KeyError):
    """No tenant of this name in the database."""


@dataclass(frozen=True)
class MemberView:
    """One user in one tenant: the effective role (highest over sources) and each source's.

    ``sources`` is ``((source, role), ...)`` sorted by source, so callers can tell
    a membership they may change (``manual``) from one a directory or the
    config file owns.
    """

    user: str
    role: str
    sources: tuple[tuple[str, str], ...]

    def role_from(self, source: str) -> str | None:
        return dict(self.sources).get(source)


class MemberNotFound(KeyError):
    """The user has no membership of any source in the tenant."""


class ManualMembershipExists(ValueError):
    """The user already has a ``manual`` membership in the tenant (change it instead)."""

    def __init__(self, member: MemberView) -> None:
        super().__init__(member.user)
        self.member = member


class NotManualMembership(ValueError):
    """The user's membership comes only from sources the API does not own (config, directory)."""

    def __init__(self, member: MemberView) -> None:
        super().__init__(member.user)
        self.member = member


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: datetime  # timezone-aware, UTC
    actor: str
    action: str
    target: str
    detail: dict[str, Any]


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


def _member_views(rows: list[Any]) -> dict[str, MemberView]:
    """``(username, role, source)`` rows -> one MemberView per user (pure)."""
    by_user: dict[str, dict[str, str]] = {}
    for username, role, source in rows:
        by_user.setdefault(username, {})[source] = role
    return {
        user: MemberView(
            user=user,
            role=max(sources.values(), key=ROLE_RANK.__getitem__),
            sources=tuple(sorted(sources.items())),
        )
        for user, sources in by_user.items()
    }


def _utc(value: datetime) -> datetime:
    """SQLite hands back naive datetimes for what was written as UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _detail(raw: str | None) -> dict[str, Any]:
    try:
        value = json.loads(raw or "{}")
    except ValueError:
        return {"text": raw}
    return value if isinstance(value, dict) else {"value": value}


def _like_prefix(prefix: str) -> str:
    return prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _audit_row(actor: str, action: str, target: str, detail: dict[str, Any]) -> AuditRow:
    return AuditRow(
        actor=actor, action=action, target=target, detail=json.dumps(detail, sort_keys=True)
    )


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


#: How long a page of the tenant list is reused. Writes through this store clear it
#: at once; a change made by another process (a login syncing directory memberships
#: in the hub) shows up in member counts within this time.
SUMMARY_TTL_SECONDS = 2.0


class TenantStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        # identical tenant-list pages are asked for by every console load and API client
        # polling; with 1000 tenants building one costs ~5 ms, serving it again ~0
        self._summaries: dict[tuple[Any, ...], tuple[float, tuple[int, list[TenantSummary]]]] = {}
        event.listen(self._sessions, "after_flush", self._forget_summaries)
        event.listen(self._sessions, "do_orm_execute", self._forget_after_dml)

    def _forget_summaries(self, *_args: Any) -> None:
        self._summaries.clear()

    def _forget_after_dml(self, state: ORMExecuteState) -> None:
        if state.is_insert or state.is_update or state.is_delete:
            self._summaries.clear()

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
        counts, and how many match in total. ``search`` matches name or display name.

        Reused for SUMMARY_TTL_SECONDS unless this store writes in between.
        """
        key = (None if names is None else tuple(names), search, offset, limit)
        now = time.monotonic()
        cached = self._summaries.get(key)
        if cached is not None and now - cached[0] < SUMMARY_TTL_SECONDS:
            return cached[1]
        result = self._tenant_summaries(names, search, offset, limit)
        if len(self._summaries) > 1000:  # bounded: many distinct searches must not grow it
            self._summaries.clear()
        self._summaries[key] = (now, result)
        return result

    def _tenant_summaries(
        self, names: list[str] | None, search: str, offset: int, limit: int
    ) -> tuple[int, list[TenantSummary]]:
        # the page first (indexed by name), then member counts for its tenants only:
        # counting every tenant's members to show 50 of them was most of the cost
        query = select(TenantRow)
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
            total = session.scalar(query.with_only_columns(func.count(TenantRow.id))) or 0
            rows = list(session.scalars(query.order_by(TenantRow.name).offset(offset).limit(limit)))
            counts: dict[int, int] = {}
            if rows:
                counts = dict(
                    session.execute(
                        select(
                            MembershipRow.tenant_id, func.count(distinct(MembershipRow.username))
                        )
                        .where(MembershipRow.tenant_id.in_([row.id for row in rows]))
                        .group_by(MembershipRow.tenant_id)
                    ).all()
                )
            return total, [TenantSummary(_view(row), counts.get(row.id, 0)) for row in rows]

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

    def tenant_members(
        self, tenant: str, offset: int = 0, limit: int = 50
    ) -> tuple[int, list[MemberView]]:
        """One page of a tenant's members by user name, each once, and how many there are.

        Three statements whatever the page size (count, the page's user names, their
        memberships): no query per member. TenantNotFound when the tenant is missing.
        """
        m = MembershipRow.__table__
        with self.session() as session:
            tenant_id = self._tenant_id(session, tenant)
            total = session.scalar(
                select(func.count(distinct(m.c.username))).where(m.c.tenant_id == tenant_id)
            )
            names = list(
                session.scalars(
                    select(m.c.username)
                    .where(m.c.tenant_id == tenant_id)
                    .group_by(m.c.username)
                    .order_by(m.c.username)
                    .offset(offset)
                    .limit(limit)
                )
            )
            rows = session.execute(
                select(m.c.username, m.c.role, m.c.source).where(
                    m.c.tenant_id == tenant_id, m.c.username.in_(names)
                )
            ).all()
        views = _member_views(list(rows))
        return int(total or 0), [views[name] for name in names]

    def member(self, tenant: str, username: str) -> MemberView | None:
        """``username`` in ``tenant`` (None: not a member); TenantNotFound when it is missing."""
        with self.session() as session:
            return self._member(session, self._tenant_id(session, tenant), username)

    def audit_page(
        self, tenant: str | None = None, offset: int = 0, limit: int = 50
    ) -> tuple[int, list[AuditEntry]]:
        """Audit entries, newest first: all, or those whose target is ``tenant`` or
        ``<tenant>/...`` (its members, servers). Entries of a deleted tenant stay."""
        query = select(AuditRow)
        if tenant is not None:
            query = query.where(
                or_(
                    AuditRow.target == tenant,
                    AuditRow.target.like(_like_prefix(tenant + "/"), escape="\\"),
                )
            )
        with self.session() as session:
            total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
            rows = session.scalars(query.order_by(AuditRow.id.desc()).offset(offset).limit(limit))
            return total, [
                AuditEntry(
                    id=r.id,
                    at=_utc(r.at),
                    actor=r.actor,
                    action=r.action,
                    target=r.target,
                    detail=_detail(r.detail),
                )
                for r in rows
            ]

    # ------------------------------------------------------------------ helpers

    @staticmethod
    def _tenant_id(session: Session, name: str) -> int:
        tenant_id = session.scalar(select(TenantRow.id).where(TenantRow.name == name))
        if tenant_id is None:
            raise TenantNotFound(name)
        return int(tenant_id)

    @staticmethod
    def _tenant_row(session: Session, name: str) -> TenantRow:
        row = session.scalar(select(TenantRow).where(TenantRow.name == name))
        if row is None:
            raise TenantNotFound(name)
        return row

    @staticmethod
    def _member(session: Session, tenant_id: int, username: str) -> MemberView | None:
        m = MembershipRow.__table__
        rows = session.execute(
            select(m.c.username, m.c.role, m.c.source).where(
                m.c.tenant_id == tenant_id, m.c.username == username
            )
        ).all()
        return _member_views(list(rows)).get(username)

    @staticmethod
    def _manual_row(session: Session, tenant_id: int, username: str) -> MembershipRow | None:
        return session.scalar(
            select(MembershipRow).where(
                MembershipRow.tenant_id == tenant_id,
                MembershipRow.username == username,
                MembershipRow.source == "manual",
            )
        )

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

    def set_display_name(self, tenant: str, display_name: str, actor: str) -> TenantView:
        """Rename a tenant for people (its name, and so its namespace, never changes)."""
        with self.session() as session:
            row = self._tenant_row(session, tenant)
            if row.display_name != display_name:
                session.add(
                    _audit_row(
                        actor,
                        "tenant.update",
                        tenant,
                        {"display_name": display_name, "previous": row.display_name},
                    )
                )
                row.display_name = display_name
            session.flush()
            return _view(row)

    def set_quota(self, tenant: str, limits: QuotaLimits, actor: str) -> TenantView:
        """Replace the whole quota (None: no limit on that resource); audited when it changes."""
        with self.session() as session:
            row = self._tenant_row(session, tenant)
            before = _limits(row.quota)
            if before != limits:
                if row.quota is None:
                    row.quota = QuotaRow()
                for name in QUOTA_FIELDS:
                    setattr(row.quota, name, getattr(limits, name))
                session.add(
                    _audit_row(
                        actor,
                        "quota.set",
                        tenant,
                        {
                            "quota": {n: getattr(limits, n) for n in QUOTA_FIELDS},
                            "previous": {n: getattr(before, n) for n in QUOTA_FIELDS},
                        },
                    )
                )
            session.flush()
            return _view(row)

    def set_allowed_profiles(
        self, tenant: str, profiles: tuple[str, ...] | None, actor: str
    ) -> TenantView:
        """Allow exactly ``profiles`` in ``tenant`` (None: every profile); audited on change."""
        with self.session() as session:
            row = self._tenant_row(session, tenant)
            before = None if row.all_profiles else sorted(p.profile for p in row.profiles)
            after = None if profiles is None else sorted(set(profiles))
            if before != after:
                row.all_profiles = after is None
                row.profiles = [TenantProfileRow(profile=p) for p in (after or ())]
                session.add(
                    _audit_row(
                        actor,
                        "profiles.set",
                        tenant,
                        {"allowed_profiles": after, "previous": before},
                    )
                )
            session.flush()
            return _view(row)

    def add_manual_member(self, tenant: str, username: str, role: str, actor: str) -> MemberView:
        """Add the console/API membership (source ``manual``) of ``username``.

        ManualMembershipExists when there already is one: the caller should change
        its role instead. Memberships from other sources are left as they are.
        """
        _check_role(role)
        try:
            with self.session() as session:
                tenant_id = self._tenant_id(session, tenant)
                if self._manual_row(session, tenant_id, username) is not None:
                    member = self._member(session, tenant_id, username)
                    assert member is not None
                    raise ManualMembershipExists(member)
                session.add(
                    MembershipRow(
                        tenant_id=tenant_id, username=username, role=role, source="manual"
                    )
                )
                session.add(
                    _audit_row(
                        actor,
                        "membership.add",
                        f"{tenant}/{username}",
                        {"role": role, "source": "manual"},
                    )
                )
                session.flush()
                member = self._member(session, tenant_id, username)
        except IntegrityError:
            # a concurrent add of the same membership won the race
            existing = self.member(tenant, username)
            if existing is None:  # pragma: no cover - it was just there
                raise
            raise ManualMembershipExists(existing) from None
        assert member is not None
        return member

    def set_manual_role(self, tenant: str, username: str, role: str, actor: str) -> MemberView:
        """Change the role of ``username``'s manual membership.

        MemberNotFound when the user is not in the tenant at all;
        NotManualMembership when only the config or a directory puts them there.
        """
        _check_role(role)
        with self.session() as session:
            tenant_id = self._tenant_id(session, tenant)
            row = self._manual_row(session, tenant_id, username)
            if row is None:
                raise self._not_manual(session, tenant_id, tenant, username)
            if row.role != role:
                session.add(
                    _audit_row(
                        actor,
                        "membership.change",
                        f"{tenant}/{username}",
                        {"role": role, "previous": row.role, "source": "manual"},
                    )
                )
                row.role = role
            session.flush()
            member = self._member(session, tenant_id, username)
        assert member is not None
        return member

    def remove_manual_member(self, tenant: str, username: str, actor: str) -> MemberView | None:
        """Remove ``username``'s manual membership; returns what remains from other sources
        (None: the user is no longer in the tenant). Same errors as ``set_manual_role``."""
        with self.session() as session:
            tenant_id = self._tenant_id(session, tenant)
            row = self._manual_row(session, tenant_id, username)
            if row is None:
                raise self._not_manual(session, tenant_id, tenant, username)
            session.add(
                _audit_row(
                    actor,
                    "membership.remove",
                    f"{tenant}/{username}",
                    {"role": row.role, "source": "manual"},
                )
            )
            session.delete(row)
            session.flush()
            return self._member(session, tenant_id, username)

    def _not_manual(
        self, session: Session, tenant_id: int, tenant: str, username: str
    ) -> Exception:
        member = self._member(session, tenant_id, username)
        if member is None:
            return MemberNotFound(f"{tenant}/{username}")
        return NotManualMembership(member)

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
