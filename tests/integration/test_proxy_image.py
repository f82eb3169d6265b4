"""``tenanthub/proxy``: configurable-http-proxy on Debian's Node.js, the chart's proxy where
the upstream image cannot be pulled (the single-node test cluster). It runs unprivileged,
is the proxy version the hub uses on one machine, and proxies: a route added through its
REST API (with the auth token) reaches a real HTTP server on loopback."""

from __future__ import annotations

import json
import subprocess
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

import hub
from tests.conftest import need
from tests.ports import free_port

pytestmark = [pytest.mark.integration, pytest.mark.docker_engine]
REPO = Path(__file__).resolve().parents[2]
IMAGE = f"tenanthub/proxy:{hub.__version__}"
NPM_CACHE = Path.home() / ".cache" / "tenanthub" / "npm"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["docker", "run", "--rm", "--network", "none", IMAGE, *args],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


@pytest.fixture(scope="module", autouse=True)
def image() -> None:
    probe = subprocess.run(["docker", "image", "inspect", IMAGE], capture_output=True, check=False)
    if probe.returncode != 0:
        need(f"{IMAGE} is missing: scripts/build-images.sh proxy (make test builds it)")


def test_it_runs_unprivileged_with_the_hubs_proxy_version() -> None:
    ids = run("sh", "-c", "id -u; id -g")
    assert ids.returncode == 0, ids.stderr
    assert ids.stdout.split() == ["1000", "100"]
    version = run("configurable-http-proxy", "--version")
    assert version.returncode == 0, version.stderr
    installed = json.loads(
        (NPM_CACHE / "node_modules" / "configurable-http-proxy" / "package.json").read_text()
    )["version"]
    assert version.stdout.strip() == installed
    label = subprocess.run(
        ["docker", "image", "inspect", "--format",
         '{{index .Config.Labels "io.tenanthub.configurable-http-proxy-version"}}', IMAGE],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert label.stdout.strip() == installed


class Hello(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps({"path": self.path}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def backend() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Hello)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


def wait_for(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except (urllib.error.URLError, ConnectionError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_it_proxies_a_route_added_through_its_api(backend: int) -> None:
    port, api_port = free_port(), free_port()
    token = uuid.uuid4().hex
    name = f"tenanthub-proxy-test-{uuid.uuid4().hex[:8]}"
    subprocess.run(
        ["docker", "run", "-d", "--rm", "--name", name, "--network", "host",
         "--cap-drop", "ALL", "--security-opt", "no-new-privileges", "--read-only",
         "-e", f"CONFIGPROXY_AUTH_TOKEN={token}", IMAGE,
         "configurable-http-proxy", "--ip=127.0.0.1", f"--port={port}",
         "--api-ip=127.0.0.1", f"--api-port={api_port}"],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    try:
        wait_for(f"http://127.0.0.1:{port}/_chp_healthz")
        api = f"http://127.0.0.1:{api_port}/api/routes"
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(api, timeout=5)
        assert refused.value.code == 403  # the API wants the token
        add = urllib.request.Request(
            f"{api}/hello",
            data=json.dumps({"target": f"http://127.0.0.1:{backend}"}).encode(),
            headers={"Authorization": f"token {token}"},
            method="POST",
        )
        with urllib.request.urlopen(add, timeout=5) as done:
            assert done.status == 201
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/hello/there", timeout=5) as got:
            assert json.loads(got.read()) == {"path": "/hello/there"}
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True, check=False)
