"""Kubernetes mode's pure parts: which pods of a node are notebook containers, and how
a pod becomes the ContainerRef the daemon and the Docker driver work with.

The pods are built by the spawner's own builder (``user_pod``) plus the status a
kubelet on dockershim reports, so a label or annotation the spawner stops writing
breaks these tests, not a node.
"""

from __future__ import annotations

import copy
from datetime import timedelta
from typing import Any

import pytest

from checkpointer.daemon import Settings, server_of
from checkpointer.names import LABEL_SERVER, LABEL_USERNAME
from checkpointer.sources import (
    NOTEBOOK_CONTAINER,
    NOTEBOOK_POD_SELECTOR,
    PodCache,
    backoff_delay,
    image_of_status,
    label_selector,
    node_field_selector,
    parse_container_id,
    pod_container,
    server_name_of,
)
from hub.config.schema import KubernetesBackendSettings
from spawner.kubernetes import names
from spawner.kubernetes.manifests import user_pod
from spawner.plan import make_plan
from tests.unit.builders import profile

DOCKER_ID = "4f1c" + "0" * 60
IMAGE_ID = "sha256:" + "ab" * 32
SETTINGS = Settings(
    node="node-a",
    registry="127.0.0.1:5000",
    repository_prefix="tenanthub",
    idle_after=timedelta(minutes=30),
    check_every=60,
    max_diff_bytes=1 << 30,
)


def notebook_pod(
    user: str = "Alice.Smith@example.org",
    server: str = "vision",
    *,
    phase: str = "Running",
    state: dict[str, Any] | None = None,
    container_id: str | None = f"docker://{DOCKER_ID}",
    server_label: str | None = None,
) -> dict[str, Any]:
    """A notebook pod as the Kubernetes spawner makes it, with a kubelet's status."""
    plan = make_plan("vision", profile("small"), user, server)
    pod = user_pod(
        plan,
        KubernetesBackendSettings(),
        pod_name=names.pod_name(plan.username, plan.server_name),
        port=8888,
        cmd=["jupyterhub-singleuser"],
        env={},
        annotations={"hub.jupyter.org/username": user},
    )
    # the labels TenantKubeSpawner adds from KubeSpawner (``_build_pod_labels``)
    pod["metadata"]["labels"].setdefault("hub.jupyter.org/username", "alice-smith")
    pod["metadata"]["labels"].setdefault(
        "hub.jupyter.org/servername", server if server_label is None else server_label
    )
    pod["metadata"]["uid"] = "uid-1"
    pod["metadata"]["resourceVersion"] = "100"
    status: dict[str, Any] = {
        "name": NOTEBOOK_CONTAINER,
        "image": "tenanthub/notebook-cpu:latest",
        "imageID": f"docker://{IMAGE_ID}",
        "state": state if state is not None else {"running": {"startedAt": "2025-01-01T00:00:00Z"}},
        "ready": True,
        "restartCount": 0,
    }
    if container_id is not None:
        status["containerID"] = container_id
    pod["spec"]["nodeName"] = "node-a"
    pod["status"] = {"phase": phase, "podIP": "10.1.2.3", "containerStatuses": [status]}
    return pod


def test_the_selector_matches_the_spawners_notebook_pods() -> None:
    labels = notebook_pod()["metadata"]["labels"]
    assert NOTEBOOK_POD_SELECTOR.items() <= labels.items()
    assert label_selector(NOTEBOOK_POD_SELECTOR) == (
        "app.kubernetes.io/component=singleuser-server,app.kubernetes.io/managed-by=tenanthub"
    )
    assert node_field_selector("node-a") == "spec.nodeName=node-a"
    assert NOTEBOOK_CONTAINER == names.CONTAINER


def test_a_running_notebook_pod_is_its_docker_container_with_tenanthub_labels() -> None:
    ref = pod_container(notebook_pod())

    assert not isinstance(ref, str), ref
    assert ref.id == DOCKER_ID
    assert ref.running is True
    assert ref.image == IMAGE_ID
    assert ref.image_name == "tenanthub/notebook-cpu:latest"
    assert ref.name == f"th-vision/{names.pod_name('Alice.Smith@example.org', 'vision')}"
    # the exact names (a label value cannot hold "@"), and the pod's own labels
    assert ref.labels[LABEL_USERNAME] == "Alice.Smith@example.org"
    assert ref.labels[LABEL_SERVER] == "vision"
    assert ref.labels["tenanthub.io/tenant"] == "vision"
    assert ref.labels["tenanthub.io/profile"] == "small"
    # and the daemon takes it as a notebook server like a Docker container
    server = server_of(ref, {}, SETTINGS)
    assert not isinstance(server, str), server
    assert (server.user, server.server, server.tenant, server.profile) == (
        "Alice.Smith@example.org",
        "vision",
        "vision",
        "small",
    )


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (lambda p: p["status"].update(phase="Pending"), "pod pending"),
        (lambda p: p["metadata"].update(deletionTimestamp="2025-01-01T00:00:00Z"), "terminating"),
        (
            lambda p: p["status"]["containerStatuses"][0].update(
                state={"terminated": {"exitCode": 0}}
            ),
            "container exited",
        ),
        (
            lambda p: p["status"]["containerStatuses"][0].update(
                state={"waiting": {"reason": "CrashLoopBackOff"}}
            ),
            "container waiting to restart",
        ),
    ],
)
def test_a_container_counts_as_running_only_in_a_running_pod_in_running_state(
    change: Any, why: str
) -> None:
    pod = notebook_pod()
    change(pod)
    ref = pod_container(pod)
    assert not isinstance(ref, str), ref
    assert ref.running is False, why
    assert server_of(ref, {}, SETTINGS) == "not running"


def test_a_container_not_created_yet_is_no_container() -> None:
    pod = notebook_pod(container_id=None, state={"waiting": {"reason": "ContainerCreating"}})
    assert (
        pod_container(pod) == f"pod {pod_name(pod)}: container 'notebook' has not been created yet"
    )
    pod["status"]["containerStatuses"] = []
    assert "has not been created yet" in str(pod_container(pod))


def test_a_pod_without_the_notebook_container_says_so() -> None:
    pod = notebook_pod()
    pod["spec"]["containers"][0]["name"] = "sidecar"
    pod["status"]["containerStatuses"][0]["name"] = "sidecar"
    assert pod_container(pod) == f"pod {pod_name(pod)} has no container named 'notebook'"


def test_a_containerd_container_is_not_handed_to_the_docker_driver() -> None:
    pod = notebook_pod(container_id="containerd://" + "9" * 64)
    reason = pod_container(pod)
    assert isinstance(reason, str)
    assert "runs on containerd" in reason and "driver is docker" in reason
    # a source built for containerd takes it, with containerd's own id
    ref = pod_container(pod, runtime="containerd")
    assert not isinstance(ref, str) and ref.id == "9" * 64


def test_container_ids_and_image_ids_lose_their_scheme() -> None:
    assert parse_container_id(f"docker://{DOCKER_ID}") == ("docker", DOCKER_ID)
    assert parse_container_id("containerd://abc") == ("containerd", "abc")
    assert parse_container_id("") is None
    assert parse_container_id("docker://") is None
    assert parse_container_id(DOCKER_ID) is None
    assert image_of_status(f"docker://{IMAGE_ID}") == IMAGE_ID
    assert (
        image_of_status("docker-pullable://tenanthub/notebook-cpu@sha256:" + "c" * 64)
        == "tenanthub/notebook-cpu@sha256:" + "c" * 64
    )


def test_the_server_name_comes_from_annotations_else_an_unescaped_label() -> None:
    label = "hub.jupyter.org/servername"
    assert server_name_of({"tenanthub.io/server": "My Server"}, {label: "my-server---c2d9"}) == (
        "My Server"
    )
    assert server_name_of({"hub.jupyter.org/servername": "a b"}, {}) == "a b"
    assert server_name_of({}, {label: "vision"}) == "vision"
    assert server_name_of({}, {label: ""}) == ""  # the default server
    # KubeSpawner's escaped form cannot be turned back into the name
    assert server_name_of({}, {label: "my-server---c2d9a82f"}) is None
    assert server_name_of({}, {}) is None


def test_a_pod_whose_server_name_is_unknown_is_left_alone_by_the_daemon() -> None:
    pod = notebook_pod(server="My Server", server_label="my-server---c2d9a82f")
    # the spawner annotates the exact name; the escaped label alone cannot give it back
    named = pod_container(pod)
    assert not isinstance(named, str) and named.labels[LABEL_SERVER] == "My Server"
    del pod["metadata"]["annotations"]["tenanthub.io/server"]  # a pod made before that
    ref = pod_container(pod)
    assert not isinstance(ref, str)
    assert LABEL_SERVER not in ref.labels
    assert server_of(ref, {}, SETTINGS) == "not a notebook server (no tenanthub.io/server label)"


def test_the_default_server_has_the_empty_name() -> None:
    ref = pod_container(notebook_pod(server=""))
    assert not isinstance(ref, str)
    assert ref.labels[LABEL_SERVER] == ""


def test_the_cache_follows_list_and_watch_events() -> None:
    cache = PodCache()
    first = notebook_pod()
    cache.replace([first], "100")
    assert [c.id for c in cache.containers()[0]] == [DOCKER_ID]

    second = notebook_pod(user="bob", server="", container_id="docker://" + "b" * 64)
    second["metadata"].update(uid="uid-2", resourceVersion="101")
    cache.apply("ADDED", second)
    assert cache.resource_version == "101"
    assert sorted(c.id for c in cache.containers()[0]) == sorted([DOCKER_ID, "b" * 64])

    stopped = copy.deepcopy(first)
    stopped["status"]["phase"] = "Succeeded"
    stopped["metadata"]["resourceVersion"] = "102"
    cache.apply("MODIFIED", stopped)
    assert {c.id: c.running for c in cache.containers()[0]} == {DOCKER_ID: False, "b" * 64: True}

    gone = copy.deepcopy(second)
    gone["metadata"]["resourceVersion"] = "103"
    cache.apply("DELETED", gone)
    assert [c.id for c in cache.containers()[0]] == [DOCKER_ID]
    cache.apply("BOOKMARK", {"metadata": {"resourceVersion": "150"}})
    assert cache.resource_version == "150"
    assert len(cache.pods) == 1

    creating = notebook_pod(container_id=None)
    creating["metadata"]["uid"] = "uid-3"
    cache.apply("ADDED", creating)
    found, reasons = cache.containers()
    assert len(found) == 1 and len(reasons) == 1 and "not been created" in reasons[0]
    assert cache.pod_ip(DOCKER_ID) == "10.1.2.3"
    assert cache.pod_ip("nope") is None

    cache.replace([], "200")  # a re-list replaces everything
    assert cache.containers() == ([], []) and cache.resource_version == "200"


def test_back_off_doubles_up_to_its_cap() -> None:
    assert [backoff_delay(n, base=1, cap=60) for n in range(9)] == [
        0, 1, 2, 4, 8, 16, 32, 60, 60,
    ]  # fmt: skip
    assert backoff_delay(10_000) == 60


def pod_name(pod: dict[str, Any]) -> str:
    return f"{pod['metadata']['namespace']}/{pod['metadata']['name']}"
