"""Fault: the hub is SIGKILLed while a server of the Kubernetes backend is being spawned.

Must survive: after the hub is started again, the server is either running and routed or
cleanly stopped with no pod (nor its env Secret) left in the tenant's namespace, nobody is
pending, and the quota ledger holds no place for it: the user starts again and gets one
routed server, in one pod. (Part of the fault suite, tests/faults/README.md; it lives
here for the cluster's fixtures.)

Before the fix this found, the restarted KubeSpawner looked for the pod in its default
namespace (a start that never finished saved no state), found none, and JupyterHub forgot
the server while its pod kept running in ``th-<tenant>``, unrouted and counted by the
tenant's ResourceQuota.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
from kubernetes import client
from kubernetes.client.rest import ApiException

from tests.faults.support import (
    admin_token,
    kill_hub,
    report_recovery,
    routed,
    token_session,
    wait_for,
)
from tests.integration.conftest import hub_factory  # noqa: F401 - fixture
from tests.integration.hubrunner import RunningHub
from tests.k8s.test_hub_k8s import host_volume, k8s_config, pods_of

pytestmark = pytest.mark.integration
RECOVERY_BOUND = 120.0


def server(hub: RunningHub, api: requests.Session, user: str) -> dict[str, Any] | None:
    answer = api.get(f"{hub.url}hub/api/users/{user}", timeout=30)
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] | None = answer.json()["servers"].get("")
    return found


def secret_exists(core: client.CoreV1Api, namespace: str, name: str) -> bool:
    try:
        core.read_namespaced_secret(name, namespace)
    except ApiException as exc:
        if exc.status == 404:
            return False
        raise
    return True


def test_hub_sigkilled_during_a_kubernetes_spawn_leaves_no_orphan_pod(
    hub_factory: Callable[..., RunningHub],  # noqa: F811 - fixture
    hub_kubeconfig: Path,
    kube_api: client.ApiClient,
    new_tenant: Callable[[], str],
    notebook_image: str,
    tmp_path: Path,
) -> None:
    tenant = new_tenant()
    core = client.CoreV1Api(kube_api)
    host_volume(core, tenant, tmp_path / "volume", ["alice"])
    hub = hub_factory(config=k8s_config(tenant, hub_kubeconfig))
    hub.wait_for_service()
    api = token_session(admin_token(hub))
    made = api.post(f"{hub.url}hub/api/users", json={"usernames": ["alice"]}, timeout=60)
    assert made.status_code in (201, 409), made.text

    def spawn() -> None:
        with contextlib.suppress(requests.RequestException):  # the hub dies under it
            api.post(
                f"{hub.url}hub/api/users/alice/server",
                json={"tenant": tenant, "profile": "small"}, timeout=150,
            )  # fmt: skip

    spawning = threading.Thread(target=spawn, daemon=True)
    spawning.start()
    # kill once the pod exists, before the spawn has finished
    [pod] = wait_for("alice's pod", lambda: pods_of(core, tenant), 90, every=0.05)
    at_kill = server(hub, api, "alice")
    kill_hub(hub)
    assert at_kill is not None and (at_kill["pending"] or not at_kill["ready"]), at_kill
    spawning.join(timeout=30)
    name, namespace = pod.metadata.name, pod.metadata.namespace

    began = time.monotonic()
    hub.start()
    why: list[str] = []

    def settled() -> str | None:
        why.clear()
        now = server(hub, api, "alice")
        pods = pods_of(core, tenant)
        if now is None:
            if pods or secret_exists(core, namespace, f"{name}-env"):
                why.append(f"no server, but pods {[p.metadata.name for p in pods]} or the Secret")
                return None
            return "stopped"
        if now["pending"] or not now["ready"]:
            why.append(f"pending: {now}")
            return None
        if len(pods) == 1 and routed(hub, "alice"):
            return "running"
        why.append(f"running, {len(pods)} pods, routed={routed(hub, 'alice')}")
        return None

    outcome = wait_for("server and pods agree", settled, RECOVERY_BOUND, every=0.5, why=why)
    report_recovery("hub SIGKILL during a Kubernetes spawn", time.monotonic() - began)
    print(f"after recovery: {outcome}")

    if outcome == "stopped":  # the ledger holds no place for it: she starts again
        again = api.post(
            f"{hub.url}hub/api/users/alice/server",
            json={"tenant": tenant, "profile": "small"}, timeout=150,
        )  # fmt: skip
        assert again.status_code in (201, 202), again.text[:500]
        assert wait_for("alice running", settled, RECOVERY_BOUND, every=0.5, why=why) == "running"
