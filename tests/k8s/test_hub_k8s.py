"""Spawning through the hub on the real API server and kubelet.

The hub runs as its least-privilege ServiceAccount. Pods run on the real
kubelet of the test cluster (dockershim on the project's Docker engine); the
cluster has no pod network, so the backend runs in ``host_network`` mode:
each server gets its own port on 127.0.0.1. That mode is the one Pod Security
Standards violation of these pods (hostNetwork), asserted below as exactly that.

Tenant storage: kernel NFS mounts are impossible here, so the tenant claim
binds a hostPath volume the test makes (the pod itself only sees a
persistentVolumeClaim); its home folder is pre-created for uid 1000 the way an
NFS export with ``all_squash,anonuid=1000`` would own it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from hub.config.schema import PlatformConfig
from hub.tenancy.seed import spec_from_config
from spawner.kubernetes.manifests import tenant_objects
from spawner.kubernetes.provision import provision
from spawner.kubernetes.pss import restricted_violations
from tests.integration.conftest import BASE_CONFIG, hub_factory  # noqa: F401 - fixture
from tests.integration.hubrunner import Browser
from tests.k8s import NOTEBOOK_IMAGE, restricted_pod
from tests.k8s.test_provision_k8s import run

pytestmark = pytest.mark.integration
STORAGE_CLASS = "tenanthub-test-hostpath"


def k8s_config(tenant: str, kubeconfig: Path, **quota: Any) -> dict[str, Any]:
    config = json.loads(json.dumps(BASE_CONFIG))
    config["backend"] = {
        "kind": "kubernetes",
        "kubernetes": {"kubeconfig": str(kubeconfig), "host_network": True, "start_timeout": 120},
    }
    for profile in config["profiles"]:
        profile["image"] = NOTEBOOK_IMAGE
    config["tenants"] = [
        {
            "name": tenant,
            "quota": {"servers": 2, "cpu": "4", "memory": "8Gi", **quota},
            "members": [{"user": "alice", "role": "admin"}, {"user": "bob"}],
            "storage": {"size": "1Gi", "storage_class": STORAGE_CLASS},
        }
    ]
    return config


def host_volume(core: client.CoreV1Api, tenant: str, root: Path, users: list[str]) -> None:
    """A hostPath PV reserved for the tenant's claim, with homes owned by uid 1000."""
    for sub in ["shared", *(f"home/{u}" for u in users)]:
        (root / sub).mkdir(parents=True, exist_ok=True)
        os.chown(root / sub, 1000, 1000)
    core.create_persistent_volume(
        {
            "metadata": {"name": f"tenanthub-th-{tenant}", "labels": {"tenanthub.io/test": "1"}},
            "spec": {
                "capacity": {"storage": "1Gi"},
                "accessModes": ["ReadWriteMany"],
                "persistentVolumeReclaimPolicy": "Retain",
                "storageClassName": STORAGE_CLASS,
                "hostPath": {"path": str(root), "type": "Directory"},
                "claimRef": {"namespace": f"th-{tenant}", "name": "tenanthub-data"},
            },
        }
    )


def container_port(pod: client.V1Pod) -> int:
    return int(pod.spec.containers[0].ports[0].container_port)


def pods_of(core: client.CoreV1Api, tenant: str) -> list[client.V1Pod]:
    return core.list_namespaced_pod(
        f"th-{tenant}", label_selector="app.kubernetes.io/managed-by=tenanthub"
    ).items


def test_spawn_runs_a_restricted_pod_in_the_tenant_namespace_and_stop_deletes_it(
    hub_factory: Callable[..., Any],  # noqa: F811 - fixture
    hub_kubeconfig: Path,
    kube_api: client.ApiClient,
    new_tenant: Callable[[], str],
    notebook_image: str,
    tmp_path: Path,
) -> None:
    tenant = new_tenant()
    core = client.CoreV1Api(kube_api)
    root = tmp_path / "volume"
    host_volume(core, tenant, root, ["alice"])
    hub = hub_factory(config=k8s_config(tenant, hub_kubeconfig))
    alice = Browser(hub, "alice")
    assert alice.login().status_code == 302
    page = alice.spawn({"tenant": tenant, f"profile-{tenant}": "small"})
    assert page.status_code == 200, page.text[-2000:]
    alice.wait_ready(timeout=120)

    [pod] = pods_of(core, tenant)
    manifest = kube_api.sanitize_for_serialization(pod)
    assert pod.status.phase == "Running"
    assert pod.metadata.namespace == f"th-{tenant}"
    assert pod.metadata.labels["tenanthub.io/tenant"] == tenant
    assert pod.metadata.labels["tenanthub.io/profile"] == "small"
    assert pod.metadata.annotations["tenanthub.io/user"] == "alice"
    # host_network mode (no pod network here) is the only deviation from "restricted":
    # hostNetwork, and the hostPort the API server then defaults to the container port
    violations = restricted_violations(manifest)
    assert violations == [
        "spec.hostNetwork: must be false or unset (shares the node's namespace)",
        "spec.containers[0].ports[0].hostPort: must be 0 or unset",
    ]
    assert container_port(pod) == pod.spec.containers[0].ports[0].host_port
    security = pod.spec.security_context
    assert (security.run_as_user, security.run_as_group, security.fs_group) == (1000, 1000, 1000)
    container = pod.spec.containers[0]
    assert container.security_context.allow_privilege_escalation is False
    assert container.security_context.capabilities.drop == ["ALL"]
    assert container.resources.limits == {"cpu": "1", "memory": str(2**30)}
    mounts = {m.mount_path: m for m in container.volume_mounts}
    assert mounts["/home/jovyan"].sub_path == "home/alice"
    assert mounts["/home/jovyan/shared"].sub_path == "shared"
    [volume] = [v for v in pod.spec.volumes if v.persistent_volume_claim]
    assert volume.persistent_volume_claim.claim_name == "tenanthub-data"
    # the server's API token is not in the pod spec (tenant admins can read pods)
    env_names = {e.name for e in container.env or []}
    assert not any("TOKEN" in name for name in env_names)
    assert container.env_from[0].secret_ref.name == f"{pod.metadata.name}-env"

    # the hub reaches the server through the proxy, and files land in the tenant volume
    assert alice.open_lab().status_code == 200
    saved = alice.server_api(
        "PUT", "contents/hello.txt", json={"type": "file", "format": "text", "content": "hi"}
    )
    assert saved.status_code in (200, 201), saved.text
    assert (root / "home" / "alice" / "hello.txt").read_text() == "hi"

    # a hub restart keeps the pod and finds it again (state: namespace, pod name)
    hub.restart()
    alice.login()
    assert alice.server_api("GET", "contents/hello.txt").status_code == 200
    [same] = pods_of(core, tenant)
    assert same.metadata.uid == pod.metadata.uid

    assert alice.api("DELETE", "users/alice/server").status_code in (202, 204)
    alice.wait_stopped(timeout=60)
    deadline = time.monotonic() + 30
    while pods_of(core, tenant):
        assert time.monotonic() < deadline, "pod still there 30 s after stop"
        time.sleep(0.5)
    with pytest.raises(ApiException) as gone:
        core.read_namespaced_secret(f"{pod.metadata.name}-env", f"th-{tenant}")
    assert gone.value.status == 404


def test_live_quota_refusal_is_shown_on_the_spawn_page(
    hub_factory: Callable[..., Any],  # noqa: F811 - fixture
    hub_kubeconfig: Path,
    kube_api: client.ApiClient,
    new_tenant: Callable[[], str],
    notebook_image: str,
    tmp_path: Path,
) -> None:
    # The tenant's CPU quota is filled by a pod the hub did not start (a job, another hub
    # process): only the namespace's ResourceQuota knows it. The spawn is refused with
    # the quota's numbers before any pod is created.
    tenant = new_tenant()
    core = client.CoreV1Api(kube_api)
    host_volume(core, tenant, tmp_path / "volume", ["alice"])
    config = k8s_config(tenant, hub_kubeconfig, cpu="1500m")
    platform = PlatformConfig.model_validate(config)
    objects = tenant_objects(
        spec_from_config(platform.tenants[0]),
        list(platform.profiles),
        platform.backend.kubernetes,
        ["alice"],
    )
    run(lambda api: provision(api, objects), hub_kubeconfig)
    namespace = f"th-{tenant}"
    deadline = time.monotonic() + 20
    while not core.read_namespaced_resource_quota("tenanthub-quota", namespace).status.hard:
        assert time.monotonic() < deadline, "quota status never computed"
        time.sleep(0.2)
    other = restricted_pod("someone-elses-job", NOTEBOOK_IMAGE, command=["sleep", "300"])
    other.spec.containers[0].resources = client.V1ResourceRequirements(
        requests={"cpu": "1", "memory": "64Mi"}, limits={"cpu": "1", "memory": "64Mi"}
    )
    core.create_namespaced_pod(namespace, other)
    deadline = time.monotonic() + 20
    while core.read_namespaced_resource_quota("tenanthub-quota", namespace).status.used.get(
        "limits.cpu"
    ) in (None, "0"):
        assert time.monotonic() < deadline, "quota usage never updated"
        time.sleep(0.2)

    hub = hub_factory(config=config)
    alice = Browser(hub, "alice")
    alice.login()
    refused = alice.spawn({"tenant": tenant, f"profile-{tenant}": "small"})
    assert refused.status_code == 403, refused.text[-2000:]
    assert "over its Kubernetes quota" in refused.text
    assert "limits.cpu: 1 in use + 1 requested &gt; 1500m allowed" in refused.text
    assert [p.metadata.name for p in core.list_namespaced_pod(namespace).items] == [
        "someone-elses-job"
    ]
    core.delete_namespaced_pod("someone-elses-job", namespace, grace_period_seconds=0)


def test_hub_start_provisions_every_tenant_before_anyone_spawns(
    hub_factory: Callable[..., Any],  # noqa: F811 - fixture
    hub_kubeconfig: Path,
    kube_api: client.ApiClient,
    new_tenant: Callable[[], str],
    tmp_path: Path,
) -> None:
    tenant = new_tenant()
    hub = hub_factory(config=k8s_config(tenant, hub_kubeconfig))
    core = client.CoreV1Api(kube_api)
    deadline = time.monotonic() + 60
    while True:
        try:
            quota = core.read_namespaced_resource_quota("tenanthub-quota", f"th-{tenant}")
            break
        except ApiException as exc:
            assert exc.status == 404
        assert time.monotonic() < deadline, "tenant namespace not provisioned 60 s after start"
        time.sleep(0.5)
    assert quota.spec.hard["limits.cpu"] == "4"
    # the same as a command, against the hub's database: nothing left to change
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "hub.cli",
            "k8s",
            "provision",
            "--config",
            str(hub.config_path),
            "--tenant",
            tenant,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"{tenant}: 10 unchanged", result.stdout


def test_an_api_server_refusal_is_shown_on_the_spawn_page(
    hub_factory: Callable[..., Any],  # noqa: F811 - fixture
    hub_kubeconfig: Path,
    kube_api: client.ApiClient,
    new_tenant: Callable[[], str],
    notebook_image: str,
    tmp_path: Path,
) -> None:
    # The hub's pre-checks pass (its ledger and the tenant's own ResourceQuota have
    # room), but the API server refuses the pod: here because a cluster admin added a
    # second quota; the same path as a race with another hub. The spawn page shows the
    # API server's reason, and nothing is left running.
    tenant = new_tenant()
    core = client.CoreV1Api(kube_api)
    host_volume(core, tenant, tmp_path / "volume", ["alice"])
    config = k8s_config(tenant, hub_kubeconfig)
    platform = PlatformConfig.model_validate(config)
    objects = tenant_objects(
        spec_from_config(platform.tenants[0]),
        list(platform.profiles),
        platform.backend.kubernetes,
        ["alice"],
    )
    run(lambda api: provision(api, objects), hub_kubeconfig)
    namespace = f"th-{tenant}"
    core.create_namespaced_resource_quota(
        namespace, {"metadata": {"name": "cluster-admin-freeze"}, "spec": {"hard": {"pods": "0"}}}
    )
    deadline = time.monotonic() + 20
    while not core.read_namespaced_resource_quota("cluster-admin-freeze", namespace).status.hard:
        assert time.monotonic() < deadline, "quota status never computed"
        time.sleep(0.2)

    hub = hub_factory(config=config)
    alice = Browser(hub, "alice")
    alice.login()
    refused = alice.spawn({"tenant": tenant, f"profile-{tenant}": "small"})
    assert refused.status_code == 403, refused.text[-2000:]
    assert "Kubernetes refused the server" in refused.text
    assert "exceeded quota: cluster-admin-freeze" in refused.text
    assert core.list_namespaced_pod(namespace).items == []
    assert alice.api("GET", "users/alice").json()["servers"] == {}
