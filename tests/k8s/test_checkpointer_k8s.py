"""Kubernetes mode of the checkpointer on the real test cluster.

The pod source runs as the DaemonSet's own ServiceAccount (bound only to the
builder's ClusterRole), so a permission the role lacks fails here: it finds the
TenantHub notebook pods of its node with their Docker container ids (checked on
the engine the kubelet uses), leaves out pods of other nodes and unlabelled pods,
and follows creations and deletions through the watch without listing again.
The role itself is checked with SubjectAccessReviews: read pods, nothing more.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import docker
import docker.errors
import pytest
import yaml
from kubernetes import client
from kubernetes.client.rest import ApiException
from kubernetes_asyncio import config as async_config

from checkpointer import daemonset, endpoint
from checkpointer.daemon import Checkpointer, DockerDetails, Outcome, settings_from_config
from checkpointer.drivers.base import ContainerRef
from checkpointer.drivers.docker import DockerDriver
from checkpointer.names import LABEL_SERVER, LABEL_USERNAME, repository_for
from checkpointer.platform_client import PlatformClient, ServerEndpoint, load_token
from checkpointer.sources import (
    NOTEBOOK_CONTAINER,
    NOTEBOOK_POD_SELECTOR,
    KubernetesPodSource,
    PodDetails,
)
from hub.app.service_tokens import CHECKPOINTER, token_path
from hub.config.loader import load_config
from tests.integration.conftest import hub_factory  # noqa: F401 - fixture
from tests.integration.hubrunner import Browser, free_port
from tests.integration.test_checkpoint_daemon import registry_has
from tests.k8s import (
    NODE,
    PAUSE_IMAGE,
    TEST_LABELS,
    restricted_pod,
    wait_for_pod_phase,
    wait_while_terminating,
)
from tests.k8s.test_hub_k8s import host_volume, k8s_config, pods_of
from tests.services.registry import RegistryServer

pytestmark = pytest.mark.timeout(120)
T = TypeVar("T")
ACCOUNT = f"system:serviceaccount:{daemonset.NAMESPACE}:{daemonset.NAME}"


def _apply(create: Callable[[], object], replace: Callable[[], object] | None = None) -> None:
    try:
        create()
    except ApiException as exc:
        if exc.status != 409:
            raise
        if replace is not None:
            replace()


@pytest.fixture(scope="session")
def checkpointer_kubeconfig(
    kubeconfig: Path, kube_api: client.ApiClient, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """The builder's Namespace, ServiceAccount, ClusterRole and binding applied; a kubeconfig
    with that ServiceAccount's token."""
    core = client.CoreV1Api(kube_api)
    rbac = client.RbacAuthorizationV1Api(kube_api)
    ns, account, role, binding, _ = daemonset.manifests(
        daemonset.DaemonSetSettings(image=PAUSE_IMAGE, hub_url="http://127.0.0.1:8000/")
    )
    ns["metadata"]["labels"].update(TEST_LABELS)
    wait_while_terminating(core, daemonset.NAMESPACE)  # e.g. the chart test's uninstall
    _apply(lambda: core.create_namespace(ns), lambda: core.patch_namespace(daemonset.NAMESPACE, ns))
    _apply(lambda: core.create_namespaced_service_account(daemonset.NAMESPACE, account))
    _apply(
        lambda: rbac.create_cluster_role(role),
        lambda: rbac.replace_cluster_role(daemonset.NAME, role),
    )
    _apply(
        lambda: rbac.create_cluster_role_binding(binding),
        lambda: rbac.replace_cluster_role_binding(daemonset.NAME, binding),
    )
    deadline = time.monotonic() + 20
    token = None
    while token is None:  # v1.20: the controller-manager writes a token Secret
        found = core.read_namespaced_service_account(daemonset.NAME, daemonset.NAMESPACE)
        for ref in found.secrets or []:
            secret = core.read_namespaced_secret(ref.name, daemonset.NAMESPACE)
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
        "users": [{"name": daemonset.NAME, "user": {"token": token}}],
        "contexts": [
            {"name": "ckpt", "context": {"cluster": cluster["name"], "user": daemonset.NAME}}
        ],
        "current-context": "ckpt",
    }
    path = tmp_path_factory.mktemp("checkpointer-kube") / "checkpointer.kubeconfig"
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)
    return path


def notebook_like_pod(
    name: str, image: str, *, labelled: bool = True, node: str | None = None
) -> client.V1Pod:
    """A pod labelled and annotated as the Kubernetes spawner does it (a sleeping notebook
    container); ``node`` binds it to a node by name without the scheduler."""
    labels = (
        {
            **NOTEBOOK_POD_SELECTOR,
            "tenanthub.io/tenant": "vision",
            "tenanthub.io/profile": "small",
            "hub.jupyter.org/servername": "",
        }
        if labelled
        else {"app": "not-tenanthub"}
    )
    pod = restricted_pod(name, image, args=["sleep", "600"], labels=labels)
    pod.metadata.annotations = {"hub.jupyter.org/username": f"{name}@example.org"}
    pod.spec.containers[0].name = NOTEBOOK_CONTAINER
    pod.spec.containers[0].image_pull_policy = "IfNotPresent"
    pod.spec.termination_grace_period_seconds = 1
    # as the spawner sets them, with a server bound to all of the pod's addresses
    pod.spec.containers[0].env = [
        client.V1EnvVar(name="JUPYTERHUB_SERVICE_URL", value=f"http://0.0.0.0:18888/user/{name}/"),
        client.V1EnvVar(name="JUPYTERHUB_API_TOKEN", value=f"token-of-{name}"),
    ]
    if node is not None:
        pod.spec.node_name = node
    return pod


async def wait_until(
    what: str, probe: Callable[[], Awaitable[T]], ok: Callable[[T], bool], within: float = 30
) -> T:
    deadline = time.monotonic() + within
    while True:
        value = await probe()
        if ok(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not after {within} s; last: {value!r}")
        await asyncio.sleep(0.2)


def in_namespace(refs: list[ContainerRef], namespace: str) -> dict[str, ContainerRef]:
    """This test's pods only (other tests may run notebook pods on the node meanwhile)."""
    return {r.name.split("/", 1)[1]: r for r in refs if r.name.startswith(f"{namespace}/")}


def test_the_pod_source_finds_this_nodes_notebook_pods_and_follows_the_watch(
    core_v1: client.CoreV1Api, namespace: str, notebook_image: str, checkpointer_kubeconfig: Path
) -> None:
    core_v1.create_namespaced_pod(namespace, notebook_like_pod("first", notebook_image))
    core_v1.create_namespaced_pod(
        namespace, notebook_like_pod("plain", PAUSE_IMAGE, labelled=False)
    )
    core_v1.create_namespaced_pod(
        namespace, notebook_like_pod("elsewhere", notebook_image, node="other-node")
    )
    wait_for_pod_phase(core_v1, namespace, "first", "Running")
    wait_for_pod_phase(core_v1, namespace, "plain", "Running")

    async def scenario() -> dict[str, Any]:
        api = await async_config.new_client_from_config(config_file=str(checkpointer_kubeconfig))
        source = KubernetesPodSource(api, NODE)
        other = KubernetesPodSource(api, "other-node")
        try:
            listed = in_namespace(await source.containers(), namespace)
            engine = docker.from_env()
            try:
                found = listed["first"]
                reach = (
                    PodDetails(engine, source).endpoint(found),
                    DockerDetails(engine).endpoint(found),
                )
                image_labels = PodDetails(engine, source).image_labels(found)
            finally:
                engine.close()
            pods = {
                p["metadata"]["name"]
                for p in source.cache.pods.values()
                if p["metadata"]["namespace"] == namespace
            }
            other_listed = in_namespace(await other.containers(), namespace)
            other_pods = {
                p["metadata"]["name"]
                for p in other.cache.pods.values()
                if p["metadata"]["namespace"] == namespace
            }
            # a pod made after the list comes through the watch
            core_v1.create_namespaced_pod(namespace, notebook_like_pod("second", notebook_image))
            added = await wait_until(
                "the new pod's container running",
                lambda: source.containers(),
                lambda refs: (
                    (r := in_namespace(refs, namespace).get("second")) is not None and r.running
                ),
            )
            core_v1.delete_namespaced_pod("first", namespace, grace_period_seconds=0)
            removed = await wait_until(
                "the deleted pod gone",
                lambda: source.containers(),
                lambda refs: "first" not in in_namespace(refs, namespace),
            )
            return {
                "listed": listed,
                "reach": reach,
                "image_labels": image_labels,
                "pods": pods,
                "other_listed": other_listed,
                "other_pods": other_pods,
                "added": in_namespace(added, namespace),
                "removed": in_namespace(removed, namespace),
                "lists": source.lists,
            }
        finally:
            await source.close()
            await other.close()
            await api.close()

    out = asyncio.run(scenario())

    # the labelled pod of this node, and neither the unlabelled one nor the other node's
    assert out["pods"] == {"first"}
    assert set(out["listed"]) == {"first"}
    first = out["listed"]["first"]
    assert first.running
    assert first.labels[LABEL_USERNAME] == "first@example.org"
    assert first.labels[LABEL_SERVER] == ""
    assert first.labels["tenanthub.io/tenant"] == "vision"
    # the server is reached at the pod's address (the engine knows none for it)
    assert out["reach"] == (
        ServerEndpoint("http://127.0.0.1:18888/user/first/", "token-of-first"),
        None,
    )
    assert out["image_labels"]["io.tenanthub.profile"] == "cpu"  # the image's own labels
    # the other node's pod is there for its own node's source, not yet a container
    assert out["other_pods"] == {"elsewhere"} and out["other_listed"] == {}

    # the id is the Docker container the kubelet runs for that pod
    engine = docker.from_env()
    try:
        info = engine.api.inspect_container(first.id)
    finally:
        engine.close()
    labels = info["Config"]["Labels"]
    assert labels["io.kubernetes.pod.namespace"] == namespace
    assert labels["io.kubernetes.pod.name"] == "first"
    assert labels["io.kubernetes.container.name"] == NOTEBOOK_CONTAINER
    assert info["Id"] == first.id and info["Image"] == first.image

    assert set(out["added"]) == {"first", "second"}
    assert set(out["removed"]) == {"second"}
    assert out["lists"] == 1  # creation and deletion came through the watch, not a re-list


def _review(authz: client.AuthorizationV1Api, verb: str, resource: str, **attrs: Any) -> bool:
    review = client.V1SubjectAccessReview(
        spec=client.V1SubjectAccessReviewSpec(
            user=ACCOUNT,
            groups=["system:serviceaccounts", f"system:serviceaccounts:{daemonset.NAMESPACE}"],
            resource_attributes=client.V1ResourceAttributes(verb=verb, resource=resource, **attrs),
        )
    )
    return bool(authz.create_subject_access_review(review).status.allowed)


def test_the_service_account_may_read_pods_and_nothing_else(
    kube_api: client.ApiClient, checkpointer_kubeconfig: Path
) -> None:
    authz = client.AuthorizationV1Api(kube_api)
    allowed = {
        (verb, resource): _review(authz, verb, resource, **extra)
        for verb, resource, extra in [
            ("list", "pods", {}),
            ("watch", "pods", {}),
            ("get", "pods", {"namespace": "th-vision"}),
            ("create", "pods", {"namespace": "th-vision"}),
            ("delete", "pods", {"namespace": "th-vision"}),
            ("patch", "pods", {"namespace": "th-vision"}),
            ("create", "pods/exec", {"namespace": "th-vision"}),
            ("get", "secrets", {"namespace": daemonset.NAMESPACE}),
            ("list", "secrets", {}),
            ("delete", "namespaces", {}),
            ("list", "nodes", {}),
            ("delete", "daemonsets", {"namespace": daemonset.NAMESPACE, "group": "apps"}),
        ]
    }
    assert allowed == {
        ("list", "pods"): True,
        ("watch", "pods"): True,
        ("get", "pods"): True,
        ("create", "pods"): False,
        ("delete", "pods"): False,
        ("patch", "pods"): False,
        ("create", "pods/exec"): False,
        ("get", "secrets"): False,
        ("list", "secrets"): False,
        ("delete", "namespaces"): False,
        ("list", "nodes"): False,
        ("delete", "daemonsets"): False,
    }

    # and the API server really answers so to the account's own token
    from kubernetes import config

    own = config.new_client_from_config(config_file=str(checkpointer_kubeconfig))
    try:
        core = client.CoreV1Api(own)
        core.list_pod_for_all_namespaces(field_selector=f"spec.nodeName={NODE}", limit=1)
        for forbidden in (
            lambda: core.list_namespaced_secret(daemonset.NAMESPACE),
            lambda: core.create_namespaced_pod(
                daemonset.NAMESPACE, restricted_pod(f"x-{uuid.uuid4().hex[:6]}", PAUSE_IMAGE)
            ),
            lambda: core.delete_namespace("th-vision"),
        ):
            with pytest.raises(ApiException) as refused:
                forbidden()
            assert refused.value.status == 403
    finally:
        own.close()


def test_the_daemon_set_is_accepted_by_the_api_server(
    kube_api: client.ApiClient, checkpointer_kubeconfig: Path
) -> None:
    """Server-side dry run: the v1.20 API server admits the DaemonSet as built."""
    manifest = daemonset.daemon_set(
        daemonset.DaemonSetSettings(
            image="tenanthub/notebook-cpu:latest",
            hub_url="http://127.0.0.1:8000/",
            node_selector={"kubernetes.io/os": "linux"},
            tolerations=({"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},),
            port=18085,
        )
    )
    apps = client.AppsV1Api(kube_api)
    made = apps.create_namespaced_daemon_set(daemonset.NAMESPACE, manifest, dry_run="All")
    spec = made.spec.template.spec
    assert [v.host_path.path for v in spec.volumes if v.host_path] == ["/var/run/docker.sock"]
    assert spec.service_account_name == daemonset.NAME
    with pytest.raises(ApiException) as absent:  # a dry run stores nothing
        apps.read_namespaced_daemon_set(daemonset.NAME, daemonset.NAMESPACE)
    assert absent.value.status == 404


@pytest.mark.integration
@pytest.mark.timeout(300)
def test_a_tick_in_kubernetes_mode_checkpoints_a_spawned_server_to_the_registry(
    hub_factory: Callable[..., Any],  # noqa: F811 - fixture
    hub_kubeconfig: Path,
    checkpointer_kubeconfig: Path,
    kube_api: client.ApiClient,
    new_tenant: Callable[[], str],
    notebook_image: str,
    registry: RegistryServer,
    tmp_path: Path,
) -> None:
    """A server the hub spawned on the cluster: found through the pod watch (as the
    DaemonSet's ServiceAccount), idle, committed, pushed and ready through the API."""
    tenant = new_tenant()
    core = client.CoreV1Api(kube_api)
    host_volume(core, tenant, tmp_path / "volume", ["alice"])
    config = k8s_config(tenant, hub_kubeconfig)
    daemon_port = free_port()
    config["checkpoint"] = {
        "registry": registry.address, "idle_after": 60, "run_daemon": False,
        "daemon_port": daemon_port, "stop_wait": 120,
    }  # fmt: skip
    hub = hub_factory(config=config)
    alice = Browser(hub, "alice")
    assert alice.login().status_code == 302
    page = alice.spawn({"tenant": tenant, f"profile-{tenant}": "small"})
    assert page.status_code == 200, page.text[-2000:]
    alice.wait_ready(timeout=120)
    [pod] = pods_of(core, tenant)
    engine = docker.from_env()
    # a change outside the home volume (what a checkpoint is for)
    container_id = pod.status.container_statuses[0].container_id.split("://", 1)[1]
    wrote = engine.api.exec_start(
        engine.api.exec_create(container_id, ["sh", "-c", "echo one > /tmp/th-proof"])
    )
    assert wrote == b"", wrote

    platform = load_config(hub.config_path)
    token = load_token({}, token_path(platform.hub.data_dir, CHECKPOINTER.name))
    later = datetime.now(UTC) + timedelta(hours=2)

    def stop_server() -> None:
        """Alice stops her server: the spawner asks the node's checkpointer first."""
        engine.api.exec_start(
            engine.api.exec_create(container_id, ["sh", "-c", "echo two > /tmp/th-proof2"])
        )
        stopped = alice.api("DELETE", "users/alice/server")
        assert stopped.status_code in (202, 204), stopped.text
        alice.wait_stopped(timeout=150)

    async def scenario() -> list[Outcome]:
        api = await async_config.new_client_from_config(config_file=str(checkpointer_kubeconfig))
        pods = KubernetesPodSource(api, NODE)
        driver = DockerDriver(engine)
        daemon = Checkpointer(
            settings=settings_from_config(platform, NODE),
            driver=driver,
            api=PlatformClient(hub.url, token),
            details=PodDetails(engine, pods),
            source=pods,
            clock=lambda: later,
        )
        # the pod's node address (status.hostIP) is 127.0.0.1 on the test cluster
        listener = endpoint.start(daemon, token, "127.0.0.1", daemon_port)
        try:
            outcomes = await daemon.tick()
            await asyncio.to_thread(stop_server)
            return outcomes
        finally:
            listener.stop()
            await pods.close()
            await api.close()

    try:
        outcomes = asyncio.run(scenario())
    finally:
        engine.close()
    mine = [o for o in outcomes if o.container == f"th-{tenant}/{pod.metadata.name}"]
    assert [o.action for o in mine] == ["ready"], outcomes
    made = mine[0].checkpoint
    assert made is not None and made.state == "ready" and made.node == NODE
    assert (made.user, made.server, made.tenant, made.profile) == ("alice", "", tenant, "small")
    assert made.base_image == notebook_image
    assert made.image.startswith(repository_for(registry.address, "tenanthub", tenant, "alice"))
    assert registry_has(registry, made.image)

    # the stop was checkpointed through the node's endpoint, and the next start runs it
    assert "Checkpoint before stopping alice/: checkpoint" in hub.log(), hub.log()[-3000:]
    records = asyncio.run(PlatformClient(hub.url, token).checkpoints(node=NODE))
    ready = [c for c in records if c.state == "ready" and c.tenant == tenant and not c.deleted]
    latest = max(ready, key=lambda c: c.id)
    assert latest.id != made.id and registry_has(registry, latest.image)
    page = alice.spawn({"tenant": tenant, f"profile-{tenant}": "small"})
    assert page.status_code == 200, page.text[-2000:]
    alice.wait_ready(timeout=120)
    [again] = pods_of(core, tenant)
    assert again.spec.containers[0].image == latest.image
    restored = again.status.container_statuses[0].container_id.split("://", 1)[1]
    engine = docker.from_env()
    try:
        proof = engine.api.exec_start(engine.api.exec_create(restored, ["cat", "/tmp/th-proof2"]))
    finally:
        engine.close()
    assert proof.strip() == b"two"
    remove_checkpoint_images(alice, registry, tenant)


def remove_checkpoint_images(alice: Browser, registry: RegistryServer, tenant: str) -> None:
    """This test's checkpoint images stay in the shared engine otherwise (one run after
    another on a long-lived machine): stop the server that runs one, then remove them."""
    assert alice.api("DELETE", "users/alice/server").status_code in (202, 204)
    alice.wait_stopped(timeout=150)
    repository = repository_for(registry.address, "tenanthub", tenant, "alice")
    engine = docker.from_env()
    try:
        deadline = time.monotonic() + 60
        while left := engine.images.list(name=repository):
            for image in left:
                with contextlib.suppress(docker.errors.APIError):
                    engine.images.remove(image.id, force=True)
            assert time.monotonic() < deadline, f"images of {repository} stay: {left}"
            time.sleep(1)
    finally:
        engine.close()
