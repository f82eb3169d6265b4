"""A layer-direct checkpoint restores to the same file tree as ``docker commit`` does.

One container gets every kind of change an upper directory can hold (a deleted
base file, a directory replaced by a new one, a renamed directory, a modified base
file, a chmod of a base directory, new files with setuid, owners, hard and
symbolic links, a FIFO, an old mtime). It is committed both ways; both images run,
and their file trees (type, mode, owner, size, link target, mtime in seconds and
the content of every regular file outside /usr) must be identical.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

import docker
import pytest

from checkpointer.drivers.base import ContainerRef, NothingToSave
from checkpointer.drivers.docker import DockerDriver
from tests.integration import test_checkpoint_driver as driver_tests
from tests.integration.test_checkpoint_driver import Made, labels_for, repository, sh
from tests.services.registry import RegistryServer

# the driver tests' fixtures: the engine, its base image, containers and cleanup
client = driver_tests.client
base_image = driver_tests.base_image
made = driver_tests.made
run = driver_tests.run


@pytest.fixture
def driver(client: docker.DockerClient) -> DockerDriver:
    """What ``run`` reads containers with (either path's driver reads them alike)."""
    return DockerDriver(client, mode="engine")


pytestmark = [pytest.mark.integration, pytest.mark.docker_engine]

CHANGES = """
set -e
rm /etc/issue
rm -rf /usr/share/doc && mkdir /usr/share/doc && echo new > /usr/share/doc/readme
mv /etc/apt /etc/apt-moved
echo appended >> /etc/debian_version
chmod 700 /var/log
mkdir -p /opt/t/sub/deeper && echo hi > /opt/t/x && chown 1000:100 /opt/t/x && chmod 4755 /opt/t/x
ln /opt/t/x /opt/t/hard && ln -s x /opt/t/soft && ln -s /nowhere /opt/t/dangling
mkfifo /opt/t/fifo && touch -d 2001-02-03 /opt/t/old && : > /opt/t/empty
head -c 300000 /dev/urandom > /opt/t/sub/deeper/blob
"""

#: every path with its metadata; content hashes outside /usr (the base's bulk)
LISTING = (
    "find / -xdev \\( -path /proc -o -path /sys -o -path /dev \\) -prune -o "
    "-printf '%p|%y|%m|%U|%G|%s|%l|%T@\\n' | sort; "
    "find /etc /opt /var -xdev -type f -exec md5sum {} + | sort"
)


#: made by the engine for each container (its init layer and bind mounts), not in any image
PER_CONTAINER = {"/etc/hosts", "/etc/hostname", "/etc/resolv.conf", "/etc/mtab", "/.dockerenv"}
#: their directories, whose mtime the engine sets when it creates them
INIT_DIRS = {"/", "/etc"}


def listing(engine: docker.DockerClient, image: str) -> dict[str, str]:
    raw = engine.containers.run(
        image, ["sh", "-c", LISTING], remove=True, network_mode="none", entrypoint=[]
    ).decode()
    out = {}
    for line in raw.splitlines():
        if "|" in line:
            fields = line.split("|")
            fields[-1] = fields[-1].split(".")[0]  # whole seconds, as both tars keep
            if fields[0] in INIT_DIRS:
                fields[-1] = "(set at container start)"
            if fields[0] not in PER_CONTAINER:
                out[fields[0]] = "|".join(fields[1:])
        else:
            digest, _, path = line.partition("  ")
            if path not in PER_CONTAINER:
                out["md5:" + path] = digest
    return out


def test_a_layer_direct_checkpoint_restores_what_docker_commit_restores(
    client: docker.DockerClient,
    run: Callable[..., ContainerRef],
    made: Made,
    registry: RegistryServer,
    base_image: str,
    tmp_path: Path,
) -> None:
    container = run()
    sh(client, container, CHANGES)
    repo = repository(registry)
    engine = DockerDriver(client, mode="engine")
    layers = DockerDriver(client, mode="layers", staging=str(tmp_path / "staging"))

    by_engine = engine.commit(container, repo, "engine", labels_for("1", base_image))
    made.images.append(by_engine.ref)
    direct = layers.commit(container, repo, "direct", labels_for("2", base_image))
    made.images.append(direct.ref)
    assert layers.last_commit_path == "layers"
    layers.verify(direct, labels_for("2", base_image), built_on=container.image)
    layers.push(direct)
    assert layers.wait_loads(120), "the engine copy is loaded after the push"

    expected = listing(client, by_engine.ref)
    got = listing(client, direct.ref)
    assert "/etc/issue" not in got and "/etc/apt" not in got and "/etc/apt-moved" in got
    assert got["/usr/share/doc/readme"].startswith("f|644|")
    assert not [p for p in got if p.startswith("/usr/share/doc/") and "readme" not in p]
    assert got["/opt/t/x"].startswith("f|4755|1000|100|3|")
    assert got["/var/log"].startswith("d|700|")
    differs = {
        path: (expected.get(path), got.get(path))
        for path in expected.keys() | got.keys()
        if expected.get(path) != got.get(path)
    }
    assert not differs, differs


def test_the_pushed_image_is_pulled_back_by_another_engine_view(
    client: docker.DockerClient,
    run: Callable[..., ContainerRef],
    made: Made,
    registry: RegistryServer,
    base_image: str,
    tmp_path: Path,
) -> None:
    """What another node does: no local image, a pull of the registry's manifest; the
    parallel gzip members and the mounted parent layers must satisfy the engine."""
    container = run()
    proof = uuid.uuid4().hex
    sh(client, container, f"mkdir -p /opt/p && echo {proof} > /opt/p/proof && "
                          "head -c 9000000 /dev/urandom > /opt/p/noise && "
                          "seq 1 2000000 > /opt/p/text")  # fmt: skip
    layers = DockerDriver(client, mode="layers", staging=str(tmp_path / "staging"))
    repo = repository(registry)
    image = layers.commit(container, repo, "t1", labels_for("3", base_image))
    made.images.append(image.ref)
    digest = layers.push(image)
    assert layers.wait_loads(120)
    pushed = client.api.inspect_image(image.ref)["Id"]
    client.api.remove_image(image.ref)
    pulled = layers.pull(image.__class__(repo, "t1", digest=digest))
    assert pulled.id == pushed
    out = client.containers.run(
        image.ref,
        ["sh", "-c", "cat /opt/p/proof; md5sum /opt/p/noise | cut -c1-8; tail -1 /opt/p/text"],
        remove=True,
        network_mode="none",
        entrypoint=[],
    ).decode()
    assert out.split()[0] == proof and out.split()[-1] == "2000000"


def test_a_checkpoint_of_a_checkpoint_links_its_parent_from_the_same_repository(
    client: docker.DockerClient,
    run: Callable[..., ContainerRef],
    made: Made,
    registry: RegistryServer,
    base_image: str,
    tmp_path: Path,
) -> None:
    layers = DockerDriver(client, mode="layers", staging=str(tmp_path / "staging"))
    repo = repository(registry)
    first = run()
    sh(client, first, "echo one > /opt/one")
    one = layers.commit(first, repo, "one", labels_for("4", base_image))
    made.images.append(one.ref)
    layers.push(one)
    assert layers.wait_loads(120)
    second = run(image=one.ref)
    sh(client, second, "echo two > /opt/two")
    two = layers.commit(second, repo, "two", labels_for("5", base_image))
    made.images.append(two.ref)
    layers.verify(two, labels_for("5", base_image), built_on=second.image)
    layers.push(two)
    assert layers.wait_loads(120)
    assert layers.layer_count(two.ref) == layers.layer_count(base_image) + 2
    out = client.containers.run(
        two.ref, ["cat", "/opt/one", "/opt/two"], remove=True, network_mode="none", entrypoint=[]
    )
    assert out.decode().split() == ["one", "two"]
    # a restart of the daemon finds a staged checkpoint, with its labels, and finishes it
    third = layers.commit(second, repo, "three", labels_for("6", base_image))
    made.images.append(third.ref)
    restarted = DockerDriver(client, mode="layers", staging=str(tmp_path / "staging"))
    found = [i for i in restarted.checkpoint_images() if i.tag == "three"]
    assert [i.labels["tenanthub.io/checkpoint-id"] for i in found] == ["6"]
    restarted.verify(found[0], labels_for("6", base_image))
    restarted.push(found[0])
    assert restarted.wait_loads(120)
    assert next(i for i in restarted.checkpoint_images() if i.tag == "three").id.startswith(
        "sha256:"
    )


def test_an_empty_writable_layer_has_nothing_to_save(
    client: docker.DockerClient,
    run: Callable[..., ContainerRef],
    made: Made,
    registry: RegistryServer,
    base_image: str,
    tmp_path: Path,
) -> None:
    layers = DockerDriver(client, mode="layers", staging=str(tmp_path / "staging"))
    container = run()
    image = layers.commit(container, repository(registry), "e", labels_for("7", base_image))
    with pytest.raises(NothingToSave):
        layers.verify(image, labels_for("7", base_image), built_on=container.image)
    layers.remove(image, registry=False)
    assert list(layers.staging.all()) == []


def test_ready_comes_before_the_engine_copy_and_a_restart_loads_what_was_left(
    client: docker.DockerClient,
    run: Callable[..., ContainerRef],
    made: Made,
    registry: RegistryServer,
    base_image: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The push returns when the registry has the image; the engine's copy is loaded
    after it. A daemon stopped in between (here the background load is not started,
    as if the process had been killed right after the push; the crash test kills the
    real process there) loads the staged copy at its next start, so recovery finds an
    engine image, and a staged copy the registry does not have is left to recovery."""
    container = run()
    sh(client, container, "echo late > /opt/late")
    layers = DockerDriver(client, mode="layers", staging=str(tmp_path / "staging"))
    repo = repository(registry)
    image = layers.commit(container, repo, "late", labels_for("8", base_image))
    made.images.append(image.ref)
    monkeypatch.setattr(layers.direct, "_load_later", lambda *args: None)
    digest = layers.push(image)
    assert layers.registry_digest(repo, "late") == digest
    with pytest.raises(docker.errors.ImageNotFound):
        client.api.inspect_image(image.ref)

    unpushed = layers.commit(container, repo, "unpushed", labels_for("9", base_image))
    made.images.append(unpushed.ref)
    restarted = DockerDriver(client, mode="layers", staging=str(tmp_path / "staging"))
    assert restarted.finish_loads() == [image.ref]
    assert not restarted.staging.find(ref=image.ref)
    assert restarted.staging.find(ref=unpushed.ref), "an unfinished push is recovery's"
    found = [i for i in restarted.checkpoint_images() if i.tag == "late"]
    assert len(found) == 1 and found[0].id.startswith("sha256:")
    out = client.containers.run(
        image.ref, ["cat", "/opt/late"], remove=True, network_mode="none", entrypoint=[]
    )
    assert out.decode().strip() == "late"
