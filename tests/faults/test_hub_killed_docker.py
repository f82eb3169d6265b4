"""Fault: the hub is SIGKILLed while servers of the Docker backend are being spawned.

Must survive: after the hub is started again, within a bound, every server is either
running and routed (its URL answers through the proxy) or cleanly stopped (no container
left behind for it: ``docker ps`` by the tenanthub labels), no user is stuck pending,
the platform's usage counts exactly the running servers, and the quota ledger holds no
place for a server that is gone (the users whose spawns were lost can all start again
up to the quota).
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from tests.faults.docker_engine import Engine, project_engine_with
from tests.faults.docker_servers import consistent, docker_config, ready, servers, spawn_all
from tests.faults.support import (
    admin_token,
    kill_hub,
    report_recovery,
    service_pids,
    token_session,
    wait_for,
)
from tests.integration.hubrunner import RunningHub

pytestmark = [pytest.mark.integration, pytest.mark.docker_engine]
CPU_IMAGE = "tenanthub/notebook-cpu:latest"
USERS = [f"f{i}" for i in range(5)]
RECOVERY_BOUND = 90.0
WHY: list[str] = []  # why the last check found the state inconsistent (for the failure)


@pytest.fixture
def engine() -> Engine:
    return project_engine_with(CPU_IMAGE)


@pytest.fixture
def tenant(engine: Engine) -> Iterator[str]:
    """A tenant name unique to this test; its containers and volumes are removed after."""
    name = f"fk-{secrets.token_hex(3)}"
    yield name
    engine.remove_tenant(name)


def test_hub_sigkilled_during_docker_spawns_leaves_servers_running_or_cleanly_stopped(
    hub_factory: Callable[..., RunningHub], engine: Engine, tenant: str
) -> None:
    hub = hub_factory(config=docker_config(tenant, USERS, CPU_IMAGE))
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
    wait_for("a late container", lambda: set(engine.containers(tenant)) & set(late), 60, every=0.05)
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
        "hub, proxy, engine and platform agree", lambda: consistent(hub, api, tenant, engine, WHY),
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
        "every user running", lambda: consistent(hub, api, tenant, engine, WHY),
        RECOVERY_BOUND, every=0.5, why=WHY,
    )  # fmt: skip
    assert everyone == set(USERS)
