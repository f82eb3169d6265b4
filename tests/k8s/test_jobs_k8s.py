"""Notebook jobs on the real API server and kubelet: the scheduler with the Kubernetes
runner, as the hub's least-privilege ServiceAccount, runs a papermill job as a
``batch/v1`` Job in the tenant namespace (restricted pod but for this cluster's host
network, deadline and TTL set, a job run's labels and not a server's); the output
notebook lands in the user's home on the tenant volume; a failing cell fails the run
with its error; cancel deletes the Job and its pod.

Tenant storage is a hostPath volume as in ``test_hub_k8s`` (no NFS mounts here)."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from hub.config.schema import PlatformConfig
from hub.service.jobs.model import JobSpec
from hub.service.jobs.runners.kubernetes import KubernetesRunner, job_name
from hub.service.jobs.scheduler import Scheduler
from hub.service.jobs.store import JobStore, Run
from hub.tenancy import db
from hub.tenancy.seed import spec_from_config
from hub.tenancy.store import TenantStore
from spawner.kubernetes.pss import restricted_violations
from tests.integration.notebooks import outputs_text, write_notebook
from tests.k8s.test_hub_k8s import host_volume, k8s_config
from tests.k8s.test_provision_k8s import objects_of, provision_as_hub

pytestmark = pytest.mark.integration


def platform_for(tenant: str, kubeconfig: Path) -> PlatformConfig:
    config = k8s_config(tenant, kubeconfig)
    config["backend"]["kubernetes"]["image_pull_policy"] = "Never"
    for profile in config["profiles"]:
        profile["memory"] = {"limit": "512Mi"}
    config["tenants"][0]["quota"]["running_jobs"] = 2
    return PlatformConfig.model_validate(config)


def notebook_for_uid(path: Path, parameters: str, *cells: str) -> None:
    write_notebook(path, parameters, *cells)
    os.chown(path, 1000, 1000)


def tick_until(sched: Scheduler, run_id: int, done: Callable[[Run], bool], limit: float) -> Run:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        report = sched.tick()
        assert not report.errors, report.errors
        run = sched.store.get_run(run_id)
        assert run is not None
        if done(run):
            return run
        time.sleep(1)
    raise AssertionError(f"run {run_id} not done in {limit} s: {sched.store.get_run(run_id)}")


@pytest.fixture
def tenant_setup(
    hub_kubeconfig: Path,
    kube_api: client.ApiClient,
    new_tenant: Callable[[], str],
    notebook_image: str,
    tmp_path: Path,
) -> tuple[str, Path, Scheduler]:
    tenant = new_tenant()
    root = tmp_path / "volume"
    host_volume(client.CoreV1Api(kube_api), tenant, root, ["alice"])
    config = platform_for(tenant, hub_kubeconfig)
    provision_as_hub(objects_of(config), hub_kubeconfig)
    engine = db.make_engine(f"sqlite:///{tmp_path / 'platform.sqlite'}")
    db.upgrade(engine)
    TenantStore(engine).create_tenant(spec_from_config(config.tenants[0]), "test")
    runner = KubernetesRunner(config)  # as the hub's ServiceAccount (its kubeconfig)
    sched = Scheduler(JobStore(engine), runner, config.jobs, instance="k8s-test")
    return tenant, root, sched


def submit(sched: Scheduler, tenant: str, **kw: Any) -> Run:
    body = {"name": "k8s", "tenant": tenant, "profile": "small", **kw}
    _job, run = sched.store.create_job(JobSpec.model_validate(body), "alice")
    assert run is not None
    return run


def test_a_job_runs_as_a_restricted_batch_job_and_writes_its_output_to_the_home(
    tenant_setup: tuple[str, Path, Scheduler], kube_api: client.ApiClient
) -> None:
    tenant, root, sched = tenant_setup
    notebook_for_uid(
        root / "home" / "alice" / "report.ipynb",
        "city = 'none'",
        "print('job in', city)",
    )
    run = submit(sched, tenant, notebook="report.ipynb", parameters={"city": "Lyon"}, timeout=900)
    run = tick_until(sched, run.id, lambda r: r.state != "queued", limit=30)
    assert run.handle == f"th-{tenant}/{job_name(run.id)}"

    batch = client.BatchV1Api(kube_api)
    job = batch.read_namespaced_job(job_name(run.id), f"th-{tenant}")
    manifest = kube_api.sanitize_for_serialization(job)
    spec = manifest["spec"]
    assert (spec["backoffLimit"], spec["activeDeadlineSeconds"]) == (0, 900)
    assert spec["ttlSecondsAfterFinished"] > 0
    labels = manifest["metadata"]["labels"]
    assert labels["tenanthub.io/job-run"] == str(run.id)
    assert labels["tenanthub.io/tenant"] == tenant
    assert labels.get("component") != "singleuser-server"
    assert labels["tenanthub.io/checkpoint"] == "false"
    pod_spec = spec["template"]["spec"]
    violations = restricted_violations({"kind": "Pod", "spec": pod_spec})
    # this cluster has no pod network: host network is its one deviation, as for servers
    assert violations == ["spec.hostNetwork: must be false or unset (shares the node's namespace)"]
    assert pod_spec["automountServiceAccountToken"] is False
    assert pod_spec["restartPolicy"] == "Never"

    run = tick_until(sched, run.id, lambda r: r.finished_at is not None, limit=240)
    assert run.state == "succeeded", f"{run.reason}\n{run.log_tail}"
    assert "job in Lyon" in run.log_tail
    output = root / "home" / "alice" / ".tenanthub" / "jobs" / str(run.job_id) / str(run.id)
    assert "job in Lyon" in outputs_text(output / "output.ipynb")


def test_a_failing_cell_fails_the_run_and_cancel_deletes_the_job(
    tenant_setup: tuple[str, Path, Scheduler], kube_api: client.ApiClient
) -> None:
    tenant, root, sched = tenant_setup
    notebook_for_uid(root / "home" / "alice" / "bad.ipynb", "x = 0", "print(1 / x)")
    notebook_for_uid(
        root / "home" / "alice" / "slow.ipynb", "x = 0", "import time\ntime.sleep(900)"
    )
    bad = submit(sched, tenant, notebook="bad.ipynb")
    slow = submit(sched, tenant, notebook="slow.ipynb")
    slow_run = tick_until(sched, slow.id, lambda r: r.state == "running", limit=240)
    bad_run = tick_until(sched, bad.id, lambda r: r.finished_at is not None, limit=240)
    assert bad_run.state == "failed"
    assert "ZeroDivisionError" in bad_run.reason, f"{bad_run.reason}\n{bad_run.log_tail}"

    sched.store.cancel_run(slow_run.id, "alice")
    done = tick_until(sched, slow_run.id, lambda r: r.finished_at is not None, limit=60)
    assert done.state == "cancelled"
    batch, core = client.BatchV1Api(kube_api), client.CoreV1Api(kube_api)
    deadline = time.monotonic() + 60
    while True:
        pods = core.list_namespaced_pod(
            f"th-{tenant}", label_selector=f"job-name={job_name(slow_run.id)}"
        ).items
        try:
            batch.read_namespaced_job(job_name(slow_run.id), f"th-{tenant}")
            job_there = True
        except ApiException as exc:
            assert exc.status == 404
            job_there = False
        if not pods and not job_there:
            break
        assert time.monotonic() < deadline, json.dumps([p.metadata.name for p in pods])
        time.sleep(1)
