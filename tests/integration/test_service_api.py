"""The platform service's API over HTTP, against a real hub starting the real service."""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests

from tests.integration.conftest import BASE_CONFIG
from tests.integration.hubrunner import Browser, RunningHub

pytestmark = pytest.mark.integration

LOCAL = {**BASE_CONFIG, "backend": {"kind": "local"}}


def api_url(hub: RunningHub, path: str) -> str:
    return hub.url + "services/tenanthub/api/v1/" + path.lstrip("/")


def token_of(browser: Browser) -> str:
    made = browser.api("POST", f"users/{browser.user}/tokens", json={"note": "api test"})
    assert made.status_code == 201, made.text
    return str(made.json()["token"])


def call(
    hub: RunningHub, token: str | None, method: str, path: str, **kw: Any
) -> requests.Response:
    headers = {"Authorization": f"token {token}"} if token else {}
    return requests.request(method, api_url(hub, path), headers=headers, timeout=30, **kw)


def wait_for_service(hub: RunningHub, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(hub.url + "services/tenanthub/health", timeout=5).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.3)
    raise AssertionError("the tenanthub service did not come up:\n" + hub.log[-3000:])


def test_tenants_api_lists_what_each_role_may_see(hub_factory):
    hub = hub_factory(config=LOCAL)
    wait_for_service(hub)
    tokens = {}
    for user in ("admin", "alice", "dan", "carol"):
        browser = Browser(hub, user)
        assert browser.login().status_code == 302
        tokens[user] = token_of(browser)

    me = call(hub, tokens["alice"], "GET", "me")
    assert me.status_code == 200, me.text
    assert me.json() == {"name": "alice", "platform_admin": False, "tenants": {"vision": "admin"}}
    assert call(hub, tokens["admin"], "GET", "me").json()["platform_admin"] is True

    listed = call(hub, tokens["admin"], "GET", "tenants").json()
    assert [t["name"] for t in listed["items"]] == ["nlp", "vision"]
    assert listed["total"] == 2
    vision = next(t for t in listed["items"] if t["name"] == "vision")
    assert vision["quota"]["cpu"] == "4" and vision["quota"]["memory"] == "8Gi"
    assert vision["members"] == 2

    assert [t["name"] for t in call(hub, tokens["dan"], "GET", "tenants").json()["items"]] == [
        "nlp"
    ]
    assert call(hub, tokens["carol"], "GET", "tenants").json()["items"] == []
    assert call(hub, tokens["dan"], "GET", "tenants/vision").status_code == 404
    assert call(hub, None, "GET", "tenants").status_code == 401
    assert call(hub, "not-a-token", "GET", "tenants").status_code == 403

    created = call(
        hub, tokens["admin"], "POST", "tenants", json={"name": "geo", "quota": {"cpu": "2"}}
    )
    assert created.status_code == 201, created.text
    assert created.json()["quota"]["cpu"] == "2"
    refused = call(hub, tokens["alice"], "POST", "tenants", json={"name": "mine"})
    assert refused.status_code == 403
    assert "platform admins" in refused.json()["message"]
    bad = call(
        hub, tokens["admin"], "POST", "tenants", json={"name": "Bad_Name", "quota": {"cpu": "-1"}}
    )
    assert bad.status_code == 422
    assert {e["path"] for e in bad.json()["errors"]} == {"name", "quota.cpu"}

    doc = requests.get(api_url(hub, "openapi.json"), timeout=10).json()
    assert "/tenants/{tenant}" in doc["paths"]
