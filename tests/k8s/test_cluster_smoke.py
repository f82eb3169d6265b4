"""The Kubernetes tier works: a real kubelet runs TenantHub's notebook image under the
restricted security context, and the real API server enforces a ResourceQuota."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from tests.k8s import (
    PAUSE_IMAGE,
    describe,
    restricted_pod,
    wait_for_pod_gone,
    wait_for_pod_phase,
)
from tests.ports import free_port

pytestmark = pytest.mark.timeout(60)


def _get(url: str, timeout: float) -> tuple[int, bytes]:
    """GET until the server answers (it binds a moment after the pod is Running)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return response.status, response.read()
        except (urllib.error.URLError, ConnectionError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _process_status(argv: list[str]) -> dict[str, str]:
    """/proc/<pid>/status of the host process running exactly ``argv`` (not its tini parent)."""
    wanted = "\0".join(argv).encode() + b"\0"
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if (proc / "cmdline").read_bytes() != wanted:
                continue
            lines = (proc / "status").read_text().splitlines()
        except OSError:  # gone meanwhile
            continue
        return dict(line.split(":\t", 1) for line in lines if ":\t" in line)
    raise AssertionError(f"no process runs {argv}")


def test_notebook_image_serves_http_from_a_restricted_host_network_pod(
    core_v1: client.CoreV1Api, namespace: str, notebook_image: str
) -> None:
    port = free_port()
    server = ["python3", "-m", "http.server", str(port), "--bind", "127.0.0.1"]
    # args, not command: the image's entrypoint (tini) stays PID 1 and forwards SIGTERM
    core_v1.create_namespaced_pod(namespace, restricted_pod("http", notebook_image, args=server))

    pod = wait_for_pod_phase(core_v1, namespace, "http", "Running", timeout=30)
    assert pod.status.pod_ip == "127.0.0.1"  # host network: the node's loopback address
    status, body = _get(f"http://127.0.0.1:{port}/", timeout=15)
    assert status == 200
    assert b"Directory listing" in body

    # the kubelet really applied the securityContext to the server process
    proc = _process_status(server)
    assert proc["Uid"].split()[:2] == ["1000", "1000"], describe(pod)
    assert int(proc["CapEff"], 16) == 0  # capabilities drop ALL
    assert proc["NoNewPrivs"] == "1"  # allowPrivilegeEscalation: false
    assert proc["Seccomp"] == "2"  # RuntimeDefault: a filter is installed

    core_v1.delete_namespaced_pod("http", namespace)
    wait_for_pod_gone(core_v1, namespace, "http", timeout=20)
    with pytest.raises((urllib.error.URLError, ConnectionError)):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2)


def test_resource_quota_refuses_the_pod_over_the_limit(
    core_v1: client.CoreV1Api, namespace: str
) -> None:
    quota = client.V1ResourceQuota(
        metadata=client.V1ObjectMeta(name="servers"),
        spec=client.V1ResourceQuotaSpec(hard={"pods": "1"}),
    )
    core_v1.create_namespaced_resource_quota(namespace, quota)
    # admission enforces status.hard, which the controller-manager fills in
    deadline = time.monotonic() + 10
    while not (core_v1.read_namespaced_resource_quota("servers", namespace).status.hard or {}):
        assert time.monotonic() < deadline, "ResourceQuota status never computed"
        time.sleep(0.1)

    core_v1.create_namespaced_pod(namespace, restricted_pod("first", PAUSE_IMAGE))
    with pytest.raises(ApiException) as refused:
        core_v1.create_namespaced_pod(namespace, restricted_pod("second", PAUSE_IMAGE))

    assert refused.value.status == 403
    message = json.loads(refused.value.body)["message"]
    assert "exceeded quota: servers" in message
    assert "limited: pods=1" in message
