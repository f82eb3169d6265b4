"""The checkpointer daemon end to end: real hub (Docker backend), real dockerd, real registry.

Alice's server is spawned by the hub's Docker spawner (so the container carries the
spawner's labels and environment); the daemon runs in this process with the
checkpointer's own token read from the hub's secrets folder, exactly as
``python -m checkpointer`` does. Only the clock is injected: "now" is two hours
ahead, so the just-started server counts as idle without waiting.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import subprocess
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import docker
import pytest

from checkpointer.daemon import SELECTOR, Checkpointer, DockerDetails, settings_from_config
from checkpointer.drivers.docker import DockerDriver
from checkpointer.names import repository_for
from checkpointer.platform_client import PlatformClient, load_token
from checkpointer.sources import DockerLabelSource
from hub import logs
from hub.app.service_tokens import CHECKPOINTER, token_path
from hub.config.loader import load_config
from tests.conftest import need
from tests.integration.conftest import BASE_CONFIG
from tests.integration.hubrunner import Browser
from tests.services.registry import RegistryServer

pytestmark = [pytest.mark.integration, pytest.mark.docker_engine]
CPU_IMAGE = "tenanthub/notebook-cpu:latest"
NODE = "node-it"


def sh(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=check)


@pytest.fixture
def tenant() -> Iterator[str]:
    info = sh("info", "--format", "{{.ServerVersion}}", check=False)
    if info.returncode != 0:
        need("no Docker engine answers (make test starts one with scripts/dockerd.sh up)")
    if sh("image", "inspect", CPU_IMAGE, check=False).returncode != 0:
        need(f"image {CPU_IMAGE} is missing: run `make images`")
    name = f"ck-{secrets.token_hex(3)}"
    yield name
    label = f"label=tenanthub.io/tenant={name}"
    ids = sh("ps", "-aq", "--filter", label, check=False).stdout.split()
    if ids:
        sh("rm", "-f", *ids, check=False)
    for image in sh("images", "-q", "--filter", label, check=False).stdout.split():
        sh("rmi", "-f", image, check=False)
    volumes = sh("volume", "ls", "-q", "--filter", label, check=False).stdout.split()
    if volumes:
        sh("volume", "rm", "-f", *volumes, check=False)


def config_for(tenant: str, registry: RegistryServer) -> dict[str, Any]:
    config = json.loads(json.dumps(BASE_CONFIG))
    config["backend"] = {"kind": "docker"}
    for profile in config["profiles"]:
        profile["image"] = CPU_IMAGE
    config["tenants"] = [
        {"name": tenant, "quota": {"servers": 1, "cpu": "4", "memory": "8Gi"},
         "members": [{"user": "alice"}]}
    ]  # fmt: skip
    # the daemon runs in the test, not as the hub's managed service
    config["checkpoint"] = {
        "registry": registry.address, "idle_after": 60, "keep": 1, "run_daemon": False,
    }  # fmt: skip
    return config


def registry_has(registry: RegistryServer, image: str) -> bool:
    repository, _, tag = image.rpartition(":")
    name = repository.split("/", 1)[1]
    request = urllib.request.Request(
        f"{registry.url}/v2/{name}/manifests/{tag}",
        method="HEAD",
        headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status == 200
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return False
        raise


def test_idle_server_is_checkpointed_to_the_registry_and_retention_removes_the_old_one(
    hub_factory, tenant: str, registry: RegistryServer, caplog: pytest.LogCaptureFixture
) -> None:
    hub = hub_factory(config=config_for(tenant, registry))
    alice = Browser(hub, "alice")
    assert alice.login().status_code == 302
    page = alice.spawn({"tenant": tenant, f"profile-{tenant}": "small"})
    assert page.status_code == 200, page.text[-2000:]
    alice.wait_ready()
    container = sh(
        "ps", "-q", "--filter", f"label=tenanthub.io/tenant={tenant}"
    ).stdout.split()[0]  # fmt: skip
    sh("exec", container, "sh", "-c", "echo one > /tmp/th-proof")

    config = load_config(hub.config_path)
    token = load_token({}, token_path(config.hub.data_dir, CHECKPOINTER.name))
    later = datetime.now(UTC) + timedelta(hours=2)
    client = docker.from_env()

    async def scenario() -> dict[str, Any]:
        driver = DockerDriver(client)
        daemon = Checkpointer(
            settings=settings_from_config(config, NODE),
            driver=driver,
            api=PlatformClient(hub.url, token),
            details=DockerDetails(client),
            source=DockerLabelSource(driver, SELECTOR),
            clock=lambda: later,
        )
        plan = await daemon.recover()
        first = await daemon.tick()
        made = [o.checkpoint for o in first if o.checkpoint is not None]
        # ready = in the registry; the engine's copy follows on a thread
        assert driver.wait_loads(120)
        # before retention removes it (second tick): in the registry, labelled, no token
        pushed = [registry_has(registry, c.image or "") for c in made]
        inspected = [client.api.inspect_image(c.image)["Config"] for c in made]
        unchanged = await daemon.tick()
        sh("exec", container, "sh", "-c", "echo two > /tmp/th-proof2")
        then = later + timedelta(seconds=2)  # a new tag (tags are per second)
        daemon.clock = lambda: then
        second = await daemon.tick()
        records = await daemon.api.checkpoints(node=NODE)
        return {"plan": plan, "first": first, "unchanged": unchanged, "second": second,
                "records": records, "pushed": pushed, "inspected": inspected}  # fmt: skip

    caplog.set_level(logging.INFO, logger="tenanthub.checkpointer")
    out = asyncio.run(scenario())
    mine = [o for o in out["first"] if o.container.startswith(f"tenanthub-{tenant}-")]
    assert [o.action for o in mine] == ["ready"], out["first"]
    first = mine[0].checkpoint
    # each checkpoint is one event line (hub.logs): tenant, user, duration, outcome, size
    events = [getattr(r, logs.EVENT_ATTR) for r in caplog.records if hasattr(r, logs.EVENT_ATTR)]
    ready = [e for e in events if e["event"] == "checkpoint" and e.get("checkpoint") == first.id]
    assert [(e["outcome"], e["tenant"], e["user"]) for e in ready] == [("ready", tenant, "alice")]
    assert ready[0]["duration_ms"] > 0 and ready[0]["size_bytes"] > 0
    assert first is not None and first.state == "ready" and first.digest.startswith("sha256:")
    assert first.user == "alice" and first.tenant == tenant and first.profile == "small"
    assert first.base_image == CPU_IMAGE and first.node == NODE
    repository = repository_for(registry.address, "tenanthub", tenant, "alice")
    assert first.image.startswith(f"{repository}:default-")
    assert out["pushed"] == [True]
    labels = out["inspected"][0]["Labels"]
    assert labels["tenanthub.io/checkpoint-id"] == str(first.id)
    assert labels["tenanthub.io/base-image"] == CPU_IMAGE
    env = out["inspected"][0]["Env"]
    # the server's token (in the container's environment) is not in the image
    assert [e for e in env if e.startswith("JUPYTERHUB_API_TOKEN")] == ["JUPYTERHUB_API_TOKEN="]

    again = [o for o in out["unchanged"] if o.container.startswith(f"tenanthub-{tenant}-")]
    assert [o.action for o in again] == ["unchanged"], out["unchanged"]

    later_ones = [o for o in out["second"] if o.container.startswith(f"tenanthub-{tenant}-")]
    assert [o.action for o in later_ones] == ["ready"], out["second"]
    second = later_ones[0].checkpoint
    assert second is not None and second.id != first.id
    # keep: 1 -> the first one expired, its image gone from the engine and the registry
    assert [c.id for c in later_ones[0].expired] == [first.id]
    assert not registry_has(registry, first.image)
    assert registry_has(registry, second.image)
    assert sh("image", "inspect", first.image, check=False).returncode != 0

    # the user sees their checkpoints through the API (only the kept one)
    seen = alice.session.get(
        hub.url + "services/tenanthub/api/v1/users/alice/checkpoints",
        headers={"Authorization": f"token {alice_token(alice)}"},
        timeout=30,
    )
    assert seen.status_code == 200, seen.text
    assert [(c["id"], c["state"]) for c in seen.json()["items"]] == [(second.id, "ready")]


def alice_token(alice: Browser) -> str:
    made = alice.api("POST", "users/alice/tokens", json={"note": "checkpoint test"})
    assert made.status_code == 201, made.text
    return str(made.json()["token"])
