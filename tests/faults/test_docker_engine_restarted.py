"""Fault: the Docker engine under running servers is stopped and started again.

Must survive, with and without dockerd's ``--live-restore``:

- while the engine is down the hub keeps serving: its API answers, the servers it had
  stay in its list (an engine that does not answer is not a stopped server), a spawn is
  refused at once with a clear 503 naming the engine, and leaves nobody pending;
- with live restore the servers keep answering through the proxy during the outage, and
  after the start the same containers are kept and routed;
- without it the engine stops the containers as it goes down; after the start the hub's
  poll stops those servers cleanly (no container left, nobody pending, the platform
  counts no server);
- after the start spawns resume: new servers start and are routed, up to the quota.

The engine is a private dockerd started with the project's ``scripts/dockerd.sh`` (see
``tests/faults/docker_engine.py``): stopping the shared one would take down what other
tests and the Kubernetes test cluster run on it.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterator

import pytest

from tests.faults.docker_engine import PrivateEngine, project_engine_with
from tests.faults.docker_servers import consistent, docker_config, servers, spawn
from tests.faults.support import admin_token, report_recovery, routed, token_session, wait_for
from tests.integration.hubrunner import RunningHub

pytestmark = [pytest.mark.integration, pytest.mark.docker_engine]
IMAGE = "tenanthub/notebook-base:latest"
USERS = ["e0", "e1", "e2"]
RECOVERY_BOUND = 90.0  # JupyterHub polls a server every 30 s (Spawner.poll_interval)
WHY: list[str] = []


@pytest.fixture(params=[True, False], ids=["live-restore", "containers-stopped"])
def engine(request: pytest.FixtureRequest) -> Iterator[PrivateEngine]:
    """A private engine holding the notebook image, emptied before and after the test."""
    source = project_engine_with(IMAGE)
    private = PrivateEngine(live_restore=request.param)
    private.up()
    try:
        private.clear()
        private.copy_image(IMAGE, source)
        yield private
    finally:
        # with live restore a test that failed while the engine was down left containers
        # running without it: start it again to remove them
        private.up()
        private.clear()
        private.down()


def agreed_on(expected: set[str], found: set[str] | None) -> set[str] | None:
    """``found`` if it is ``expected``; else None, saying what was found instead."""
    if found is not None and found != expected:
        WHY.append(f"agreed on {sorted(found)}")
        return None
    return found


@pytest.fixture
def tenant() -> str:
    return f"fe-{secrets.token_hex(3)}"


def test_docker_engine_restarted_servers_reconciled_and_spawns_resume(
    engine: PrivateEngine, hub_factory: Callable[..., RunningHub], tenant: str
) -> None:
    hub = hub_factory(config=docker_config(tenant, USERS, IMAGE, engine_url=engine.host))
    hub.wait_for_service()
    token = admin_token(hub)
    api = token_session(token)
    made = api.post(f"{hub.url}hub/api/users", json={"usernames": USERS}, timeout=60)
    assert made.status_code == 201, made.text

    first = USERS[:2]
    for user in first:
        started = spawn(hub, token, tenant, user)
        assert started.status_code in (201, 202), started.text
    agreed = wait_for(
        "two servers running", lambda: consistent(hub, api, tenant, engine, WHY),
        RECOVERY_BOUND, every=0.5, why=WHY,
    )  # fmt: skip
    assert agreed == set(first)
    before = engine.running(tenant)
    hub_pid = hub.proc.pid if hub.proc else None

    # the fault: the engine goes down the way `systemctl stop docker` takes it down (TERM)
    engine.down()

    # the hub keeps serving, keeps its servers, refuses a spawn at once, nobody pending
    asked = time.monotonic()
    refused = spawn(hub, token, tenant, USERS[2])
    took = time.monotonic() - asked
    assert refused.status_code == 503, (refused.status_code, refused.text[:500])
    assert "Docker engine does not answer" in refused.text
    assert took < 15, f"the refused spawn took {took:.1f} s"
    during = servers(hub, api)
    assert set(during) == set(first), f"servers while the engine is down: {sorted(during)}"
    assert not any(s["pending"] for s in during.values()), during
    if engine.live_restore:
        for user in first:
            assert routed(hub, user), f"{user}'s server stopped answering with live restore"
    time.sleep(3)  # an outage longer than one look: the hub's checks run meanwhile

    engine.up()
    began = time.monotonic()
    expected = set(first) if engine.live_restore else {"<none>"}
    after = wait_for(
        f"hub, proxy, engine and platform agree on {sorted(expected)}",
        lambda: agreed_on(expected, consistent(hub, api, tenant, engine, WHY)),
        RECOVERY_BOUND, every=0.5, why=WHY,
    )  # fmt: skip
    report_recovery(
        "Docker engine restarted, "
        + ("live restore: servers kept" if engine.live_restore else "servers stopped by poll"),
        time.monotonic() - began,
    )
    assert after == expected
    if engine.live_restore:
        assert engine.running(tenant) == before, "live restore kept other containers"
    assert hub.proc is not None and hub.proc.poll() is None and hub.proc.pid == hub_pid

    # spawns resume, up to the quota
    for user in USERS:
        if engine.live_restore and user in first:
            continue
        again = spawn(hub, token, tenant, user)
        assert again.status_code in (201, 202), (user, again.status_code, again.text[:500])
    everyone = wait_for(
        "every user running after the restart",
        lambda: consistent(hub, api, tenant, engine, WHY), RECOVERY_BOUND, every=0.5, why=WHY,
    )  # fmt: skip
    assert everyone == set(USERS)
