"""The Kubernetes runner: each run is a ``batch/v1`` Job in the tenant's namespace.

The Job's pod is the user's server pod (``spawner.kubernetes.manifests.user_pod``:
Pod Security Standards ``restricted``, the tenant volume with the user's home and
the shared folder, the profile's resources, node selector and tolerations, no
service account token) with the job's command, ``restartPolicy: Never`` and no
port. The cluster enforces the timeout (``activeDeadlineSeconds``) and removes
finished Jobs (``ttlSecondsAfterFinished``); retries are the scheduler's, so
``backoffLimit`` is 0. Labels mark it a job run (``tenanthub.io/job-run``), never a
server: the hub's reflectors, the culler and the checkpointer only look at
``component=singleuser-server`` pods, so stopping the user's server never touches
it, and its requests count against the namespace's ResourceQuota like a server's.

The handle is ``<namespace>/<job name>``: poll, cancel and logs work from it alone
after a restart; ``find`` looks the Job up by its run label.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import PurePosixPath
from typing import Any

from hub.config.schema import KubernetesBackendSettings, PlatformConfig
from hub.service.jobs.runners.base import Handle, RunSpec, RunStatus
from hub.service.jobs.runners.command import command, environment, failure_reason
from hub.service.jobs.runners.plan import job_plan
from hub.service.jobs.runners.spark_kubernetes import (
    TEMPLATE_ENV,
    TEMPLATE_PATH,
    spark_environment,
    spark_service_account,
)
from hub.tenancy.checkpoint_store import CheckpointStore
from spawner.kubernetes import names
from spawner.kubernetes.manifests import SERVER_COMPONENT, user_pod
from spawner.plan import SpawnPlan

Manifest = dict[str, Any]

JOB_COMPONENT = {"app.kubernetes.io/component": "notebook-job", "component": "notebook-job"}
RUN_LABEL = "tenanthub.io/job-run"
#: finished Jobs stay this long for the scheduler to read their end and log
TTL_AFTER_FINISHED = 3600
PYTHON = "python"  # the image's venv is first on PATH


def job_name(run_id: int) -> str:
    return f"tenanthub-job-{run_id}"


def paths_in_pod(spec: RunSpec, home_mount: str) -> tuple[PurePosixPath, PurePosixPath]:
    """The notebook and the output notebook as the run's pod sees them."""
    home = PurePosixPath(home_mount.rstrip("/") or "/")
    root = home if spec.notebook.area == "home" else home / "shared"
    return root / spec.notebook.relative, home / spec.output


def job_manifest(plan: SpawnPlan, spec: RunSpec, settings: KubernetesBackendSettings) -> Manifest:
    """The Job of one run attempt (pure)."""
    notebook, output = paths_in_pod(spec, settings.home_mount)
    spark = spec.kind == "spark"
    prepare = 'mkdir -p "$(dirname "$1")" && shift && '
    if spark:  # the executors' pod template, from the environment to the file Spark reads
        prepare += f'printf %s "${TEMPLATE_ENV}" > {TEMPLATE_PATH} && '
    argv = ["sh", "-c", prepare + 'exec "$@"', "run", str(output),
            *command(spec, PYTHON, notebook, output)]  # fmt: skip
    env = environment(spec)
    if spark:
        env |= spark_environment(plan, spec, settings)
    labels = {
        RUN_LABEL: str(spec.run_id),
        "tenanthub.io/job": str(spec.job_id),
        "tenanthub.io/attempt": str(spec.attempt),
        **JOB_COMPONENT,
    }
    pod = user_pod(
        plan, settings, pod_name=job_name(spec.run_id), port=0, cmd=argv,
        env=env, annotations={"tenanthub.io/job-name": spec.job_name},
    )  # fmt: skip
    meta = pod["metadata"]
    # a run is no server: drop what marks one (the reflector's component, the checkpointer's
    # opt-in and server annotation), keep the tenancy labels quotas and policies select by
    pod_labels = {k: v for k, v in meta["labels"].items() if k not in SERVER_COMPONENT}
    pod_labels |= labels | {"tenanthub.io/checkpoint": "false"}
    notes = {k: v for k, v in meta["annotations"].items() if k != "tenanthub.io/server"}
    notes["tenanthub.io/checkpoint"] = "false"
    pod_spec = pod["spec"]
    pod_spec["restartPolicy"] = "Never"
    for container in pod_spec["containers"]:
        container.pop("ports", None)
    if spark:
        # the driver creates its executors with the tenant's Spark account, and finds its
        # own address in POD_IP (listed first: the kubelet expands $(POD_IP) after it)
        pod_spec["serviceAccountName"] = spark_service_account()
        pod_spec["automountServiceAccountToken"] = True
        for container in pod_spec["containers"]:
            pod_ip = {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}
            container["env"] = [pod_ip, *container["env"]]
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": job_name(spec.run_id),
            "namespace": meta["namespace"],
            "labels": pod_labels,
            "annotations": notes,
        },
        "spec": {
            "backoffLimit": 0,
            "activeDeadlineSeconds": spec.timeout,
            "ttlSecondsAfterFinished": TTL_AFTER_FINISHED,
            "template": {
                "metadata": {"labels": pod_labels, "annotations": notes},
                "spec": pod_spec,
            },
        },
    }


def job_status(job: Manifest | None, pod: Manifest | None) -> RunStatus:
    """What the Job and its pod say (pure; plain dicts as the API returns them)."""
    if job is None:
        return RunStatus("failed", reason="the run's Kubernetes Job is gone (deleted)")
    status = job.get("status") or {}
    for condition in status.get("conditions") or []:
        if condition.get("status") != "True":
            continue
        kind, reason = condition.get("type"), condition.get("reason") or ""
        if kind in ("Complete", "SuccessCriteriaMet"):
            return RunStatus("succeeded", exit_code=0)
        if kind in ("Failed", "FailureTarget"):
            if reason == "DeadlineExceeded":
                return RunStatus("timed_out", reason="stopped by its activeDeadlineSeconds")
            return RunStatus("failed", exit_code=_exit_code(pod), reason=_pod_reason(pod, reason))
    if status.get("active") and _container_running(pod):
        return RunStatus("running")
    waiting = _waiting_reason(pod)
    if waiting in ("ErrImagePull", "ImagePullBackOff", "InvalidImageName",
                   "CreateContainerConfigError"):  # fmt: skip
        return RunStatus("failed", reason=f"the run's pod cannot start: {waiting}")
    return RunStatus("starting")


def _statuses(pod: Manifest | None) -> list[Manifest]:
    if not pod:
        return []
    return list((pod.get("status") or {}).get("containerStatuses") or [])


def _container_running(pod: Manifest | None) -> bool:
    return any((s.get("state") or {}).get("running") for s in _statuses(pod))


def _waiting_reason(pod: Manifest | None) -> str | None:
    for s in _statuses(pod):
        waiting = (s.get("state") or {}).get("waiting")
        if waiting:
            return str(waiting.get("reason") or "")
    return None


def _terminated(pod: Manifest | None) -> Manifest | None:
    for s in _statuses(pod):
        done = (s.get("state") or {}).get("terminated")
        if done:
            return dict(done)
    return None


def _exit_code(pod: Manifest | None) -> int | None:
    done = _terminated(pod)
    return int(done["exitCode"]) if done and done.get("exitCode") is not None else None


def _pod_reason(pod: Manifest | None, job_reason: str) -> str:
    done = _terminated(pod)
    if done and done.get("reason") == "OOMKilled":
        return "the run ran out of memory (OOMKilled): use a profile with more memory"
    if done and done.get("exitCode") is not None:
        return f"the run exited with code {done['exitCode']}"
    return f"the Job failed ({job_reason or 'no reason given'})"


class KubernetesRunner:
    name = "kubernetes"

    def __init__(
        self,
        config: PlatformConfig,
        checkpoints: CheckpointStore | None = None,
        api_factory: Callable[[], Any] | None = None,
    ) -> None:
        self.config = config
        self.settings = config.backend.kubernetes
        self.checkpoints = checkpoints
        self._factory = api_factory or self._default_api
        self._api: Any = None

    def _default_api(self) -> Any:
        from kubernetes import client
        from kubernetes import config as kube_config

        if self.settings.kubeconfig:
            return kube_config.new_client_from_config(config_file=str(self.settings.kubeconfig))
        try:
            kube_config.load_incluster_config()
        except kube_config.ConfigException:
            return kube_config.new_client_from_config()
        return client.ApiClient()

    def _clients(self) -> tuple[Any, Any]:
        from kubernetes import client

        if self._api is None:
            self._api = self._factory()
        return client.BatchV1Api(self._api), client.CoreV1Api(self._api)

    @staticmethod
    def _split(handle: Handle) -> tuple[str, str]:
        namespace, _, name = handle.partition("/")
        if not namespace or not name:
            raise ValueError(f"not a Kubernetes run handle: {handle!r}")
        return namespace, name

    def start(self, spec: RunSpec) -> Handle:
        from kubernetes.client.exceptions import ApiException

        plan, _choice = job_plan(self.config, self.checkpoints, spec)  # PlanError: a reason
        manifest = job_manifest(plan, spec, self.settings)
        namespace = manifest["metadata"]["namespace"]
        batch, _core = self._clients()
        try:
            batch.create_namespaced_job(namespace, manifest)
        except ApiException as exc:
            if exc.status != 409:  # 409: created by an earlier attempt of this start
                raise RuntimeError(_api_message(exc)) from None
        return f"{namespace}/{manifest['metadata']['name']}"

    def _read(self, handle: Handle) -> tuple[Manifest | None, Manifest | None]:
        from kubernetes.client.exceptions import ApiException

        namespace, name = self._split(handle)
        batch, core = self._clients()
        try:
            job = batch.read_namespaced_job(name, namespace)
        except ApiException as exc:
            if exc.status == 404:
                return None, None
            raise
        pods = core.list_namespaced_pod(namespace, label_selector=f"job-name={name}").items
        api = self._api
        pod = api.sanitize_for_serialization(pods[-1]) if pods else None
        return api.sanitize_for_serialization(job), pod

    def poll(self, handle: Handle) -> RunStatus:
        job, pod = self._read(handle)
        status = job_status(job, pod)
        if status.state == "failed" and status.exit_code not in (None, 0):
            log = self.logs(handle, 16384)
            if log:
                return RunStatus("failed", status.exit_code, failure_reason(log, status.exit_code))
        return status

    def cancel(self, handle: Handle) -> None:
        from kubernetes import client
        from kubernetes.client.exceptions import ApiException

        namespace, name = self._split(handle)
        batch, _core = self._clients()
        try:
            batch.delete_namespaced_job(
                name, namespace, body=client.V1DeleteOptions(propagation_policy="Foreground")
            )
        except ApiException as exc:
            if exc.status != 404:
                raise

    def logs(self, handle: Handle, tail: int) -> str:
        from kubernetes.client.exceptions import ApiException

        namespace, name = self._split(handle)
        _batch, core = self._clients()
        pods = core.list_namespaced_pod(namespace, label_selector=f"job-name={name}").items
        if not pods:
            return ""
        try:
            # limitBytes counts from the start: ask for the last lines, then cut to bytes
            text = core.read_namespaced_pod_log(
                pods[-1].metadata.name, namespace, container=names.CONTAINER,
                tail_lines=max(100, tail // 40),
            )  # fmt: skip
        except ApiException:
            return ""  # not started yet, or gone
        return str(text).encode()[-tail:].decode(errors="ignore")

    def find(self, spec: RunSpec) -> Handle | None:
        namespace = names.namespace(spec.tenant, self.settings.namespace_prefix)
        batch, _core = self._clients()
        jobs = batch.list_namespaced_job(namespace, label_selector=f"{RUN_LABEL}={spec.run_id}")
        if not jobs.items:
            return None
        return f"{namespace}/{jobs.items[0].metadata.name}"


def _api_message(exc: Any) -> str:
    """The API server's own message (a quota refusal says which resource is short)."""
    import json

    try:
        return str(json.loads(exc.body).get("message") or exc.reason)
    except (TypeError, ValueError):
        return f"the Kubernetes API refused the Job ({exc.status} {exc.reason})"
