"""Fault: the hub is SIGKILLed while servers of the Docker backend are being spawned.

Must survive: after the hub is started again, within a bound, every server is either
running and routed (its URL answers through the proxy) or cleanly stopped (no container
left behind for it: ``docker ps`` by the tenanthub labels), no user is stuck pending,
the platform's usage counts exactly the running servers, and the quota ledger holds no
place for a server that is gone (the users whose spawns were lost can all start again
up to the quota).
"""

from __future__ import annotations

import contextlib
import json
import secrets
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from tests.conftest import need
from tests.faults.support import (
    admin_token,
    kill_hub,
    report_recovery,
    routed,
    service_pids,
    token_session,
    wait_for,
)
from tests.integration.conftest import BASE_CONFIG
from tests.integration.hubrunner import RunningHub

pytestmark = pytest.mark.integration
CPU_IMAGE = "tenanthub/notebook-cpu:latest"
USERS = [f"f{i}" for i in range(5)]
RECOVERY_BOUND = 90.0


def docker(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["docker", *args], capture_output=True, text=True, check=check, timeout=60
    )


@pytest.fixture
def tenant() -> Iterator[str]:
    """A tenant name unique to this test; its containers and volumes are removed after."""
    try:
        info = docker("info", "--format", "{{.ServerVersion}}", check=False)
    except FileNotFoundError:
        info = None
    if info is None or info.returncode != 0:
        need("no Docker engine answers (make test starts one with scripts/dockerd.sh up)")
    if docker("image", "inspect", CPU_IMAGE, check=False).returncode != 0:
        need(f"image {CPU_IMAGE} is missing: run `make images`")
    name = f"fk-{secrets.token_hex(3)}"
    yield name
    label = f"label=tenanthub.io/tenant={name}"
    ids = docker("ps", "-aq", "--filter", label, check=False).stdout.split()
    if ids:
        docker("rm", "-f", *ids, check=False)
    volumes = docker("volume", "ls", "-q", "--filter", label, check=False).stdout.split()
    if volumes:
        docker("volume", "rm", "-f", *volumes, check=False)


def config_for(tenant: str) -> dict[str, Any]:
    config = json.loads(json.dumps(BASE_CONFIG))
    config["backend"] = {"kind": "docker", "docker": {}}
    for profile in config["profiles"]:
        profile["image"] = CPU_IMAGE
    config["tenants"] = [
        {
            "name": tenant,
            "quota": {"servers": len(USERS), "cpu": "8", "memory": "16Gi"},
            "members": [{"user": u} for u in USERS],
        }
    ]
    return config


def containers(tenant: str) -> dict[str, str]:
    """username -> container id of the tenant's containers, any state (``docker ps -a``)."""
    listed = docker(
        "ps", "-a", "--filter", f"label=tenanthub.io/tenant={tenant}",
        "--format", '{{.ID}} {{.Label "tenanthub.io/username"}}',
    ).stdout.split("\n")  # fmt: skip
    out = {}
    for line in listed:
        if line.strip():
            cid, _, user = line.partition(" ")
            out[user] = cid
    return out


def servers(hub: RunningHub, api: requests.Session) -> dict[str, dict[str, Any]]:
    listed = api.get(f"{hub.url}hub/api/users", timeout=30)
    assert listed.status_code == 200, listed.text
    return {u["name"]: u["servers"][""] for u in listed.json() if u["servers"].get("")}


def ready(hub: RunningHub, api: requests.Session) -> set[str]:
    return {u for u, s in servers(hub, api).items() if s["ready"] and not s["pending"]}


def platform_servers_used(hub: RunningHub, api: requests.Session, tenant: str) -> int:
    answer = api.get(f"{hub.url}services/tenanthub/api/v1/tenants/{tenant}/usage", timeout=30)
    assert answer.status_code == 200, answer.text
    return int({r["resource"]: r["used"] for r in answer.json()["resources"]}["servers"])


WHY: list[str] = []  # why the last check found the state inconsistent (for the failure)


def consistent(hub: RunningHub, api: requests.Session, tenant: str) -> set[str] | None:
    """The set of running users once hub, proxy, engine and platform agree, else None."""
    WHY.clear()
    try:
        present = servers(hub, api)
    except (requests.RequestException, AssertionError) as exc:
        WHY.append(f"hub API: {exc}")
        return None
    stuck = {u for u, s in present.items() if s["pending"] or not s["ready"]}
    if stuck:
        WHY.append(f"pending: {sorted(stuck)}")
        return None
    running = set(present)
    engine = set(containers(tenant))
    if engine != running:
        WHY.append(f"containers of {sorted(engine)} but servers of {sorted(running)}")
        return None
    unrouted = {u for u in running if not routed(hub, u)}
    if unrouted:
        WHY.append(f"not answering through the proxy: {sorted(unrouted)}")
        return None
    try:
        used = platform_servers_used(hub, api, tenant)
    except (requests.RequestException, AssertionError) as exc:
        WHY.append(f"platform usage: {exc}")
        return None
    if used != len(running):
        WHY.append(f"platform counts {used} servers, {len(running)} run")
        return None
    return running or {"<none>"}


def spawn_all(hub: RunningHub, token: str, tenant: str, users: list[str]) -> None:
    """Ask for every user's server at once; the answers do not matter (the hub may die)."""

    def spawn(user: str) -> None:
        with contextlib.suppress(requests.RequestException):  # the hub may die under it
            token_session(token).post(
                f"{hub.url}hub/api/users/{user}/server",
                json={"tenant": tenant, "profile": "small"},
                timeout=120,
            )

    threads = [threading.Thread(target=spawn, args=(u,)) for u in users]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=150)


def test_hub_sigkilled_during_docker_spawns_leaves_servers_running_or_cleanly_stopped(
    hub_factory: Callable[..., RunningHub], tenant: str
) -> None:
    hub = hub_factory(config=config_for(tenant))
    hub.wait_for_service()
    token = admin_token(hub)
    api = token_session(token)
    made = api.post(f"{hub.url}hub/api/users", json={"usernames": USERS}, timeout=60)
    assert made.status_code == 201, made.text

    # two servers run before the fault; three are being spawned when the hub dies
    early, late = USERS[:2], USERS[2:]
    spawn_all(hub, token, tenant, early)
    wait_for("the first two servers", lambda: set(early) <= ready(hub, api), RECOVERY_BOUND)
    spawner = threading.Thread(target=spawn_all, args=(hub, token, tenant, late), daemon=True)
    spawner.start()
    # kill once the engine has a container of the late ones, before they are all ready
    wait_for("a late container", lambda: set(containers(tenant)) & set(late), 60, every=0.05)
    at_kill = servers(hub, api)
    kill_hub(hub)
    pending_at_kill = {u for u, s in at_kill.items() if s["pending"] or not s["ready"]}
    print(f"\nat the kill: {len(at_kill)} servers, pending {sorted(pending_at_kill)}")
    assert pending_at_kill, "the kill came after every spawn had finished: nothing was tested"
    spawner.join(timeout=30)
    # the killed hub's platform service notices its hub is gone and stops by itself
    orphans = set(service_pids(hub))

    began = time.monotonic()
    hub.start()
    running = wait_for(
        "hub, proxy, engine and platform agree", lambda: consistent(hub, api, tenant),
        RECOVERY_BOUND, every=0.5, why=WHY,
    )  # fmt: skip
    recovery = time.monotonic() - began
    report_recovery("hub SIGKILL during 5 Docker spawns", recovery)
    running.discard("<none>")
    print(f"running after recovery: {sorted(running)}")
    assert set(early) <= running, "a server that was running before the kill was lost"
    assert not orphans & set(service_pids(hub)), "the killed hub's service still runs"

    # the ledger keeps no place for a server that is gone: every lost spawn starts again
    lost = [u for u in USERS if u not in running]
    for user in lost:
        again = api.post(
            f"{hub.url}hub/api/users/{user}/server",
            json={"tenant": tenant, "profile": "small"}, timeout=120,
        )  # fmt: skip
        assert again.status_code in (201, 202), (user, again.status_code, again.text[:500])
    everyone = wait_for(
        "every user running", lambda: consistent(hub, api, tenant), RECOVERY_BOUND, every=0.5,
        why=WHY,
    )  # fmt: skip
    assert everyone == set(USERS)
