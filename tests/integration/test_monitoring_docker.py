"""Metrics on the Docker backend with the hub's own checkpointer (as `make demo` runs
it): a spawn shows on /hub/metrics with backend docker, and the checkpoint taken when
alice stops her server shows on the checkpointer's /metrics (one ready checkpoint, its
size observed, no failure); the checkpointer is ready while the platform API answers."""

from __future__ import annotations

import pytest
import requests

from tests.integration.hubrunner import Browser, free_port
from tests.integration.test_checkpoint_daemon import sh, tenant  # noqa: F401
from tests.integration.test_checkpoint_stop import config_for, container_of, wait_for
from tests.integration.test_monitoring import parse, total, value

pytestmark = [pytest.mark.integration, pytest.mark.docker_engine]


def test_spawn_and_checkpoint_metrics_on_docker(
    hub_factory,
    tenant: str,  # noqa: F811 - the fixture imported above
) -> None:
    registry_port, daemon_port = free_port(), free_port()
    config = config_for(tenant, registry_port, daemon_port)
    config["service"] = {"authenticate_metrics": False}  # open: no token needed here
    hub = hub_factory(config=config)
    endpoint = f"http://127.0.0.1:{daemon_port}"
    wait_for(f"{endpoint}/health")
    wait_for(f"http://127.0.0.1:{registry_port}/v2/")
    ready = requests.get(f"{endpoint}/health/ready", timeout=30)
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"] == {"platform_api": "ok"}
    before = parse(requests.get(f"{endpoint}/metrics", timeout=30).text)
    assert total(before, "tenanthub_checkpoint_duration_seconds_count") == 0

    alice = Browser(hub, "alice")
    assert alice.login().status_code == 302
    page = alice.spawn({"tenant": tenant, f"profile-{tenant}": "small"})
    assert page.status_code == 200, page.text[-2000:]
    alice.wait_ready()
    sh("exec", container_of(tenant), "sh", "-c", "echo kept > /tmp/th-metrics-proof")
    stopped = alice.api("DELETE", "users/alice/server")
    assert stopped.status_code in (202, 204), stopped.text
    alice.wait_stopped(timeout=150)

    # authenticate_metrics off: the hub's /hub/metrics is open too
    hub_metrics = parse(requests.get(hub.url + "hub/metrics", timeout=30).text)
    assert (
        value(hub_metrics, "tenanthub_spawn_duration_seconds_count", backend="docker",
              profile="small")
        == 1
    )  # fmt: skip
    answer = requests.get(f"{endpoint}/metrics", timeout=30)
    assert answer.status_code == 200
    samples = parse(answer.text)
    labels = {"tenant": tenant, "profile": "small"}
    assert value(samples, "tenanthub_checkpoint_duration_seconds_count", **labels,
                 state="ready") == 1  # fmt: skip
    assert value(samples, "tenanthub_checkpoint_size_bytes_count", **labels) == 1
    assert (value(samples, "tenanthub_checkpoint_size_bytes_sum", **labels) or 0) > 0
    assert total(samples, "tenanthub_checkpoint_failures_total") == 0
    assert "alice" not in answer.text
