"""Usage over HTTP against a real hub, real servers (local backend) and the real service,
on SQLite and PostgreSQL: live usage follows spawns and stops, the sampler records history
at the configured interval, and the routes refuse whoever may not see a tenant's usage."""

from __future__ import annotations

import itertools
import time
from datetime import datetime
from typing import Any

import pytest
import requests

from tests.integration.conftest import BASE_CONFIG
from tests.integration.hubrunner import Browser, RunningHub

pytestmark = pytest.mark.integration

GiB = 2**30
SAMPLE_EVERY = 5
CONFIG: dict[str, Any] = {
    **BASE_CONFIG,
    "backend": {"kind": "local"},
    "service": {"usage_sample_every": SAMPLE_EVERY},
    "tenants": [
        {
            **BASE_CONFIG["tenants"][0],  # vision: servers 3, cpu 4, memory 8Gi
            "quota": {**BASE_CONFIG["tenants"][0]["quota"], "storage": "100Gi"},
            "storage": {"size": "20Gi"},
        },
        BASE_CONFIG["tenants"][1],  # nlp: servers 1, profile small only, default storage
    ],
}


def api_url(hub: RunningHub, path: str) -> str:
    return hub.url + "services/tenanthub/api/v1/" + path.lstrip("/")


def call(hub: RunningHub, token: str | None, path: str, **params: Any) -> requests.Response:
    headers = {"Authorization": f"token {token}"} if token else {}
    return requests.get(api_url(hub, path), headers=headers, params=params, timeout=30)


def ok(response: requests.Response) -> Any:
    assert response.status_code == 200, f"{response.status_code} {response.text}"
    return response.json()


def signed_in(hub: RunningHub, user: str) -> tuple[Browser, str]:
    browser = Browser(hub, user)
    assert browser.login().status_code == 302
    made = browser.api("POST", f"users/{user}/tokens", json={"note": "usage test"})
    assert made.status_code == 201, made.text
    return browser, str(made.json()["token"])


def resources(usage: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["resource"]: r for r in usage["resources"]}


def used(usage: dict[str, Any]) -> dict[str, int]:
    return {r["resource"]: r["used"] for r in usage["resources"]}


def wait_for(what: str, check: Any, timeout: float = 40) -> Any:
    """Poll ``check()`` until it returns something truthy (the sampler ticks every 5 s)."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.5)
    raise AssertionError(f"{what}: not within {timeout}s (last: {last})")


def test_live_usage_follows_servers_and_the_sampler_records_history(hub_factory, db_url):
    hub = hub_factory(config=CONFIG, db_url=db_url)
    hub.wait_for_service()
    alice, alice_token = signed_in(hub, "alice")  # admin of vision
    bob, bob_token = signed_in(hub, "bob")  # member of vision and nlp
    _dan, dan_token = signed_in(hub, "dan")  # member of nlp only
    _carol, carol_token = signed_in(hub, "carol")  # in no tenant
    _admin, admin_token = signed_in(hub, "admin")  # platform admin

    # nothing running: zero servers, but the storage the tenant's claim requests
    idle = ok(call(hub, bob_token, "tenants/vision/usage"))
    assert idle["tenant"] == "vision"
    datetime.fromisoformat(idle["at"])
    assert used(idle) == {
        "cpu": 0,
        "memory": 0,
        "gpu": 0,
        "servers": 0,
        "storage": 20 * GiB,
        "running_jobs": 0,
    }
    storage = resources(idle)["storage"]
    assert (storage["limit"], storage["used_display"], storage["limit_display"]) == (
        100 * GiB,
        "20 GiB",
        "100 GiB",
    )
    assert storage["fraction"] == 0.2
    assert resources(idle)["servers"]["limit"] == 3
    assert resources(idle)["gpu"]["limit"] is None and resources(idle)["gpu"]["fraction"] is None

    # a server starts: the tenant's own usage shows it at once (measured when asked)
    alice.spawn({"tenant": "vision", "profile-vision": "small"})
    alice.wait_ready()
    bob.spawn({"tenant": "nlp", "profile-nlp": "small"}, server="nlp")
    bob.wait_ready(server="nlp")
    vision = ok(call(hub, alice_token, "tenants/vision/usage"))
    assert used(vision)["servers"] == 1
    assert used(vision)["cpu"] == 1000 and used(vision)["memory"] == GiB
    cpu = resources(vision)["cpu"]
    assert (cpu["used_display"], cpu["limit_display"], cpu["fraction"]) == ("1 CPU", "4 CPU", 0.25)
    assert resources(vision)["memory"]["fraction"] == 0.125
    nlp = ok(call(hub, dan_token, "tenants/nlp/usage"))
    assert used(nlp)["servers"] == 1
    assert resources(nlp)["servers"]["fraction"] == 1.0  # nlp's quota is one server
    assert used(nlp)["storage"] == 10 * GiB  # no storage spec of its own: the default claim

    # who may see it
    refused = call(hub, dan_token, "tenants/vision/usage")
    assert refused.status_code == 404
    assert "vision" in refused.json()["message"]
    assert call(hub, carol_token, "tenants/nlp/usage").status_code == 404
    assert call(hub, None, "tenants/nlp/usage").status_code == 401
    assert call(hub, admin_token, "tenants/nope/usage").status_code == 404
    assert call(hub, admin_token, "tenants/nope/usage/history").status_code == 404
    assert call(hub, dan_token, "tenants/vision/usage/history").status_code == 404
    everyone = call(hub, alice_token, "usage")
    assert everyone.status_code == 403
    assert "platform admins" in everyone.json()["message"]

    # every tenant's usage for platform admins, from the sampler's latest tick
    def both_running() -> Any:
        page = ok(call(hub, admin_token, "usage"))
        return page if [used(u)["servers"] for u in page["items"]] == [1, 1] else None

    page = wait_for("both servers in GET /usage", both_running)
    assert [u["tenant"] for u in page["items"]] == ["nlp", "vision"]
    assert (page["total"], page["limit"], page["offset"]) == (2, 50, 0)
    second = ok(call(hub, admin_token, "usage", limit=1, offset=1))
    assert [u["tenant"] for u in second["items"]] == ["vision"] and second["total"] == 2
    assert used(second["items"][0])["cpu"] == 1000
    assert call(hub, admin_token, "usage", limit=0).status_code == 400

    # history: the sampler writes a point every 5 s
    def running_points() -> Any:
        points = ok(call(hub, bob_token, "tenants/vision/usage/history"))["points"]
        return [p for p in points if p["servers"] == 1] if len(points) >= 3 else None

    wait_for("three history points", running_points)
    history = ok(call(hub, bob_token, "tenants/vision/usage/history", window="24h"))
    assert history["tenant"] == "vision" and history["window"] == "24h"
    times = [datetime.fromisoformat(p["at"]) for p in history["points"]]
    assert times == sorted(times)
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(times)]
    assert all(gap >= SAMPLE_EVERY - 1 for gap in gaps), gaps
    latest = history["points"][-1]
    assert latest["servers"] == 1 and latest["cpu_millis"] == 1000
    assert latest["memory_bytes"] == GiB and latest["storage_bytes"] == 20 * GiB
    week = ok(call(hub, bob_token, "tenants/vision/usage/history", window="7d"))
    assert week["window"] == "7d" and len(week["points"]) >= len(history["points"])
    bad = call(hub, bob_token, "tenants/vision/usage/history", window="1y")
    assert bad.status_code == 422
    assert "24h" in bad.json()["message"] and "7d" in bad.json()["message"]

    # the server stops: live usage drops at once, history follows at the next tick
    stopped = alice.api("DELETE", "users/alice/server")
    assert stopped.status_code in (202, 204), stopped.text
    alice.wait_stopped()
    assert used(ok(call(hub, alice_token, "tenants/vision/usage")))["servers"] == 0

    def zero_after_running() -> Any:
        points = ok(call(hub, alice_token, "tenants/vision/usage/history"))["points"]
        servers = [p["servers"] for p in points]
        return 1 in servers and servers[-1] == 0 and servers.index(1) < len(servers) - 1

    wait_for("a zero point after the stop", zero_after_running)
