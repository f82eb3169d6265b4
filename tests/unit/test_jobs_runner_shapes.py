"""What every runner executes (papermill argv, environment, failure reasons) and the
Kubernetes runner's Job manifest and status reading, as plain data."""

from __future__ import annotations

import json
from pathlib import PurePosixPath
from typing import Any

import yaml

from hub.config.schema import KubernetesBackendSettings, PlatformConfig
from hub.service.jobs.model import output_path, parse_notebook_path
from hub.service.jobs.runners.base import RunSpec
from hub.service.jobs.runners.command import command, environment, exit_meaning, failure_reason
from hub.service.jobs.runners.kubernetes import job_manifest, job_status, paths_in_pod
from spawner.kubernetes.pss import restricted_violations
from spawner.plan import make_plan

PAPERMILL_FAILURE = """\
Executing:  50%|█████     | 1/2 [00:01<00:00]
\x1b[31m---------------------------------------------------------------------------\x1b[0m
Traceback (most recent call last):
  File "/opt/venv/bin/papermill", line 8, in <module>
papermill.exceptions.PapermillExecutionError:
---------------------------------------------------------------------------
Exception encountered at "In [3]":
---------------------------------------------------------------------------
ZeroDivisionError                         Traceback (most recent call last)
Cell In[3], line 1
----> 1 1 / divisor

ZeroDivisionError: division by zero
"""


def spec(**kw: Any) -> RunSpec:
    values: dict[str, Any] = {
        "run_id": 7, "job_id": 3, "attempt": 1, "job_name": "daily", "tenant": "vision",
        "owner": "bob", "profile": "small", "kind": "papermill",
        "notebook": parse_notebook_path("reports/daily.ipynb"), "output": output_path(3, 7),
        "parameters": {"rows": 5, "name": "north"}, "timeout": 600,
    }  # fmt: skip
    values.update(kw)
    return RunSpec(**values)


def test_papermill_gets_the_parameters_as_one_yaml_document_and_the_kernel() -> None:
    argv = command(
        spec(kernel="python3"), "/py", PurePosixPath("/h/r/d.ipynb"), PurePosixPath("/h/o.ipynb")
    )
    assert argv[:5] == ["/py", "-m", "papermill", "/h/r/d.ipynb", "/h/o.ipynb"]
    assert yaml.safe_load(argv[argv.index("-y") + 1]) == {"rows": 5, "name": "north"}
    assert argv[argv.index("-k") + 1] == "python3"
    assert argv[argv.index("--cwd") + 1] == "/h/r"
    assert "--log-output" in argv


def test_a_spark_script_runs_with_python_and_its_parameters_in_the_environment() -> None:
    run = spec(kind="spark", notebook=parse_notebook_path("etl.py", "spark"))
    assert command(run, "/py", PurePosixPath("/h/etl.py"), PurePosixPath("/h/o.ipynb")) == [
        "/py", "/h/etl.py",
    ]  # fmt: skip
    env = environment(run)
    assert json.loads(env["TENANTHUB_JOB_PARAMETERS"]) == {"rows": 5, "name": "north"}
    assert env["PYSPARK_SUBMIT_ARGS"].startswith("--master local[*] ")
    assert env["SPARK_LOCAL_IP"] == "127.0.0.1"
    assert "PYSPARK_SUBMIT_ARGS" not in environment(spec())


def test_the_failure_reason_names_the_cell_and_the_error_not_papermills_wrapper() -> None:
    assert failure_reason(PAPERMILL_FAILURE, 1) == (
        "the notebook failed in cell In [3]: ZeroDivisionError: division by zero"
    )
    assert failure_reason("Segmentation fault\n", 139) == exit_meaning(139)
    assert "signal 11" in exit_meaning(139)
    assert "out of memory" in failure_reason("", 137)
    assert failure_reason("", 1, oom=True, mem_limit=2**30).startswith("killed: out of memory")
    assert failure_reason("x" * 10_000 + "\nValueError: " + "y" * 2000, 1).endswith("…")


def kube_config(**backend: Any) -> PlatformConfig:
    return PlatformConfig.model_validate(
        {
            "backend": {"kind": "kubernetes", "kubernetes": backend},
            "profiles": [
                {
                    "name": "small",
                    "image": "img:1",
                    "cpu": {"limit": "1"},
                    "memory": {"limit": "1Gi"},
                }
            ],
        }
    )


def test_the_job_manifest_is_a_restricted_run_of_the_users_pod_and_no_server() -> None:
    config = kube_config()
    plan = make_plan("vision", config.profiles[0], "bob", "")
    settings: KubernetesBackendSettings = config.backend.kubernetes
    job = job_manifest(plan, spec(), settings)
    assert (job["apiVersion"], job["kind"]) == ("batch/v1", "Job")
    assert job["metadata"]["namespace"] == "th-vision"
    assert job["metadata"]["name"] == "tenanthub-job-7"
    body = job["spec"]
    assert (body["backoffLimit"], body["activeDeadlineSeconds"]) == (0, 600)
    assert body["ttlSecondsAfterFinished"] >= 600
    labels = body["template"]["metadata"]["labels"]
    assert labels["tenanthub.io/job-run"] == "7" and labels["tenanthub.io/tenant"] == "vision"
    assert labels["component"] == "notebook-job"  # not singleuser-server: no reflector sees it
    assert labels["tenanthub.io/checkpoint"] == "false"
    assert "tenanthub.io/server" not in body["template"]["metadata"]["annotations"]
    pod = body["template"]["spec"]
    assert restricted_violations({"kind": "Pod", "spec": pod}) == []
    assert pod["restartPolicy"] == "Never" and pod["automountServiceAccountToken"] is False
    [container] = pod["containers"]
    assert "ports" not in container
    assert container["resources"]["limits"] == {"cpu": "1000m", "memory": str(2**30)}
    args = container["args"]
    assert "/home/jovyan/reports/daily.ipynb" in args
    assert "/home/jovyan/.tenanthub/jobs/3/7/output.ipynb" in args
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["TENANTHUB_JOB_RUN_ID"] == "7" and env["TENANTHUB_TENANT"] == "vision"
    assert not any("TOKEN" in name for name in env)


def test_a_shared_notebook_is_read_from_the_shared_mount() -> None:
    shared = spec(notebook=parse_notebook_path("shared/team/w.ipynb"))
    notebook, output = paths_in_pod(shared, "/home/jovyan/")
    assert str(notebook) == "/home/jovyan/shared/team/w.ipynb"
    assert str(output) == "/home/jovyan/.tenanthub/jobs/3/7/output.ipynb"


def condition(kind: str, reason: str = "") -> dict[str, Any]:
    return {"status": {"conditions": [{"type": kind, "status": "True", "reason": reason}]}}


def pod_state(**state: Any) -> dict[str, Any]:
    return {"status": {"containerStatuses": [{"state": state}]}}


def test_the_job_status_reads_complete_failed_deadline_running_and_stuck_pulls() -> None:
    assert job_status(condition("Complete"), None).state == "succeeded"
    assert job_status(condition("Failed", "DeadlineExceeded"), None).state == "timed_out"
    failed = job_status(
        condition("Failed", "BackoffLimitExceeded"), pod_state(terminated={"exitCode": 1})
    )
    assert (failed.state, failed.exit_code) == ("failed", 1)
    oom = job_status(
        condition("Failed", "BackoffLimitExceeded"),
        pod_state(terminated={"exitCode": 137, "reason": "OOMKilled"}),
    )
    assert "OOMKilled" in oom.reason
    active = {"status": {"active": 1}}
    assert job_status(active, pod_state(running={"startedAt": "x"})).state == "running"
    assert (
        job_status(active, pod_state(waiting={"reason": "ContainerCreating"})).state == "starting"
    )
    pull = job_status(active, pod_state(waiting={"reason": "ImagePullBackOff"}))
    assert pull.state == "failed" and "ImagePullBackOff" in pull.reason
    assert job_status(None, None).state == "failed"
