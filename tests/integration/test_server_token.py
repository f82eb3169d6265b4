"""A notebook server's own token (``$JUPYTERHUB_API_TOKEN``, what the notebook SDK and
the JupyterLab extension use) reaches the platform API as its user, with that user's
rights and no more: their tenants, their jobs, never the platform admin's routes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

from tests.integration.conftest import BASE_CONFIG
from tests.integration.hubrunner import Browser, RunningHub


def server_token(hub: RunningHub) -> str:
    [pid] = hub._server_pids()
    environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    values = dict(item.decode().split("=", 1) for item in environ if b"=" in item)
    return values["JUPYTERHUB_API_TOKEN"]


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
