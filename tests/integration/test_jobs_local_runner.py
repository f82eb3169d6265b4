"""The local runner with real papermill runs, driven by the real scheduler on SQLite:
parameters reach the notebook and the output notebook lands in the owner's home; a
failing cell fails the run with the cell's error and keeps the partial output; cancel
and timeout stop papermill *and* its kernel; a restarted service (a new runner object)
re-attaches to a running run; a notebook gone or leading outside the home is refused
with a reason; the run does not see the service's secrets; a pyspark script runs
``local[*]``."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from hub.config.schema import JobSettings
from hub.service.jobs.model import JobSpec
from hub.service.jobs.runners.local import LocalRunner, process_start_time
from hub.service.jobs.scheduler import Scheduler
from hub.service.jobs.store import JobStore, Run
from hub.tenancy import db
from hub.tenancy.quota import QuotaLimits
from hub.tenancy.seed import TenantSpec
from hub.tenancy.store import TenantStore
from spawner.plan import LocalPaths, local_paths
from tests.integration.notebooks import executed_cells, outputs_text, write_notebook

pytestmark = pytest.mark.integration

SETTINGS = JobSettings(poll_every=5, log_tail_bytes=65536)
OWNER, TENANT = "alice", "nlp"


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = db.make_engine(f"sqlite:///{tmp_path / 'platform.sqlite'}")
    db.upgrade(engine)
    spec = TenantSpec(TENANT, TENANT, QuotaLimits(), None, (), {}, ())
    TenantStore(engine).create_tenant(spec, "test")
    yield engine
    engine.dispose()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def folders(data_dir: Path) -> LocalPaths:
    paths = local_paths(data_dir, TENANT, OWNER)
    paths.home.mkdir(parents=True)
    paths.shared.mkdir(parents=True)
    return paths


@pytest.fixture
def runner(data_dir: Path) -> Iterator[LocalRunner]:
    runner = LocalRunner(data_dir)
    yield runner
    root = data_dir / "jobs" / "runs"
    for folder in root.iterdir() if root.exists() else ():
        runner.cancel(folder.name)


def make_scheduler(engine: Engine, runner: LocalRunner, clock: Clock) -> Scheduler:
    return Scheduler(JobStore(engine, clock), runner, SETTINGS, instance="test", clock=clock)


def submit(sched: Scheduler, notebook: str, **kw: Any) -> Run:
    values = {"name": "report", "notebook": notebook, "tenant": TENANT, "profile": "small"}
    _job, run = sched.store.create_job(JobSpec.model_validate({**values, **kw}), OWNER)
    assert run is not None
    return run


def tick_until(sched: Scheduler, run_id: int, done: Any, limit: float = 120) -> Run:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        sched.tick()
        run = sched.store.get_run(run_id)
        assert run is not None
        if done(run):
            return run
        time.sleep(0.2)
    raise AssertionError(f"run {run_id} not there within {limit} s: {sched.store.get_run(run_id)}")


def finished(run: Run) -> bool:
    return run.finished_at is not None


def output_of(folders: LocalPaths, run: Run) -> Path:
    return folders.home.joinpath(*run.output.parts)


def wait_gone(pids: list[int], limit: float = 15) -> list[int]:
    deadline = time.monotonic() + limit
    alive = pids
    while alive and time.monotonic() < deadline:
        alive = [p for p in alive if process_start_time(p) is not None]
        time.sleep(0.2)
    return alive


def test_a_papermill_run_gets_its_parameters_and_writes_its_output_notebook(
    engine: Engine, runner: LocalRunner, folders: LocalPaths
) -> None:
    write_notebook(
        folders.home / "analysis" / "report.ipynb",
        "rows = 1\nlabel = 'default'",
        "print(f'rows={rows * 2} label={label}')",
        "open('made-by-job.txt', 'w').write(label)",
    )
    sched = make_scheduler(engine, runner, Clock())
    run = submit(sched, "analysis/report.ipynb", parameters={"rows": 21, "label": "from the job"})
    run = tick_until(sched, run.id, finished)
    assert (run.state, run.exit_code, run.runner) == ("succeeded", 0, "local"), run.reason
    output = output_of(folders, run)
    assert output == folders.home / ".tenanthub" / "jobs" / str(run.job_id) / str(run.id) / (
        "output.ipynb"
    )
    text = outputs_text(output)
    assert "rows=42 label=from the job" in text
    assert "rows = 21" in text  # papermill's injected-parameters cell
    # the notebook's folder is its working directory
    assert (folders.home / "analysis" / "made-by-job.txt").read_text() == "from the job"
    assert "rows=42" in run.log_tail  # --log-output: cell output in the run's log


def test_a_failing_cell_fails_the_run_with_its_error_and_keeps_the_partial_output(
    engine: Engine, runner: LocalRunner, folders: LocalPaths
) -> None:
    write_notebook(
        folders.home / "broken.ipynb",
        "divisor = 1",
        "print('before the failure')",
        "1 / divisor",
        "print('never printed')",
    )
    sched = make_scheduler(engine, runner, Clock())
    run = submit(sched, "broken.ipynb", parameters={"divisor": 0})
    run = tick_until(sched, run.id, finished)
    assert run.state == "failed"
    assert run.exit_code == 1
    assert "ZeroDivisionError: division by zero" in run.reason, run.reason
    assert "cell" in run.reason
    output = output_of(folders, run)
    text = outputs_text(output)
    assert "before the failure" in text
    assert "never printed" in text  # the source is kept ...
    assert executed_cells(output)[-1] is None  # ... but the cell after the failure never ran


def test_cancel_stops_papermill_and_its_kernel(
    engine: Engine, runner: LocalRunner, folders: LocalPaths
) -> None:
    write_notebook(
        folders.home / "slow.ipynb",
        "seconds = 600",
        "import os, time\nopen('kernel.pid', 'w').write(str(os.getpid()))\ntime.sleep(seconds)",
    )
    sched = make_scheduler(engine, runner, Clock())
    run = submit(sched, "slow.ipynb")
    run = tick_until(sched, run.id, lambda r: (folders.home / "kernel.pid").exists())
    kernel = int((folders.home / "kernel.pid").read_text())
    assert run.handle is not None
    papermill = int((runner.root / run.handle / "pid").read_text().split()[0])
    sched.store.cancel_run(run.id, OWNER)
    run = tick_until(sched, run.id, finished)
    assert run.state == "cancelled"
    assert wait_gone([papermill, kernel]) == [], "the run's processes outlived the cancel"


def test_a_run_past_its_timeout_is_stopped_as_timed_out(
    engine: Engine, runner: LocalRunner, folders: LocalPaths
) -> None:
    write_notebook(folders.home / "slow.ipynb", "x = 1", "import time\ntime.sleep(600)")
    clock = Clock()
    sched = make_scheduler(engine, runner, clock)
    run = submit(sched, "slow.ipynb", timeout=60)
    run = tick_until(sched, run.id, lambda r: r.state == "running")
    assert run.handle is not None
    pid = int((runner.root / run.handle / "pid").read_text().split()[0])
    clock.now += timedelta(seconds=61)
    run = tick_until(sched, run.id, finished)
    assert run.state == "timed_out"
    assert "timeout of 60 s" in run.reason
    assert wait_gone([pid]) == []


def test_a_restarted_service_reattaches_to_a_running_run_and_sees_it_end(
    engine: Engine, data_dir: Path, runner: LocalRunner, folders: LocalPaths
) -> None:
    write_notebook(
        folders.home / "wait.ipynb",
        "marker = 'go'",
        "import os, time\nwhile not os.path.exists(marker): time.sleep(0.1)\nprint('released')",
    )
    clock = Clock()
    sched = make_scheduler(engine, runner, clock)
    run = submit(sched, "wait.ipynb")
    run = tick_until(sched, run.id, lambda r: r.state == "running")
    # the service restarts: new runner and scheduler objects, the same instance name
    again = make_scheduler(engine, LocalRunner(data_dir), clock)
    report = again.tick()
    assert report.adopted == [run.id] and report.lost == []
    assert again.store.get_run(run.id).state == "running"  # type: ignore[union-attr]
    (folders.home / "go").touch()
    run = tick_until(again, run.id, finished)
    assert run.state == "succeeded", run.reason
    assert "released" in run.log_tail


def test_a_notebook_gone_or_leading_outside_the_home_fails_the_start_with_a_reason(
    engine: Engine, runner: LocalRunner, folders: LocalPaths, tmp_path: Path
) -> None:
    sched = make_scheduler(engine, runner, Clock())
    gone = submit(sched, "deleted.ipynb")
    gone = tick_until(sched, gone.id, finished)
    assert gone.state == "failed"
    assert "deleted.ipynb is no longer in your home" in gone.reason
    outside = write_notebook(tmp_path / "elsewhere" / "secret.ipynb", "x = 1", "print(x)")
    (folders.home / "link.ipynb").symlink_to(outside)
    escaped = submit(sched, "link.ipynb")
    escaped = tick_until(sched, escaped.id, finished)
    assert escaped.state == "failed"
    assert "leads outside your home" in escaped.reason
    assert not (runner.root / str(escaped.id) / "pid").exists()  # nothing was started


def test_a_shared_notebook_runs_and_its_output_goes_to_the_owners_home(
    engine: Engine, runner: LocalRunner, folders: LocalPaths
) -> None:
    write_notebook(folders.shared / "team" / "weekly.ipynb", "week = 0", "print('week', week)")
    sched = make_scheduler(engine, runner, Clock())
    run = submit(sched, "shared/team/weekly.ipynb", parameters={"week": 48})
    run = tick_until(sched, run.id, finished)
    assert run.state == "succeeded", run.reason
    assert "week 48" in outputs_text(output_of(folders, run))


def test_the_run_does_not_see_the_services_secrets(
    engine: Engine,
    runner: LocalRunner,
    folders: LocalPaths,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", "service-secret-token")
    monkeypatch.setenv("TENANTHUB_DATASETS_KEYS", "fernet-key-material")
    write_notebook(
        folders.home / "env.ipynb",
        "x = 1",
        "import os, json\nopen('env.json', 'w').write(json.dumps(dict(os.environ)))",
    )
    sched = make_scheduler(engine, runner, Clock())
    run = submit(sched, "env.ipynb")
    run = tick_until(sched, run.id, finished)
    assert run.state == "succeeded", run.reason
    env = json.loads((folders.home / "env.json").read_text())
    assert "service-secret-token" not in json.dumps(env)
    assert "fernet-key-material" not in json.dumps(env)
    assert env["HOME"] == str(folders.home)
    assert env["TENANTHUB_JOB_RUN_ID"] == str(run.id)
    assert os.environ["JUPYTERHUB_API_TOKEN"] == "service-secret-token"


def test_a_pyspark_script_runs_locally_with_its_parameters(
    engine: Engine, runner: LocalRunner, folders: LocalPaths
) -> None:
    script = folders.home / "count.py"
    script.write_text(
        "import json, os\n"
        "from pyspark.sql import SparkSession\n"
        "p = json.loads(os.environ['TENANTHUB_JOB_PARAMETERS'])\n"
        "spark = SparkSession.builder.appName('tenanthub-test').getOrCreate()\n"
        "print('master', spark.sparkContext.master)\n"
        "print('count', spark.range(p['n']).count())\n"
        "spark.stop()\n"
    )
    sched = make_scheduler(engine, runner, Clock())
    run = submit(sched, "count.py", kind="spark", parameters={"n": 1234})
    run = tick_until(sched, run.id, finished, limit=240)
    assert run.state == "succeeded", f"{run.reason}\n{run.log_tail}"
    assert "master local[*]" in run.log_tail
    assert "count 1234" in run.log_tail
