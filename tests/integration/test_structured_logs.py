"""Structured logs on a real hub (local backend): with ``logging.format: json`` the hub's
and the platform service's lines are JSON objects, and a spawn and an API request each
leave one event line with tenant, user, duration and outcome; in the default text format
the same event lines carry those fields as key=value."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import requests

from tests.integration.conftest import BASE_CONFIG
from tests.integration.hubrunner import Browser, RunningHub


def spawn_and_call(hub: RunningHub) -> None:
    hub.wait_for_service()
    bob = Browser(hub, "bob")
    assert bob.login().status_code == 302
    assert bob.spawn({"tenant": "vision", "profile-vision": "small"}).status_code == 200
    bob.wait_ready(timeout=120)
    token = bob.api("POST", "users/bob/tokens", json={"note": "logs test"}).json()["token"]
    answer = requests.get(
        hub.url + "services/tenanthub/api/v1/tenants/vision/jobs",
        headers={"Authorization": f"token {token}"}, timeout=30,
    )  # fmt: skip
    assert answer.status_code == 200, answer.text
    refused = requests.get(
        hub.url + "services/tenanthub/api/v1/usage",
        headers={"Authorization": f"token {token}"}, timeout=30,
    )  # fmt: skip
    assert refused.status_code == 403
    hub.wait_for_log("/api/v1/usage")  # the service logs a request after answering it


def test_json_logs_have_one_event_line_per_spawn_and_request(
    hub_factory: Callable[..., RunningHub],
) -> None:
    config = {**BASE_CONFIG, "backend": {"kind": "local"}, "logging": {"format": "json"}}
    hub = hub_factory(config=config)
    spawn_and_call(hub)
    records: list[dict[str, Any]] = []
    for line in hub.log().splitlines():
        if line.startswith("{"):
            records.append(json.loads(line))  # every JSON-looking line parses
    components = {r.get("component") for r in records}
    assert {"hub", "tenanthub-service"} <= components, components
    hub_lines = [r for r in records if r.get("component") == "hub"]
    assert any(r["logger"] == "JupyterHub" for r in hub_lines), "JupyterHub's own lines too"
    spawns = [r for r in records if r.get("event") == "spawn"]
    assert [(s["tenant"], s["user"], s["outcome"], s["profile"]) for s in spawns] == [
        ("vision", "bob", "ok", "small")
    ]
    assert spawns[0]["duration_ms"] > 0 and spawns[0]["backend"] == "local"
    requests_seen = {
        (r["path"].rsplit("/", 2)[-1], r["status"], r["outcome"], r.get("tenant"), r.get("user"))
        for r in records
        if r.get("event") == "request"
    }
    assert ("jobs", 200, "ok", "vision", "bob") in requests_seen, requests_seen
    assert ("usage", 403, "refused", None, "bob") in requests_seen, requests_seen


def test_text_logs_carry_the_event_fields_as_key_values(
    hub_factory: Callable[..., RunningHub],
) -> None:
    hub = hub_factory(config={**BASE_CONFIG, "backend": {"kind": "local"}})
    spawn_and_call(hub)
    text = hub.log()
    spawn = [line for line in text.splitlines() if " spawn ok tenant=vision user=bob " in line]
    assert len(spawn) == 1 and "backend=local" in spawn[0] and "duration_ms=" in spawn[0]
    request = [line for line in text.splitlines() if "request ok tenant=vision user=bob" in line]
    assert request and "status=200" in request[0] and "tenanthub-service]" in request[0]
