"""Fixtures of the Kubernetes tier: the test cluster's kubeconfig, API clients, throwaway
namespaces and the notebook image as the kubelet sees it.

Only the loopback test cluster of ``tests/k8s/cluster.sh`` is ever used: the kubeconfig
comes from ``TENANTHUB_TEST_KUBECONFIG`` (``make test`` exports it) or the path
``cluster.sh`` writes by default, never from a bare ``$KUBECONFIG``, and its server must
be on 127.0.0.1. A cluster that is not up is a ``need()`` skip (a failure under make test).
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from kubernetes import client, config
from kubernetes.client.rest import ApiException

from tests.conftest import need
from tests.k8s import NODE, NOTEBOOK_IMAGE, TEST_LABELS
from tests.k8s.hub_access import hub_kubeconfig, new_tenant  # noqa: F401 - fixtures

_CACHE = Path(os.environ.get("TENANTHUB_CACHE") or Path.home() / ".cache" / "tenanthub")
#: where ``tests/k8s/cluster.sh up`` writes the admin kubeconfig (default K8S_HOME)
DEFAULT_KUBECONFIG = _CACHE / "k8s" / "cluster" / "pki" / "admin.kubeconfig"
_START_HINT = "start it with `make k8s-up` (or tests/k8s/cluster.sh up)"


def _server_of(path: Path) -> str:
    kubeconfig = yaml.safe_load(path.read_text())
    current = kubeconfig["current-context"]
    context = next(c["context"] for c in kubeconfig["contexts"] if c["name"] == current)
    cluster = next(c["cluster"] for c in kubeconfig["clusters"] if c["name"] == context["cluster"])
    return str(cluster["server"])


def _node_problem(path: Path) -> str | None:
    """None if the API server answers and the node is Ready, else what is wrong."""
    api = config.new_client_from_config(config_file=str(path))
    try:
        node = client.CoreV1Api(api).read_node(NODE, _request_timeout=5)
    except ApiException as exc:
        return f"the API server answers {exc.status} {exc.reason} for node {NODE}"
    except Exception as exc:  # connection refused, TLS, timeout: the cluster is not running
        return f"the API server does not answer ({type(exc).__name__}: {exc})"
    finally:
        api.close()
    ready = [c for c in node.status.conditions or [] if c.type == "Ready"]
    if not ready or ready[0].status != "True":
        reason = f"{ready[0].reason}: {ready[0].message}" if ready else "no Ready condition"
        return f"node {NODE} is not Ready ({reason})"
    return None


@pytest.fixture(scope="session")
def kubeconfig() -> Path:
    """Path of the test cluster's admin kubeconfig (cluster up and node Ready)."""
    explicit = os.environ.get("TENANTHUB_TEST_KUBECONFIG")
    path = Path(explicit) if explicit else DEFAULT_KUBECONFIG
    if not path.is_file():
        need(f"no Kubernetes test cluster: kubeconfig {path} does not exist; {_START_HINT}")
    server = _server_of(path)
    if urlsplit(server).hostname not in {"127.0.0.1", "localhost", "::1"}:
        pytest.fail(f"{path} points at {server}: the Kubernetes tier only runs against loopback")
    problem = _node_problem(path)
    if problem:
        need(f"Kubernetes test cluster at {server} is not up: {problem}; {_START_HINT}")
    return path


@pytest.fixture(scope="session")
def kube_api(kubeconfig: Path) -> Iterator[client.ApiClient]:
    """A synchronous ``kubernetes`` ApiClient for the test cluster (cluster-admin)."""
    api = config.new_client_from_config(config_file=str(kubeconfig))
    try:
        yield api
    finally:
        api.close()


@pytest.fixture(scope="session")
def core_v1(kube_api: client.ApiClient) -> client.CoreV1Api:
    return client.CoreV1Api(kube_api)


@pytest.fixture(scope="session")
def batch_v1(kube_api: client.ApiClient) -> client.BatchV1Api:
    return client.BatchV1Api(kube_api)


@pytest.fixture(scope="session")
def rbac_v1(kube_api: client.ApiClient) -> client.RbacAuthorizationV1Api:
    return client.RbacAuthorizationV1Api(kube_api)


@pytest.fixture(scope="session")
def networking_v1(kube_api: client.ApiClient) -> client.NetworkingV1Api:
    return client.NetworkingV1Api(kube_api)


def _wait_for_default_service_account(core_v1: client.CoreV1Api, namespace: str) -> None:
    # Pods are refused until the controller-manager made the namespace's "default"
    # ServiceAccount and its token (well under a second here).
    deadline = time.monotonic() + 15
    while True:
        try:
            account = core_v1.read_namespaced_service_account("default", namespace)
            if account.secrets:
                return
        except ApiException as exc:
            if exc.status != 404:
                raise
        if time.monotonic() > deadline:
            raise AssertionError(f"no default ServiceAccount token in {namespace} after 15s")
        time.sleep(0.1)


@pytest.fixture
def make_namespace(
    core_v1: client.CoreV1Api, request: pytest.FixtureRequest
) -> Iterator[Callable[..., str]]:
    """Factory: ``make_namespace(labels=None) -> name`` of a fresh namespace, ready for pods.

    Names are ``tht-<random>``, labelled ``tenanthub.io/test=1`` (plus ``labels``) and
    annotated with the test's node id. Every namespace made is deleted after the test,
    without waiting: deletion takes 10-26 s on this cluster and finishes in the background.
    """
    created: list[str] = []

    def make(labels: dict[str, str] | None = None) -> str:
        name = f"tht-{uuid.uuid4().hex[:10]}"
        body = client.V1Namespace(
            metadata=client.V1ObjectMeta(
                name=name,
                labels={**TEST_LABELS, **(labels or {})},
                annotations={"tenanthub.io/test-nodeid": request.node.nodeid},
            )
        )
        core_v1.create_namespace(body)
        created.append(name)
        _wait_for_default_service_account(core_v1, name)
        return name

    yield make
    for name in created:
        try:
            core_v1.delete_namespace(name, propagation_policy="Background")
        except ApiException as exc:
            if exc.status != 404:
                raise


@pytest.fixture
def namespace(make_namespace: Callable[..., str]) -> str:
    """One throwaway namespace for this test (see ``make_namespace``)."""
    return make_namespace()


@pytest.fixture(scope="session")
def notebook_image(core_v1: client.CoreV1Api) -> str:
    """``tenanthub/notebook-cpu:latest``, checked to be in the kubelet's Docker engine.

    The kubelet reports its engine's images in the node status (every 4 s), so this is
    what pods can run with ``imagePullPolicy: Never``.
    """
    deadline = time.monotonic() + 10
    while True:
        node = core_v1.read_node(NODE)
        names = {name for image in node.status.images or [] for name in image.names or []}
        if NOTEBOOK_IMAGE in names or f"docker.io/{NOTEBOOK_IMAGE}" in names:
            return NOTEBOOK_IMAGE
        if time.monotonic() > deadline:
            need(
                f"{NOTEBOOK_IMAGE} is not in the kubelet's Docker engine ({len(names)} image "
                "names reported by the node); build it there with `scripts/build-images.sh "
                "base cpu` (same DOCKER_HOST as `tests/k8s/cluster.sh env`)"
            )
        time.sleep(1)
