"""Pausing and resuming a scheduled job, on real SQLite and PostgreSQL (``db_url``):
migration 0006 adds ``th_jobs.paused`` (existing jobs are not paused) and goes back; a
paused schedule fires no slot, not even through a restart of the store or the
scheduler driving real processes; a resumed one fires from its next slot after the
resume and never the slots that passed while it was paused (whatever its missed-slot
policy); a one-off or a cancelled job cannot be paused; pausing twice changes nothing."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect, text

from hub.config.schema import JobSettings
from hub.service.jobs.model import JobSpec
from hub.service.jobs.scheduler import Scheduler
from hub.service.jobs.store import IllegalTransition, JobStore
from hub.tenancy import db
from hub.tenancy.models import Base
from hub.tenancy.quota import QuotaLimits
from hub.tenancy.seed import TenantSpec
from hub.tenancy.store import TenantStore
from tests.integration.jobrunner import T0, Clock, ProcessRunner

pytestmark = pytest.mark.integration

GRACE = 120.0
SETTINGS = JobSettings(poll_every=5, log_tail_bytes=1024)


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = db.make_engine(db_url)
    db.upgrade(engine)
    spec = TenantSpec("vision", "vision", QuotaLimits(running_jobs=None), None, (), {}, ())
    TenantStore(engine).create_tenant(spec, "test")
    yield engine
    engine.dispose()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(engine: Engine, clock: Clock) -> JobStore:
    return JobStore(engine, clock)


def spec(**kw: Any) -> JobSpec:
    values = {"name": "job", "notebook": "a.ipynb", "tenant": "vision", "profile": "small"}
    return JobSpec.model_validate({**values, **kw})


def hourly(store: JobStore, missed: str = "skip") -> int:
    schedule = {"cron": "0 * * * *", "missed": missed}
    return store.create_job(spec(name=f"hourly-{missed}", schedule=schedule), "alice")[0].id


def slots_of(store: JobStore, job_id: int) -> list[datetime]:
    return sorted(r.slot for r in store.runs(job_id=job_id)[1] if r.slot is not None)


def test_migration_0006_adds_paused_false_for_existing_jobs_and_goes_back(db_url: str) -> None:
    engine = db.make_engine(db_url)
    try:
        db.upgrade(engine, "0005")
        assert "paused" not in {c["name"] for c in inspect(engine).get_columns("th_jobs")}
        with engine.begin() as conn:  # a job stored before the migration
            conn.execute(
                text(
                    "INSERT INTO th_jobs (tenant, owner, name, kind, notebook, parameters, "
                    "profile, timeout, priority, retries, cron, timezone, created_at) VALUES "
                    "('vision', 'alice', 'old', 'papermill', 'a.ipynb', '{}', 'small', 60, 0, "
                    "0, '0 * * * *', 'UTC', :at)"
                ),
                {"at": T0},
            )
        db.upgrade(engine, "0006")
        assert db.current_revision(engine) == "0006"
        with engine.connect() as conn:
            diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        assert [d for d in diffs if "th_jobs" in repr(d)] == []
        old = JobStore(engine).jobs()[1][0]
        assert (old.name, old.paused) == ("old", False)
        cfg = Config()
        cfg.set_main_option("script_location", str(db.MIGRATIONS))
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0005")
        assert "paused" not in {c["name"] for c in inspect(engine).get_columns("th_jobs")}
        assert db.current_revision(engine) == "0005"
    finally:
        engine.dispose()


@pytest.mark.parametrize("missed", ["skip", "run_once"])
def test_a_paused_schedule_fires_nothing_and_resumed_fires_from_the_next_slot_only(
    store: JobStore, clock: Clock, missed: str
) -> None:
    job_id = hourly(store, missed)
    assert len(store.fire_due(clock.set(hours=1, seconds=5), "run_once", GRACE)) == 1  # 13:00

    paused = store.set_paused(job_id, True, now=clock.set(hours=1, minutes=10))
    assert (paused.paused, paused.next_fire_at) == (True, None)
    # 14:00, 15:00 and 16:00 pass (the scheduler ticks on time): nothing fires
    for hour in (2, 3, 4):
        assert store.fire_due(clock.set(hours=hour, seconds=5), "run_once", GRACE) == []

    resumed = store.set_paused(job_id, False, now=clock.set(hours=4, minutes=30))
    assert resumed.paused is False
    assert resumed.next_fire_at == T0 + timedelta(hours=5)  # the next slot after 16:30
    # a tick right after the resume: the slots of the pause are not caught up
    assert store.fire_due(clock.set(hours=4, minutes=30, seconds=1), "run_once", GRACE) == []
    fired = store.fire_due(clock.set(hours=5, seconds=5), "run_once", GRACE)
    assert [r.slot for r in fired] == [T0 + timedelta(hours=5)]
    assert slots_of(store, job_id) == [T0 + timedelta(hours=1), T0 + timedelta(hours=5)]


def test_a_pause_survives_a_restart_of_the_store(
    db_url: str, store: JobStore, clock: Clock
) -> None:
    job_id = hourly(store)
    store.set_paused(job_id, True, now=clock.set(minutes=30))
    restarted = db.make_engine(db_url)
    try:
        again = JobStore(restarted)
        job = again.get_job(job_id)
        assert job is not None and job.paused is True
        assert again.fire_due(T0 + timedelta(hours=3, seconds=5), "run_once", GRACE) == []
    finally:
        restarted.dispose()
    assert slots_of(store, job_id) == []


def test_pausing_twice_changes_nothing_and_resuming_an_active_job_keeps_its_next_slot(
    store: JobStore, clock: Clock
) -> None:
    job_id = hourly(store)
    before = store.get_job(job_id)
    assert before is not None
    same = store.set_paused(job_id, False, now=clock.set(minutes=45))
    assert same == before  # not paused: resuming moves nothing
    first = store.set_paused(job_id, True, now=clock.set(minutes=50))
    second = store.set_paused(job_id, True, now=clock.set(minutes=55))
    assert first == second


def test_a_one_off_or_cancelled_job_cannot_be_paused(store: JobStore, clock: Clock) -> None:
    once, run = store.create_job(spec(name="once"), "alice")
    assert run is not None
    with pytest.raises(IllegalTransition, match="no schedule to pause"):
        store.set_paused(once.id, True)
    assert store.get_job(once.id) == once
    job_id = hourly(store)
    store.cancel_job(job_id, "alice")
    with pytest.raises(IllegalTransition, match="was cancelled"):
        store.set_paused(job_id, False)
    job = store.get_job(job_id)
    assert job is not None and (job.paused, job.next_fire_at) == (False, None)


def test_the_scheduler_starts_no_run_of_a_paused_schedule_and_the_next_slot_after_resume(
    engine: Engine, clock: Clock, tmp_path: Path
) -> None:
    runner = ProcessRunner(tmp_path / "runs")
    try:
        sched = Scheduler(JobStore(engine, clock), runner, SETTINGS, instance="a", clock=clock)
        schedule = {"cron": "*/10 * * * *"}
        job, _ = sched.store.create_job(spec(name="ten", schedule=schedule), "alice")
        sched.store.set_paused(job.id, True, now=clock.set(minutes=5))
        for minute in (10, 20, 30):  # three slots pass while paused: the scheduler ticks
            clock.set(minutes=minute, seconds=1)
            report = sched.tick()
            assert (report.fired, report.started) == ([], [])
        assert runner.starts() == []
        sched.store.set_paused(job.id, False, now=clock.set(minutes=35))
        assert sched.tick().fired == []  # nothing caught up at the resume
        clock.set(minutes=40, seconds=1)
        report = sched.tick()
        assert len(report.fired) == 1 and report.started == report.fired
        deadline = time.monotonic() + 60
        while (run := sched.store.get_run(report.fired[0])) and run.finished_at is None:
            assert time.monotonic() < deadline, "the run did not end within 60 s"
            sched.tick()
            time.sleep(0.05)
        assert run is not None and (run.state, run.slot) == (
            "succeeded", T0 + timedelta(minutes=40),
        )  # fmt: skip
        assert runner.starts() == [run.id]
    finally:
        runner.stop_all()
