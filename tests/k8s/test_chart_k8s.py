"""The Helm chart on the real API server tier (v1.20): install, upgrade, uninstall.

With the chart's default values (in-cluster networking, upstream proxy image), which a
cluster without a pod network cannot run, the chart's pods may stay Pending or fail to
pull: the tests assert the objects exist as the API server stored them, that a quota
change rolls the hub (its checksum annotation changes), and that an uninstall leaves
tenant data (a volume the hub made, reclaim policy Retain) in place. The pods running and
Ready, with ``values.single-node.yaml``: ``test_chart_pods_k8s.py``.
"""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from kubernetes.client.rest import ApiException

from hub.chart import CHART
from spawner.kubernetes.rbac import hub_cluster_role_rules

CACHE = Path(os.environ.get("TENANTHUB_CACHE") or Path.home() / ".cache" / "tenanthub")
HELM = CACHE / "helm" / "bin" / "helm"
KUBECTL = CACHE / "helm" / "bin" / "kubectl"


def run(kubeconfig: Path, binary: Path, *args: str) -> str:
    if not binary.exists():
        pytest.fail(f"{binary} is missing: run `make install` (install-helm.sh)")
    env = {**os.environ, "KUBECONFIG": str(kubeconfig)}
    done = subprocess.run(
        [str(binary), *args], capture_output=True, text=True, env=env, check=False, timeout=300
    )
    assert done.returncode == 0, done.stderr + done.stdout
    return done.stdout


def values(tmp_path: Path, cpu: str) -> Path:
    path = tmp_path / f"values-{cpu}.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "tenanthub": {
                    "profiles": [{"name": "cpu", "image": "tenanthub/notebook-cpu:0.1.0"}],
                    "tenants": [{"name": "physics", "quota": {"cpu": cpu, "servers": 2}}],
                },
                "images": {"hub": {"repository": "tenanthub/notebook-base", "tag": "0.1.0"}},
                "proxy": {"service": {"type": "ClusterIP", "port": 80}},
            }
        )
    )
    return path


def wait_until_gone(core_v1: client.CoreV1Api, namespace: str, timeout: float = 120) -> None:
    """tenanthub-system is cluster-wide: a previous run's may still be terminating, and one
    the checkpointer's tests made (labelled as a test's) is deleted first."""
    try:
        found = core_v1.read_namespace(namespace)
        labels = found.metadata.labels or {}
        if found.metadata.deletion_timestamp is None and labels.get("tenanthub.io/test") == "1":
            core_v1.delete_namespace(namespace)
    except ApiException as exc:
        if exc.status != 404:
            raise
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            core_v1.read_namespace(namespace)
        except ApiException as exc:
            if exc.status == 404:
                return
            raise
        time.sleep(1)
    pytest.fail(f"namespace {namespace} still exists after {timeout} s")


def drop_unmanaged_checkpointer_rbac(
    rbac_v1: client.RbacAuthorizationV1Api, core_v1: client.CoreV1Api
) -> None:
    """The checkpointer's tests apply its ClusterRole and binding without helm; helm will not
    adopt them (no release annotations), so a cluster kept up between runs needs them gone.
    So do those of a release whose namespace is gone (a run stopped mid-test): helm will
    not adopt another release's objects either."""
    for read, delete in (
        (rbac_v1.read_cluster_role, rbac_v1.delete_cluster_role),
        (rbac_v1.read_cluster_role_binding, rbac_v1.delete_cluster_role_binding),
    ):
        try:
            found = read("tenanthub-checkpointer")
        except ApiException as exc:
            if exc.status == 404:
                continue
            raise
        annotations = found.metadata.annotations or {}
        if "meta.helm.sh/release-name" not in annotations or not namespace_exists(
            core_v1, annotations.get("meta.helm.sh/release-namespace", "")
        ):
            delete("tenanthub-checkpointer")


def namespace_exists(core_v1: client.CoreV1Api, name: str) -> bool:
    if not name:
        return False
    try:
        core_v1.read_namespace(name)
    except ApiException as exc:
        if exc.status == 404:
            return False
        raise
    return True


def checksum(apps: client.AppsV1Api, namespace: str, name: str) -> str:
    hub = apps.read_namespaced_deployment(name, namespace)
    return str(hub.spec.template.metadata.annotations["checksum/config"])


def test_install_upgrade_uninstall(
    kubeconfig: Path,
    kube_api: client.ApiClient,
    core_v1: client.CoreV1Api,
    rbac_v1: client.RbacAuthorizationV1Api,
    make_namespace: Callable[..., str],
    tmp_path: Path,
) -> None:
    namespace = make_namespace()
    release = f"th{uuid.uuid4().hex[:6]}"
    hub = f"{release}-tenanthub-hub"
    apps = client.AppsV1Api(kube_api)
    pv_name = f"tht-{release}-data"
    wait_until_gone(core_v1, "tenanthub-system")
    drop_unmanaged_checkpointer_rbac(rbac_v1, core_v1)
    try:
        run(kubeconfig, HELM, "install", release, str(CHART), "-n", namespace,
            "-f", str(values(tmp_path, "4")))  # fmt: skip
        # the objects exist as the API server stored them
        apps.read_namespaced_deployment(hub, namespace)
        apps.read_namespaced_deployment(f"{release}-tenanthub-proxy", namespace)
        for service in ("hub", "proxy-api", "proxy-public"):
            core_v1.read_namespaced_service(f"{release}-tenanthub-{service}", namespace)
        role = rbac_v1.read_cluster_role(hub)
        stored = [client.ApiClient().sanitize_for_serialization(r) for r in role.rules]
        assert stored == hub_cluster_role_rules()
        daemon = apps.read_namespaced_daemon_set("tenanthub-checkpointer", "tenanthub-system")
        assert daemon.spec.template.spec.service_account_name == "tenanthub-checkpointer"
        system = core_v1.read_namespace("tenanthub-system")
        assert system.metadata.labels["pod-security.kubernetes.io/enforce"] == "privileged"
        # v1.20 serves PodDisruptionBudgets as policy/v1beta1 only: helm picked that
        pdbs = run(kubeconfig, KUBECTL, "get", "poddisruptionbudgets.v1beta1.policy",
                   "-n", namespace, "-o", "name")  # fmt: skip
        assert len(pdbs.split()) == 2, pdbs
        # the hub's account may make a tenant's static volume (as provisioning does)
        pv: dict[str, Any] = {
            "apiVersion": "v1",
            "kind": "PersistentVolume",
            "metadata": {"name": pv_name, "labels": {"app.kubernetes.io/managed-by": "tenanthub"}},
            "spec": {
                "capacity": {"storage": "1Gi"},
                "accessModes": ["ReadWriteMany"],
                "persistentVolumeReclaimPolicy": "Retain",
                "storageClassName": "",
                "nfs": {"server": "127.0.0.1", "path": "/export/physics"},
            },
        }
        manifest = tmp_path / "pv.yaml"
        manifest.write_text(yaml.safe_dump(pv))
        run(kubeconfig, KUBECTL, "create", "-f", str(manifest),
            f"--as=system:serviceaccount:{namespace}:{hub}")  # fmt: skip

        # a quota change rolls the hub through its checksum annotation; the tokens stay
        before = checksum(apps, namespace, hub)
        tokens = core_v1.read_namespaced_secret(f"{release}-tenanthub-tokens", namespace).data
        run(kubeconfig, HELM, "upgrade", release, str(CHART), "-n", namespace,
            "-f", str(values(tmp_path, "8")))  # fmt: skip
        assert checksum(apps, namespace, hub) != before
        kept = core_v1.read_namespaced_secret(f"{release}-tenanthub-tokens", namespace).data
        assert kept == tokens
        secret = core_v1.read_namespaced_secret(f"{hub}-config", namespace)
        import base64

        config = yaml.safe_load(base64.b64decode(secret.data["tenanthub.yaml"]))
        assert config["tenants"][0]["quota"]["cpu"] == "8"

        run(kubeconfig, HELM, "uninstall", release, "-n", namespace)
        with pytest.raises(ApiException) as gone:
            apps.read_namespaced_deployment(hub, namespace)
        assert gone.value.status == 404
        # tenant data stays: the volume, Retain; the hub's data claim and tokens are kept
        assert core_v1.read_persistent_volume(pv_name).spec.persistent_volume_reclaim_policy == (
            "Retain"
        )
        core_v1.read_namespaced_persistent_volume_claim(f"{hub}-data", namespace)
        core_v1.read_namespaced_secret(f"{release}-tenanthub-tokens", namespace)
    finally:
        subprocess.run(
            [str(HELM), "uninstall", release, "-n", namespace],
            env={**os.environ, "KUBECONFIG": str(kubeconfig)},
            capture_output=True,
            check=False,
        )
        for delete in (
            lambda: core_v1.delete_persistent_volume(pv_name),
            lambda: core_v1.delete_namespace("tenanthub-system"),
        ):
            try:
                delete()
            except ApiException as exc:
                if exc.status != 404:
                    raise
