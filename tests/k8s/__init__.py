"""The real Kubernetes API server tier, on the loopback test cluster of ``cluster.sh``.

``make test`` starts the cluster (``tests/k8s/cluster.sh up``) on the project's Docker
engine and exports ``TENANTHUB_TEST_KUBECONFIG``; by hand: ``make k8s-up``, then
``pytest tests/k8s``, then ``make k8s-down``. Fixtures live in ``conftest.py``; the
helpers below build and wait for pods the way this cluster needs them (no pod network:
``hostNetwork: true``, a port of its own on 127.0.0.1, images already in the engine).
"""

from __future__ import annotations

import time
from typing import Any

from kubernetes import client
from kubernetes.client.rest import ApiException

#: the node's name and InternalIP (the kubelet runs with --hostname-override=127.0.0.1)
NODE = "127.0.0.1"
#: built by scripts/build-images.sh into the engine the kubelet uses
NOTEBOOK_IMAGE = "tenanthub/notebook-cpu:latest"
#: built from the Kubernetes sources and imported by cluster.sh up (never pulled)
PAUSE_IMAGE = "k8s.gcr.io/pause:3.2"
#: every namespace a test creates carries this label (and a ``tht-`` name)
TEST_LABELS = {"tenanthub.io/test": "1"}


def restricted_pod(
    name: str,
    image: str,
    *,
    args: list[str] | None = None,
    command: list[str] | None = None,
    labels: dict[str, str] | None = None,
) -> client.V1Pod:
    """A pod as TenantHub runs one here: PSS restricted, host network, local image only.

    ``args`` keeps the image's entrypoint (tini in the notebook images, so SIGTERM
    stops the pod at once); ``command`` replaces it.
    """
    container = client.V1Container(
        name="main",
        image=image,
        image_pull_policy="Never",
        command=command,
        args=args,
        security_context=client.V1SecurityContext(
            run_as_user=1000,
            run_as_group=100,
            run_as_non_root=True,
            allow_privilege_escalation=False,
            capabilities=client.V1Capabilities(drop=["ALL"]),
            seccomp_profile=client.V1SeccompProfile(type="RuntimeDefault"),
        ),
        resources=client.V1ResourceRequirements(
            requests={"cpu": "10m", "memory": "32Mi"}, limits={"memory": "256Mi"}
        ),
    )
    return client.V1Pod(
        metadata=client.V1ObjectMeta(name=name, labels=labels),
        spec=client.V1PodSpec(
            host_network=True,
            automount_service_account_token=False,
            enable_service_links=False,
            restart_policy="Never",
            termination_grace_period_seconds=5,
            security_context=client.V1PodSecurityContext(
                run_as_non_root=True,
                seccomp_profile=client.V1SeccompProfile(type="RuntimeDefault"),
            ),
            containers=[container],
        ),
    )


def wait_for_pod_phase(
    core_v1: client.CoreV1Api, namespace: str, name: str, phase: str, timeout: float = 30
) -> client.V1Pod:
    """Poll until the pod is in ``phase``; fail with its status (waiting reasons) if not."""
    deadline = time.monotonic() + timeout
    pod: Any = None
    while time.monotonic() < deadline:
        pod = core_v1.read_namespaced_pod(name, namespace)
        if pod.status.phase == phase:
            return pod
        if pod.status.phase in {"Failed", "Succeeded"} and phase == "Running":
            break
        time.sleep(0.2)
    raise AssertionError(f"pod {namespace}/{name} not {phase} after {timeout}s: {describe(pod)}")


def wait_for_pod_gone(
    core_v1: client.CoreV1Api, namespace: str, name: str, timeout: float = 30
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            core_v1.read_namespaced_pod(name, namespace)
        except ApiException as exc:
            if exc.status == 404:
                return
            raise
        time.sleep(0.2)
    raise AssertionError(f"pod {namespace}/{name} still there after {timeout}s")


def describe(pod: Any) -> str:
    """Phase and container states of a pod, for assertion messages."""
    if pod is None or pod.status is None:
        return "no status"
    states = []
    for status in pod.status.container_statuses or []:
        state = status.state
        if state.waiting:
            states.append(f"{status.name}: waiting {state.waiting.reason} {state.waiting.message}")
        elif state.terminated:
            states.append(
                f"{status.name}: terminated {state.terminated.reason} "
                f"exit {state.terminated.exit_code} {state.terminated.message}"
            )
        else:
            states.append(f"{status.name}: running")
    conditions = [f"{c.type}={c.status} {c.reason or ''}" for c in pod.status.conditions or []]
    return f"phase {pod.status.phase}; {'; '.join(states) or 'no containers'}; {conditions}"


def wait_while_terminating(core: client.CoreV1Api, namespace: str, timeout: float = 90) -> None:
    """Cluster-wide namespaces (``tenanthub-system``) are shared by test modules: one that
    another module (the chart's uninstall) is deleting takes no new objects until gone."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            found = core.read_namespace(namespace)
        except ApiException as exc:
            if exc.status == 404:
                return
            raise
        if found.metadata.deletion_timestamp is None:
            return
        time.sleep(1)
    raise AssertionError(f"namespace {namespace} still terminating after {timeout} s")
