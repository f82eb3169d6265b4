"""The Docker runtime driver against the real dockerd and a real registry on loopback.

Every test runs twice: with the layer-direct path (the writable layer tarred by
the checkpointer, pushed through the registry API, loaded into the engine) and
with the engine's own ``docker commit`` / ``docker push`` (the fallback).
Containers run the smallest image the project builds (tenanthub/debian-bookworm,
the debootstrap root filesystem the notebook images start from) with
``--network none``; every container and image made here has a unique name and is
removed at the end.
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections.abc import Callable, Iterator

import docker
import docker.errors
import pytest

from checkpointer.drivers.base import (
    ContainerRef,
    DriverError,
    ImageRef,
    NothingToSave,
    VerificationFailed,
)
from checkpointer.drivers.docker import DockerDriver, newer_entry
from checkpointer.names import LABEL_CHECKPOINT_ID, checkpoint_labels
from tests.conftest import need
from tests.services.registry import RegistryServer

pytestmark = [pytest.mark.integration, pytest.mark.docker_engine]
log = logging.getLogger(__name__)

BASE_REPOSITORY = "tenanthub/debian-bookworm"


@pytest.fixture(scope="module")
def client() -> Iterator[docker.DockerClient]:
    try:
        engine = docker.from_env()
        engine.ping()
    except docker.errors.DockerException as exc:
        need(f"no Docker engine answers ({exc}); `make test` starts one (scripts/dockerd.sh up)")
        raise
    yield engine
    engine.close()


@pytest.fixture(scope="module")
def base_image(client: docker.DockerClient) -> str:
    images = client.images.list(BASE_REPOSITORY)
    tags = [t for img in images for t in img.tags if t.startswith(BASE_REPOSITORY + ":")]
    if not tags:
        need(f"no {BASE_REPOSITORY} image; `make test` builds it (scripts/build-images.sh base)")
    return sorted(tags)[0]


@pytest.fixture(params=["layers", "engine"])
def driver(client: docker.DockerClient, request: pytest.FixtureRequest, tmp_path) -> DockerDriver:  # type: ignore[no-untyped-def]
    return DockerDriver(client, mode=request.param, staging=str(tmp_path / "staging"))


def local_id(client: docker.DockerClient, image: ImageRef) -> str:
    """The engine's id of a checkpoint image (after its push when it was staged)."""
    return str(client.api.inspect_image(image.ref)["Id"])


class Made:
    """Containers and images a test made, removed at its end whatever happened."""

    def __init__(self, client: docker.DockerClient) -> None:
        self.client = client
        self.containers: list[str] = []
        self.images: list[str] = []

    def cleanup(self) -> None:
        for cid in self.containers:
            with contextlib.suppress(docker.errors.NotFound):
                self.client.api.remove_container(cid, force=True)
        for ref in reversed(self.images):
            with contextlib.suppress(docker.errors.ImageNotFound):
                self.client.api.remove_image(ref, force=True)


@pytest.fixture
def made(client: docker.DockerClient) -> Iterator[Made]:
    tracker = Made(client)
    yield tracker
    tracker.cleanup()


@pytest.fixture
def run(
    client: docker.DockerClient, base_image: str, made: Made, driver: DockerDriver
) -> Callable[..., ContainerRef]:
    def start(image: str | None = None, **kwargs: object) -> ContainerRef:
        label = f"e2e-{uuid.uuid4().hex[:12]}"
        container = client.containers.run(
            image or base_image,
            ["sleep", "infinity"],
            detach=True,
            network_mode="none",
            name=f"tenanthub-test-ckpt-{label}",
            labels={"tenanthub.io/test": label},
            **kwargs,  # type: ignore[arg-type]
        )
        made.containers.append(container.id)
        return driver.container(container.id)

    return start


def sh(client: docker.DockerClient, container: ContainerRef, script: str) -> str:
    result = client.api.exec_create(container.id, ["sh", "-c", script])
    output = client.api.exec_start(result["Id"])
    code = client.api.exec_inspect(result["Id"])["ExitCode"]
    assert code == 0, (script, output)
    return output.decode()


def repository(registry: RegistryServer) -> str:
    return f"{registry.address}/tenanthub-test/ckpt-t-{uuid.uuid4().hex[:10]}"


def labels_for(checkpoint_id: str, base: str) -> dict[str, str]:
    return checkpoint_labels(
        username="Alice@Example.org",
        server="",
        tenant="t",
        profile="cpu",
        base_image=base,
        checkpoint_id=checkpoint_id,
    )


def test_containers_are_found_by_label(
    driver: DockerDriver, run: Callable[..., ContainerRef]
) -> None:
    container = run()
    found = driver.containers({"tenanthub.io/test": container.labels["tenanthub.io/test"]})
    assert [c.id for c in found] == [container.id]
    assert found[0].running and found[0].image.startswith("sha256:")
    assert found[0].image_name.startswith(BASE_REPOSITORY)


def test_commit_verify_push_then_pull_back_after_local_removal(
    client: docker.DockerClient,
    driver: DockerDriver,
    run: Callable[..., ContainerRef],
    made: Made,
    registry: RegistryServer,
    base_image: str,
) -> None:
    container = run()
    proof = uuid.uuid4().hex
    sh(client, container, f"mkdir -p /opt/th && echo {proof} > /opt/th/proof")
    repo = repository(registry)
    labels = labels_for("101", base_image)
    image = driver.commit(container, repo, "default-20250304T050607Z", labels)
    made.images.append(image.ref)
    assert driver.last_commit_path == driver.mode
    assert image.id.startswith("staged:" if driver.mode == "layers" else "sha256:")
    assert image.size > 0
    assert image.labels["tenanthub.io/checkpoint-id"] == "101"

    driver.verify(image, labels, built_on=container.image)
    with pytest.raises(VerificationFailed, match="labels differ"):
        driver.verify(image, {**labels, "tenanthub.io/tenant": "other"})
    # the base check: a checkpoint is its container's image plus one layer
    other = run()
    sh(client, other, "echo other > /opt/other")
    elsewhere = driver.commit(other, repo, "other", labels_for("102", base_image))
    made.images.append(elsewhere.ref)
    with pytest.raises(VerificationFailed, match="plus one"):
        driver.verify(image, labels, built_on=elsewhere.id)

    digest = driver.push(image)
    assert digest.startswith("sha256:")
    assert driver.registry_digest(repo, image.tag) == digest
    # ready = in the registry; the layer-direct path loads the engine's copy after that
    assert driver.wait_loads(120)
    pushed = local_id(client, image)  # the engine has it after the push, on either path
    pushed_labels = client.api.inspect_image(pushed)["Config"]["Labels"]
    assert {k: pushed_labels.get(k) for k in labels} == labels
    assert driver.layer_count(pushed) == driver.layer_count(base_image) + 1
    assert not driver.staging.find(ref=image.ref), "a pushed checkpoint leaves nothing staged"

    driver.remove(image, registry=False)
    with pytest.raises(docker.errors.ImageNotFound):
        client.api.inspect_image(image.ref)

    pulled = driver.pull(ImageRef(repo, image.tag, digest=digest))
    assert pulled.id == pushed
    assert pulled.labels["tenanthub.io/base-image"] == base_image
    restored = run(image=pulled.ref)
    assert sh(client, restored, "cat /opt/th/proof").strip() == proof


def test_a_commit_keeps_the_containers_secrets_out_of_the_image(
    client: docker.DockerClient,
    driver: DockerDriver,
    run: Callable[..., ContainerRef],
    made: Made,
    registry: RegistryServer,
    base_image: str,
) -> None:
    container = run(environment={"JUPYTERHUB_API_TOKEN": "s3cret-token", "LANG": "de_DE.UTF-8"})
    sh(client, container, "echo x > /opt/x")
    image = driver.commit(container, repository(registry), "t1", labels_for("102", base_image))
    made.images.append(image.ref)
    for staged in driver.staging.all():
        assert "s3cret-token" not in (staged.path / "meta.json").read_text()
    driver.push(image)
    assert driver.wait_loads(120)
    config = client.api.inspect_image(image.ref)["Config"]
    assert "s3cret-token" not in str(config)
    assert "JUPYTERHUB_API_TOKEN=" in config["Env"]
    base_config = client.api.inspect_image(base_image)["Config"]
    # the image's own settings, not the container's overrides
    assert "LANG=C.UTF-8" in config["Env"] and "LANG=de_DE.UTF-8" not in config["Env"]
    assert config["Cmd"] == base_config["Cmd"]


def test_unchanged_check_after_a_checkpoint_and_after_each_kind_of_write(
    client: docker.DockerClient,
    driver: DockerDriver,
    run: Callable[..., ContainerRef],
    made: Made,
    registry: RegistryServer,
    base_image: str,
) -> None:
    container = run()
    # a writable layer with many entries, as after a pip install
    sh(
        client,
        container,
        "mkdir -p /opt/pkgs && cd /opt/pkgs && for d in $(seq 1 100); do mkdir $d; "
        "for f in $(seq 1 100); do echo $f > $d/$f; done; done; echo x > /etc/th-file",
    )
    assert driver.changed_since(container, None), "without a mark it must say changed"

    def checkpoint(n: int) -> None:
        # a write within MARK_MARGIN_NS before a mark counts as after it (one checkpoint
        # too many, never one too few); the daemon only marks idle containers anyway
        time.sleep(0.1)
        mark = driver.mark(container)
        image = driver.commit(container, repository(registry), f"t{n}", labels_for(str(n), "b"))
        made.images.append(image.ref)
        checkpoint.mark = mark  # type: ignore[attr-defined]

    writes = [
        "echo new > /opt/new-file",  # a new file
        "echo more >> /opt/pkgs/50/50",  # in place, a file already in the upper layer
        "rm /etc/issue",  # a lower-layer file deleted (whiteout)
        "chmod 600 /opt/pkgs/7/7",  # metadata only
        "mv /opt/pkgs/99 /opt/pkgs/99b",  # a rename
        "touch -d 2001-01-01 /opt/pkgs/3/3",  # a backdated mtime (ctime still moves)
    ]
    for n, write in enumerate(writes):
        checkpoint(n)
        mark = checkpoint.mark  # type: ignore[attr-defined]
        started = time.perf_counter()
        assert not driver.changed_since(container, mark), "nothing written since the mark"
        took = time.perf_counter() - started
        assert driver.last_check is not None
        log.warning(
            "unchanged check: %d entries in %.1f ms (walk %.1f ms)",
            driver.last_check.entries,
            took * 1000,
            driver.last_check.seconds * 1000,
        )
        assert driver.last_check.entries >= 10_000
        sh(client, container, write)
        assert driver.changed_since(container, mark), f"not seen as a change: {write}"

    other = run()
    assert driver.changed_since(other, checkpoint.mark), "a mark of another container"  # type: ignore[attr-defined]


def test_newer_entry_stops_at_the_first_change(tmp_path) -> None:  # type: ignore[no-untyped-def]
    for i in range(50):
        (tmp_path / f"d{i}").mkdir()
        for j in range(20):
            (tmp_path / f"d{i}" / f"f{j}").write_text("x")
    since = time.time_ns() + 1_000_000_000  # nothing is that new
    quiet = newer_entry(str(tmp_path), since)
    assert not quiet.changed and quiet.entries == 50 * 21
    assert newer_entry(str(tmp_path), 0).changed
    time.sleep(0.05)
    mark = time.time_ns() - 20_000_000
    (tmp_path / "d3" / "f3").write_text("y")
    result = newer_entry(str(tmp_path), mark)
    assert result.changed
    with pytest.raises(DriverError, match="cannot read"):
        newer_entry(str(tmp_path / "missing"), 0)


def test_the_fallback_compares_layers_same_content_same_layer(
    client: docker.DockerClient,
    driver: DockerDriver,
    run: Callable[..., ContainerRef],
    made: Made,
    registry: RegistryServer,
) -> None:
    container = run()
    sh(client, container, "echo a > /opt/a")
    repo = repository(registry)
    first = driver.commit(container, repo, "t1", labels_for("1", "b"))
    made.images.append(first.ref)
    second = driver.commit(container, repo, "t2", labels_for("2", "b"))
    made.images.append(second.ref)
    assert driver.top_layer(first) == driver.top_layer(second)
    sh(client, container, "echo b >> /opt/a")
    third = driver.commit(container, repo, "t3", labels_for("3", "b"))
    made.images.append(third.ref)
    assert driver.top_layer(third) != driver.top_layer(first)


def test_diff_size_grows_with_the_bytes_written(
    client: docker.DockerClient,
    driver: DockerDriver,
    run: Callable[..., ContainerRef],
) -> None:
    container = run()
    before = driver.diff_size(container)
    sh(client, container, "head -c 5000000 /dev/urandom > /opt/blob")
    after = driver.diff_size(container)
    assert after - before >= 5_000_000
    assert after - before < 5_100_000
    # the engine's own figure (what the driver uses without access to the upper layer)
    rows = client.api.containers(all=True, size=True, filters={"id": container.id})
    assert abs(rows[0]["SizeRw"] - after) < 100_000


def test_remove_deletes_the_registry_manifest(
    client: docker.DockerClient,
    driver: DockerDriver,
    run: Callable[..., ContainerRef],
    made: Made,
    registry: RegistryServer,
) -> None:
    container = run()
    sh(client, container, "echo gone > /opt/gone")
    repo = repository(registry)
    image = driver.commit(container, repo, "t1", labels_for("7", "b"))
    made.images.append(image.ref)
    digest = driver.push(image)
    assert [i.ref for i in driver.checkpoint_images() if i.labels[LABEL_CHECKPOINT_ID] == "7"]
    # removed right after the push: the engine copy still loading is waited for, or it
    # would come back after the removal

    driver.remove(ImageRef(repo, image.tag, digest=digest))
    with pytest.raises(docker.errors.ImageNotFound):
        client.api.inspect_image(image.ref)
    assert driver.registry_digest(repo, image.tag) is None
    with pytest.raises(DriverError, match="pull of"):
        driver.pull(ImageRef(repo, image.tag, digest=digest))
    with pytest.raises(DriverError, match="pull of"):
        driver.pull(ImageRef(repo, image.tag))
    # removing again is not an error (a restarted daemon repeats removals)
    driver.remove(ImageRef(repo, image.tag, digest=digest))


def test_a_commit_never_reuses_a_tag(
    driver: DockerDriver,
    run: Callable[..., ContainerRef],
    made: Made,
    registry: RegistryServer,
) -> None:
    container = run()
    repo = repository(registry)
    image = driver.commit(container, repo, "t1", labels_for("8", "b"))
    made.images.append(image.ref)
    with pytest.raises(DriverError, match="exists already"):
        driver.commit(container, repo, "t1", labels_for("9", "b"))


def test_a_container_that_wrote_nothing_has_nothing_to_save(
    driver: DockerDriver,
    run: Callable[..., ContainerRef],
    made: Made,
    registry: RegistryServer,
    base_image: str,
) -> None:
    """The engine drops an empty diff: such a commit adds no layer, which is "nothing to
    checkpoint" (skipped as unchanged by the daemon), not a broken image."""
    container = run()
    labels = labels_for("1", base_image)
    image = driver.commit(container, repository(registry), "empty", labels)
    made.images.append(image.ref)
    with pytest.raises(NothingToSave, match="nothing outside the volumes"):
        driver.verify(image, labels, container.image)
