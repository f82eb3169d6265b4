"""The Docker backend end to end: real dockerd, real images, hub and proxy in front."""

from __future__ import annotations

import json
import secrets
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from tests.faults.docker_engine import Engine, project_engine_with
from tests.integration.conftest import BASE_CONFIG
from tests.integration.hubrunner import Browser
from tests.integration.kernel import run_in_new_kernel

pytestmark = [pytest.mark.integration, pytest.mark.docker_engine]
CPU_IMAGE = "tenanthub/notebook-cpu:latest"


def docker(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=check)


@pytest.fixture(scope="module")
def engine() -> Engine:
    return project_engine_with(CPU_IMAGE)


@pytest.fixture
def tenant(engine: Engine) -> Iterator[str]:
    """A tenant name unique to this test; its containers and volumes are removed after."""
    name = f"it-{secrets.token_hex(3)}"
    yield name
    engine.remove_tenant(name)


def docker_config(tenant: str, **docker_settings: Any) -> dict[str, Any]:
    config = json.loads(json.dumps(BASE_CONFIG))
    config["backend"] = {"kind": "docker", "docker": docker_settings}
    for profile in config["profiles"]:
        profile["image"] = CPU_IMAGE
    config["tenants"] = [
        {
            "name": tenant,
            "quota": {"servers": 1, "cpu": "4", "memory": "8Gi"},
            "members": [{"user": "alice"}, {"user": "bob"}],
        }
    ]
    return config


def container_of(tenant: str, user: str) -> dict[str, Any]:
    ids = docker(
        "ps",
        "-q",
        "--filter",
        f"label=tenanthub.io/tenant={tenant}",
        "--filter",
        f"label=tenanthub.io/username={user}",
    ).stdout.split()
    assert len(ids) == 1, ids
    return dict(json.loads(docker("inspect", ids[0]).stdout)[0])


def test_spawned_container_is_hardened_and_home_persists(hub_factory, tenant):
    hub = hub_factory(config=docker_config(tenant))
    alice = Browser(hub, "alice")
    assert alice.login().status_code == 302
    page = alice.spawn({"tenant": tenant, f"profile-{tenant}": "small"})
    assert page.status_code == 200, page.text[-2000:]
    alice.wait_ready()

    info = container_of(tenant, "alice")
    assert info["Name"] == f"/tenanthub-{tenant}-alice"
    host = info["HostConfig"]
    assert info["Config"]["User"] == "1000:100"
    assert host["CapDrop"] == ["ALL"] and not host["CapAdd"]
    assert "no-new-privileges" in host["SecurityOpt"]
    assert not any("seccomp=unconfined" in opt for opt in host["SecurityOpt"])
    assert host["Privileged"] is False
    assert host["PidsLimit"] == 1024
    assert host["Memory"] == 2**30  # "small": 1Gi limit
    assert host["CpuQuota"] == 100_000 and host["CpuPeriod"] == 100_000
    assert host["NetworkMode"] == "host"
    labels = info["Config"]["Labels"]
    assert labels["tenanthub.io/tenant"] == tenant
    assert labels["tenanthub.io/user"] == "alice"
    assert labels["tenanthub.io/profile"] == "small"
    mounts = {m["Destination"]: m for m in info["Mounts"]}
    assert mounts["/home/jovyan"]["Name"] == f"tenanthub-{tenant}-home-alice"
    assert mounts["/home/jovyan/shared"]["Name"] == f"tenanthub-{tenant}-shared"
    assert all(m["Type"] == "volume" for m in mounts.values())

    assert alice.open_lab().status_code == 200
    reply = run_in_new_kernel(
        alice,
        "import os, pathlib\n"
        "pathlib.Path(os.path.expanduser('~/from-kernel.txt')).write_text(f'uid={os.getuid()}')\n",
    )
    assert reply["status"] == "ok", reply
    first_id = info["Id"]

    assert alice.api("DELETE", "users/alice/server").status_code in (202, 204)
    alice.wait_stopped()
    assert docker("ps", "-aq", "--filter", f"id={first_id}").stdout.strip() == ""

    alice.spawn({"tenant": tenant, f"profile-{tenant}": "small"})
    alice.wait_ready()
    assert container_of(tenant, "alice")["Id"] != first_id
    alice.open_lab()
    kept = alice.server_api("GET", "contents/from-kernel.txt")
    assert kept.status_code == 200, kept.text
    assert kept.json()["content"] == "uid=1000"


def test_containers_found_by_label_count_against_the_quota(hub_factory, tenant):
    # A server of this tenant this hub did not start (another hub process, a restart):
    # it is found by label and fills the tenant's one-server quota.
    docker(
        "run",
        "-d",
        "--network",
        "none",
        "--user",
        "1000:100",
        "--label",
        f"tenanthub.io/tenant={tenant}",
        "--label",
        "tenanthub.io/username=bob",
        "--label",
        "tenanthub.io/server=elsewhere",
        "--label",
        "tenanthub.io/cpu-millis=1000",
        CPU_IMAGE,
        "sleep",
        "300",
    )
    hub = hub_factory(config=docker_config(tenant))
    alice = Browser(hub, "alice")
    alice.login()
    refused = alice.spawn({"tenant": tenant, f"profile-{tenant}": "small"})
    assert refused.status_code == 403
    assert "servers: 1 of 1 in use" in refused.text
    assert alice.api("GET", "users/alice").json()["servers"] == {}


def test_missing_image_is_named_with_how_to_build_it(hub_factory, tenant):
    config = docker_config(tenant)
    config["profiles"][0]["image"] = "tenanthub/not-built:1"
    hub = hub_factory(config=config)
    alice = Browser(hub, "alice")
    alice.login()
    page = alice.spawn({"tenant": tenant, f"profile-{tenant}": "small"})
    assert "tenanthub/not-built:1" in page.text
    assert "make images" in page.text
    assert (
        docker("volume", "ls", "-q", "--filter", f"label=tenanthub.io/tenant={tenant}").stdout == ""
    )


def test_engine_down_gives_a_clear_error_and_the_hub_keeps_serving(hub_factory, tenant, tmp_path):
    hub = hub_factory(config=docker_config(tenant, url=f"unix://{tmp_path}/no-engine.sock"))
    alice = Browser(hub, "alice")
    alice.login()
    page = alice.spawn({"tenant": tenant, f"profile-{tenant}": "small"})
    assert page.status_code == 503
    assert "Docker engine does not answer" in page.text
    assert alice.api("GET", "users/alice").status_code == 200
    assert alice.spawn_form().status_code == 200
