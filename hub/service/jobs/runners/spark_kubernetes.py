"""Spark on Kubernetes for ``spark`` jobs: the driver is the run's own pod (client mode),
executors are pods in the tenant namespace with the same restricted security context,
volumes and labels (pure).

The run's pod gets ``PYSPARK_SUBMIT_ARGS`` with a ``k8s://`` master and the settings
below, so ``SparkSession.builder.getOrCreate()`` in the user's notebook or script
starts executors without the user writing any Spark configuration. The executor pod
template (``spark.kubernetes.executor.podTemplateFile``) travels in the environment
and is written to a file by the run's command before Python starts.

What this needs on a real cluster, and what is not here: a pod network (executors
connect back to the driver at its pod IP), an image with Spark and Java (the
``spark`` profile's), and a ServiceAccount in the tenant namespace that may create,
list, watch and delete pods (``spark_service_account``); the run's pod then mounts
its token. The test cluster has no pod network, so the rendered configuration is
checked (Kubernetes schemas, Pod Security Standards) rather than run there; Spark
jobs run ``local[*]`` on the local and Docker backends.
"""

from __future__ import annotations

import json
import shlex
from typing import Any

from hub.config.schema import KubernetesBackendSettings
from hub.service.jobs.runners.base import RunSpec
from spawner.kubernetes import names
from spawner.kubernetes.manifests import pod_resources
from spawner.plan import SpawnPlan

Manifest = dict[str, Any]

#: in-cluster API server address as the driver sees it
API_SERVER = "https://kubernetes.default.svc"
#: where the run's command writes the executor pod template
TEMPLATE_PATH = "/tmp/tenanthub-spark-executor.json"  # noqa: S108 - inside the run's pod
TEMPLATE_ENV = "TENANTHUB_SPARK_EXECUTOR_TEMPLATE"
EXECUTOR_CONTAINER = "spark-kubernetes-executor"
DRIVER_PORT, BLOCK_MANAGER_PORT = 7078, 7079
DEFAULT_EXECUTORS = 2


def executor_template(
    plan: SpawnPlan, spec: RunSpec, settings: KubernetesBackendSettings
) -> Manifest:
    """The executors' pod: PSS restricted, the tenant volume, no API token, the run's labels."""
    home = settings.home_mount.rstrip("/") or "/"
    labels = {
        **plan.labels,
        "app.kubernetes.io/component": "notebook-job-executor",
        "tenanthub.io/job-run": str(spec.run_id),
        "tenanthub.io/checkpoint": "false",
    }
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"labels": labels},
        "spec": {
            "automountServiceAccountToken": False,
            "enableServiceLinks": False,
            "restartPolicy": "Never",
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": settings.uid,
                "runAsGroup": settings.gid,
                "fsGroup": settings.fs_group,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "containers": [
                {
                    "name": EXECUTOR_CONTAINER,
                    "image": plan.image,
                    "resources": pod_resources(plan),
                    "securityContext": {
                        "allowPrivilegeEscalation": False,
                        "capabilities": {"drop": ["ALL"]},
                        "runAsNonRoot": True,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "volumeMounts": [
                        {
                            "name": names.TENANT_VOLUME,
                            "mountPath": home,
                            "subPath": names.home_subpath(plan.username),
                        },
                        {
                            "name": names.TENANT_VOLUME,
                            "mountPath": f"{home.rstrip('/')}/shared",
                            "subPath": names.SHARED_SUBPATH,
                        },
                    ],
                }
            ],
            "volumes": [
                {
                    "name": names.TENANT_VOLUME,
                    "persistentVolumeClaim": {"claimName": names.pvc_name(plan.tenant)},
                }
            ],
            **({"nodeSelector": dict(plan.node_selector)} if plan.node_selector else {}),
            **({"tolerations": [dict(t) for t in plan.tolerations]} if plan.tolerations else {}),
        },
    }


def spark_conf(
    plan: SpawnPlan,
    spec: RunSpec,
    settings: KubernetesBackendSettings,
    executors: int = DEFAULT_EXECUTORS,
) -> dict[str, str]:
    """Spark settings of one run (the driver host is the pod's IP, filled in at start)."""
    namespace = names.namespace(plan.tenant, settings.namespace_prefix)
    prefix = f"tenanthub-job-{spec.run_id}"
    conf = {
        "spark.master": f"k8s://{API_SERVER}",
        "spark.submit.deployMode": "client",
        "spark.app.name": f"{spec.job_name} (run {spec.run_id})",
        "spark.kubernetes.namespace": namespace,
        "spark.kubernetes.container.image": plan.image,
        "spark.kubernetes.container.image.pullPolicy": settings.image_pull_policy,
        "spark.kubernetes.executor.podNamePrefix": prefix,
        "spark.kubernetes.executor.podTemplateFile": TEMPLATE_PATH,
        "spark.kubernetes.executor.podTemplateContainerName": EXECUTOR_CONTAINER,
        "spark.kubernetes.executor.deleteOnTermination": "true",
        # executors get their settings from the driver, not from a ConfigMap it would
        # need the right to create
        "spark.kubernetes.executor.disableConfigMap": "true",
        "spark.kubernetes.authenticate.driver.serviceAccountName": spark_service_account(),
        "spark.executor.instances": str(executors),
        "spark.driver.host": "$(POD_IP)",
        "spark.driver.bindAddress": "0.0.0.0",  # noqa: S104 - the pod's own interfaces
        "spark.driver.port": str(DRIVER_PORT),
        "spark.blockManager.port": str(BLOCK_MANAGER_PORT),
    }
    if plan.cpu_limit:
        conf["spark.executor.cores"] = str(max(1, int(plan.cpu_limit)))
    if plan.mem_limit:
        # the JVM heap leaves a tenth of the container's memory for off-heap use
        conf["spark.executor.memory"] = f"{max(256, plan.mem_limit * 9 // 10 // 2**20)}m"
        conf["spark.executor.memoryOverhead"] = f"{max(64, plan.mem_limit // 10 // 2**20)}m"
    return conf


def spark_service_account() -> str:
    """The tenant namespace's account the driver creates executors with (see the module)."""
    return "tenanthub-spark"


def submit_args(conf: dict[str, str]) -> str:
    """``PYSPARK_SUBMIT_ARGS``: pyspark passes these to spark-submit when it starts the JVM."""
    parts = [f"--conf {shlex.quote(f'{key}={value}')}" for key, value in sorted(conf.items())]
    return " ".join([*parts, "pyspark-shell"])


def spark_environment(
    plan: SpawnPlan, spec: RunSpec, settings: KubernetesBackendSettings
) -> dict[str, str]:
    """What the run's container needs for Spark on Kubernetes (``$(POD_IP)`` is expanded
    by the kubelet from the pod's ``POD_IP`` variable, set from ``status.podIP``)."""
    conf = spark_conf(plan, spec, settings)
    return {
        "PYSPARK_SUBMIT_ARGS": submit_args(conf),
        TEMPLATE_ENV: json.dumps(executor_template(plan, spec, settings)),
    }
