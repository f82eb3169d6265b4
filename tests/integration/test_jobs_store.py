"""The job queue in the platform DB, on real SQLite and PostgreSQL (``db_url``): migration
0004, cron slots fired once across restarts and two instances, claims taken once in
priority then FIFO order within each tenant's running_jobs quota, transitions checked
against the row, retries, cancels, leases, and bad submissions that store nothing."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import nbformat
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, func, inspect, select

from hub.config.schema import JobSettings
from hub.service.jobs.model import JobInvalid, JobSpec, RunState
from hub.service.jobs.store import IllegalTransition, JobStore, NotOwned
from hub.service.jobs.submit import validate
from hub.tenancy import db
from hub.tenancy.models import Base, JobRow, JobRunRow
from hub.tenancy.quota import QuotaLimits
from hub.tenancy.seed import TenantSpec
from hub.tenancy.store import TenantStore

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
LEASE = timedelta(minutes=1)


class Clock:
    """Each call one second later (FIFO order is observable), or set by the test."""

    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = db.make_engine(db_url)
    db.upgrade(engine)
    tenants = TenantStore(engine)
    for name, running_jobs in (("vision", 2), ("nlp", None), ("big", 4)):
        spec = TenantSpec(name, name, QuotaLimits(running_jobs=running_jobs), None, (), {}, ())
        tenants.create_tenant(spec, "test")
    yield engine
    engine.dispose()


@pytest.fixture
def store(engine: Engine) -> JobStore:
    return JobStore(engine, Clock())


def spec(**kw: Any) -> JobSpec:
    values = {"name": "job", "notebook": "a.ipynb", "tenant": "vision", "profile": "small"}
    return JobSpec.model_validate({**values, **kw})


def queue(store: JobStore, **kw: Any) -> int:
    _job, run = store.create_job(spec(**kw), kw.pop("owner", "alice"))
    assert run is not None
    return run.id


def counts(engine: Engine) -> tuple[int, int]:
    with engine.connect() as conn:
        jobs = conn.scalar(select(func.count()).select_from(JobRow)) or 0
        runs = conn.scalar(select(func.count()).select_from(JobRunRow)) or 0
    return jobs, runs


def claim_all(store: JobStore, instance: str = "a") -> list[int]:
    taken = []
    while (claimed := store.claim(instance, LEASE)) is not None:
        taken.append(claimed[0].id)
    return taken


def together(*work: Callable[[], None]) -> None:
    """Run each callable in its own thread at once; re-raise the first failure."""
    errors: list[BaseException] = []

    def wrap(fn: Callable[[], None]) -> None:
        try:
            fn()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=wrap, args=(fn,)) for fn in work]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not any(t.is_alive() for t in threads), "a worker thread hung"
    if errors:
        raise errors[0]


# ----------------------------------------------------------------------------- migration


def test_migration_0004_adds_the_job_tables_matching_the_models_and_goes_back(
    db_url: str,
) -> None:
    engine = db.make_engine(db_url)
    try:
        db.upgrade(engine, "0003")
        assert "th_jobs" not in inspect(engine).get_table_names()
        db.upgrade(engine)
        assert {"th_jobs", "th_job_runs"} <= set(inspect(engine).get_table_names())
        uniques = {u["name"]: u["column_names"] for u in inspect(engine).get_unique_constraints(
            "th_job_runs")}  # fmt: skip
        assert uniques["uq_th_job_runs_slot"] == ["job_id", "slot", "attempt"]
        with engine.connect() as conn:
            diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        assert [d for d in diffs if "th_job" in repr(d)] == []
        cfg = Config()
        cfg.set_main_option("script_location", str(db.MIGRATIONS))
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0003")
        assert "th_jobs" not in inspect(engine).get_table_names()
        assert db.current_revision(engine) == "0003"
    finally:
        engine.dispose()


# ----------------------------------------------------------------------------- jobs


def test_a_one_off_job_queues_its_run_and_a_scheduled_one_waits_for_its_first_slot(
    store: JobStore,
) -> None:
    job, run = store.create_job(spec(parameters={"day": "x"}, priority=3), "alice")
    assert run is not None and (run.state, run.attempt, run.slot, run.priority) == (
        "queued", 1, None, 3,
    )  # fmt: skip
    assert str(run.output) == f".tenanthub/jobs/{job.id}/{run.id}/output.ipynb"
    assert store.get_job(job.id) == job and job.spec.parameters == {"day": "x"}
    cron_job, none = store.create_job(
        spec(schedule={"cron": "0 6 * * *", "timezone": "Europe/Berlin"}), "bob"
    )
    assert none is None
    assert cron_job.next_fire_at == datetime(2026, 11, 25, 5, 0, tzinfo=UTC)  # 06:00 CET
    assert store.runs(job_id=cron_job.id) == (0, [])


def test_jobs_and_runs_are_listed_by_tenant_and_owner_newest_first_in_pages(
    store: JobStore,
) -> None:
    for i in range(5):
        store.create_job(spec(name=f"v{i}"), "alice")
    store.create_job(spec(name="n", tenant="nlp"), "alice")
    store.create_job(spec(name="b"), "bob")
    total, page = store.jobs(tenant="vision", owner="alice", offset=1, limit=2)
    assert total == 5 and [j.name for j in page] == ["v3", "v2"]
    assert [j.name for j in store.jobs(owner="alice")[1]][:2] == ["n", "v4"]
    assert store.runs(tenant="nlp")[0] == 1 and store.runs(owner="bob")[0] == 1
    assert store.runs(state="queued", limit=3)[0] == 7


# ----------------------------------------------------------------------------- the queue


def test_the_queue_runs_higher_priority_first_and_first_in_first_out_within_one(
    store: JobStore,
) -> None:
    ids = {p: [] for p in (-1, 0, 5)}  # type: dict[int, list[int]]
    for priority in (0, 5, 0, -1, 5, 0):
        ids[priority].append(queue(store, tenant="nlp", priority=priority))
    assert claim_all(store) == ids[5] + ids[0] + ids[-1]


def test_a_tenant_at_its_running_jobs_quota_waits_while_other_tenants_go_on(
    store: JobStore,
) -> None:
    first, second, third = (queue(store, tenant="vision") for _ in range(3))
    other = queue(store, tenant="nlp")
    assert claim_all(store) == [first, second, other]  # the third waits: quota 2
    assert store.get_run(third).state == "queued"  # type: ignore[union-attr]
    store.running(first, "a")
    store.finish(first, "a", RunState.SUCCEEDED, "done")
    assert claim_all(store) == [third]


def test_two_claimers_on_two_engines_never_take_the_same_run_nor_pass_a_quota(
    db_url: str, engine: Engine
) -> None:
    setup = JobStore(engine, Clock())
    for i in range(90):
        queue(setup, tenant=("nlp", "big", "vision")[i % 3], priority=i % 4)
    engines = [db.make_engine(db_url) for _ in range(2)]
    taken: list[list[int]] = [[], []]
    rounds = threading.Barrier(2, timeout=60)

    def claimer(k: int) -> Callable[[], None]:
        def work() -> None:
            store = JobStore(engines[k], Clock())
            for _ in range(40):  # both claim in every round: they really race
                rounds.wait()
                claimed = store.claim(f"instance-{k}", LEASE)
                if claimed is not None:
                    taken[k].append(claimed[0].id)

        return work

    try:
        together(claimer(0), claimer(1))
    finally:
        for e in engines:
            e.dispose()
    everything = taken[0] + taken[1]
    assert len(everything) == len(set(everything))  # no run claimed twice
    assert taken[0] and taken[1]  # both really claimed
    by_tenant = Counter(r.tenant for r in setup.runs(state="starting", limit=1000)[1])
    assert by_tenant == {"nlp": 30, "big": 4, "vision": 2}  # quotas: none, 4, 2
    assert len(everything) == 36


def test_claimers_racing_for_one_tenant_never_start_more_than_its_quota(
    db_url: str, engine: Engine
) -> None:
    setup = JobStore(engine, Clock())
    for _ in range(12):
        queue(setup, tenant="vision")  # running_jobs: 2
    engines = [db.make_engine(db_url) for _ in range(4)]
    rounds = threading.Barrier(len(engines), timeout=60)

    def claimer(k: int) -> Callable[[], None]:
        def work() -> None:
            store = JobStore(engines[k], Clock())
            for _ in range(3):
                rounds.wait()  # all four count the tenant's active runs at once
                store.claim(f"instance-{k}", LEASE)

        return work

    try:
        together(*(claimer(k) for k in range(len(engines))))
    finally:
        for e in engines:
            e.dispose()
    assert setup.runs(tenant="vision", state="starting")[0] == 2


# ----------------------------------------------------------------------------- cron


def minute_jobs(store: JobStore, n: int, **schedule: Any) -> list[int]:
    cron = {"cron": "* * * * *", **schedule}
    return [store.create_job(spec(name=f"m{i}", schedule=cron), "alice")[0].id for i in range(n)]


def test_a_slot_row_can_exist_once_whatever_inserts_it(store: JobStore, engine: Engine) -> None:
    # the database's own guarantee, under the locks: (job, slot, attempt) is unique
    job, _ = store.create_job(spec(schedule={"cron": "* * * * *"}), "alice")
    values = store._queued(job, T0, slot=T0 + timedelta(minutes=1))
    with engine.begin() as conn:
        assert store._insert_run(conn, values) is not None
        assert store._insert_run(conn, values) is None
    assert store.runs(job_id=job.id)[0] == 1


def test_two_instances_firing_the_same_schedules_fire_every_slot_exactly_once(
    db_url: str, engine: Engine
) -> None:
    jobs = minute_jobs(JobStore(engine, Clock(T0)), 40)
    instants = [T0 + timedelta(seconds=20 * k) for k in range(1, 31)]  # 10 minutes
    engines = [db.make_engine(db_url) for _ in range(2)]
    step = threading.Barrier(2, timeout=60)

    def instance(k: int) -> Callable[[], None]:
        def work() -> None:
            store = JobStore(engines[k])
            for now in instants:
                step.wait()
                store.fire_due(now, "skip", grace_seconds=120)

        return work

    try:
        together(instance(0), instance(1))
    finally:
        for e in engines:
            e.dispose()
    runs = JobStore(engine).runs(limit=10_000)[1]
    slots = Counter((r.job_id, r.slot) for r in runs)
    assert max(slots.values()) == 1
    expected = {(j, T0 + timedelta(minutes=m)) for j in jobs for m in range(1, 11)}
    assert set(slots) == expected


def test_a_restarted_store_fires_nothing_twice_and_missed_slots_follow_the_policy(
    db_url: str, engine: Engine
) -> None:
    first = JobStore(engine, Clock())
    skip_id, once_id = (
        first.create_job(spec(name=n, schedule={"cron": "0 * * * *", "missed": m}), "a")[0].id
        for n, m in (("skip", "skip"), ("once", "run_once"))
    )
    default_id = first.create_job(spec(name="d", schedule={"cron": "0 * * * *"}), "a")[0].id
    at_one = T0 + timedelta(hours=1, seconds=5)
    assert len(first.fire_due(at_one, "run_once", 120)) == 3  # 13:00 for each, on time

    restarted_engine = db.make_engine(db_url)  # the service restarts...
    try:
        again = JobStore(restarted_engine)
        assert again.fire_due(at_one, "run_once", 120) == []  # ...nothing fires twice
        # ...then is down from 13:00:05 to 16:30: 14:00, 15:00, 16:00 were missed
        fired = again.fire_due(T0 + timedelta(hours=4, minutes=30), "run_once", 120)
    finally:
        restarted_engine.dispose()
    by_job = {j: sorted(r.slot for r in fired if r.job_id == j) for j in (skip_id, once_id)}
    assert by_job[skip_id] == []
    assert by_job[once_id] == [T0 + timedelta(hours=4)]  # one run for the whole outage
    assert [r.slot for r in fired if r.job_id == default_id] == [T0 + timedelta(hours=4)]
    job = first.get_job(skip_id)
    assert job is not None and job.next_fire_at == T0 + timedelta(hours=5)


# ----------------------------------------------------------------------------- transitions


def test_a_cancelled_queued_run_ends_at_once_a_running_one_is_left_to_its_scheduler(
    store: JobStore,
) -> None:
    queued, running = queue(store, tenant="nlp"), queue(store, tenant="nlp", priority=9)
    claimed = store.claim("a", LEASE)
    assert claimed is not None and claimed[0].id == running
    store.running(running, "a")
    done = store.cancel_run(queued, "alice")
    assert (done.state, done.reason, done.finished_at is not None) == (
        "cancelled", "cancelled by alice before it started", True,
    )  # fmt: skip
    marked = store.cancel_run(running, "bob")
    assert (marked.state, marked.cancel_requested, marked.cancelled_by) == ("running", True, "bob")
    with pytest.raises(IllegalTransition, match="finished run does not change"):
        store.cancel_run(queued, "alice")


def test_cancelling_a_job_stops_its_schedule_and_its_runs(store: JobStore) -> None:
    job_id = minute_jobs(store, 1)[0]
    fired = store.fire_due(T0 + timedelta(minutes=2, seconds=10), "skip", 120)
    assert len(fired) == 2
    assert store.claim("a", LEASE) is not None  # one starts, one stays queued (quota 2 ok)
    job = store.cancel_job(job_id, "alice")
    assert job.cancelled_by == "alice" and job.next_fire_at is None
    states = sorted((r.state, r.cancel_requested) for r in store.runs(job_id=job_id)[1])
    assert states == [("cancelled", True), ("starting", True)]
    assert store.fire_due(T0 + timedelta(hours=1), "run_once", 120) == []
    with pytest.raises(IllegalTransition, match="cancelled"):
        store.enqueue(job_id)


def test_a_run_changes_only_as_its_row_in_the_database_allows_and_only_by_its_instance(
    store: JobStore,
) -> None:
    run_id = queue(store)
    with pytest.raises(NotOwned, match="queued: no scheduler has claimed it"):
        store.running(run_id, "a")
    claimed = store.claim("a", LEASE)
    assert claimed is not None and claimed[0].state == "starting"
    with pytest.raises(NotOwned, match="watched by 'a'"):
        store.finish(run_id, "b", RunState.FAILED, "no")
    store.running(run_id, "a")
    store.finish(run_id, "a", RunState.SUCCEEDED, "done", exit_code=0, log_tail="out")
    with pytest.raises(IllegalTransition, match="succeeded already"):
        store.finish(run_id, "a", RunState.FAILED, "late")
    run = store.get_run(run_id)
    assert run is not None and (run.state, run.exit_code, run.log_tail) == ("succeeded", 0, "out")
    assert run.queued_at < run.claimed_at < run.started_at < run.finished_at  # type: ignore[operator]


def test_failed_and_timed_out_runs_are_retried_as_new_attempts_until_retries_run_out(
    store: JobStore,
) -> None:
    first = queue(store, tenant="nlp", retries=2)
    attempts = [first]
    for ending in (RunState.FAILED, RunState.TIMED_OUT, RunState.FAILED):
        claimed = store.claim("a", LEASE)
        assert claimed is not None and claimed[0].id == attempts[-1]
        done = store.finish(claimed[0].id, "a", ending, "boom")
        if done.retry is not None:
            assert done.retry.retry_of == claimed[0].id
            attempts.append(done.retry.id)
    runs = sorted(store.runs(tenant="nlp")[1], key=lambda r: r.attempt)
    assert [(r.attempt, r.state) for r in runs] == [
        (1, "failed"), (2, "timed_out"), (3, "failed"),
    ]  # fmt: skip
    # cancelled, and the scheduler's "lost after a restart", are never retried
    again = queue(store, tenant="nlp", retries=3)
    store.claim("a", LEASE)
    assert store.finish(again, "a", RunState.FAILED, "lost", retry=False).retry is None


def test_a_dead_instances_runs_are_adopted_after_its_lease_and_a_restarted_one_takes_its_own(
    store: JobStore,
) -> None:
    run_id = queue(store, tenant="nlp")
    claimed = store.claim("a", LEASE, now=T0)
    assert claimed is not None
    assert store.adopt("b", LEASE, own=False, now=T0 + timedelta(seconds=30)) == []
    assert store.renew("a", LEASE, now=T0 + timedelta(seconds=50)) == 1
    assert store.adopt("b", LEASE, own=False, now=T0 + timedelta(seconds=100)) == []
    adopted = store.adopt("b", LEASE, own=False, now=T0 + timedelta(seconds=111))
    assert [(r.id, r.instance, j.id) for r, j in adopted] == [(run_id, "b", claimed[1].id)]
    with pytest.raises(NotOwned):
        store.running(run_id, "a")
    # "b" restarts: its own runs come back at once, leases or not
    assert [
        r.id for r, _ in store.adopt("b", LEASE, own=True, now=T0 + timedelta(seconds=112))
    ] == [run_id]


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"schedule": {"cron": "0 25 * * *"}}, "not a valid cron"),
        ({"schedule": {"cron": "0 6 * * *", "timezone": "Atlantis/Capital"}}, "IANA"),
        ({"parameters": {"unknown": 1}}, "unknown not defined .* it defines: day"),
        ({"notebook": "../bob/report.ipynb"}, "'..' is not allowed"),
        ({"notebook": "missing.ipynb"}, "does not exist in your home"),
    ],
)
def test_a_bad_submission_stores_nothing(
    engine: Engine, store: JobStore, tmp_path: Path, change: dict, reason: str
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("day = 'today'")
    cell.metadata["tags"] = ["parameters"]
    nb.cells.append(cell)
    nb.metadata["kernelspec"] = {"name": "python3", "language": "python", "display_name": "P"}
    nbformat.write(nb, home / "report.ipynb")
    body = {"name": "r", "notebook": "report.ipynb", "tenant": "vision", "profile": "small",
            **change}  # fmt: skip
    with pytest.raises(JobInvalid, match=reason):
        store.create_job(validate(body, JobSettings(), home, tmp_path / "shared"), "alice")
    assert counts(engine) == (0, 0)
