"""A notebook server's own token (``$JUPYTERHUB_API_TOKEN``, what the notebook SDK and
the JupyterLab extension use) reaches the platform API as its user, with that user's
rights and no more: their tenants, their jobs, never the platform admin's routes."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import requests

from spawner.plan import local_paths
from tests.integration.conftest import BASE_CONFIG
from tests.integration.hubrunner import Browser, RunningHub, server_environment


def server_token(hub: RunningHub) -> str:
    return server_environment(hub)["JUPYTERHUB_API_TOKEN"]


def test_the_servers_token_calls_the_platform_api_as_its_user(
    hub_factory: Callable[..., RunningHub],
) -> None:
    hub = hub_factory(config={**BASE_CONFIG, "backend": {"kind": "local"}})
    hub.wait_for_service()
    bob = Browser(hub, "bob")
    assert bob.login().status_code == 302
    assert bob.spawn({"tenant": "vision", "profile-vision": "small"}).status_code == 200
    bob.wait_ready(timeout=120)
    token = server_token(hub)

    def call(method: str, path: str, **kw: Any) -> requests.Response:
        return requests.request(
            method, hub.url + "services/tenanthub/api/v1/" + path,
            headers={"Authorization": f"token {token}"}, timeout=30, **kw,
        )  # fmt: skip

    me = call("GET", "me")
    assert me.status_code == 200, me.text
    assert me.json()["name"] == "bob"
    assert call("GET", "tenants/vision/jobs").status_code == 200  # his tenant
    assert call("GET", "tenants/nlp/jobs").status_code == 200  # bob is in nlp too
    assert call("GET", "usage").status_code == 403  # platform admins only
    # and it is no more than a server token: the hub's own API refuses user admin
    refused = requests.get(
        hub.url + "hub/api/users", headers={"Authorization": f"token {token}"}, timeout=30
    )
    assert refused.status_code == 403


SDK_SCRIPT = r"""
import json, sys
from tenanthub import datasets
print(json.dumps({
    "sources": [s.name for s in datasets.sources()],
    "listed": sorted(e.name for e in datasets.list("team", all=True)),
    "read": datasets.read("team/cities.csv").to_dict("list"),
    "sample": datasets.sample("team/cities.csv", n=1).to_dict("list"),
}))
try:
    datasets.read("team/../../etc/passwd.csv")
except Exception as exc:
    print("refused:", type(exc).__name__, exc, file=sys.stderr)
"""


def test_the_notebook_sdk_reads_the_tenants_data_with_the_servers_environment(
    hub_factory: Callable[..., RunningHub],
) -> None:
    """What a notebook cell runs, with exactly the server's environment (its token, the
    API's address and its tenant from the spawner): the tenant admin's files source is
    listed and read as a DataFrame; a path out of the source is refused."""
    import subprocess
    import sys

    hub = hub_factory(config={**BASE_CONFIG, "backend": {"kind": "local"}})
    hub.wait_for_service()
    shared = local_paths(hub.data_dir, "vision", "-").shared
    (shared / "team").mkdir(parents=True)
    (shared / "team" / "cities.csv").write_text("city,people\nLyon,522\nOslo,709\n")
    alice = Browser(hub, "alice")
    assert alice.login().status_code == 302
    token = alice.api("POST", "users/alice/tokens", json={"note": "t"}).json()["token"]
    made = requests.post(
        hub.url + "services/tenanthub/api/v1/tenants/vision/datasets",
        headers={"Authorization": f"token {token}"}, timeout=30,
        json={"name": "team", "kind": "files", "settings": {"root": str(shared / "team")}},
    )  # fmt: skip
    assert made.status_code == 201, made.text
    bob = Browser(hub, "bob")
    assert bob.login().status_code == 302
    assert bob.spawn({"tenant": "vision", "profile-vision": "small"}).status_code == 200
    bob.wait_ready(timeout=120)
    env = server_environment(hub)
    assert env["TENANTHUB_TENANT"] == "vision"
    assert env["TENANTHUB_API_URL"].endswith("/services/tenanthub/api/v1/")
    done = subprocess.run(
        [sys.executable, "-c", SDK_SCRIPT], env=env, capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout)
    assert got["sources"] == ["team"]
    assert got["listed"] == ["cities.csv"]
    assert got["read"] == {"city": ["Lyon", "Oslo"], "people": [522, 709]}
    assert got["sample"] == {"city": ["Lyon"], "people": [522]}
    assert "refused: ApiError" in done.stderr
    assert env["JUPYTERHUB_API_TOKEN"] not in done.stdout + done.stderr
