"""Checkpoints end to end: what a user installed comes back, and only to that user.

One hub (Docker backend) for the module, a real dockerd and the session's registry.
Servers are started and stopped through the hub's REST API and spawned by its Docker
spawner; the checkpointer runs in this process as ``python -m checkpointer`` builds
it, with only the clock injected (two hours ahead: a just-started server counts as
idle). Alice installs a package into the image's Python environment and writes a
file outside her home; carol goes over the size limit; bob tries to reach alice's
checkpoint.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from secrets import token_hex
from typing import Any

import docker
import pytest

from checkpointer.names import repository_for
from tests.integration.checkpoints import (
    CPU_IMAGE,
    OUTSIDE_HOME,
    Daemon,
    User,
    all_records,
    checkpoint_images,
    container_of,
    hub_config,
    image_of,
    install_proof,
    need_engine,
    proof_in,
    proof_wheel,
    registry_tags,
    remove_tenant_leftovers,
    restore_candidate,
    run_in,
    sh,
    sign_in,
)
from tests.integration.checkpoints import running_hub as start_hub
from tests.integration.hubrunner import RunningHub
from tests.services.registry import RegistryServer

pytestmark = [pytest.mark.integration, pytest.mark.docker_engine]
PROOF = "installed before the checkpoint"
LATER = datetime.now(UTC) + timedelta(hours=2)


@dataclass
class Site:
    hub: RunningHub
    tenant: str
    registry: RegistryServer
    wheel: Path

    def repository(self, user: str) -> str:
        return repository_for(self.registry.address, "tenanthub", self.tenant, user)


@pytest.fixture(scope="module")
def site(registry: RegistryServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    need_engine()
    tenant = f"cr-{token_hex(3)}"
    root = tmp_path_factory.mktemp("checkpoint-restore")
    config = hub_config(tenant, registry, ["alice", "bob", "carol"])
    try:
        with start_hub(root / "hub", config) as hub:
            yield Site(hub, tenant, registry, proof_wheel(root))
    finally:
        remove_tenant_leftovers(tenant)


@dataclass
class Checkpointed:
    alice: User
    container: str
    daemon: Daemon
    checkpoint: Any  # the daemon's record of the ready checkpoint


@pytest.fixture(scope="module")
def alices(site: Site) -> Checkpointed:
    """Alice's running server with the package installed, checkpointed (ready)."""
    alice = sign_in(site.hub, "alice")
    container = alice.start_and_wait(site.tenant)
    install_proof(container, site.wheel, "written by alice")
    daemon = Daemon(site.hub, site.tenant, clock=lambda: LATER)
    daemon.recover()
    made = daemon.tick(container)
    assert made.action == "ready", made
    return Checkpointed(alice, container, daemon, made.checkpoint)


def test_installed_package_and_file_outside_home_survive_restarts_also_pulled_from_registry(
    site: Site, alices: Checkpointed
) -> None:
    alice, checkpoint = alices.alice, alices.checkpoint
    assert checkpoint.image.startswith(site.repository("alice") + ":")
    assert registry_tags(site.registry, site.repository("alice")) == {
        checkpoint.image.rpartition(":")[2]
    }

    # idle again with nothing changed: no new image, no new record
    images, records = checkpoint_images(site.tenant, site.registry), all_records(site.hub)
    again = alices.daemon.tick(alices.container)
    assert again.action == "unchanged", again
    assert checkpoint_images(site.tenant, site.registry) == images
    assert all_records(site.hub) == records

    alice.stop_and_wait()
    restored = alice.start_and_wait(site.tenant)
    assert image_of(restored) == checkpoint.image
    assert proof_in(restored) == (PROOF, "written by alice")

    # gone from this engine: the next start pulls it from the registry
    alice.stop_and_wait()
    sh("rmi", checkpoint.image)
    assert sh("image", "inspect", checkpoint.image, check=False).returncode != 0
    pulled = alice.start_and_wait(site.tenant)
    assert image_of(pulled) == checkpoint.image
    digests = sh("inspect", "--format", "{{json .RepoDigests}}", checkpoint.image).stdout
    assert f"{site.repository('alice')}@{checkpoint.digest}" in digests
    assert proof_in(pulled) == (PROOF, "written by alice")
    alice.stop_and_wait()


def test_a_server_over_the_size_limit_is_not_saved_and_its_user_is_told_why(site: Site) -> None:
    limit = 8 * 1024 * 1024
    carol = sign_in(site.hub, "carol")
    container = carol.start_and_wait(site.tenant)
    daemon = Daemon(site.hub, site.tenant, clock=lambda: LATER, max_diff_bytes=limit)
    assert run_in(container, f"echo small > {OUTSIDE_HOME}").returncode == 0
    first = daemon.tick(container)
    assert first.action == "ready", first
    previous = first.checkpoint

    big = run_in(container, f"head -c {2 * limit} /dev/urandom > /opt/venv/big.bin")
    assert big.returncode == 0, big.stderr
    daemon.checkpointer.clock = lambda: LATER + timedelta(seconds=2)
    over = daemon.tick(container)
    assert over.action == "skipped", over
    skipped = over.checkpoint.id

    # carol reads why with her own token (the newest of her list)
    mine = carol.checkpoints()
    assert [(c["id"], c["state"]) for c in mine] == [(skipped, "skipped"), (previous.id, "ready")]
    message = mine[0]["message"]
    assert "Not saved" in message and "limit of 8.0 MiB" in message, message
    assert "previous checkpoint" in message
    # nothing was made of it: no image, no tag; the spawner still picks the previous one
    assert str(skipped) not in checkpoint_images(site.tenant, site.registry)
    assert registry_tags(site.registry, site.repository("carol")) == {
        previous.image.rpartition(":")[2]
    }
    candidate = restore_candidate(site.hub, site.tenant, "carol")
    assert candidate is not None and candidate.id == previous.id

    carol.stop_and_wait()
    restarted = carol.start_and_wait(site.tenant)
    assert image_of(restarted) == previous.image
    assert run_in(restarted, f"cat {OUTSIDE_HOME}").stdout.strip() == "small"
    assert run_in(restarted, "test -e /opt/venv/big.bin").returncode != 0

    # a chain of checkpoints stops before the engine's layer limit, and says so
    layers = len(docker.from_env().api.inspect_image(previous.image)["RootFS"]["Layers"])
    deep = Daemon(site.hub, site.tenant, clock=lambda: LATER + timedelta(seconds=4),
                  max_layers=layers)  # fmt: skip
    assert run_in(restarted, f"echo more > {OUTSIDE_HOME}").returncode == 0
    stopped_chain = deep.tick(restarted)
    assert stopped_chain.action == "skipped", stopped_chain
    told = carol.checkpoints()[0]
    assert told["id"] == stopped_chain.checkpoint.id and told["state"] == "skipped"
    assert (
        f"has {layers} layers" in told["message"] and "delete your checkpoints" in told["message"]
    )
    carol.stop_and_wait()


def test_a_user_can_neither_see_nor_use_another_users_checkpoint(
    site: Site, alices: Checkpointed
) -> None:
    theirs = alices.checkpoint
    bob = sign_in(site.hub, "bob")
    assert theirs.id not in [c["id"] for c in bob.checkpoints()]
    assert bob.platform("GET", "users/alice/checkpoints").status_code == 403
    assert bob.platform("DELETE", f"users/bob/checkpoints/{theirs.id}").status_code == 404
    assert bob.platform("DELETE", f"users/alice/checkpoints/{theirs.id}").status_code == 403
    kept = [c for c in alices.alice.checkpoints() if c["id"] == theirs.id]
    assert [(c["state"], c["deleted"]) for c in kept] == [("ready", False)]

    # naming alice's checkpoint when starting is refused, with the reason, and starts nothing
    refused = bob.start(site.tenant, checkpoint=str(theirs.id))
    assert refused.status_code == 400, refused.text
    assert "checkpoint" in refused.json()["message"]
    model = bob.browser.api("GET", "users/bob").json()
    assert model["servers"] == {}, model
    assert not sh(
        "ps", "-aq", "--filter", f"label=tenanthub.io/tenant={site.tenant}",
        "--filter", "label=tenanthub.io/username=bob",
    ).stdout.split()  # fmt: skip

    # "restore my environment" restores bob's (he has none): the profile's image
    started = bob.start(site.tenant, checkpoint="restore")
    assert started.status_code in (201, 202), started.text
    bob.browser.wait_ready()
    container = container_of(site.tenant, "bob")
    assert image_of(container) == CPU_IMAGE
    assert proof_in(container) is None
    bob.stop_and_wait()
