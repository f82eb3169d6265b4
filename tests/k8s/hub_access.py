"""The hub's own identity on the test cluster: a ServiceAccount bound to nothing but
TenantHub's hub ClusterRole (``spawner/kubernetes/rbac.py``).

Provisioning and spawning tests run as this account, not as cluster-admin, so a
permission missing from the role the README documents fails a test here.
Tenant names made by ``new_tenant`` are unique per test; their namespaces and
volumes are deleted afterwards (in the background: deletion takes 10-26 s here).
"""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml
from kubernetes import client
from kubernetes.client.rest import ApiException

from spawner.kubernetes.rbac import hub_cluster_role, hub_cluster_role_binding

HUB_NAMESPACE = "tenanthub"
HUB_ACCOUNT = "tenanthub-hub"
TEST_ROLE = "tenanthub-hub-test"


def _ensure(create: Callable[[], object]) -> None:
    try:
        create()
    except ApiException as exc:
        if exc.status != 409:
            raise


@pytest.fixture(scope="session")
def hub_kubeconfig(
    kubeconfig: Path, kube_api: client.ApiClient, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """A kubeconfig for the hub's ServiceAccount (least privilege, token auth)."""
    core = client.CoreV1Api(kube_api)
    rbac = client.RbacAuthorizationV1Api(kube_api)
    _ensure(
        lambda: core.create_namespace(
            {"metadata": {"name": HUB_NAMESPACE, "labels": {"tenanthub.io/test": "1"}}}
        )
    )
    _ensure(
        lambda: core.create_namespaced_service_account(
            HUB_NAMESPACE, {"metadata": {"name": HUB_ACCOUNT}}
        )
    )
    role = hub_cluster_role(TEST_ROLE)
    try:
        rbac.replace_cluster_role(TEST_ROLE, role)
    except ApiException as exc:
        if exc.status != 404:
            raise
        rbac.create_cluster_role(role)
    binding = hub_cluster_role_binding(HUB_ACCOUNT, HUB_NAMESPACE, TEST_ROLE)
    try:
        rbac.replace_cluster_role_binding(TEST_ROLE, binding)
    except ApiException as exc:
        if exc.status != 404:
            raise
        rbac.create_cluster_role_binding(binding)
    deadline = time.monotonic() + 20
    token = None
    while token is None:  # v1.20: the controller-manager writes a token Secret
        account = core.read_namespaced_service_account(HUB_ACCOUNT, HUB_NAMESPACE)
        for ref in account.secrets or []:
            secret = core.read_namespaced_secret(ref.name, HUB_NAMESPACE)
            if secret.data and "token" in secret.data:
                token = base64.b64decode(secret.data["token"]).decode()
        if token is None:
            assert time.monotonic() < deadline, "no ServiceAccount token after 20 s"
            time.sleep(0.2)
    admin = yaml.safe_load(kubeconfig.read_text())
    cluster = admin["clusters"][0]
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [cluster],
        "users": [{"name": HUB_ACCOUNT, "user": {"token": token}}],
        "contexts": [{"name": "hub", "context": {"cluster": cluster["name"], "user": HUB_ACCOUNT}}],
        "current-context": "hub",
    }
    path = tmp_path_factory.mktemp("hub-kube") / "hub.kubeconfig"
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)
    return path


@pytest.fixture
def new_tenant(kube_api: client.ApiClient) -> Iterator[Callable[[], str]]:
    """Factory of unique tenant names; their namespaces and volumes go after the test."""
    made: list[str] = []

    def make() -> str:
        name = f"kt-{uuid.uuid4().hex[:8]}"
        made.append(name)
        return name

    yield make
    core = client.CoreV1Api(kube_api)
    for name in made:
        for delete in (
            lambda n=name: core.delete_namespace(f"th-{n}", propagation_policy="Background"),
            lambda n=name: core.delete_persistent_volume(f"tenanthub-th-{n}"),
        ):
            try:
                delete()
            except ApiException as exc:
                if exc.status != 404:
                    raise
