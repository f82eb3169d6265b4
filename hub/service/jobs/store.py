"""Jobs and their runs in the platform DB: the queue every scheduler instance shares.

Methods are synchronous and return frozen dataclasses, like the other stores; callers
on an event loop run them in a worker thread. The decisions (which transitions are
legal, which cron slots fire, whether a failed run is retried) are the pure functions
of ``model`` and ``cron``; this module applies them inside the database's transaction,
because three promises need it:

- **A cron slot fires once.** ``(job_id, slot, attempt)`` is unique and a slot is
  inserted with ``ON CONFLICT DO NOTHING``; on top of that, the jobs being fired are
  locked (``FOR UPDATE SKIP LOCKED``), so two instances split the due jobs between
  them instead of both computing the same slots.
- **A run is claimed once, within its tenant's quota.** The claim locks the queued
  run it takes (``SKIP LOCKED``: another claimer takes the next one) and the run's
  tenant row (``SKIP LOCKED`` too: a tenant another claimer is counting is left for
  the next tick, so claimers never wait on each other and cannot deadlock), then
  counts the tenant's starting and running runs against ``running_jobs``.
- **A transition is checked against the row as it is in the database** (locked), so
  a cancel racing a finish cannot both win.

On SQLite there are no row locks: every locked transaction starts with
``BEGIN IMMEDIATE``, which takes the database's write lock up front, so claims and
fires are serialised and the same code is correct there.

Every active run belongs to one scheduler instance (``instance``) that renews its
lease each tick; an instance adopts runs whose lease expired (their instance died)
and, at its own start, the runs it had itself (it restarted).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import PurePosixPath
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    and_,
    delete,
    func,
    insert,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from hub.service.jobs import cron
from hub.service.jobs.model import (
    ACTIVE,
    JobSpec,
    RunState,
    output_path,
    retry_due,
    transition_problem,
)
from hub.tenancy.models import JobRow, JobRunRow, QuotaRow, TenantRow

_J = JobRow.__table__
_R = JobRunRow.__table__
_ACTIVE = sorted(s.value for s in ACTIVE)


def as_utc(value: datetime) -> datetime:
    """SQLite hands back naive datetimes: everything here is written in UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _opt(value: datetime | None) -> datetime | None:
    return as_utc(value) if value is not None else None


@dataclass(frozen=True)
class Job:
    id: int
    tenant: str
    owner: str
    name: str
    kind: str
    notebook: str
    parameters: dict[str, Any]
    profile: str
    kernel: str | None
    timeout: int
    priority: int
    retries: int
    cron: str | None
    timezone: str | None
    missed: str | None
    next_fire_at: datetime | None
    fired_until: datetime | None
    created_at: datetime
    cancelled_at: datetime | None
    cancelled_by: str | None
    paused: bool = False

    @property
    def schedule(self) -> dict[str, Any] | None:
        """cron, timezone and missed-slot policy as submitted; None: a one-off job."""
        if not self.cron:
            return None
        return {"cron": self.cron, "timezone": self.timezone, "missed": self.missed}

    @property
    def spec(self) -> JobSpec:
        """The job as submitted (what a runner is given)."""
        schedule = self.schedule
        return JobSpec.model_validate(
            {
                "name": self.name, "kind": self.kind, "notebook": self.notebook,
                "parameters": self.parameters, "tenant": self.tenant, "profile": self.profile,
                "kernel": self.kernel, "timeout": self.timeout, "priority": self.priority,
                "retries": self.retries, "schedule": schedule,
            }
        )  # fmt: skip


@dataclass(frozen=True)
class Run:
    id: int
    job_id: int
    tenant: str
    owner: str
    priority: int
    attempt: int
    slot: datetime | None
    retry_of: int | None
    state: str
    reason: str
    exit_code: int | None
    cancel_requested: bool
    cancelled_by: str | None
    runner: str | None
    handle: str | None
    instance: str | None
    lease_until: datetime | None
    log_tail: str
    queued_at: datetime
    claimed_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None

    @property
    def output(self) -> PurePosixPath:
        """The output notebook, relative to the owner's home."""
        return output_path(self.job_id, self.id)


@dataclass(frozen=True)
class Finished:
    """A run that ended, and the attempt queued to retry it (if any)."""

    run: Run
    retry: Run | None = None


class JobNotFound(LookupError):
    pass


class RunNotFound(LookupError):
    pass


class IllegalTransition(ValueError):
    """The run's state (as it is in the DB) does not allow this change."""


class NotOwned(RuntimeError):
    """The run is watched by another scheduler instance now (its lease had expired)."""


class RunsActive(RuntimeError):
    """The tenant has runs starting or running: they are stopped first, not lost."""

    def __init__(self, runs: list[Run]) -> None:
        ids = ", ".join(str(r.id) for r in runs[:10])
        super().__init__(f"{len(runs)} job run(s) starting or running ({ids})")
        self.runs = runs


def _job(row: Any) -> Job:
    r = row._mapping
    return Job(
        id=r["id"], tenant=r["tenant"], owner=r["owner"], name=r["name"], kind=r["kind"],
        notebook=r["notebook"], parameters=dict(r["parameters"] or {}), profile=r["profile"],
        kernel=r["kernel"], timeout=r["timeout"], priority=r["priority"], retries=r["retries"],
        cron=r["cron"], timezone=r["timezone"], missed=r["missed"],
        next_fire_at=_opt(r["next_fire_at"]), fired_until=_opt(r["fired_until"]),
        created_at=as_utc(r["created_at"]), cancelled_at=_opt(r["cancelled_at"]),
        cancelled_by=r["cancelled_by"], paused=bool(r["paused"]),
    )  # fmt: skip


def _run(row: Any) -> Run:
    r = row._mapping
    return Run(
        id=r["id"], job_id=r["job_id"], tenant=r["tenant"], owner=r["owner"],
        priority=r["priority"], attempt=r["attempt"], slot=_opt(r["slot"]),
        retry_of=r["retry_of"], state=r["state"], reason=r["reason"], exit_code=r["exit_code"],
        cancel_requested=bool(r["cancel_requested"]), cancelled_by=r["cancelled_by"],
        runner=r["runner"], handle=r["handle"], instance=r["instance"],
        lease_until=_opt(r["lease_until"]), log_tail=r["log_tail"],
        queued_at=as_utc(r["queued_at"]), claimed_at=_opt(r["claimed_at"]),
        started_at=_opt(r["started_at"]), finished_at=_opt(r["finished_at"]),
    )  # fmt: skip


_QUEUE_ORDER = (_R.c.priority.desc(), _R.c.queued_at, _R.c.id)  # priority, then FIFO
_NEWEST_FIRST = (_R.c.id.desc(),)


class JobStore:
    def __init__(self, engine: Engine, clock: Callable[[], datetime] | None = None) -> None:
        self.engine = engine
        self.clock = clock or (lambda: datetime.now(UTC))

    def _now(self, now: datetime | None) -> datetime:
        return as_utc(now if now is not None else self.clock())

    @contextmanager
    def _locked(self) -> Iterator[Connection]:
        """A transaction whose ``FOR UPDATE`` reads lock rows (PostgreSQL) or that holds
        the write lock from its first statement (SQLite ``BEGIN IMMEDIATE``)."""
        with self.engine.begin() as conn:
            if conn.dialect.name == "sqlite":
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            yield conn

    def _insert_run(self, conn: Connection, values: dict[str, Any]) -> int | None:
        """Insert a run; None when its (job, slot, attempt) is there already."""
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        statement = (
            dialect.insert(JobRunRow)
            .values(reason="", cancel_requested=False, log_tail="", **values)
            .on_conflict_do_nothing()
            .returning(_R.c.id)
        )
        return conn.execute(statement).scalar_one_or_none()

    @staticmethod
    def _queued(job: Job | Any, now: datetime, **extra: Any) -> dict[str, Any]:
        return {
            "job_id": job.id, "tenant": job.tenant, "owner": job.owner,
            "priority": job.priority, "state": RunState.QUEUED.value, "queued_at": now,
            "attempt": 1, "slot": None, **extra,
        }  # fmt: skip

    # ------------------------------------------------------------------ users

    def create_job(
        self, spec: JobSpec, owner: str, now: datetime | None = None
    ) -> tuple[Job, Run | None]:
        """Store a validated job. Without a schedule its one run is queued in the same
        transaction; with one, its first slot is the first after ``now``."""
        now = self._now(now)
        schedule = spec.schedule
        values: dict[str, Any] = {
            "tenant": spec.tenant, "owner": owner, "name": spec.name, "kind": spec.kind,
            "notebook": spec.notebook, "parameters": spec.parameters, "profile": spec.profile,
            "kernel": spec.kernel, "timeout": spec.timeout, "priority": spec.priority,
            "retries": spec.retries, "created_at": now,
            "cron": schedule.cron if schedule else None,
            "timezone": schedule.timezone if schedule else None,
            "missed": schedule.missed.value if schedule and schedule.missed else None,
            "fired_until": now if schedule else None,
            "next_fire_at": (
                cron.next_slot(schedule.cron, schedule.timezone, now) if schedule else None
            ),
        }  # fmt: skip
        with self.engine.begin() as conn:
            job_id = conn.execute(insert(JobRow).values(**values).returning(_J.c.id))
            job = _job(conn.execute(select(_J).where(_J.c.id == job_id.scalar_one())).one())
            run = None
            if schedule is None:
                run_id = self._insert_run(conn, self._queued(job, now))
                run = _run(conn.execute(select(_R).where(_R.c.id == run_id)).one())
        return job, run

    def get_job(self, job_id: int) -> Job | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(_J).where(_J.c.id == job_id)).one_or_none()
        return _job(row) if row is not None else None

    def jobs(
        self, tenant: str | None = None, owner: str | None = None, offset: int = 0, limit: int = 50
    ) -> tuple[int, list[Job]]:
        """Jobs of a tenant and/or an owner, newest first, one page and the total."""
        where: list[ColumnElement[bool]] = []
        if tenant is not None:
            where.append(_J.c.tenant == tenant)
        if owner is not None:
            where.append(_J.c.owner == owner)
        condition = and_(true(), *where)
        with self.engine.connect() as conn:
            total = conn.scalar(select(func.count()).select_from(_J).where(condition)) or 0
            rows = conn.execute(
                select(_J).where(condition).order_by(_J.c.id.desc()).offset(offset).limit(limit)
            ).all()
        return total, [_job(r) for r in rows]

    def get_run(self, run_id: int) -> Run | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(_R).where(_R.c.id == run_id)).one_or_none()
        return _run(row) if row is not None else None

    def runs(
        self,
        job_id: int | None = None,
        tenant: str | None = None,
        owner: str | None = None,
        state: str | None = None,
        offset: int = 0,
        limit: int = 50,
    ) -> tuple[int, list[Run]]:
        """Runs filtered by job, tenant, owner and state, newest first, and the total."""
        where: list[ColumnElement[bool]] = []
        for column, value in (("job_id", job_id), ("tenant", tenant), ("owner", owner),
                              ("state", state)):  # fmt: skip
            if value is not None:
                where.append(_R.c[column] == value)
        condition = and_(true(), *where)
        with self.engine.connect() as conn:
            total = conn.scalar(select(func.count()).select_from(_R).where(condition)) or 0
            rows = conn.execute(
                select(_R).where(condition).order_by(*_NEWEST_FIRST).offset(offset).limit(limit)
            ).all()
        return total, [_run(r) for r in rows]

    def enqueue(self, job_id: int, now: datetime | None = None) -> Run:
        """Queue a run of the job now (its schedule, if any, goes on as before)."""
        now = self._now(now)
        with self.engine.begin() as conn:
            row = conn.execute(select(_J).where(_J.c.id == job_id)).one_or_none()
            if row is None:
                raise JobNotFound(job_id)
            job = _job(row)
            if job.cancelled_at is not None:
                raise IllegalTransition(f"job {job.name!r} was cancelled; submit it again")
            run_id = self._insert_run(conn, self._queued(job, now))
            return _run(conn.execute(select(_R).where(_R.c.id == run_id)).one())

    def cancel_run(self, run_id: int, by: str, now: datetime | None = None) -> Run:
        """A queued run is cancelled at once; a starting or running one is marked for its
        scheduler, which stops it through the runner. A finished run: IllegalTransition."""
        now = self._now(now)
        with self._locked() as conn:
            row = conn.execute(select(_R).where(_R.c.id == run_id).with_for_update()).one_or_none()
            if row is None:
                raise RunNotFound(run_id)
            self._cancel(conn, _run(row), by, now)
            return _run(conn.execute(select(_R).where(_R.c.id == run_id)).one())

    def _cancel(self, conn: Connection, run: Run, by: str, now: datetime) -> None:
        problem = transition_problem(RunState(run.state), RunState.CANCELLED)
        if problem:
            raise IllegalTransition(problem)
        changes: dict[str, Any] = {"cancel_requested": True, "cancelled_by": by}
        if run.state == RunState.QUEUED:
            changes |= {
                "state": RunState.CANCELLED.value, "finished_at": now,
                "reason": f"cancelled by {by} before it started",
            }  # fmt: skip
        conn.execute(update(JobRunRow).where(_R.c.id == run.id).values(**changes))

    def cancel_job(self, job_id: int, by: str, now: datetime | None = None) -> Job:
        """Stop the job's schedule and cancel its queued and active runs (idempotent)."""
        now = self._now(now)
        with self._locked() as conn:
            row = conn.execute(select(_J).where(_J.c.id == job_id).with_for_update()).one_or_none()
            if row is None:
                raise JobNotFound(job_id)
            if row.cancelled_at is None:
                conn.execute(
                    update(JobRow)
                    .where(_J.c.id == job_id)
                    .values(cancelled_at=now, cancelled_by=by, next_fire_at=None)
                )
            live = conn.execute(
                select(_R)
                .where(_R.c.job_id == job_id, _R.c.state.in_(["queued", *_ACTIVE]),
                       _R.c.cancel_requested.is_(False))
                .with_for_update()
            ).all()  # fmt: skip
            for run in live:
                self._cancel(conn, _run(run), by, now)
            return _job(conn.execute(select(_J).where(_J.c.id == job_id)).one())

    def remove_tenant(self, tenant: str) -> dict[str, int]:
        """Delete every job and run of ``tenant`` (the tenant is being deleted); their
        numbers. RunsActive, and nothing deleted, while one of its runs starts or runs:
        deleting its row would leave the scheduler that watches it without a record."""
        with self._locked() as conn:
            active = conn.execute(
                select(_R).where(_R.c.tenant == tenant, _R.c.state.in_(_ACTIVE)).with_for_update()
            ).all()
            if active:
                raise RunsActive([_run(r) for r in active])
            runs = conn.execute(delete(JobRunRow).where(_R.c.tenant == tenant)).rowcount
            jobs = conn.execute(delete(JobRow).where(_J.c.tenant == tenant)).rowcount
        return {"jobs": int(jobs or 0), "runs": int(runs or 0)}

    def set_paused(self, job_id: int, paused: bool, now: datetime | None = None) -> Job:
        """Pause or resume a scheduled job's cron schedule (idempotent).

        Paused: no slot fires (``next_fire_at`` is cleared); runs already queued or
        running go on. Resumed: the window starts at ``now``, so the slots that passed
        while paused never fire (whatever the job's missed-slot policy: a pause is on
        purpose, not an outage); the next run is the first slot after ``now``.
        A one-off or a cancelled job: IllegalTransition with the reason.
        """
        now = self._now(now)
        with self._locked() as conn:
            row = conn.execute(select(_J).where(_J.c.id == job_id).with_for_update()).one_or_none()
            if row is None:
                raise JobNotFound(job_id)
            job = _job(row)
            if not job.cron or not job.timezone:
                raise IllegalTransition(
                    f"job {job.name!r} runs once, it has no schedule to pause or resume; "
                    "cancel its run instead"
                )
            if job.cancelled_at is not None:
                raise IllegalTransition(
                    f"job {job.name!r} was cancelled; its schedule cannot be paused or "
                    "resumed: submit it again"
                )
            if job.paused != paused:
                values: dict[str, Any] = {"paused": paused}
                if paused:
                    values["next_fire_at"] = None
                else:
                    following = cron.next_slot(job.cron, job.timezone, now)
                    values |= {"fired_until": now, "next_fire_at": following}
                conn.execute(update(JobRow).where(_J.c.id == job_id).values(**values))
            return _job(conn.execute(select(_J).where(_J.c.id == job_id)).one())

    # ------------------------------------------------------------------ the scheduler

    def fire_due(
        self, now: datetime, default_missed: str, grace_seconds: float, limit: int = 500
    ) -> list[Run]:
        """Queue a run for each cron slot due by ``now`` (at most ``limit`` jobs a call).

        Missed slots (older than ``grace_seconds``) follow the job's ``missed`` policy,
        else ``default_missed``. Each job's window then starts at ``now``.
        """
        now = as_utc(now)
        fired: list[Run] = []
        with self._locked() as conn:
            due = conn.execute(
                select(_J)
                .where(
                    _J.c.next_fire_at <= now,
                    _J.c.cancelled_at.is_(None),
                    _J.c.paused.is_(False),
                )
                .order_by(_J.c.next_fire_at, _J.c.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            ).all()
            for row in due:
                job = _job(row)
                assert job.cron and job.timezone and job.fired_until
                after = job.fired_until
                for slot in cron.slots_to_fire(
                    job.cron, job.timezone, after, now, grace_seconds, job.missed or default_missed
                ):
                    run_id = self._insert_run(conn, self._queued(job, now, slot=slot))
                    if run_id is not None:
                        fired.append(_run(conn.execute(select(_R).where(_R.c.id == run_id)).one()))
                until = max(after, now)
                conn.execute(
                    update(JobRow)
                    .where(_J.c.id == job.id)
                    .values(fired_until=until,
                            next_fire_at=cron.next_slot(job.cron, job.timezone, until))
                )  # fmt: skip
        return fired

    def _full_tenants(self, conn: Connection) -> set[str]:
        """Tenants whose active runs already reach their running_jobs quota (a hint for the
        claim; the count that decides is taken again under the tenant's lock)."""
        active = (
            select(_R.c.tenant, func.count().label("n"))
            .where(_R.c.state.in_(_ACTIVE))
            .group_by(_R.c.tenant)
            .subquery()
        )
        rows = conn.execute(
            select(active.c.tenant)
            .join(TenantRow, TenantRow.name == active.c.tenant)
            .join(QuotaRow, QuotaRow.tenant_id == TenantRow.id)
            .where(QuotaRow.running_jobs.is_not(None), active.c.n >= QuotaRow.running_jobs)
        ).all()
        return {r.tenant for r in rows}

    def claim(
        self, instance: str, lease: timedelta, now: datetime | None = None
    ) -> tuple[Run, Job] | None:
        """Take the next runnable run for ``instance``: queued -> starting.

        Highest priority first, then oldest; runs of a tenant at its ``running_jobs``
        quota wait. None when nothing can start now. A run of a tenant that no longer
        exists fails with that reason instead.
        """
        now = self._now(now)
        with self._locked() as conn:
            passed = self._full_tenants(conn)
            while True:
                query = select(_R).where(_R.c.state == RunState.QUEUED.value)
                if passed:
                    query = query.where(_R.c.tenant.not_in(sorted(passed)))
                row = conn.execute(
                    query.order_by(*_QUEUE_ORDER).limit(1).with_for_update(skip_locked=True)
                ).one_or_none()
                if row is None:
                    return None
                run = _run(row)
                tenant = conn.execute(
                    select(TenantRow.id)
                    .where(TenantRow.name == run.tenant)
                    .with_for_update(skip_locked=True)
                ).one_or_none()
                if tenant is None:
                    gone = conn.execute(
                        select(TenantRow.id).where(TenantRow.name == run.tenant)
                    ).one_or_none()
                    if gone is None:
                        self._set(conn, run, RunState.FAILED, now,
                                  reason=f"tenant {run.tenant!r} no longer exists")  # fmt: skip
                    passed.add(run.tenant)  # else another claimer is counting it
                    continue
                limit = conn.scalar(
                    select(QuotaRow.running_jobs).where(QuotaRow.tenant_id == tenant.id)
                )
                if limit is not None:
                    active = conn.scalar(
                        select(func.count())
                        .select_from(_R)
                        .where(_R.c.tenant == run.tenant, _R.c.state.in_(_ACTIVE))
                    )
                    if (active or 0) >= limit:
                        passed.add(run.tenant)
                        continue
                self._set(conn, run, RunState.STARTING, now, instance=instance,
                          lease_until=now + lease, claimed_at=now)  # fmt: skip
                job = _job(conn.execute(select(_J).where(_J.c.id == run.job_id)).one())
                return _run(conn.execute(select(_R).where(_R.c.id == run.id)).one()), job

    def _set(
        self, conn: Connection, run: Run, state: RunState, now: datetime, **values: Any
    ) -> None:
        problem = transition_problem(RunState(run.state), state)
        if problem:
            raise IllegalTransition(f"run {run.id}: {problem}")
        if state in (RunState.SUCCEEDED, RunState.FAILED, RunState.CANCELLED, RunState.TIMED_OUT):
            values.setdefault("finished_at", now)
        if state is RunState.RUNNING:
            values.setdefault("started_at", now)
        conn.execute(update(JobRunRow).where(_R.c.id == run.id).values(state=state.value, **values))

    def _owned(self, conn: Connection, run_id: int, instance: str) -> Run:
        row = conn.execute(select(_R).where(_R.c.id == run_id).with_for_update()).one_or_none()
        if row is None:
            raise RunNotFound(run_id)
        run = _run(row)
        if run.instance is None:
            raise NotOwned(f"run {run_id} is {run.state}: no scheduler has claimed it")
        if run.instance != instance:
            raise NotOwned(f"run {run_id} is watched by {run.instance!r} now, not {instance!r}")
        return run

    def started(self, run_id: int, instance: str, runner: str, handle: str) -> Run:
        """The runner started the run: keep its handle (re-attach needs it)."""
        with self._locked() as conn:
            self._owned(conn, run_id, instance)
            conn.execute(
                update(JobRunRow).where(_R.c.id == run_id).values(runner=runner, handle=handle)
            )
            return _run(conn.execute(select(_R).where(_R.c.id == run_id)).one())

    def running(self, run_id: int, instance: str, now: datetime | None = None) -> Run:
        """The runner saw the run running: starting -> running."""
        now = self._now(now)
        with self._locked() as conn:
            run = self._owned(conn, run_id, instance)
            self._set(conn, run, RunState.RUNNING, now)
            return _run(conn.execute(select(_R).where(_R.c.id == run_id)).one())

    def finish(
        self,
        run_id: int,
        instance: str,
        state: RunState,
        reason: str,
        *,
        exit_code: int | None = None,
        log_tail: str = "",
        retry: bool = True,
        now: datetime | None = None,
    ) -> Finished:
        """End the run; in the same transaction queue its next attempt when the job's
        retries allow it (``model.retry_due``) and ``retry`` is not turned off."""
        now = self._now(now)
        with self._locked() as conn:
            run = self._owned(conn, run_id, instance)
            self._set(conn, run, state, now, reason=reason, exit_code=exit_code,
                      log_tail=log_tail, lease_until=None)  # fmt: skip
            job = _job(conn.execute(select(_J).where(_J.c.id == run.job_id)).one())
            again = None
            if retry and retry_due(state, run.attempt, job.retries, job.cancelled_at is not None):
                new_id = self._insert_run(
                    conn,
                    self._queued(job, now, slot=run.slot, attempt=run.attempt + 1,
                                 retry_of=run.id),
                )  # fmt: skip
                if new_id is not None:
                    again = _run(conn.execute(select(_R).where(_R.c.id == new_id)).one())
            ended = _run(conn.execute(select(_R).where(_R.c.id == run_id)).one())
        return Finished(ended, again)

    def watched(self, instance: str) -> list[tuple[Run, Job]]:
        """The active runs ``instance`` watches, oldest first, with their jobs."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(_R)
                .where(_R.c.instance == instance, _R.c.state.in_(_ACTIVE))
                .order_by(_R.c.id)
            ).all()
            return self._with_jobs(conn, [_run(r) for r in rows])

    @staticmethod
    def _with_jobs(conn: Connection, runs: list[Run]) -> list[tuple[Run, Job]]:
        ids = sorted({r.job_id for r in runs})
        jobs = {j.id: j for j in map(_job, conn.execute(select(_J).where(_J.c.id.in_(ids))).all())}
        return [(r, jobs[r.job_id]) for r in runs]

    def renew(self, instance: str, lease: timedelta, now: datetime | None = None) -> int:
        """Extend the lease of every active run of ``instance``; how many."""
        now = self._now(now)
        with self.engine.begin() as conn:
            result = conn.execute(
                update(JobRunRow)
                .where(_R.c.instance == instance, _R.c.state.in_(_ACTIVE))
                .values(lease_until=now + lease)
            )
        return int(result.rowcount or 0)

    def adopt(
        self, instance: str, lease: timedelta, own: bool, now: datetime | None = None
    ) -> list[tuple[Run, Job]]:
        """Take over active runs whose lease expired (their instance is gone) and, with
        ``own``, the ones ``instance`` had before it restarted. The caller re-attaches
        each through its runner or fails it: it never starts one again."""
        now = self._now(now)
        orphaned = or_(_R.c.lease_until.is_(None), _R.c.lease_until < now)
        if own:
            orphaned = or_(orphaned, _R.c.instance == instance)
        with self._locked() as conn:
            rows = conn.execute(
                select(_R)
                .where(_R.c.state.in_(_ACTIVE), orphaned)
                .order_by(_R.c.id)
                .with_for_update(skip_locked=True)
            ).all()
            ids = [r.id for r in rows]
            if not ids:
                return []
            conn.execute(
                update(JobRunRow)
                .where(_R.c.id.in_(ids))
                .values(instance=instance, lease_until=now + lease)
            )
            out = conn.execute(select(_R).where(_R.c.id.in_(ids)).order_by(_R.c.id)).all()
            return self._with_jobs(conn, [_run(r) for r in out])
