"""Fault: the Kubernetes API server is restarted while a hub has running servers on it.

Must survive: the hub process never exits (same PID throughout, its API answers while
the API server is down and after), and KubeSpawner's pod reflector reconnects on its
own: a pod deleted behind the hub's back after the restart is noticed, a server
started before the restart stops and its pod goes away, a new spawn becomes running and
routed, and in the end the hub's servers are exactly the pods in ``th-<tenant>`` (no
orphan pod, nobody pending). (Part of the fault suite, tests/faults/README.md; it lives
here for the cluster's fixtures.)

The restart is ``cluster.sh restart kube-apiserver`` on the shared test cluster (TERM,
up to 10 s of graceful shutdown with the port already closed, then KILL, and a start):
pytest runs one test at a time, so nothing else uses the cluster meanwhile. The
reflector retries a broken watch with doubling delays (0.2 s ... 25.6 s) and gives up
after about 51 s of failures; an outage of ~15 s is well inside that. (A longer one: the
reflector gives up and, since TenantKubeSpawner._start_reflector, the next poll, spawn or
stop starts a new one; before, the hub ran on with a stale copy of the pods and this test
failed at "the hub noticing bob's deleted pod" when the give-up was forced early.)
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
from kubernetes import client, config

from tests.faults.support import admin_token, report_recovery, routed, token_session, wait_for
from tests.integration.conftest import hub_factory  # noqa: F401 - fixture
from tests.integration.hubrunner import Browser, RunningHub
from tests.k8s.test_hub_k8s import host_volume, k8s_config, pods_of

pytestmark = pytest.mark.integration
CLUSTER_SH = Path(__file__).with_name("cluster.sh")
USERS = ["alice", "bob"]
SPAWN_BOUND = 120.0
#: the pod reflector reconnects within its backoff (at most 25.6 s after the API is back)
RECONNECT_BOUND = 60.0


@dataclass
class Watch:
    """What a thread saw every 0.2 s during the restart: the API server, the hub's process
    and the hub's API."""

    hub: RunningHub
    kubeconfig: Path
    namespace: str
    down_at: float | None = None
    back_at: float | None = None
    hub_exit: int | None = None
    hub_answers_while_down: int = 0
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        settings = client.Configuration()
        config.load_kube_config(config_file=str(self.kubeconfig), client_configuration=settings)
        settings.retries = 0  # one try per look: the outage is timed to 0.2 s
        api = client.ApiClient(settings)
        core = client.CoreV1Api(api)
        try:
            while not self.stop.is_set():
                self._look(core)
                time.sleep(0.2)
        finally:
            api.close()

    def _look(self, core: client.CoreV1Api) -> None:
        assert self.hub.proc is not None
        if self.hub_exit is None:
            self.hub_exit = self.hub.proc.poll()
        try:
            core.list_namespaced_pod(self.namespace, _request_timeout=2)
            answers = True
        except Exception:  # refused, reset, 5xx while starting: the API server is out
            answers = False
        now = time.monotonic()
        if not answers and self.down_at is None:
            self.down_at = now
        elif answers and self.down_at is not None and self.back_at is None:
            self.back_at = now
        if self.down_at is not None and self.back_at is None and hub_answers(self.hub):
            self.hub_answers_while_down += 1


def hub_answers(hub: RunningHub) -> bool:
    try:
        return requests.get(f"{hub.url}hub/api/", timeout=5).status_code == 200
    except requests.RequestException:
        return False


def restart_apiserver(kubeconfig: Path) -> None:
    """``cluster.sh restart kube-apiserver`` on the cluster of this kubeconfig (its
    K8S_HOME is the kubeconfig's ``pki/``'s parent)."""
    env = {**os.environ, "K8S_HOME": str(kubeconfig.parent.parent)}
    done = subprocess.run(
        [str(CLUSTER_SH), "restart", "kube-apiserver"],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    print(done.stderr.strip())


def servers(hub: RunningHub, api: requests.Session) -> dict[str, dict[str, Any]]:
    """user -> default server model, for every user that has one."""
    answer = api.get(f"{hub.url}hub/api/users", timeout=30)
    assert answer.status_code == 200, answer.text
    return {u["name"]: u["servers"][""] for u in answer.json() if "" in u.get("servers", {})}


def pod_users(core: client.CoreV1Api, tenant: str) -> dict[str, str]:
    """user -> pod name of the tenant's server pods that are not being deleted."""
    return {
        pod.metadata.annotations["tenanthub.io/user"]: pod.metadata.name
        for pod in pods_of(core, tenant)
        if pod.metadata.deletion_timestamp is None
    }


def spawn(hub: RunningHub, api: requests.Session, user: str, tenant: str) -> None:
    answer = api.post(
        f"{hub.url}hub/api/users/{user}/server",
        json={"tenant": tenant, "profile": "small"}, timeout=60,
    )  # fmt: skip
    assert answer.status_code in (201, 202), answer.text[:500]


def stop(hub: RunningHub, api: requests.Session, user: str) -> int:
    answer = api.delete(f"{hub.url}hub/api/users/{user}/server", timeout=60)
    return answer.status_code


def running_and_routed(
    hub: RunningHub, api: requests.Session, core: client.CoreV1Api, tenant: str, users: set[str]
) -> Callable[[list[str]], bool]:
    """A check: exactly ``users`` have a server, each ready, not pending and routed, and
    each has one pod in the namespace; no other pod."""

    def check(why: list[str]) -> bool:
        why.clear()
        found, pods = servers(hub, api), pod_users(core, tenant)
        if set(found) != users or set(pods) != users or len(pods_of(core, tenant)) != len(users):
            why.append(f"servers {sorted(found)}, pods {sorted(pods)}, want {sorted(users)}")
            return False
        bad = [u for u, s in found.items() if s["pending"] or not s["ready"]]
        bad += [u for u in users if not routed(hub, u)]
        why.extend(f"{u} pending, not ready or not routed" for u in bad)
        return not bad

    return check


def settle(what: str, check: Callable[[list[str]], bool], limit: float) -> None:
    why: list[str] = []
    wait_for(what, lambda: check(why), limit, every=0.5, why=why)


def test_hub_and_pod_reflector_survive_an_api_server_restart(
    hub_factory: Callable[..., RunningHub],  # noqa: F811 - fixture
    hub_kubeconfig: Path,
    kubeconfig: Path,
    kube_api: client.ApiClient,
    new_tenant: Callable[[], str],
    notebook_image: str,
    tmp_path: Path,
) -> None:
    tenant = new_tenant()
    core = client.CoreV1Api(kube_api)
    host_volume(core, tenant, tmp_path / "volume", USERS)
    hub = hub_factory(config=k8s_config(tenant, hub_kubeconfig))
    hub.wait_for_service()
    api = token_session(admin_token(hub))
    made = api.post(f"{hub.url}hub/api/users", json={"usernames": USERS}, timeout=60)
    assert made.status_code in (201, 409), made.text
    for user in USERS:
        spawn(hub, api, user, tenant)
    settle("alice and bob running", running_and_routed(hub, api, core, tenant, {*USERS}), 120)
    assert hub.proc is not None
    pid = hub.proc.pid

    watch = Watch(hub, kubeconfig, f"th-{tenant}")
    watching = threading.Thread(target=watch.run, daemon=True)
    watching.start()
    began = time.monotonic()
    restart_apiserver(kubeconfig)
    wait_for("the API server answering", lambda: watch.back_at, 30)
    watch.stop.set()
    watching.join(timeout=30)
    assert watch.down_at is not None and watch.back_at is not None
    out, took = watch.back_at - watch.down_at, time.monotonic() - began
    print(f"API server out for {out:.1f} s (the restart took {took:.1f} s)")
    assert watch.hub_exit is None, f"the hub exited ({watch.hub_exit}):\n{hub.log()[-3000:]}"
    assert watch.hub_answers_while_down > 0, "the hub's API did not answer during the outage"
    # the hub did see the outage: its reflectors' watches failed and were retried
    assert "Error when watching resources" in hub.log()

    # a server started before the restart is stopped (JupyterHub answers after at most
    # 10 s, the stop goes on behind; the pod goes after the kubelet's own watch is back)
    stops: list[int] = []
    stopping = threading.Thread(target=lambda: stops.append(stop(hub, api, "alice")))
    stopping.start()

    # the reflector is connected again: a pod deleted behind the hub's back is noticed
    # (bob's home page polls his server; the poll reads the reflector's copy of the pods)
    core.delete_namespaced_pod(
        pod_users(core, tenant)["bob"], f"th-{tenant}", grace_period_seconds=0
    )
    bob = Browser(hub, "bob")
    assert bob.login().status_code == 302

    def bob_noticed() -> bool:
        bob.session.get(f"{hub.url}hub/home", timeout=30)
        return "bob" not in servers(hub, api)

    wait_for("the hub noticing bob's deleted pod", bob_noticed, RECONNECT_BOUND, every=0.5)
    noticed = time.monotonic() - watch.back_at

    # a new spawn runs and is routed; alice's server and pod are gone: the hub's servers
    # are exactly the pods
    spawn(hub, api, "bob", tenant)
    settle(
        "bob running again, alice stopped",
        running_and_routed(hub, api, core, tenant, {"bob"}),
        SPAWN_BOUND,
    )
    stopping.join(timeout=60)
    assert stops and stops[0] in (202, 204), stops
    report_recovery("kube-apiserver restarted", time.monotonic() - watch.back_at)
    print(f"deleted pod noticed {noticed:.1f} s after the API server was back")
    assert hub.proc.poll() is None and hub.proc.pid == pid, "the hub process exited"
    assert hub_answers(hub)
