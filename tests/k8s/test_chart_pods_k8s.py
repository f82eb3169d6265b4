"""The Helm chart's pods running on the real single-node test cluster (v1.20, kubelet on
Docker, no pod network): installed with ``values.single-node.yaml`` (hostNetwork on
127.0.0.1, the local ``tenanthub/hub`` and ``tenanthub/proxy`` images, kubeconfigs from
Secrets since the ``kubernetes`` Service does not route), the hub, proxy and checkpointer
pods become Ready; the hub answers through the proxy (its API, the platform service's
readiness); ``helm upgrade`` with a changed quota rolls the hub to a new Ready pod;
``helm uninstall`` removes the pods and keeps the data volume (Retain) and its claim.

The kubeconfigs carry the tokens of the chart's own ServiceAccounts (made by the install),
so the hub and the checkpointer run with exactly the chart's RBAC. The hub's SQLite claim
is bound to a static hostPath volume this test makes (the cluster has no provisioner).
Everything the test made goes afterwards, on failure too: the release, its namespace,
tenanthub-system, the volume, the tenant's namespace.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from kubernetes.client.rest import ApiException

import hub as hub_package
from hub.chart import CHART
from tests.conftest import need
from tests.k8s import describe
from tests.k8s.test_chart_k8s import (
    HELM,
    drop_unmanaged_checkpointer_rbac,
    run,
    wait_until_gone,
)
from tests.ports import free_port

pytestmark = pytest.mark.timeout(900)
SINGLE_NODE_VALUES = CHART / "values.single-node.yaml"
SYSTEM = "tenanthub-system"
IMAGES = (f"tenanthub/hub:{hub_package.__version__}", f"tenanthub/proxy:{hub_package.__version__}")


def node_images(core_v1: client.CoreV1Api) -> set[str]:
    node = core_v1.read_node("127.0.0.1")
    return {name for image in node.status.images or [] for name in image.names or []}


def need_images(core_v1: client.CoreV1Api) -> None:
    names = node_images(core_v1)
    for image in IMAGES:
        if image not in names and f"docker.io/{image}" not in names:
            need(
                f"{image} is not in the kubelet's Docker engine: "
                "scripts/build-images.sh hub proxy (make test builds them)"
            )


def values(tmp_path: Path, tenant: str, cpu: str, ports: dict[str, int]) -> Path:
    path = tmp_path / f"values-{cpu}.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "tenanthub": {
                    "profiles": [{"name": "cpu", "image": "tenanthub/notebook-cpu:0.1.0"}],
                    "tenants": [{"name": tenant, "quota": {"cpu": cpu, "servers": 2}}],
                },
                "hub": {"port": ports["hub"], "servicePort": ports["service"]},
                "proxy": {"port": ports["proxy"], "apiPort": ports["api"]},
                "checkpointer": {"port": ports["checkpointer"]},
            }
        )
    )
    return path


def service_account_token(core_v1: client.CoreV1Api, namespace: str, name: str) -> str:
    """v1.20: the controller-manager writes a ServiceAccount's token Secret."""
    deadline = time.monotonic() + 30
    while True:
        try:
            account = core_v1.read_namespaced_service_account(name, namespace)
        except ApiException as exc:
            if exc.status != 404:
                raise
            account = None
        for ref in (account.secrets if account else None) or []:
            secret = core_v1.read_namespaced_secret(ref.name, namespace)
            if secret.data and "token" in secret.data:
                return base64.b64decode(secret.data["token"]).decode()
        assert time.monotonic() < deadline, f"no token of {namespace}/{name} after 30 s"
        time.sleep(0.2)


def kubeconfig_secret(
    core_v1: client.CoreV1Api, admin: Path, namespace: str, account: str, secret: str
) -> None:
    """A kubeconfig to https://127.0.0.1:6443 with the account's token, as a Secret."""
    token = service_account_token(core_v1, namespace, account)
    cluster = yaml.safe_load(admin.read_text())["clusters"][0]
    settings = cluster["cluster"]
    if "certificate-authority" in settings:  # a file on this machine: inline it for the pod
        ca = Path(settings.pop("certificate-authority")).read_bytes()
        settings["certificate-authority-data"] = base64.b64encode(ca).decode()
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [cluster],
        "users": [{"name": account, "user": {"token": token}}],
        "contexts": [{"name": account, "context": {"cluster": cluster["name"], "user": account}}],
        "current-context": account,
    }
    body = client.V1Secret(
        metadata=client.V1ObjectMeta(name=secret),
        string_data={"kubeconfig": yaml.safe_dump(config)},
    )
    core_v1.create_namespaced_secret(namespace, body)


def ready_pods(core_v1: client.CoreV1Api, namespace: str, selector: str) -> list[Any]:
    pods = core_v1.list_namespaced_pod(namespace, label_selector=selector).items
    return [
        pod
        for pod in pods
        if pod.metadata.deletion_timestamp is None
        and any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or [])
    ]


def wait_ready(
    core_v1: client.CoreV1Api,
    namespace: str,
    selector: str,
    timeout: float,
    not_named: str | None = None,
) -> Any:
    """The one Ready pod matching ``selector`` (other than ``not_named``)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pods = [p for p in ready_pods(core_v1, namespace, selector) if p.metadata.name != not_named]
        if pods:
            return pods[0]
        time.sleep(1)
    states = [
        f"{p.metadata.name}: {describe(p)}"
        for p in core_v1.list_namespaced_pod(namespace, label_selector=selector).items
    ]
    events = [
        f"{e.involved_object.name}: {e.reason} {e.message}"
        for e in core_v1.list_namespaced_event(namespace).items[-15:]
    ]
    raise AssertionError(
        f"no Ready pod {selector} in {namespace} after {timeout} s: {states}; events: {events}"
    )


def wait_no_pods(core_v1: client.CoreV1Api, namespace: str, selector: str) -> None:
    deadline = time.monotonic() + 90
    while core_v1.list_namespaced_pod(namespace, label_selector=selector).items:
        assert time.monotonic() < deadline, f"pods {selector} in {namespace} still there"
        time.sleep(1)


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def wait_answer(url: str, timeout: float = 60) -> tuple[int, bytes]:
    """What ``url`` answers once it answers 200 (the proxy may take a moment to get the
    hub's routes), or the last answer."""
    deadline = time.monotonic() + timeout
    answer: tuple[int, bytes] = (0, b"")
    while time.monotonic() < deadline:
        try:
            answer = get(url)
        except (urllib.error.URLError, ConnectionError) as exc:
            answer = (0, str(exc).encode())
        if answer[0] == 200:
            return answer
        time.sleep(1)
    return answer


def hub_data_volume(name: str, path: Path, namespace: str, claim: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": name, "labels": {"tenanthub.io/test": "1"}},
        "spec": {
            "capacity": {"storage": "1Gi"},
            "accessModes": ["ReadWriteOnce"],
            "persistentVolumeReclaimPolicy": "Retain",
            "storageClassName": "",
            "hostPath": {"path": str(path), "type": "Directory"},
            # bound to the chart's claim only
            "claimRef": {"namespace": namespace, "name": claim},
        },
    }


def test_the_chart_pods_run_and_the_hub_answers_through_the_proxy(
    kubeconfig: Path,
    core_v1: client.CoreV1Api,
    rbac_v1: client.RbacAuthorizationV1Api,
    make_namespace: Callable[..., str],
    new_tenant: Callable[[], str],
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    need_images(core_v1)
    tmp_path = tmp_path_factory.mktemp("chart-pods")
    namespace = make_namespace()
    tenant = new_tenant()
    release = f"th{uuid.uuid4().hex[:6]}"
    hub = f"{release}-tenanthub-hub"
    instance = f"app.kubernetes.io/instance={release}"
    ports = {k: free_port() for k in ("hub", "service", "proxy", "api", "checkpointer")}
    assert len(set(ports.values())) == len(ports)
    pv_name = f"tht-{release}-hub-data"
    data = tmp_path / "hub-data"
    data.mkdir()
    os.chown(data, 1000, 1000)
    wait_until_gone(core_v1, SYSTEM)
    drop_unmanaged_checkpointer_rbac(rbac_v1, core_v1)
    core_v1.create_persistent_volume(hub_data_volume(pv_name, data, namespace, f"{hub}-data"))
    try:
        first = values(tmp_path, tenant, "4", ports)
        run(kubeconfig, HELM, "install", release, str(CHART), "-n", namespace,
            "-f", str(SINGLE_NODE_VALUES), "-f", str(first))  # fmt: skip
        # the kubeconfigs of the chart's own accounts (the pods wait for their Secrets)
        kubeconfig_secret(core_v1, kubeconfig, namespace, hub, "hub-kubeconfig")
        kubeconfig_secret(
            core_v1, kubeconfig, SYSTEM, "tenanthub-checkpointer", "checkpointer-kubeconfig"
        )

        proxy_pod = wait_ready(core_v1, namespace, f"{instance},component=proxy", 120)
        hub_pod = wait_ready(core_v1, namespace, f"{instance},component=hub", 240)
        assert proxy_pod.spec.host_network and hub_pod.spec.host_network
        assert hub_pod.status.container_statuses[0].image.endswith(IMAGES[0])
        assert proxy_pod.status.container_statuses[0].image.endswith(IMAGES[1])

        # the hub through the proxy: JupyterHub's API and the platform service
        base = f"http://127.0.0.1:{ports['proxy']}"
        status, body = wait_answer(f"{base}/hub/api")
        assert status == 200, body
        import jupyterhub

        assert json.loads(body)["version"] == jupyterhub.__version__
        status, body = wait_answer(f"{base}/services/tenanthub/health/ready")
        assert status == 200, body
        # the hub provisioned the tenant with its kubeconfig (the chart's ClusterRole)
        deadline = time.monotonic() + 60
        while True:
            try:
                found = core_v1.read_namespace(f"th-{tenant}")
                break
            except ApiException as exc:
                if exc.status != 404 or time.monotonic() > deadline:
                    raise
                time.sleep(1)
        assert found.metadata.labels["tenanthub.io/tenant"] == tenant

        # the checkpointer is Ready: its endpoint answers and it reached the platform API
        wait_ready(core_v1, SYSTEM, "app.kubernetes.io/name=tenanthub-checkpointer", 180)
        status, _ = get(f"http://127.0.0.1:{ports['checkpointer']}/health/ready")
        assert status == 200

        # a quota change rolls the hub: a new pod, Ready, with a new checksum
        before = hub_pod.metadata.annotations["checksum/config"]
        second = values(tmp_path, tenant, "8", ports)
        run(kubeconfig, HELM, "upgrade", release, str(CHART), "-n", namespace,
            "-f", str(SINGLE_NODE_VALUES), "-f", str(second))  # fmt: skip
        rolled = wait_ready(
            core_v1, namespace, f"{instance},component=hub", 300, not_named=hub_pod.metadata.name
        )
        assert rolled.metadata.annotations["checksum/config"] != before
        with pytest.raises(ApiException) as old:
            core_v1.read_namespaced_pod(hub_pod.metadata.name, namespace)
        assert old.value.status == 404
        status, body = wait_answer(f"{base}/services/tenanthub/health/ready")
        assert status == 200, body
        # the proxy kept running: the hub's restart did not touch it
        assert ready_pods(core_v1, namespace, f"{instance},component=proxy")[0].metadata.name == (
            proxy_pod.metadata.name
        )

        run(kubeconfig, HELM, "uninstall", release, "-n", namespace)
        wait_no_pods(core_v1, namespace, instance)
        wait_no_pods(core_v1, SYSTEM, "app.kubernetes.io/name=tenanthub-checkpointer")
        # the data stays: the claim (resource-policy keep) and the volume, Retain
        core_v1.read_namespaced_persistent_volume_claim(f"{hub}-data", namespace)
        volume = core_v1.read_persistent_volume(pv_name)
        assert volume.spec.persistent_volume_reclaim_policy == "Retain"
        assert (data / "tenanthub.yaml").exists()
    finally:
        subprocess.run(
            [str(HELM), "uninstall", release, "-n", namespace],
            env={**os.environ, "KUBECONFIG": str(kubeconfig)},
            capture_output=True,
            check=False,
        )
        for delete in (
            lambda: core_v1.delete_persistent_volume(pv_name),
            lambda: core_v1.delete_namespace(SYSTEM),
        ):
            try:
                delete()
            except ApiException as exc:
                if exc.status != 404:
                    raise
        shutil.rmtree(data, ignore_errors=True)
