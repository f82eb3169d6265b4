"""The job scheduler: one loop in the platform service that turns the queue into runs.

Each tick (``jobs.poll_every`` seconds), in a worker thread:

1. **recover**: adopt active runs whose scheduler is gone (lease expired) and, on the
   first tick, the ones this instance had before it restarted; the runner re-attaches
   each (``find``) or it is failed with ``model.LOST_REASON``: never lost, never
   silently started again;
2. renew the leases of the runs this instance watches;
3. **fire** the cron slots due by now (the store inserts each slot once);
4. **watch** this instance's runs: stop cancelled ones, stop the ones past their
   timeout (``timed_out``), poll the others and record how they ended (with the tail
   of their log); a failed run with retries left is queued again by the store;
5. **dispatch**: claim queued runs (priority, then FIFO, within each tenant's
   ``running_jobs``) and start them through the runner.

Several instances may share one database: the store's locks make each slot fire once
and each run start once, and every active run is watched by exactly one instance.
The clock is injected (``clock()`` returns an aware UTC datetime), as in the usage
sampler, so tests run ticks at chosen times.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

from hub import logs
from hub.config.schema import JobSettings
from hub.service import metrics
from hub.service.jobs.model import LOST_REASON, RunState, parse_notebook_path
from hub.service.jobs.runners.base import Handle, Runner, RunSpec, RunStatus
from hub.service.jobs.store import IllegalTransition, Job, JobStore, NotOwned, Run

log = logging.getLogger("tenanthub.jobs")

Clock = Callable[[], datetime]

#: due jobs fired per transaction: short locks, and 1000 schedules due in one minute
#: still fire in one tick
FIRE_BATCH = 200
#: seconds between ticks while this instance watches runs: a run's end is recorded (and
#: the next queued run started) within this, whatever ``poll_every`` is
ACTIVE_POLL = 0.5


def utcnow() -> datetime:
    return datetime.now(UTC)


def run_spec(run: Run, job: Job) -> RunSpec:
    """What the runner is given for one attempt of ``job``."""
    kind: Literal["papermill", "spark"] = "spark" if job.kind == "spark" else "papermill"
    return RunSpec(
        run_id=run.id, job_id=job.id, attempt=run.attempt, job_name=job.name,
        tenant=job.tenant, owner=job.owner, profile=job.profile, kind=kind,
        notebook=parse_notebook_path(job.notebook, kind), output=run.output,
        parameters=dict(job.parameters), kernel=job.kernel, timeout=job.timeout,
    )  # fmt: skip


def timed_out(run: Run, job: Job, now: datetime) -> bool:
    """A run's timeout counts from its claim: waiting for an image is part of it."""
    began = run.claimed_at or run.queued_at
    return now >= began + timedelta(seconds=job.timeout)


def ended_reason(status: RunStatus) -> str:
    """The run's exit reason as a person reads it, when the runner gave none."""
    if status.reason:
        return status.reason
    if status.state == "succeeded":
        return "the notebook ran to the end"
    if status.exit_code is not None:
        return f"the run exited with code {status.exit_code}"
    return f"the run ended {status.state}"


@dataclass
class TickReport:
    """What one tick did (logged; tests read it)."""

    at: datetime
    adopted: list[int] = field(default_factory=list)
    lost: list[int] = field(default_factory=list)
    fired: list[int] = field(default_factory=list)
    started: list[int] = field(default_factory=list)
    finished: dict[int, str] = field(default_factory=dict)  # run id -> final state
    retried: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    watching: int = 0  # runs this instance watches after the tick (started or running)


class Scheduler:
    def __init__(
        self,
        store: JobStore,
        runner: Runner,
        settings: JobSettings,
        instance: str | None = None,
        clock: Clock = utcnow,
        max_starts_per_tick: int = 200,
    ) -> None:
        self.store = store
        self.runner = runner
        self.settings = settings
        #: stable across restarts of this service (its own runs are adopted at once when
        #: it comes back); two instances on one host need two names
        self.instance = instance or socket.gethostname()
        self.clock = clock
        self.every = float(settings.poll_every)
        #: a slot this late when seen was missed (no scheduler ran), not just slow to fire
        self.grace = max(120.0, 4 * self.every)
        #: how long another instance waits before adopting this one's runs
        self.lease = timedelta(seconds=max(60.0, 6 * self.every))
        self.max_starts = max_starts_per_tick
        self.max_fire_batches = 20
        self._first = True
        self._wake: asyncio.Event | None = None

    def wake(self) -> None:
        """Tick now instead of at the next interval (a run was queued or cancelled): the
        API calls this, so a submitted run starts within a tick's time, not ``poll_every``.
        Safe from the event loop only (the API's handlers)."""
        if self._wake is not None:
            self._wake.set()

    # ------------------------------------------------------------------ one tick

    def tick(self) -> TickReport:
        """One pass of recover, renew, fire, watch, dispatch (blocking: a worker thread)."""
        now = self.clock()
        report = TickReport(now)
        self._recover(report)
        self._first = False
        self.store.renew(self.instance, self.lease, now)
        for _ in range(self.max_fire_batches):  # a batch is FIRE_BATCH due jobs
            fired = self.store.fire_due(now, self.settings.missed_slots, self.grace, FIRE_BATCH)
            report.fired += [r.id for r in fired]
            if not fired:
                break
        watched = self.store.watched(self.instance)
        for run, job in watched:
            self._guard(report, run, self._watch, run, job, report)
        self._dispatch(report)
        report.watching = len(watched) - len(report.finished) + len(report.started)
        return report

    def _guard(
        self, report: TickReport, run: Run, step: Callable[..., None], *args: object
    ) -> None:
        """Run one step for one run; a runner or race error is logged, the tick goes on."""
        try:
            step(*args)
        except (NotOwned, IllegalTransition) as exc:  # another instance or a cancel won
            log.info("job run %d: %s", run.id, exc)
        except Exception as exc:
            report.errors.append(f"run {run.id}: {type(exc).__name__}: {exc}")
            log.warning("job run %d: %s: %s", run.id, type(exc).__name__, exc)

    def _recover(self, report: TickReport) -> None:
        adopted = self.store.adopt(self.instance, self.lease, own=self._first, now=self.clock())
        for run, job in adopted:
            report.adopted.append(run.id)
            self._guard(report, run, self._reattach, run, job, report)

    def _reattach(self, run: Run, job: Job, report: TickReport) -> None:
        handle = self.runner.find(run_spec(run, job))
        if handle is None:
            log.warning("job run %d: %s; marked failed", run.id, LOST_REASON)
            self._finish(run, RunState.FAILED, LOST_REASON, None, report, retry=False)
            report.lost.append(run.id)
        elif handle != run.handle:
            self.store.started(run.id, self.instance, self.runner.name, handle)

    def _watch(self, run: Run, job: Job, report: TickReport) -> None:
        handle = run.handle
        if handle is None:  # claimed, but its start was never recorded (the write failed)
            handle = self.runner.find(run_spec(run, job))
            if handle is None and run.cancel_requested:
                self._finish(run, RunState.CANCELLED, "cancelled", None, report, retry=False)
                return
            if handle is None:
                self._finish(run, RunState.FAILED, LOST_REASON, None, report, retry=False)
                return
            self.store.started(run.id, self.instance, self.runner.name, handle)
        if run.cancel_requested:
            self.runner.cancel(handle)
            by = f" by {run.cancelled_by}" if run.cancelled_by else ""
            self._finish(run, RunState.CANCELLED, f"cancelled{by}", handle, report, retry=False)
        elif timed_out(run, job, self.clock()):
            self.runner.cancel(handle)
            reason = f"stopped after its timeout of {job.timeout} s"
            self._finish(run, RunState.TIMED_OUT, reason, handle, report)
        else:
            self._observe(run, handle, self.runner.poll(handle), report)

    def _observe(self, run: Run, handle: Handle, status: RunStatus, report: TickReport) -> None:
        if status.finished:
            state = RunState(status.state)
            self._finish(run, state, ended_reason(status), handle, report, status.exit_code)
        elif status.state == "running" and run.state == RunState.STARTING:
            self.store.running(run.id, self.instance, now=self.clock())

    def _finish(
        self,
        run: Run,
        state: RunState,
        reason: str,
        handle: Handle | None,
        report: TickReport,
        exit_code: int | None = None,
        retry: bool = True,
    ) -> None:
        done = self.store.finish(
            run.id, self.instance, state, reason, exit_code=exit_code,
            log_tail=self._tail(handle) if handle else "", retry=retry, now=self.clock(),
        )  # fmt: skip
        report.finished[run.id] = state.value
        if done.retry is not None:
            report.retried.append(done.retry.id)
        log.info("job run %d (job %d) %s: %s", run.id, run.job_id, state.value, reason)
        began = run.started_at or run.queued_at
        logs.event(
            log, "job_run", state.value, tenant=run.tenant, user=run.owner,
            duration_s=(self.clock() - began).total_seconds() if began else None,
            job=run.job_id, run=run.id, exit_code=exit_code,
            level=logging.INFO if state.value == "succeeded" else logging.WARNING,
        )  # fmt: skip

    def _tail(self, handle: Handle) -> str:
        """The end of the run's log, at most ``log_tail_bytes`` (whole characters)."""
        limit = self.settings.log_tail_bytes
        try:
            text = self.runner.logs(handle, limit)
        except Exception as exc:
            return f"(the log could not be read: {exc})"
        data = text.encode()[-limit:]
        return data.decode(errors="ignore")

    def _dispatch(self, report: TickReport) -> None:
        for _ in range(self.max_starts):
            claimed = self.store.claim(self.instance, self.lease, now=self.clock())
            if claimed is None:
                return
            run, job = claimed
            self._guard(report, run, self._start, run, job, report)

    def _start(self, run: Run, job: Job, report: TickReport) -> None:
        try:
            handle = self.runner.start(run_spec(run, job))
        except Exception as exc:
            reason = f"the run could not start: {exc}"
            self._finish(run, RunState.FAILED, reason, None, report)
            return
        run = self.store.started(run.id, self.instance, self.runner.name, handle)
        report.started.append(run.id)
        metrics.observe_queue_wait(run.tenant, run.queued_at, run.claimed_at)
        self._observe(run, handle, self.runner.poll(handle), report)  # a quick run: no wait

    # ------------------------------------------------------------------ the loop

    async def run(self, stop: asyncio.Event) -> None:
        """Tick every ``poll_every`` seconds (from tick start; every ``ACTIVE_POLL`` while
        runs are watched) until ``stop`` is set; ``wake()`` starts the next tick at once."""
        log.info(
            "job scheduler %s: every %gs, runner %s", self.instance, self.every, self.runner.name
        )
        self._wake = wake = asyncio.Event()
        while not stop.is_set():
            started = time.monotonic()
            wake.clear()
            interval = self.every
            try:
                report = await asyncio.to_thread(self.tick)
            except Exception as exc:  # DB unreachable: try again next tick
                log.warning("job scheduler tick failed (%s: %s)", type(exc).__name__, exc)
            else:
                if report.fired or report.started or report.finished or report.adopted:
                    log.info(
                        "job scheduler: %d fired, %d started, %d ended, %d adopted",
                        len(report.fired), len(report.started), len(report.finished),
                        len(report.adopted),
                    )  # fmt: skip
                if report.watching > 0:
                    interval = min(interval, ACTIVE_POLL)
            wait = max(0.0, interval - (time.monotonic() - started))
            stopped = asyncio.ensure_future(stop.wait())
            woken = asyncio.ensure_future(wake.wait())
            try:
                await asyncio.wait(
                    {stopped, woken}, timeout=wait, return_when=asyncio.FIRST_COMPLETED
                )
            finally:
                for waiter in (stopped, woken):
                    waiter.cancel()
