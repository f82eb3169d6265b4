"""Metrics and health of a real hub (local backend, PostgreSQL): after a spawn, a
refused spawn and a job run, the service's /metrics and the hub's /hub/metrics scraped
over HTTP show the expected series and values; a scrape without a read:metrics token is
refused; the service's readiness turns 503 when PostgreSQL stops and 200 again when it
is back, with nothing restarted."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from hub.config.loader import load_config
from spawner.plan import local_paths
from tests.conftest import need
from tests.integration.conftest import BASE_CONFIG, PASSWORDS, PROXY_MISSING
from tests.integration.hubrunner import Browser, RunningHub, api_tokens, write_hub
from tests.integration.notebooks import write_notebook
from tests.services.postgres import PostgresServer, PostgresUnavailable, start_postgres

pytestmark = [pytest.mark.integration, pytest.mark.docker_engine]

ALLOWED_LABELS = {"tenant", "profile", "backend", "state", "reason", "kind", "le"}
CONFIG: dict[str, Any] = {
    **BASE_CONFIG,
    "backend": {"kind": "local"},
    "service": {"usage_sample_every": 5},
    "jobs": {"poll_every": 1},
}

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@dataclass
class Monitored:
    hub: RunningHub
    pg: PostgresServer
    metrics_token: str  # the platform admin's token with only read:metrics
    tokens: dict[str, str]  # user -> an ordinary API token

    def service(self, path: str, token: str | None = None) -> requests.Response:
        headers = {"Authorization": f"token {token}"} if token else {}
        return requests.get(
            self.hub.url + "services/tenanthub/" + path, headers=headers, timeout=30
        )


def pg_stop(pg: PostgresServer) -> None:
    """Stop PostgreSQL, keeping its data (its own stop() removes the folder)."""
    data = str(pg.root / "data")
    subprocess.run(
        pg._cmd(str(pg.bin_dir / "pg_ctl"), "-D", data, "-m", "fast", "-w", "stop"),
        check=True,
        capture_output=True,
    )


def pg_start(pg: PostgresServer) -> None:
    data = str(pg.root / "data")
    options = f"-h 127.0.0.1 -p {pg.port} -k {pg.root} -c fsync=off"
    subprocess.run(
        pg._cmd(
            str(pg.bin_dir / "pg_ctl"),
            "-D",
            data,
            "-l",
            str(pg.root / "log"),
            "-w",
            "-t",
            "60",
            "-o",
            options,
            "start",
        ),
        check=True,
        capture_output=True,
    )


@pytest.fixture(scope="module")
def monitored(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Monitored]:
    if PROXY_MISSING:
        need(PROXY_MISSING)
    try:
        pg = start_postgres()  # its own server: this module stops and starts it
    except PostgresUnavailable as exc:
        need(str(exc))
        raise
    hub = None
    try:
        db_url = pg.create_database(f"th_monitoring_{os.getpid()}")
        config = {**CONFIG, "hub": {"db_url": db_url}}
        hub = write_hub(tmp_path_factory.mktemp("monitoring"), config, PASSWORDS)
        hub.start()
        hub.wait_for_service()
        tokens = api_tokens(hub, ("admin", "alice", "bob", "dan"), "monitoring")
        scoped = Browser(hub, "admin")
        scoped.login()
        made = scoped.api(
            "POST", "users/admin/tokens", json={"note": "prometheus", "scopes": ["read:metrics"]}
        )
        assert made.status_code == 201, made.text
        yield Monitored(hub, pg, str(made.json()["token"]), tokens)
    finally:
        if hub is not None:
            hub.shutdown()
        pg.stop()


def parse(text: str) -> Samples:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


def total(samples: Samples, name: str, **labels: str) -> float:
    """Sum over every series of ``name`` whose labels include ``labels``."""
    return sum(v for (n, ls), v in samples.items() if n == name and set(labels.items()) <= set(ls))


def eventually(get: Callable[[], Samples], ok: Callable[[Samples], bool], limit: float = 30):
    deadline = time.monotonic() + limit
    while True:
        samples = get()
        if ok(samples) or time.monotonic() > deadline:
            return samples
        time.sleep(0.5)


@pytest.fixture(scope="module")
def scenario(monitored: Monitored) -> Monitored:
    """alice's server in vision, dan's refused spawn in vision, bob's job run in vision."""
    hub = monitored.hub
    alice = Browser(hub, "alice")
    alice.login()
    alice.spawn({"tenant": "vision", "profile-vision": "small"})
    alice.wait_ready()
    dan = Browser(hub, "dan")  # a member of nlp only
    dan.login()
    dan.spawn({"tenant": "vision", "profile-vision": "small"})
    paths = local_paths(hub.data_dir, "vision", "bob")
    paths.home.mkdir(parents=True, exist_ok=True)
    paths.shared.mkdir(parents=True, exist_ok=True)
    write_notebook(paths.home / "m.ipynb", "n = 1", "print(n)")
    made = requests.post(
        hub.url + "services/tenanthub/api/v1/tenants/vision/jobs",
        headers={"Authorization": f"token {monitored.tokens['bob']}"},
        json={"name": "metrics-probe", "notebook": "m.ipynb"},
        timeout=30,
    )
    assert made.status_code == 201, made.text
    run_id = made.json()["run"]["id"]
    deadline = time.monotonic() + 120
    state = "queued"
    while time.monotonic() < deadline and state not in ("succeeded", "failed"):
        time.sleep(0.5)
        state = requests.get(
            hub.url + f"services/tenanthub/api/v1/tenants/vision/runs/{run_id}",
            headers={"Authorization": f"token {monitored.tokens['bob']}"},
            timeout=30,
        ).json()["state"]
    assert state == "succeeded"
    return monitored


def test_service_metrics_show_the_tenants_servers_quotas_and_jobs(scenario: Monitored):
    def scrape() -> Samples:
        answer = scenario.service("metrics", scenario.metrics_token)
        assert answer.status_code == 200, answer.text
        assert answer.headers["Content-Type"].startswith("text/plain")
        return parse(answer.text)

    # the servers come from the usage sampler's tick (every 5 s here)
    samples = eventually(
        scrape, lambda s: value(s, "tenanthub_tenant_servers_running", tenant="vision") == 1
    )
    assert value(samples, "tenanthub_tenant_servers_running", tenant="vision") == 1
    assert value(samples, "tenanthub_tenant_servers_running", tenant="nlp") == 0
    assert value(samples, "tenanthub_tenant_cpu_requested_cores", tenant="vision") == 1
    assert value(samples, "tenanthub_tenant_memory_requested_bytes", tenant="vision") == 2**30
    assert value(samples, "tenanthub_tenant_cpu_quota_cores", tenant="vision") == 4
    assert value(samples, "tenanthub_tenant_memory_quota_bytes", tenant="vision") == 8 * 2**30
    assert value(samples, "tenanthub_tenant_servers_quota", tenant="vision") == 3
    assert value(samples, "tenanthub_tenant_cpu_quota_cores", tenant="nlp") is None  # no limit
    assert value(samples, "tenanthub_job_runs", tenant="vision", state="succeeded") == 1
    assert value(samples, "tenanthub_job_runs", tenant="vision", state="failed") == 0
    assert value(samples, "tenanthub_job_queue_wait_seconds_count", tenant="vision") == 1
    assert value(samples, "tenanthub_usage_sampled_timestamp_seconds") is not None
    for name, labels in samples:
        assert {k for k, _ in labels} <= ALLOWED_LABELS, (name, labels)
        for _key, label_value in labels:
            assert label_value not in ("alice", "bob", "dan", "admin", "metrics-probe"), name


def test_hub_metrics_show_the_spawn_duration_and_the_refused_spawn(scenario: Monitored):
    answer = requests.get(
        scenario.hub.url + "hub/metrics",
        headers={"Authorization": f"token {scenario.metrics_token}"},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    samples = parse(answer.text)
    assert (
        value(samples, "tenanthub_spawn_duration_seconds_count", backend="local", profile="small")
        == 1
    )
    assert (
        total(samples, "tenanthub_spawn_failures_total", backend="local", reason="not_allowed") == 1
    )
    assert total(samples, "tenanthub_spawn_failures_total", reason="quota") == 0
    # JupyterHub's own metrics are still there, beside ours
    assert any(name.startswith("jupyterhub_") for name, _ in samples)


def test_a_scrape_without_a_read_metrics_token_is_refused(monitored: Monitored):
    assert monitored.service("metrics").status_code == 401
    member = monitored.service("metrics", monitored.tokens["bob"])
    assert member.status_code == 403
    assert "read:metrics" in member.json()["message"]
    assert "tenanthub_" not in member.text
    assert monitored.service("metrics", "not-a-token").status_code == 403
    assert requests.get(monitored.hub.url + "hub/metrics", timeout=30).status_code == 403


def test_the_checkpointers_metrics_need_a_read_metrics_token_too(monitored: Monitored):
    """The checkpointer, as the hub would run it, asks the hub for the scopes of the token
    a scrape brings: none is a 401, a token without read:metrics or one the hub does not
    know a 403, the read:metrics token gets the metrics. (In a cluster it listens on each
    node's address, which every pod on the node reaches.)"""
    config = load_config(str(monitored.hub.config_path))
    port = config.checkpoint.port(config.hub)
    env = {
        **os.environ,
        "TENANTHUB_CONFIG": str(monitored.hub.config_path),
        "TENANTHUB_HUB_URL": monitored.hub.url,
        "TENANTHUB_CHECKPOINTER_MODE": "docker",  # the local backend has no containers
    }
    daemon = subprocess.Popen(
        [sys.executable, "-m", "checkpointer"], env=env, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/metrics"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                anonymous = requests.get(url, timeout=10)
                break
            except requests.ConnectionError:
                assert daemon.poll() is None, (
                    daemon.stderr.read().decode()[-2000:] if daemon.stderr else ""
                )
                assert time.monotonic() < deadline, "the checkpointer did not listen in 60 s"
                time.sleep(0.3)
        assert anonymous.status_code == 401 and "read:metrics" in anonymous.json()["message"]
        assert "tenanthub_checkpoint" not in anonymous.text

        def scrape(token: str) -> requests.Response:
            return requests.get(url, headers={"Authorization": f"token {token}"}, timeout=30)

        member = scrape(monitored.tokens["bob"])
        assert member.status_code == 403, member.text
        assert "tenanthub_checkpoint" not in member.text
        assert scrape("not-a-token").status_code == 403
        allowed = scrape(monitored.metrics_token)
        assert allowed.status_code == 200, allowed.text
        assert "tenanthub_checkpoint_duration_seconds" in allowed.text
        assert scrape(monitored.metrics_token).status_code == 200  # remembered: no hub call
    finally:
        daemon.terminate()
        daemon.wait(timeout=30)


def test_health_needs_no_token_and_readiness_follows_postgresql(monitored: Monitored):
    live = monitored.service("health/live")
    assert live.status_code == 200 and live.json()["status"] == "alive"
    ready = monitored.service("health/ready")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"] == {"db": "ok", "hub": "ok"}

    pg_stop(monitored.pg)
    try:
        deadline = time.monotonic() + 30
        while (ready := monitored.service("health/ready")).status_code != 503:
            assert time.monotonic() < deadline, ready.text
            time.sleep(0.5)
        body = ready.json()
        assert body["status"] == "not ready"
        assert body["checks"]["db"] != "ok" and body["checks"]["hub"] == "ok"
        # no secret, no address of the DB in the body
        assert str(monitored.pg.port) not in ready.text and "postgresql" not in ready.text
        assert monitored.service("health/live").status_code == 200  # alive all along
    finally:
        pg_start(monitored.pg)
    deadline = time.monotonic() + 30
    while (ready := monitored.service("health/ready")).status_code != 200:
        assert time.monotonic() < deadline, ready.text
        time.sleep(0.5)
    assert ready.json()["checks"] == {"db": "ok", "hub": "ok"}
