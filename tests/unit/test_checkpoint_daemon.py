"""The daemon's decisions (pure functions of checkpointer.daemon): which containers it
watches, what a tick does about an idle or busy server, what the user is told, where a
server answers. No fakes: these take plain data; the I/O around them is exercised
against a real hub, dockerd and registry in tests/integration/test_checkpoint_daemon.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from checkpointer.daemon import (
    Action,
    Memory,
    Server,
    Settings,
    endpoint_from_env,
    image_ref,
    local_images,
    next_action,
    server_of,
    too_big_message,
    too_deep_message,
)
from checkpointer.drivers.base import ContainerRef, ImageRef
from checkpointer.idle import IdleDecision

NOW = datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC)
SETTINGS = Settings(
    node="n1",
    registry="127.0.0.1:5000",
    repository_prefix="tenanthub",
    idle_after=timedelta(minutes=30),
    check_every=30,
    max_diff_bytes=5 * 2**30,
    profiles=frozenset({"small"}),
)
LABELS = {
    "app.kubernetes.io/managed-by": "tenanthub",
    "tenanthub.io/tenant": "vision",
    "tenanthub.io/user": "alice",
    "tenanthub.io/username": "Alice",
    "tenanthub.io/server": "",
    "tenanthub.io/profile": "small",
}


def container(labels: dict[str, str] | None = None, running: bool = True) -> ContainerRef:
    return ContainerRef(
        id="c1",
        name="tenanthub-vision-alice",
        labels=LABELS if labels is None else labels,
        image="sha256:abc",
        running=running,
        image_name="tenanthub/notebook-cpu:latest",
    )


def test_a_labelled_running_server_is_watched_with_its_exact_username_and_base_image() -> None:
    got = server_of(container(), {}, SETTINGS)
    assert isinstance(got, Server)
    assert (got.user, got.server, got.tenant, got.profile) == ("Alice", "", "vision", "small")
    assert got.base_image == "tenanthub/notebook-cpu:latest"


def test_a_server_started_from_a_checkpoint_keeps_the_profile_image_as_base() -> None:
    got = server_of(
        container(), {"tenanthub.io/base-image": "tenanthub/notebook-cpu:0.1"}, SETTINGS
    )
    assert isinstance(got, Server) and got.base_image == "tenanthub/notebook-cpu:0.1"


def test_containers_the_daemon_leaves_alone_say_why() -> None:
    no_server_label = {k: v for k, v in LABELS.items() if k != "tenanthub.io/server"}
    assert "tenanthub.io/server" in str(server_of(container(no_server_label), {}, SETTINGS))
    assert server_of(container(running=False), {}, SETTINGS) == "not running"
    other_profile = {**LABELS, "tenanthub.io/profile": "gpu"}
    assert "'gpu' does not checkpoint" in str(server_of(container(other_profile), {}, SETTINGS))
    off = Settings(**{**SETTINGS.__dict__, "enabled": False})
    assert "checkpoint.enabled" in str(server_of(container(), {}, off))


def idle(yes: bool) -> IdleDecision:
    return IdleDecision(yes, "idle" if yes else "kernel busy: k1 busy")


def test_a_busy_server_waits_whatever_changed() -> None:
    assert next_action(idle(False), True, Memory(), NOW, SETTINGS) is Action.WAIT


def test_idle_and_changed_checkpoints_idle_and_unchanged_does_not() -> None:
    assert next_action(idle(True), True, Memory(), NOW, SETTINGS) is Action.CHECKPOINT
    assert next_action(idle(True), False, Memory(), NOW, SETTINGS) is Action.UNCHANGED


def test_after_a_failure_the_server_is_left_alone_for_retry_after() -> None:
    failed = Memory(failed_at=NOW - timedelta(minutes=1))
    assert next_action(idle(True), None, failed, NOW, SETTINGS) is Action.BACK_OFF
    long_ago = Memory(failed_at=NOW - SETTINGS.retry_after)
    assert next_action(idle(True), True, long_ago, NOW, SETTINGS) is Action.CHECKPOINT


def test_the_size_message_gives_size_limit_and_what_to_do() -> None:
    text = too_big_message(6 * 2**30, 5 * 2**30)
    assert "6.0 GiB" in text and "5.0 GiB" in text and "home" in text


def test_endpoint_is_read_from_the_spawners_environment() -> None:
    env = [
        "JUPYTERHUB_SERVICE_URL=http://127.0.0.1:41234/user/alice",
        "JUPYTERHUB_API_TOKEN=s3cret",
        "PATH=/usr/bin",
    ]
    got = endpoint_from_env(env, None)
    assert got is not None and got.url == "http://127.0.0.1:41234/user/alice/"
    assert "s3cret" not in repr(got)
    bridge = ["JUPYTERHUB_SERVICE_URL=http://0.0.0.0:8888/user/bob/", "JUPYTERHUB_API_TOKEN=t"]
    got = endpoint_from_env(bridge, "172.18.0.5")
    assert got is not None and got.url == "http://172.18.0.5:8888/user/bob/"
    assert endpoint_from_env(bridge, None) is None
    assert endpoint_from_env(["JUPYTERHUB_SERVICE_URL=http://127.0.0.1:1/"], None) is None


def test_local_images_group_tags_per_image_and_skip_unlabelled() -> None:
    images = [
        ImageRef(
            "r/ckpt-a", "default-1", id="sha256:1", labels={"tenanthub.io/checkpoint-id": "7"}
        ),
        ImageRef("r/ckpt-a", "copy", id="sha256:1", labels={"tenanthub.io/checkpoint-id": "7"}),
        ImageRef("", "", id="sha256:2", labels={"tenanthub.io/checkpoint-id": "8"}),
        ImageRef("r/x", "y", id="sha256:3", labels={}),
    ]
    got = {i.id: (i.checkpoint_id, i.refs) for i in local_images(images)}
    assert got == {
        "sha256:1": ("7", ("r/ckpt-a:default-1", "r/ckpt-a:copy")),
        "sha256:2": ("8", ()),
    }


def test_image_ref_splits_on_the_tag_not_the_registry_port() -> None:
    ref = image_ref("127.0.0.1:5000/tenanthub/ckpt-v-a:default-20250304T050607Z", "sha256:9")
    assert ref.repository == "127.0.0.1:5000/tenanthub/ckpt-v-a"
    assert ref.tag == "default-20250304T050607Z" and ref.digest == "sha256:9"


def test_a_chain_of_checkpoints_stops_before_the_engines_layer_limit() -> None:
    assert too_deep_message(118, 120) is None
    assert too_deep_message(119, 120) is None  # this checkpoint makes 120: allowed
    said = too_deep_message(120, 120)
    assert said is not None and "120 layers" in said and "delete your checkpoints" in said
