"""A ``spark`` job on Kubernetes: the rendered Spark configuration and executor pod
template pass Kubernetes' schemas (``kubernetes-validate --strict``) and Pod Security
Standards ``restricted``, with a ``k8s://`` master and executors in the tenant
namespace. Not run on the test cluster: it has no pod network for executors to reach
their driver (see ``hub/service/jobs/runners/spark_kubernetes.py``)."""

from __future__ import annotations

import json
import shlex
from typing import Any

import kubernetes_validate
import pytest
from kubernetes_validate.utils import all_versions, major_minor

from hub.config.schema import PlatformConfig
from hub.service.jobs.model import output_path, parse_notebook_path
from hub.service.jobs.runners.base import RunSpec
from hub.service.jobs.runners.kubernetes import job_manifest
from hub.service.jobs.runners.spark_kubernetes import (
    TEMPLATE_ENV,
    executor_template,
    spark_conf,
)
from spawner.kubernetes.pss import restricted_violations
from spawner.plan import make_plan

SHIPPED = sorted(
    {major_minor(v) for v in all_versions()}, key=lambda v: tuple(map(int, v.split(".")))
)
VERSIONS = sorted({SHIPPED[0], major_minor(kubernetes_validate.latest_version())})

CONFIG = PlatformConfig.model_validate(
    {
        "backend": {"kind": "kubernetes"},
        "profiles": [
            {
                "name": "spark",
                "image": "tenanthub/notebook-spark:1",
                "cpu": {"limit": "2"},
                "memory": {"limit": "4Gi"},
                "node_selector": {"pool": "spark"},
            },
        ],
    }
)
SETTINGS = CONFIG.backend.kubernetes
PLAN = make_plan("vision", CONFIG.profiles[0], "bob", "")
SPEC = RunSpec(
    run_id=11, job_id=4, attempt=1, job_name="etl nightly", tenant="vision", owner="bob",
    profile="spark", kind="spark", notebook=parse_notebook_path("etl.py", "spark"),
    output=output_path(4, 11), parameters={"day": "2026-12-07"}, timeout=1800,
)  # fmt: skip


def container_env(job: dict[str, Any]) -> dict[str, Any]:
    [container] = job["spec"]["template"]["spec"]["containers"]
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def test_the_configuration_has_a_k8s_master_and_executors_in_the_tenant_namespace() -> None:
    conf = spark_conf(PLAN, SPEC, SETTINGS)
    assert conf["spark.master"] == "k8s://https://kubernetes.default.svc"
    assert conf["spark.submit.deployMode"] == "client"
    assert conf["spark.kubernetes.namespace"] == "th-vision"
    assert conf["spark.kubernetes.container.image"] == "tenanthub/notebook-spark:1"
    assert conf["spark.executor.cores"] == "2"
    assert conf["spark.executor.memory"] == "3686m"  # 90 % of 4Gi: the container's limit holds
    assert conf["spark.driver.host"] == "$(POD_IP)"
    assert all(key.startswith("spark.") for key in conf)


def test_the_executor_template_is_restricted_and_valid_for_kubernetes() -> None:
    template = executor_template(PLAN, SPEC, SETTINGS)
    assert restricted_violations(template) == []
    spec = template["spec"]
    assert spec["automountServiceAccountToken"] is False
    assert spec["nodeSelector"] == {"pool": "spark"}
    labels = template["metadata"]["labels"]
    assert labels["tenanthub.io/tenant"] == "vision" and labels["tenanthub.io/job-run"] == "11"
    mounts = {m["mountPath"]: m["subPath"] for m in spec["containers"][0]["volumeMounts"]}
    assert mounts == {"/home/jovyan": "home/bob", "/home/jovyan/shared": "shared"}
    named = {**template, "metadata": {**template["metadata"], "name": "executor"}}
    for version in VERSIONS:
        assert kubernetes_validate.validate(named, version, strict=True) == version


@pytest.mark.parametrize("version", VERSIONS)
def test_the_spark_job_is_valid_and_restricted(version: str) -> None:
    job = job_manifest(PLAN, SPEC, SETTINGS)
    assert kubernetes_validate.validate(job, version, strict=True) == version
    pod = {"kind": "Pod", "spec": job["spec"]["template"]["spec"]}
    assert restricted_violations(pod) == []
    assert pod["spec"]["serviceAccountName"] == "tenanthub-spark"
    env = container_env(job)
    assert next(iter(env)) == "POD_IP"  # before the variables that expand $(POD_IP)
    assert env["POD_IP"] == {"fieldRef": {"fieldPath": "status.podIP"}}
    args = shlex.split(env["PYSPARK_SUBMIT_ARGS"])
    assert args[-1] == "pyspark-shell"
    confs = dict(a.split("=", 1) for a in args[1:-1:2])
    assert confs["spark.app.name"] == "etl nightly (run 11)"  # quoting kept the spaces
    assert confs == spark_conf(PLAN, SPEC, SETTINGS)
    template = json.loads(env[TEMPLATE_ENV])
    assert template == executor_template(PLAN, SPEC, SETTINGS)
    [container] = job["spec"]["template"]["spec"]["containers"]
    assert "/tmp/tenanthub-spark-executor.json" in container["args"][2]


def test_a_papermill_job_gets_no_spark_settings() -> None:
    papermill = RunSpec(**{**SPEC.__dict__, "kind": "papermill",
                           "notebook": parse_notebook_path("n.ipynb")})  # fmt: skip
    job = job_manifest(PLAN, papermill, SETTINGS)
    env = container_env(job)
    assert "PYSPARK_SUBMIT_ARGS" not in env and "POD_IP" not in env
    assert job["spec"]["template"]["spec"]["automountServiceAccountToken"] is False
