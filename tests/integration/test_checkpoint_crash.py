"""Crash safety: the checkpointer killed at each step loses nothing.

The daemon runs as a real process (``python -m checkpointer``) with
``TENANTHUB_CHECKPOINTER_FAILPOINT`` naming a step: it SIGKILLs itself exactly there
(no cleanup, like ``kill -9`` or a node losing power). One hub (Docker backend),
alice's server and a previous ready checkpoint are shared by the four cases; every
case starts where the previous one left things: one ready checkpoint, nothing in
flight. After the kill the previous checkpoint must still be the one the spawner
restores (read with the spawner's own store call), and the daemon started again
must finish or fail the half-made checkpoint during recovery and leave no image on
the engine and no tag in the registry that no ready checkpoint owns.

Crash runs use ``idle_after`` 1 s (the server is idle by the real clock); the
recovery run uses an hour, so it only recovers (its first tick finds nothing idle),
and its ``/health`` reporting a tick is the sign that recovery is over.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from secrets import token_hex
from typing import Any

import pytest
import requests
import yaml

from checkpointer import failpoints
from checkpointer.names import repository_for
from hub.app.service_tokens import CHECKPOINTER, token_path
from tests.integration.checkpoints import (
    NODE,
    Daemon,
    all_records,
    checkpoint_images,
    hub_config,
    need_engine,
    registry_tags,
    remove_tenant_leftovers,
    restore_candidate,
    run_in,
    sign_in,
)
from tests.integration.checkpoints import running_hub as start_hub
from tests.integration.hubrunner import RunningHub, free_port
from tests.services.registry import RegistryServer

pytestmark = [pytest.mark.integration, pytest.mark.docker_engine]
EXPECTED_STATE_AT = {
    "created": "requested",
    "committed": "committing",
    "verified": "verifying",
    "pushed": "pushing",
}


@dataclass
class Site:
    hub: RunningHub
    tenant: str
    registry: RegistryServer
    container: str
    daemon_port: int

    @property
    def repository(self) -> str:
        return repository_for(self.registry.address, "tenanthub", self.tenant, "alice")

    def daemon_config(self, name: str, idle_after: int, check_every: int) -> Path:
        """A copy of the hub's config with other timings, next to it (same data_dir)."""
        config = yaml.safe_load(self.hub.config_path.read_text())
        config["checkpoint"].update(idle_after=idle_after, check_every=check_every)
        path = self.hub.config_path.with_name(name)
        path.write_text(yaml.safe_dump(config))
        return path

    def start_daemon(self, config: Path, failpoint: str | None, log: Path) -> subprocess.Popen:
        env = {
            **os.environ,
            "TENANTHUB_CONFIG": str(config),
            "TENANTHUB_HUB_URL": self.hub.url,
            "TENANTHUB_NODE": NODE,
            "TENANTHUB_CHECKPOINTER_MODE": "docker",
            # only this hub's servers: other tests' may share the engine
            "TENANTHUB_CHECKPOINTER_LABELS": f"tenanthub.io/tenant={self.tenant}",
            "TENANTHUB_CHECKPOINTER_TOKEN_FILE": str(
                token_path(self.hub.data_dir, CHECKPOINTER.name)
            ),
        }
        env.pop(failpoints.ENV, None)
        if failpoint:
            env[failpoints.ENV] = failpoint
        with open(log, "ab") as out:
            return subprocess.Popen(
                [sys.executable, "-m", "checkpointer"],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def alices(self) -> list[dict[str, Any]]:
        return [
            r for r in all_records(self.hub) if (r["tenant"], r["user"]) == (self.tenant, "alice")
        ]

    def leftovers(self) -> list[str]:
        """Engine images and registry tags that no ready (kept) checkpoint owns."""
        records = {str(r["id"]): r for r in all_records(self.hub)}
        kept = {cid for cid, r in records.items() if r["state"] == "ready" and not r["deleted"]}
        out = [
            f"engine image of checkpoint {cid} ({records.get(cid, {}).get('state', 'no record')})"
            for cid in checkpoint_images(self.tenant, self.registry)
            if cid not in kept
        ]
        kept_tags = {records[cid]["image"].rpartition(":")[2] for cid in kept}
        out += [
            f"registry tag {tag}"
            for tag in sorted(registry_tags(self.registry, self.repository) - kept_tags)
        ]
        return out


@pytest.fixture(scope="module")
def site(registry: RegistryServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """alice's running server with one ready checkpoint (made by the daemon in-process)."""
    need_engine()
    tenant = f"cc-{token_hex(3)}"
    root = tmp_path_factory.mktemp("checkpoint-crash")
    daemon_port = free_port()
    config = hub_config(tenant, registry, ["alice"], daemon_port=daemon_port)
    try:
        with start_hub(root / "hub", config) as hub:
            alice = sign_in(hub, "alice")
            container = alice.start_and_wait(tenant)
            assert run_in(container, "echo 0 > /opt/venv/crash-case").returncode == 0
            later = datetime.now(UTC) + timedelta(hours=2)
            first = Daemon(hub, tenant, clock=lambda: later).tick(container)
            assert first.action == "ready", first
            yield Site(hub, tenant, registry, container, daemon_port)
    finally:
        remove_tenant_leftovers(tenant)


def wait_for_first_tick(site: Site, daemon: subprocess.Popen, log: Path) -> None:
    """The daemon recovers before its first tick: a tick in /health means recovery is done."""
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        assert daemon.poll() is None, f"the daemon exited:\n{log.read_text()[-3000:]}"
        try:
            health = requests.get(f"http://127.0.0.1:{site.daemon_port}/health", timeout=5)
            if health.ok and health.json().get("last_tick"):
                return
        except requests.RequestException:
            pass
        time.sleep(0.3)
    raise AssertionError(f"the daemon did not get to its first tick:\n{log.read_text()[-3000:]}")


def stop(daemon: subprocess.Popen) -> None:
    if daemon.poll() is None:
        os.killpg(daemon.pid, signal.SIGTERM)
        try:
            daemon.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(daemon.pid, signal.SIGKILL)
            daemon.wait()


@pytest.mark.parametrize("point", failpoints.POINTS)
def test_a_daemon_killed_at_a_step_leaves_the_previous_checkpoint_and_recovery_cleans_up(
    site: Site, point: str
) -> None:
    previous = restore_candidate(site.hub, site.tenant, "alice")
    assert previous is not None and previous.image
    assert site.leftovers() == []  # where every case starts
    known = {r["id"] for r in site.alices()}
    assert run_in(site.container, f"echo {point} > /opt/venv/crash-case").returncode == 0

    log = site.hub.root / f"checkpointer-{point}.log"
    crashing = site.start_daemon(site.daemon_config("crash.yaml", 1, 1), point, log)
    try:
        crashing.wait(timeout=120)
    finally:
        stop(crashing)
    assert crashing.returncode == -signal.SIGKILL, log.read_text()[-3000:]
    assert f"failpoint {point}" in log.read_text()

    half = [r for r in site.alices() if r["id"] not in known]
    assert [r["state"] for r in half] == [EXPECTED_STATE_AT[point]], half
    made = half[0]
    # nothing lost: the spawner still starts from the previous one, and it is pullable
    still = restore_candidate(site.hub, site.tenant, "alice")
    assert still is not None and still.id == previous.id
    assert previous.image.rpartition(":")[2] in registry_tags(site.registry, site.repository)

    log = site.hub.root / f"checkpointer-{point}-recovery.log"
    began = time.monotonic()
    recovering = site.start_daemon(site.daemon_config("recover.yaml", 3600, 3600), None, log)
    try:
        wait_for_first_tick(site, recovering, log)
        # the fault suite's recovery time (tests/faults/README.md): start to recovery done
        print(f"\nFAULT-RECOVERY checkpointer SIGKILL at {point}: {time.monotonic() - began:.1f} s")
        after = next(r for r in site.alices() if r["id"] == made["id"])
        latest = restore_candidate(site.hub, site.tenant, "alice")
        assert latest is not None
        if point == "created":  # nothing was made of it yet
            assert after["state"] == "failed", after
        assert after["state"] in ("ready", "failed"), after
        if after["state"] == "failed":
            assert "previous checkpoint" in after["message"], after
            assert latest.id == previous.id
        else:
            assert latest.id == made["id"]
            assert after["image"].rpartition(":")[2] in registry_tags(
                site.registry, site.repository
            )
        assert site.leftovers() == [], json.dumps(all_records(site.hub), indent=1)
    finally:
        stop(recovering)
