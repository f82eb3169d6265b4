"""The Docker job runner's pure parts: the run's container (a server's hardening with a
job's labels and command), the image it starts from, and why a run failed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import yaml

from hub.config.schema import PlatformConfig
from hub.service.jobs.model import output_path, parse_notebook_path
from hub.service.jobs.runners.base import RunSpec, RunStatus
from hub.service.jobs.runners.command import failure_reason
from hub.service.jobs.runners.docker import _parse_time, job_container, observed
from hub.service.jobs.runners.plan import job_plan_choice
from hub.tenancy.checkpoint_store import Checkpoint
from spawner.docker.spec import container_spec
from spawner.plan import make_plan

CONFIG = PlatformConfig.model_validate(
    {"profiles": [{"name": "small", "image": "tenanthub/notebook-cpu:latest",
                   "cpu": {"limit": "2"}, "memory": {"limit": "2Gi"}}]}
)  # fmt: skip
PROFILE = CONFIG.profiles[0]
PLAN = make_plan("vision", PROFILE, "Alice.B", "")


def spec(notebook: str = "a/report.ipynb", kind: str = "papermill", **kw: object) -> RunSpec:
    values: dict[str, object] = {
        "run_id": 12, "job_id": 3, "attempt": 2, "job_name": "r", "tenant": "vision",
        "owner": "Alice.B", "profile": "small", "kind": kind,
        "notebook": parse_notebook_path(notebook, kind), "output": output_path(3, 12), **kw,
    }  # fmt: skip
    return RunSpec(**values)  # type: ignore[arg-type]


def test_the_job_container_is_the_owners_server_container_with_a_jobs_labels() -> None:
    server = container_spec(PLAN, CONFIG.backend.docker, CONFIG.pip)
    got = job_container(PLAN, spec(), CONFIG.backend.docker, CONFIG.pip)
    assert (got.host_config, got.user, got.network, got.image) == (
        server.host_config, server.user, server.network, server.image,
    )  # fmt: skip
    assert got.binds == {v.name: {"bind": v.mount, "mode": "rw"} for v in server.volumes}
    assert got.name == "tenanthub-job-vision-12"
    assert got.labels == {
        "app.kubernetes.io/managed-by": "tenanthub",
        "tenanthub.io/tenant": "vision",
        "tenanthub.io/user": server.labels["tenanthub.io/user"],
        "tenanthub.io/profile": "small",
        "tenanthub.io/job-run": "12",
        "tenanthub.io/job": "3",
        "tenanthub.io/attempt": "2",
    }
    assert got.environment["TENANTHUB_JOB_PARAMETERS"] == "{}"
    assert got.working_dir == "/home/jovyan"


def test_papermill_gets_the_mapped_paths_parameters_and_kernel() -> None:
    run = spec("shared/team/daily.ipynb", parameters={"big": 1e20, "n": 3, "s": "x y"},
               kernel="python3")  # fmt: skip
    command = job_container(PLAN, run, CONFIG.backend.docker, CONFIG.pip).command
    out = "/home/jovyan/.tenanthub/jobs/3/12/output.ipynb"
    assert command[:6] == [
        "sh", "-c", 'mkdir -p "$1" && cd "$2" && shift 2 && exec "$@"', "sh",
        "/home/jovyan/.tenanthub/jobs/3/12", "/home/jovyan/shared/team",
    ]  # fmt: skip
    rest = command[6:]
    assert rest[:5] == ["python", "-m", "papermill", "/home/jovyan/shared/team/daily.ipynb", out]
    assert rest[rest.index("--cwd") + 1] == "/home/jovyan/shared/team"
    assert yaml.safe_load(rest[rest.index("-y") + 1]) == {"big": 1e20, "n": 3, "s": "x y"}
    assert rest[rest.index("-k") + 1] == "python3"
    assert "--log-output" in rest
    plain = job_container(PLAN, spec(), CONFIG.backend.docker, CONFIG.pip).command
    assert "-y" not in plain and "-k" not in plain


def test_a_spark_script_runs_with_python_and_its_parameters_in_the_environment() -> None:
    got = job_container(
        PLAN, spec("etl/job.py", kind="spark", parameters={"day": "mon"}),
        CONFIG.backend.docker, CONFIG.pip,
    )  # fmt: skip
    assert got.command[6:] == ["python", "/home/jovyan/etl/job.py"]
    assert got.environment["TENANTHUB_JOB_PARAMETERS"] == '{"day": "mon"}'
    assert got.environment["PYSPARK_SUBMIT_ARGS"] == (
        "--master local[*] --conf spark.ui.enabled=false pyspark-shell"
    )


def checkpoint(id_: int, base: str, age: int, server: str = "") -> Checkpoint:
    t = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=100 - age)
    return Checkpoint(id_, "Alice.B", server, "vision", "small", base, "n", "ready",
                      f"reg/ckpt:{id_}", "sha256:x", 1, "", t, t, False)  # fmt: skip


def test_a_job_starts_from_the_newest_checkpoint_of_the_owners_servers_in_the_tenant() -> None:
    image = PLAN.image
    older, newer = checkpoint(1, image, age=50), checkpoint(2, image, age=5, server="vision")
    choice = job_plan_choice(PLAN, True, [(older, older), (newer, newer)])
    assert choice.image == "reg/ckpt:2"
    assert job_plan_choice(PLAN, False, [(newer, newer)]).image == image
    assert job_plan_choice(PLAN, True, [(None, None)]).image == image
    # a checkpoint of an older profile image is restored only when a person asks
    stale = checkpoint(3, "tenanthub/notebook-cpu:old", age=1)
    assert job_plan_choice(PLAN, True, [(None, stale)]).image == image
    assert job_plan_choice(PLAN, True, [(older, stale)]).image == "reg/ckpt:1"


PAPERMILL_LOG = """\
Executing:  50%|#####     | 1/2 [00:01<00:01]
\x1b[0;31m---------------------------------------------------------------------------\x1b[0m
Traceback (most recent call last):
  File "/opt/venv/bin/papermill", line 8, in <module>
papermill.exceptions.PapermillExecutionError:
---------------------------------------------------------------------------
Exception encountered at "In [2]":
---------------------------------------------------------------------------
\x1b[0;31mValueError\x1b[0m                                Traceback (most recent call last)
Cell \x1b[0;32mIn[2], line 1\x1b[0m
\x1b[0;31mValueError\x1b[0m: the data is bad
"""


def test_a_failure_is_explained_from_the_log_tail_and_the_exit() -> None:
    assert failure_reason(PAPERMILL_LOG, 1, False) == (
        "the notebook failed in cell In [2]: ValueError: the data is bad"
    )
    assert "out of memory" in failure_reason(PAPERMILL_LOG, 137, True, 2**30)
    assert "1 GiB" in failure_reason("", 137, True, 2**30)
    script = "Traceback (most recent call last):\n  x\nKeyError: 'day'\n"
    assert failure_reason(script, 1, False) == "the run failed (exit code 1): KeyError: 'day'"
    assert failure_reason("", 137, False).startswith("the run was killed (SIGKILL, exit code 137")
    assert failure_reason("just output\n", 3, False) == "the run exited with code 3"


def test_container_states_map_onto_run_states() -> None:
    def no_log() -> str:
        raise AssertionError("the log is read only for a failure")

    assert observed({"Status": "created"}, no_log) == RunStatus("starting")
    assert observed({"Status": "running"}, no_log) == RunStatus("running")
    assert observed({"Status": "exited", "ExitCode": 0}, no_log) == RunStatus("succeeded", 0)
    failed = observed({"Status": "exited", "ExitCode": 1}, lambda: PAPERMILL_LOG)
    assert (failed.state, failed.exit_code) == ("failed", 1)
    assert "ValueError: the data is bad" in failed.reason
    oom = observed({"Status": "exited", "ExitCode": 137, "OOMKilled": True}, lambda: "")
    assert oom.state == "failed" and "out of memory" in oom.reason


def test_docker_times_are_read_with_their_nanoseconds_and_zone() -> None:
    assert _parse_time("2026-12-07T01:02:03.123456789Z") == datetime(
        2026, 12, 7, 1, 2, 3, 123456, tzinfo=UTC
    )
    assert _parse_time("2026-12-07T01:02:03Z") == datetime(2026, 12, 7, 1, 2, 3, tzinfo=UTC)
    assert _parse_time("0001-01-01T00:00:00Z") is None
