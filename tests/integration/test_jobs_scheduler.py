"""The job scheduler driving real processes (``jobrunner.ProcessRunner``) on real SQLite
and PostgreSQL, with an injected clock: runs end succeeded or failed with their exit
code and log, failed ones are retried, a run past its timeout and a cancelled one are
stopped (their process is gone), a restarted scheduler re-attaches to its runs or
fails the ones it cannot find (never starting them again), cron slots fire once across
a restart, and two schedulers on one database start each run once within the quota."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from hub import logs
from hub.config.schema import JobSettings
from hub.service.jobs.model import LOST_REASON, JobSpec
from hub.service.jobs.scheduler import Scheduler
from hub.service.jobs.store import JobStore, Run
from hub.tenancy import db
from hub.tenancy.quota import QuotaLimits
from hub.tenancy.seed import TenantSpec
from hub.tenancy.store import TenantStore
from tests.integration.jobrunner import T0, Clock, ProcessRunner

pytestmark = pytest.mark.integration

SETTINGS = JobSettings(poll_every=5, log_tail_bytes=1024)


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = db.make_engine(db_url)
    db.upgrade(engine)
    tenants = TenantStore(engine)
    for name, running_jobs in (("vision", 2), ("nlp", None), ("frozen", 0)):
        spec = TenantSpec(name, name, QuotaLimits(running_jobs=running_jobs), None, (), {}, ())
        tenants.create_tenant(spec, "test")
    yield engine
    engine.dispose()


@pytest.fixture
def runner(tmp_path: Path) -> Iterator[ProcessRunner]:
    runner = ProcessRunner(tmp_path / "runs")
    yield runner
    runner.stop_all()


@pytest.fixture
def clock() -> Clock:
    return Clock()


def scheduler(engine: Engine, runner: ProcessRunner, clock: Clock, instance: str = "a"):
    return Scheduler(JobStore(engine, clock), runner, SETTINGS, instance=instance, clock=clock)


def submit(sched: Scheduler, **kw: Any) -> int:
    values = {"name": "job", "notebook": "a.ipynb", "tenant": "nlp", "profile": "small"}
    job, run = sched.store.create_job(JobSpec.model_validate({**values, **kw}), "alice")
    return run.id if run is not None else job.id


def until_final(sched: Scheduler, run_id: int) -> Run:
    """Tick until the run has ended (the processes are real: they take real time)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        sched.tick()
        run = sched.store.get_run(run_id)
        assert run is not None
        if run.finished_at is not None:
            return run
        time.sleep(0.05)
    raise AssertionError(f"run {run_id} did not end within 60 s")


def test_a_queued_run_starts_runs_and_succeeds_with_its_log(
    engine: Engine, runner: ProcessRunner, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="tenanthub.jobs")
    sched = scheduler(engine, runner, clock)
    run_id = submit(sched, parameters={"say": "parameters arrived"})
    report = sched.tick()
    assert report.started == [run_id]
    run = until_final(sched, run_id)
    assert (run.state, run.exit_code, run.runner, run.handle) == (
        "succeeded", 0, "test-process", str(run_id),
    )  # fmt: skip
    assert "parameters arrived" in run.log_tail
    assert run.reason == "the notebook ran to the end"
    assert runner.starts() == [run_id]
    # its end is one event line (hub.logs) with tenant, user, duration and outcome
    [line] = [r for r in caplog.records if getattr(r, logs.EVENT_ATTR, None)]
    fields = getattr(line, logs.EVENT_ATTR)
    assert (fields["event"], fields["outcome"], fields["run"], fields["exit_code"]) == (
        "job_run", "succeeded", run_id, 0,
    )  # fmt: skip
    assert fields["tenant"] == run.tenant and fields["user"] == run.owner
    assert fields["duration_ms"] >= 0


def test_a_failing_run_is_failed_with_its_exit_code_and_retried_while_retries_remain(
    engine: Engine, runner: ProcessRunner, clock: Clock
) -> None:
    sched = scheduler(engine, runner, clock)
    first = submit(sched, retries=1, parameters={"exit": 3, "say": "it broke"})
    failed = until_final(sched, first)
    assert (failed.state, failed.exit_code, failed.reason) == (
        "failed", 3, "the run exited with code 3",
    )  # fmt: skip
    assert "it broke" in failed.log_tail
    retry = [r for r in sched.store.runs(job_id=failed.job_id)[1] if r.id != first]
    assert [(r.attempt, r.retry_of) for r in retry] == [(2, first)]  # queued in the same tick
    second = until_final(sched, retry[0].id)
    assert second.state == "failed"
    assert sched.store.runs(job_id=failed.job_id)[0] == 2  # no third attempt
    assert runner.starts() == [first, second.id]


def test_a_run_the_runner_cannot_start_fails_with_the_runners_reason(
    engine: Engine, runner: ProcessRunner, clock: Clock
) -> None:
    sched = scheduler(engine, runner, clock)
    run_id = submit(sched, parameters={"refuse": "no image for profile small"})
    report = sched.tick()
    run = sched.store.get_run(run_id)
    assert run is not None and run.state == "failed"
    assert run.reason == "the run could not start: no image for profile small"
    assert report.finished == {run_id: "failed"} and runner.starts() == []


def test_a_run_past_its_timeout_is_stopped_as_timed_out(
    engine: Engine, runner: ProcessRunner, clock: Clock
) -> None:
    sched = scheduler(engine, runner, clock)
    run_id = submit(sched, timeout=60, parameters={"sleep": 300})
    sched.tick()
    assert runner.alive(str(run_id))
    clock.advance(seconds=59)
    sched.tick()
    assert sched.store.get_run(run_id).state == "running"  # type: ignore[union-attr]
    clock.advance(seconds=1)
    sched.tick()
    run = sched.store.get_run(run_id)
    assert run is not None and run.state == "timed_out"
    assert run.reason == "stopped after its timeout of 60 s"
    assert not runner.alive(str(run_id))


def test_cancelling_a_running_run_stops_its_process_and_is_not_retried(
    engine: Engine, runner: ProcessRunner, clock: Clock
) -> None:
    sched = scheduler(engine, runner, clock)
    run_id = submit(sched, retries=2, parameters={"sleep": 300})
    sched.tick()
    assert runner.alive(str(run_id))
    sched.store.cancel_run(run_id, "alice")
    report = sched.tick()
    run = sched.store.get_run(run_id)
    assert run is not None and (run.state, run.reason) == ("cancelled", "cancelled by alice")
    assert not runner.alive(str(run_id)) and report.retried == []


def test_with_a_quota_of_two_the_third_run_waits_until_one_ends(
    engine: Engine, runner: ProcessRunner, clock: Clock
) -> None:
    sched = scheduler(engine, runner, clock)
    first, second, third = (
        submit(sched, tenant="vision", parameters={"sleep": 300}) for _ in range(3)
    )
    assert sched.tick().started == [first, second]
    assert sched.tick().started == []
    sched.store.cancel_run(first, "alice")
    assert sched.tick().started == [third]


def test_a_restarted_scheduler_reattaches_to_its_runs_and_fails_the_ones_it_cannot_find(
    engine: Engine, runner: ProcessRunner, clock: Clock, db_url: str, tmp_path: Path
) -> None:
    sched = scheduler(engine, runner, clock)
    kept = submit(sched, parameters={"sleep": 1})
    lost = submit(sched, parameters={"sleep": 300})
    sched.tick()
    assert set(runner.starts()) == {kept, lost}
    # the service dies; the second run's process and its traces go with the machine
    runner.cancel(str(lost))
    for path in (runner.root / str(lost)).iterdir():
        path.unlink()
    (runner.root / str(lost)).rmdir()
    del sched

    restarted_engine = db.make_engine(db_url)
    try:
        again = scheduler(restarted_engine, ProcessRunner(runner.root), clock)
        report = again.tick()
        assert sorted(report.adopted) == sorted([kept, lost]) and report.lost == [lost]
        gone = again.store.get_run(lost)
        assert gone is not None and (gone.state, gone.reason) == ("failed", LOST_REASON)
        done = until_final(again, kept)
        assert done.state == "succeeded"  # watched to its end by the new scheduler
    finally:
        restarted_engine.dispose()
    assert sorted(runner.starts()) == sorted([kept, lost])  # nothing started twice
    assert JobStore(engine).runs(state="queued")[0] == 0  # and nothing queued again


def test_cron_slots_fire_once_across_a_scheduler_restart(
    engine: Engine, runner: ProcessRunner, clock: Clock, db_url: str
) -> None:
    first = scheduler(engine, runner, clock)
    job_id = submit(first, schedule={"cron": "*/5 * * * *"})
    clock.advance(minutes=5, seconds=2)
    assert len(first.tick().fired) == 1
    restarted_engine = db.make_engine(db_url)
    try:
        again = scheduler(restarted_engine, runner, clock)
        assert again.tick().fired == []  # same instant, new scheduler object: nothing again
        clock.advance(minutes=5)
        assert len(again.tick().fired) == 1
        clock.advance(minutes=5)
        assert len(first.tick().fired) == 1  # the old object again: still once per slot
    finally:
        restarted_engine.dispose()
    runs = JobStore(engine).runs(job_id=job_id)[1]
    assert sorted(r.slot for r in runs) == [T0 + timedelta(minutes=m) for m in (5, 10, 15)]
    assert len(runner.starts()) == len(set(runner.starts())) == 3


def test_two_schedulers_on_one_database_fire_and_start_each_run_once_within_the_quota(
    engine: Engine, runner: ProcessRunner, db_url: str
) -> None:
    setup = JobStore(engine)
    for i in range(6):
        for tenant in ("vision", "nlp"):
            spec = {"name": f"{tenant}{i}", "notebook": "a.ipynb", "tenant": tenant,
                    "profile": "small", "schedule": {"cron": "* * * * *"}}  # fmt: skip
            setup.create_job(JobSpec.model_validate(spec), "alice", now=T0)
    engines = [db.make_engine(db_url) for _ in range(2)]
    step = threading.Barrier(2, timeout=60)
    active_seen: list[int] = []
    instants = [T0 + timedelta(seconds=30 * k) for k in range(1, 9)]  # 4 minutes

    def instance(k: int) -> Callable[[], None]:
        def work() -> None:
            clock = Clock()
            sched = scheduler(engines[k], ProcessRunner(runner.root), clock, f"instance-{k}")
            for now in instants:
                clock.now = now
                step.wait()
                sched.tick()
                step.wait()
                if k == 0:
                    counted = JobStore(engine).runs(tenant="vision", state="starting")[0]
                    counted += JobStore(engine).runs(tenant="vision", state="running")[0]
                    active_seen.append(counted)

        return work

    try:
        together(instance(0), instance(1))
    finally:
        for e in engines:
            e.dispose()
    runs = setup.runs(limit=1000)[1]
    assert Counter(Counter((r.job_id, r.slot) for r in runs).values()) == {1: 48}  # 12 x 4
    starts = runner.starts()
    assert len(starts) == len(set(starts))  # no run started twice
    # which instance claims which run is up to the race (one may win every claim): each run
    # is claimed by one of the two, never by both, and the quota held throughout
    assert {r.instance for r in runs if r.instance} <= {"instance-0", "instance-1"}
    assert max(active_seen) <= 2


def together(*work: Callable[[], None]) -> None:
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
    assert not any(t.is_alive() for t in threads), "a scheduler thread hung"
    if errors:
        raise errors[0]


async def test_the_service_loop_ticks_in_a_worker_thread_until_stopped(
    engine: Engine, runner: ProcessRunner
) -> None:
    settings = JobSettings(poll_every=1)
    sched = Scheduler(JobStore(engine), runner, settings, instance="loop")
    run_id = submit(sched, parameters={"say": "from the loop"})
    stop = asyncio.Event()
    loop = asyncio.create_task(sched.run(stop))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        run = await asyncio.to_thread(sched.store.get_run, run_id)
        if run is not None and run.finished_at is not None:
            break
        await asyncio.sleep(0.1)
    stop.set()
    await asyncio.wait_for(loop, 30)
    assert run is not None and run.state == "succeeded" and "from the loop" in run.log_tail


async def test_a_woken_loop_starts_a_run_at_once_and_sees_it_end_without_waiting_poll_every(
    engine: Engine, runner: ProcessRunner
) -> None:
    """poll_every is an hour: the API's wake() starts the run, and the short poll while a
    run is watched records its end, both well within the hour."""
    sched = Scheduler(JobStore(engine), runner, JobSettings(poll_every=3600), instance="wake")
    stop = asyncio.Event()
    loop = asyncio.create_task(sched.run(stop))
    await asyncio.sleep(0.5)  # the first tick has run: the loop waits for the hour now
    run_id = submit(sched, parameters={"say": "woken", "sleep": 1})
    sched.wake()
    deadline = time.monotonic() + 30
    run = None
    while time.monotonic() < deadline:
        run = await asyncio.to_thread(sched.store.get_run, run_id)
        if run is not None and run.finished_at is not None:
            break
        await asyncio.sleep(0.1)
    stop.set()
    await asyncio.wait_for(loop, 30)
    assert run is not None and run.state == "succeeded", run
    assert "woken" in run.log_tail


def test_hundreds_of_schedules_due_in_the_same_minute_all_fire_in_one_tick(
    engine: Engine, runner: ProcessRunner, clock: Clock
) -> None:
    sched = scheduler(engine, runner, clock)
    for i in range(450):  # more than two batches; a quota of 0 keeps them queued
        submit(sched, name=f"j{i}", tenant="frozen", schedule={"cron": "0 13 * * *"})
    clock.advance(hours=1, seconds=3)
    report = sched.tick()
    assert len(report.fired) == 450 and report.started == []
    assert sched.tick().fired == []
