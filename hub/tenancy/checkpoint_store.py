"""Checkpoint records in the platform DB: what the checkpointer reports, what spawns read.

The checkpointer daemon never writes here itself: it reports each step over the
platform API, whose handlers call this store; the spawner (inside the hub) reads
the latest ready checkpoint from it. Like ``hub.tenancy.store``, methods are
synchronous and return frozen dataclasses; callers on an event loop run them in
a worker thread.

Two rules live here because they need the database's transaction:

- a step is applied only if the lifecycle allows it from the row's state *as it
  is in the database* (the row is locked for the check), so two reports racing
  cannot both win;
- marking a checkpoint ``ready`` and expiring the ones beyond ``keep`` happen in
  one transaction: a reader sees either the old latest or the new one, never
  none, and a crash in between leaves the previous latest in use.

The order of the steps itself is the checkpointer's (``checkpointer.lifecycle``):
the API and the daemon enforce one state machine, not two copies of it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, Engine, and_, func, insert, select, true, update

from checkpointer.lifecycle import State, expired, parse_state, transition_problem
from hub.tenancy.models import CheckpointRow

_T = CheckpointRow.__table__
READY = State.READY.value


@dataclass(frozen=True)
class Checkpoint:
    id: int
    user: str
    server: str
    tenant: str
    profile: str
    base_image: str
    node: str
    state: str
    image: str | None
    digest: str | None
    size_bytes: int | None
    message: str
    created_at: datetime
    updated_at: datetime
    deleted: bool


@dataclass(frozen=True)
class Step:
    """One reported step: the new state and what the daemon learnt on the way."""

    state: str
    image: str | None = None
    digest: str | None = None
    size_bytes: int | None = None
    message: str | None = None


@dataclass(frozen=True)
class Stepped:
    """A step applied; ``expired``: ready checkpoints beyond ``keep`` that it retired."""

    checkpoint: Checkpoint
    expired: tuple[Checkpoint, ...] = ()


class CheckpointNotFound(LookupError):
    pass


class IllegalStep(ValueError):
    """The lifecycle does not allow this step from the checkpoint's current state."""

    def __init__(self, current: str, wanted: str, problem: str) -> None:
        super().__init__(problem)
        self.current = current
        self.wanted = wanted
        self.problem = problem


class IncompleteStep(ValueError):
    """The step lacks what its state needs: ``ready`` the image and its digest, ``failed``
    and ``skipped`` a message for the user."""

    def __init__(self, problem: str, missing: list[str]) -> None:
        super().__init__(problem)
        self.problem = problem
        self.missing = missing


def as_utc(value: datetime) -> datetime:
    """SQLite hands back naive datetimes: everything here is written in UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _out(row: object) -> Checkpoint:
    r = row._mapping  # type: ignore[attr-defined]
    return Checkpoint(
        id=r["id"],
        user=r["user"],
        server=r["server"],
        tenant=r["tenant"],
        profile=r["profile"],
        base_image=r["base_image"],
        node=r["node"],
        state=r["state"],
        image=r["image"],
        digest=r["digest"],
        size_bytes=r["size_bytes"],
        message=r["message"],
        created_at=as_utc(r["created_at"]),
        updated_at=as_utc(r["updated_at"]),
        deleted=bool(r["deleted"]),
    )


def check_step(row: Checkpoint, step: Step) -> None:
    """Raise IllegalStep or IncompleteStep unless the lifecycle allows ``step`` on ``row``.

    The order of states (409 for the API) is told apart from missing fields (422):
    the lifecycle is asked once as if every field were there, then with the fields
    as they would be after the step (given in it, or already on the record).
    """
    current, new = parse_state(row.state), parse_state(step.state)
    order = transition_problem(current, new, image="-", digest="-", message="-")
    if order:
        raise IllegalStep(row.state, step.state, order)
    have = {
        "image": step.image or row.image,
        "digest": step.digest or row.digest,
        "message": step.message or row.message,
    }
    fields = transition_problem(current, new, **have)
    if fields:
        needed = ("image", "digest") if new is State.READY else ("message",)
        raise IncompleteStep(fields, [n for n in needed if not (have[n] or "").strip()])


_NEWEST_FIRST = (_T.c.created_at.desc(), _T.c.id.desc())


class CheckpointStore:
    def __init__(self, engine: Engine, clock: Callable[[], datetime] | None = None) -> None:
        self.engine = engine
        self.clock = clock or (lambda: datetime.now(UTC))

    @contextmanager
    def _locked(self) -> Iterator[Connection]:
        """A transaction whose reads lock what they read until commit.

        PostgreSQL: the ``SELECT ... FOR UPDATE`` below locks the rows. SQLite has no row
        locks and starts a write only at the first write, when a concurrent writer makes
        it fail rather than wait; ``BEGIN IMMEDIATE`` takes the write lock up front, so
        a second step of the same checkpoint waits and then sees the first one's state.
        """
        with self.engine.begin() as conn:
            if conn.dialect.name == "sqlite":
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            yield conn

    # ------------------------------------------------------------------ the daemon

    def create(
        self, user: str, server: str, tenant: str, profile: str, base_image: str, node: str
    ) -> Checkpoint:
        """A new checkpoint in state ``requested`` (the daemon is about to commit)."""
        now = self.clock()
        values = {
            "user": user, "server": server, "tenant": tenant, "profile": profile,
            "base_image": base_image, "node": node, "state": "requested", "message": "",
            "created_at": now, "updated_at": now, "deleted": False,
        }  # fmt: skip
        with self.engine.begin() as conn:
            new_id = conn.execute(
                insert(CheckpointRow).values(**values).returning(_T.c.id)
            ).scalar_one()
            return _out(conn.execute(select(_T).where(_T.c.id == new_id)).one())

    def step(self, checkpoint_id: int, step: Step, keep: int) -> Stepped:
        """Apply one lifecycle step; on ``ready``, retire the user's ready ones beyond ``keep``.

        Raises CheckpointNotFound, IllegalStep (the lifecycle forbids it) or
        IncompleteStep (``ready`` without image or digest); nothing changes then.
        """
        with self._locked() as conn:
            found = conn.execute(
                select(_T).where(_T.c.id == checkpoint_id).with_for_update()
            ).one_or_none()
            if found is None:
                raise CheckpointNotFound(checkpoint_id)
            row = _out(found)
            check_step(row, step)
            changes: dict[str, object] = {"state": step.state, "updated_at": self.clock()}
            for name in ("image", "digest", "size_bytes", "message"):
                value = getattr(step, name)
                if value is not None:
                    changes[name] = value
            conn.execute(update(CheckpointRow).where(_T.c.id == checkpoint_id).values(**changes))
            expired: list[Checkpoint] = []
            if step.state == READY:
                expired = self._retire_beyond(conn, row, keep)
            current = _out(conn.execute(select(_T).where(_T.c.id == checkpoint_id)).one())
        return Stepped(current, tuple(expired))

    def _retire_beyond(self, conn: Connection, row: Checkpoint, keep: int) -> list[Checkpoint]:
        """Mark deleted the ready checkpoints of the row's (tenant, user, server) that
        retention (the lifecycle's ``expired``: all but the newest ``keep``) retires."""
        ready = conn.execute(
            select(_T)
            .where(_T.c.user == row.user, _T.c.server == row.server, _T.c.tenant == row.tenant,
                   _T.c.state == READY, _T.c.deleted.is_(False))
            .with_for_update()
        ).all()  # fmt: skip
        old = expired([_out(r) for r in ready], keep)
        if old:
            conn.execute(
                update(CheckpointRow)
                .where(_T.c.id.in_([c.id for c in old]))
                .values(deleted=True, updated_at=self.clock())
            )
        return [
            Checkpoint(**{**c.__dict__, "deleted": True})  # as they now are in the DB
            for c in old
        ]

    def page(
        self,
        offset: int,
        limit: int,
        node: str | None = None,
        state: str | None = None,
        deleted: bool | None = None,
    ) -> tuple[int, list[Checkpoint]]:
        """Every checkpoint (the daemon's view), filtered, oldest first: what to finish."""
        where = []
        if node is not None:
            where.append(_T.c.node == node)
        if state is not None:
            where.append(_T.c.state == state)
        if deleted is not None:
            where.append(_T.c.deleted.is_(deleted))
        condition = and_(true(), *where)
        with self.engine.connect() as conn:
            total = conn.scalar(select(func.count()).select_from(_T).where(condition)) or 0
            rows = conn.execute(
                select(_T).where(condition).order_by(_T.c.id).offset(offset).limit(limit)
            ).all()
        return total, [_out(r) for r in rows]

    def ready_count(self, tenant: str) -> int:
        """How many ready, not deleted checkpoints the tenant's users have (the console's
        count: tenant admins see the number, never their members' images)."""
        query = (
            select(func.count())
            .select_from(_T)
            .where(_T.c.tenant == tenant, _T.c.state == "ready", _T.c.deleted.is_(False))
        )
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar() or 0)

    def get(self, checkpoint_id: int) -> Checkpoint | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(_T).where(_T.c.id == checkpoint_id)).one_or_none()
        return _out(row) if row is not None else None

    # ------------------------------------------------------------------ users

    def of_user(self, user: str, offset: int, limit: int) -> tuple[int, list[Checkpoint]]:
        """The user's checkpoints not deleted, newest first (failed and skipped too: the
        user sees why a checkpoint was not made)."""
        condition = and_(_T.c.user == user, _T.c.deleted.is_(False))
        with self.engine.connect() as conn:
            total = conn.scalar(select(func.count()).select_from(_T).where(condition)) or 0
            rows = conn.execute(
                select(_T).where(condition).order_by(*_NEWEST_FIRST).offset(offset).limit(limit)
            ).all()
        return total, [_out(r) for r in rows]

    def delete_of_user(self, user: str, checkpoint_id: int) -> Checkpoint:
        """Mark the user's checkpoint deleted (the checkpointer removes its image).

        Another user's checkpoint is CheckpointNotFound, exactly like a missing one.
        """
        with self._locked() as conn:
            found = conn.execute(
                select(_T)
                .where(_T.c.id == checkpoint_id, _T.c.user == user, _T.c.deleted.is_(False))
                .with_for_update()
            ).one_or_none()
            if found is None:
                raise CheckpointNotFound(checkpoint_id)
            conn.execute(
                update(CheckpointRow)
                .where(_T.c.id == checkpoint_id)
                .values(deleted=True, updated_at=self.clock())
            )
            return _out(conn.execute(select(_T).where(_T.c.id == checkpoint_id)).one())

    # ------------------------------------------------------------------ spawns

    def restore_candidates(
        self, user: str, server: str, tenant: str, profile: str, base_image: str
    ) -> tuple[Checkpoint | None, Checkpoint | None]:
        """``(latest, newest)``: the latest ready checkpoint of this base image, and the
        newest ready one of any base image (for the "restore my environment" offer)."""
        owner = and_(
            _T.c.user == user, _T.c.server == server, _T.c.tenant == tenant,
            _T.c.profile == profile, _T.c.state == READY, _T.c.deleted.is_(False),
        )  # fmt: skip
        with self.engine.connect() as conn:
            newest = conn.execute(
                select(_T).where(owner).order_by(*_NEWEST_FIRST).limit(1)
            ).one_or_none()
            if newest is None:
                return None, None
            if newest.base_image == base_image:
                return _out(newest), _out(newest)
            latest = conn.execute(
                select(_T)
                .where(owner, _T.c.base_image == base_image)
                .order_by(*_NEWEST_FIRST)
                .limit(1)
            ).one_or_none()
        return (_out(latest) if latest is not None else None), _out(newest)

    def newest_attempt(self, user: str, server: str) -> Checkpoint | None:
        """The user's server's newest checkpoint record in any state (the spawn form tells
        the user when it was not saved, and why)."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(_T)
                .where(_T.c.user == user, _T.c.server == server, _T.c.deleted.is_(False))
                .order_by(*_NEWEST_FIRST)
                .limit(1)
            ).one_or_none()
        return _out(row) if row is not None else None

    def newest_ready_per_profile(self, user: str, server: str) -> list[Checkpoint]:
        """The newest ready checkpoint of each (tenant, profile) of the user's server: what
        the spawn form may offer to restore. Retention keeps few ready ones per server,
        so this reads a handful of rows."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(_T)
                .where(_T.c.user == user, _T.c.server == server, _T.c.state == READY,
                       _T.c.deleted.is_(False))
                .order_by(*_NEWEST_FIRST)
            ).all()  # fmt: skip
        newest: dict[tuple[str, str], Checkpoint] = {}
        for row in rows:
            c = _out(row)
            newest.setdefault((c.tenant, c.profile), c)
        return list(newest.values())
