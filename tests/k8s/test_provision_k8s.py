"""Provisioning a tenant on the real API server, as the hub's least-privilege account."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml
from kubernetes import client
from kubernetes.client.rest import ApiException
from kubernetes_asyncio import config as async_config

from hub.config.schema import KubernetesBackendSettings, PlatformConfig
from hub.tenancy import db
from hub.tenancy.seed import spec_from_config
from hub.tenancy.store import TenantStore
from spawner.kubernetes.manifests import OPTIONAL_OBJECTS, tenant_objects
from spawner.kubernetes.provision import (
    ProvisioningError,
    ProvisionReport,
    delete_tenant_namespace,
    provision,
)
from tests.k8s import NOTEBOOK_IMAGE, restricted_pod

T = TypeVar("T")


def run(factory: Callable[[Any], Awaitable[T]], kubeconfig: Path) -> T:
    """Run one coroutine with a kubernetes_asyncio client for ``kubeconfig``."""

    async def main() -> T:
        api = await async_config.new_client_from_config(config_file=str(kubeconfig))
        async with api:
            return await factory(api)

    return asyncio.run(main())


def platform(tenant: str, quota: dict[str, Any], **storage: Any) -> PlatformConfig:
    return PlatformConfig.model_validate(
        {
            "profiles": [
                {
                    "name": "small",
                    "image": NOTEBOOK_IMAGE,
                    "cpu": {"limit": "500m"},
                    "memory": {"limit": "256Mi"},
                },
                {
                    "name": "big",
                    "image": NOTEBOOK_IMAGE,
                    "cpu": {"limit": "2"},
                    "memory": {"limit": "2Gi"},
                },
            ],
            "tenants": [
                {
                    "name": tenant,
                    "quota": quota,
                    "members": [{"user": "alice", "role": "admin"}, {"user": "bob"}],
                    "storage": {"size": "5Gi", **storage},
                }
            ],
        }
    )


def objects_of(config: PlatformConfig, admins: list[str] | None = None) -> list[dict[str, Any]]:
    settings: KubernetesBackendSettings = config.backend.kubernetes
    return tenant_objects(
        spec_from_config(config.tenants[0]),
        list(config.profiles),
        settings,
        ["alice"] if admins is None else admins,
    )


def provision_as_hub(objects: list[dict[str, Any]], kubeconfig: Path) -> ProvisionReport:
    return run(lambda api: provision(api, objects, OPTIONAL_OBJECTS), kubeconfig)


def names_in(kube_api: client.ApiClient, namespace: str) -> dict[str, set[str]]:
    core = client.CoreV1Api(kube_api)
    net = client.NetworkingV1Api(kube_api)
    rbac = client.RbacAuthorizationV1Api(kube_api)
    listed = {
        "ResourceQuota": core.list_namespaced_resource_quota(namespace),
        "LimitRange": core.list_namespaced_limit_range(namespace),
        "NetworkPolicy": net.list_namespaced_network_policy(namespace),
        "ServiceAccount": core.list_namespaced_service_account(namespace),
        "PersistentVolumeClaim": core.list_namespaced_persistent_volume_claim(namespace),
        "Role": rbac.list_namespaced_role(namespace),
        "RoleBinding": rbac.list_namespaced_role_binding(namespace),
    }
    found = {kind: {item.metadata.name for item in result.items} for kind, result in listed.items()}
    found["ServiceAccount"].discard("default")  # made by the controller-manager
    return {kind: names for kind, names in found.items() if names}


def expected_names(objects: list[dict[str, Any]]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for obj in objects:
        if obj["kind"] in ("Namespace", "PersistentVolume"):
            continue
        out.setdefault(obj["kind"], set()).add(obj["metadata"]["name"])
    return out


def test_provisioning_creates_exactly_the_expected_objects_and_is_idempotent(
    hub_kubeconfig: Path, kube_api: client.ApiClient, new_tenant: Callable[[], str]
) -> None:
    tenant = new_tenant()
    config = platform(
        tenant,
        {"servers": 2, "cpu": "2", "memory": "4Gi", "storage": "5Gi", "running_jobs": 1},
        nfs={"server": "127.0.0.1", "path": f"/exports/{tenant}"},
    )
    objects = objects_of(config)
    first = provision_as_hub(objects, hub_kubeconfig)
    assert set(first.actions.values()) == {"create"}, first.actions

    core = client.CoreV1Api(kube_api)
    ns = core.read_namespace(f"th-{tenant}")
    assert ns.metadata.labels["pod-security.kubernetes.io/enforce"] == "restricted"
    assert ns.metadata.labels["tenanthub.io/tenant"] == tenant
    assert names_in(kube_api, f"th-{tenant}") == expected_names(objects)
    quota = core.read_namespaced_resource_quota("tenanthub-quota", f"th-{tenant}")
    assert quota.spec.hard["pods"] == "3" and quota.spec.hard["limits.cpu"] == "2"
    account = core.read_namespaced_service_account("notebook", f"th-{tenant}")
    assert account.automount_service_account_token is False
    pv = core.read_persistent_volume(f"tenanthub-th-{tenant}")
    assert pv.spec.persistent_volume_reclaim_policy == "Retain"
    assert pv.spec.nfs.server == "127.0.0.1" and pv.spec.nfs.path == f"/exports/{tenant}"
    assert pv.spec.mount_options == ["nfsvers=4.1", "hard"]
    deadline = time.monotonic() + 20  # the claim binds to the static volume by name
    while (
        core.read_namespaced_persistent_volume_claim("tenanthub-data", f"th-{tenant}").status.phase
        != "Bound"
    ):
        assert time.monotonic() < deadline, "tenant claim did not bind to its NFS volume"
        time.sleep(0.3)

    second = provision_as_hub(objects, hub_kubeconfig)
    assert set(second.actions.values()) == {"unchanged"}, second.actions
    assert second.changed == []


def test_a_quota_change_replaces_the_resource_quota_and_nothing_else(
    hub_kubeconfig: Path, kube_api: client.ApiClient, new_tenant: Callable[[], str]
) -> None:
    tenant = new_tenant()
    provision_as_hub(objects_of(platform(tenant, {"servers": 2, "cpu": "2"})), hub_kubeconfig)
    changed = objects_of(platform(tenant, {"servers": 2, "cpu": "3"}))
    report = provision_as_hub(changed, hub_kubeconfig)
    assert report.changed == [f"ResourceQuota/th-{tenant}/tenanthub-quota"], report.actions
    quota = client.CoreV1Api(kube_api).read_namespaced_resource_quota(
        "tenanthub-quota", f"th-{tenant}"
    )
    assert quota.spec.hard["limits.cpu"] == "3"


def test_turning_tenant_admin_access_off_deletes_its_role(
    hub_kubeconfig: Path, kube_api: client.ApiClient, new_tenant: Callable[[], str]
) -> None:
    tenant = new_tenant()
    config = platform(tenant, {"servers": 1})
    provision_as_hub(objects_of(config), hub_kubeconfig)
    rbac = client.RbacAuthorizationV1Api(kube_api)
    binding = rbac.read_namespaced_role_binding("tenanthub-tenant-admin-readonly", f"th-{tenant}")
    assert [s.name for s in binding.subjects] == ["alice"]
    report = provision_as_hub(objects_of(config, admins=[]), hub_kubeconfig)
    assert report.actions[f"Role/th-{tenant}/tenanthub-tenant-admin-readonly"] == "deleted"
    assert names_in(kube_api, f"th-{tenant}").get("Role") is None


def test_resource_quota_admission_refuses_an_over_quota_pod(
    hub_kubeconfig: Path, kube_api: client.ApiClient, new_tenant: Callable[[], str]
) -> None:
    tenant = new_tenant()
    # one server, no jobs: pods = 1; the LimitRange fills in requests and limits
    provision_as_hub(
        objects_of(
            platform(tenant, {"servers": 1, "running_jobs": 0, "cpu": "1", "memory": "1Gi"})
        ),
        hub_kubeconfig,
    )
    core = client.CoreV1Api(kube_api)
    namespace = f"th-{tenant}"
    deadline = time.monotonic() + 20
    while not (core.read_namespaced_resource_quota("tenanthub-quota", namespace).status.hard):
        assert time.monotonic() < deadline, "quota status never computed"
        time.sleep(0.2)
    sleeper = restricted_pod("first", NOTEBOOK_IMAGE, command=["sleep", "300"])
    sleeper.spec.containers[0].resources = None  # defaults come from the LimitRange
    created = core.create_namespaced_pod(namespace, sleeper)
    limits = created.spec.containers[0].resources.limits
    assert limits == {"cpu": "500m", "memory": "256Mi"}  # the smallest profile
    second = restricted_pod("second", NOTEBOOK_IMAGE, command=["sleep", "300"])
    second.spec.containers[0].resources = None
    with pytest.raises(ApiException) as refused:
        core.create_namespaced_pod(namespace, second)
    assert refused.value.status == 403
    assert "exceeded quota: tenanthub-quota" in refused.value.body
    core.delete_namespaced_pod("first", namespace, grace_period_seconds=0)


def test_deleting_a_tenant_needs_confirmation_and_keeps_its_volume(
    hub_kubeconfig: Path, kube_api: client.ApiClient, new_tenant: Callable[[], str]
) -> None:
    tenant = new_tenant()
    config = platform(
        tenant, {"servers": 1}, nfs={"server": "127.0.0.1", "path": f"/exports/{tenant}"}
    )
    provision_as_hub(objects_of(config), hub_kubeconfig)
    namespace = f"th-{tenant}"
    with pytest.raises(ProvisioningError, match="needs confirmation"):
        run(lambda api: delete_tenant_namespace(api, namespace, tenant, "yes"), hub_kubeconfig)
    core = client.CoreV1Api(kube_api)
    assert core.read_namespace(namespace).status.phase == "Active"
    deleted = run(
        lambda api: delete_tenant_namespace(api, namespace, tenant, tenant), hub_kubeconfig
    )
    assert deleted is True
    assert core.read_namespace(namespace).status.phase == "Terminating"
    pv = core.read_persistent_volume(f"tenanthub-th-{tenant}")
    assert pv.spec.persistent_volume_reclaim_policy == "Retain"


def test_the_hub_account_cannot_read_secrets_or_nodes(
    hub_kubeconfig: Path,
) -> None:
    async def probe(api: Any) -> list[int]:
        from kubernetes_asyncio import client as async_client
        from kubernetes_asyncio.client.exceptions import ApiException as AsyncApiException

        core = async_client.CoreV1Api(api)
        statuses = []
        for call in (
            lambda: core.list_namespaced_secret("kube-system"),
            lambda: core.read_namespaced_secret("anything", "default"),
            lambda: core.list_node(),
        ):
            try:
                await call()
                statuses.append(200)
            except AsyncApiException as exc:
                statuses.append(exc.status)
        return statuses

    assert run(probe, hub_kubeconfig) == [403, 403, 403]


def tenanthub(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hub.cli", *args],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_delete_tenant_command_needs_confirmation_and_keeps_the_volume(
    hub_kubeconfig: Path, kube_api: client.ApiClient, new_tenant: Callable[[], str], tmp_path: Path
) -> None:
    tenant = new_tenant()
    config_file = tmp_path / "tenanthub.yaml"
    config_file.write_text(
        yaml.safe_dump(
            {
                "hub": {"data_dir": str(tmp_path / "data")},
                "backend": {
                    "kind": "kubernetes",
                    "kubernetes": {"kubeconfig": str(hub_kubeconfig)},
                },
                "tenants": [
                    {
                        "name": tenant,
                        "members": [{"user": "alice"}],
                        "storage": {"nfs": {"server": "127.0.0.1", "path": f"/exports/{tenant}"}},
                    }
                ],
            }
        )
    )
    provisioned = tenanthub("k8s", "provision", "--config", str(config_file))
    assert provisioned.returncode == 0, provisioned.stderr
    assert provisioned.stdout.startswith(f"{tenant}: ")
    core = client.CoreV1Api(kube_api)

    refused = tenanthub("k8s", "delete-tenant", tenant, "--config", str(config_file))
    assert refused.returncode == 1 and f"--confirm {tenant}" in refused.stderr
    assert core.read_namespace(f"th-{tenant}").status.phase == "Active"

    deleted = tenanthub(
        "k8s", "delete-tenant", tenant, "--config", str(config_file), "--confirm", tenant
    )
    assert deleted.returncode == 0, deleted.stderr
    assert "1 membership(s), 0 job(s) with 0 run(s) and 0 data source(s) removed" in (
        deleted.stdout
    )
    assert f"volume tenanthub-th-{tenant} and its data are kept" in deleted.stdout
    assert "still lists tenant" in deleted.stderr  # the config would seed it again
    assert core.read_namespace(f"th-{tenant}").status.phase == "Terminating"
    assert core.read_persistent_volume(f"tenanthub-th-{tenant}").spec.nfs.path == (
        f"/exports/{tenant}"
    )
    engine = db.make_engine(f"sqlite:///{tmp_path / 'data' / 'tenanthub.sqlite'}")
    assert tenant not in TenantStore(engine).tenant_names()
    engine.dispose()
