"""Checkpoint before stop, the one-machine way `make demo` runs it.

A real hub on the Docker backend with ``checkpoint.run_daemon`` and
``checkpoint.local_registry``: the hub itself runs this machine's checkpointer and a
loopback docker-registry as managed services. Nothing is idle here (``idle_after`` is an
hour): the only checkpoint is the one the spawner asks for when alice stops her server,
and the next start must run from it.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any

import pytest
import requests

from checkpointer.names import repository_for
from hub.app.service_tokens import CHECKPOINTER, token_path
from tests.integration.hubrunner import Browser, free_port
from tests.integration.test_checkpoint_daemon import CPU_IMAGE, alice_token, sh, tenant  # noqa: F401

pytestmark = [pytest.mark.integration, pytest.mark.docker_engine]


def config_for(name: str, registry_port: int, daemon_port: int) -> dict[str, Any]:
    from tests.integration.conftest import BASE_CONFIG

    config = json.loads(json.dumps(BASE_CONFIG))
    config["backend"] = {"kind": "docker"}
    for profile in config["profiles"]:
        profile["image"] = CPU_IMAGE
    config["tenants"] = [
        {"name": name, "quota": {"servers": 1, "cpu": "4", "memory": "8Gi"},
         "members": [{"user": "alice"}, {"user": "bob"}]}
    ]  # fmt: skip
    config["checkpoint"] = {
        "registry": f"127.0.0.1:{registry_port}",
        "local_registry": True,
        "run_daemon": True,
        "daemon_port": daemon_port,
        "idle_after": 3600,
        "check_every": 3600,
        "stop_wait": 120,
    }
    return config


def container_of(name: str) -> str:
    ids = sh("ps", "-q", "--filter", f"label=tenanthub.io/tenant={name}").stdout.split()
    assert len(ids) == 1, ids
    return ids[0]


def wait_for(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5):
                return
        except urllib.error.HTTPError:
            return  # it answers
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


def test_stopping_a_server_checkpoints_it_and_the_next_start_restores_it(
    hub_factory,
    tenant: str,  # noqa: F811 - the fixture imported above
) -> None:
    registry_port, daemon_port = free_port(), free_port()
    hub = hub_factory(config=config_for(tenant, registry_port, daemon_port))
    endpoint = f"http://127.0.0.1:{daemon_port}"
    wait_for(f"{endpoint}/health")
    wait_for(f"http://127.0.0.1:{registry_port}/v2/")

    # only the hub (holding the checkpointer's token) may ask for a checkpoint
    anonymous = requests.post(f"{endpoint}/checkpoint", json={"user": "alice"}, timeout=30)
    assert anonymous.status_code == 401, anonymous.text
    alice = Browser(hub, "alice")
    assert alice.login().status_code == 302
    token = alice_token(alice)
    as_alice = requests.post(
        f"{endpoint}/checkpoint",
        json={"user": "alice"},
        headers={"Authorization": f"token {token}"},
        timeout=30,
    )
    assert as_alice.status_code == 401, as_alice.text
    checkpointer_token = token_path(hub.data_dir, CHECKPOINTER.name).read_text().strip()
    nobody = requests.post(
        f"{endpoint}/checkpoint",
        json={"user": "nobody", "server": ""},
        headers={"Authorization": f"token {checkpointer_token}"},
        timeout=30,
    )
    assert nobody.status_code == 404 and nobody.json()["outcome"] == "not-here"
    assert checkpointer_token not in hub.log()

    page = alice.spawn({"tenant": tenant, f"profile-{tenant}": "small"})
    assert page.status_code == 200, page.text[-2000:]
    alice.wait_ready()
    first = container_of(tenant)
    sh("exec", first, "sh", "-c", "echo kept > /tmp/th-stop-proof")

    stopped = alice.api("DELETE", "users/alice/server")
    assert stopped.status_code in (202, 204), stopped.text
    alice.wait_stopped(timeout=150)
    assert "Checkpoint before stopping alice/: checkpoint" in hub.log(), hub.log()[-3000:]

    api = hub.url + "services/tenanthub/api/v1/users/alice/checkpoints"
    seen = requests.get(api, headers={"Authorization": f"token {token}"}, timeout=30)
    assert seen.status_code == 200, seen.text
    items = seen.json()["items"]
    assert [c["state"] for c in items] == ["ready"], items
    image = items[0]["image"]
    repository = repository_for(f"127.0.0.1:{registry_port}", "tenanthub", tenant, "alice")
    assert image.startswith(f"{repository}:default-"), image

    page = alice.spawn({"tenant": tenant, f"profile-{tenant}": "small"})
    assert page.status_code == 200, page.text[-2000:]
    alice.wait_ready()
    second = container_of(tenant)
    assert second != first
    assert sh("inspect", "--format", "{{.Config.Image}}", second).stdout.strip() == image
    proof = sh("exec", second, "cat", "/tmp/th-stop-proof")
    assert proof.stdout.strip() == "kept"
