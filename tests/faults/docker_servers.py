"""What the Docker fault tests ask of a hub: its servers, the platform's usage count, and
whether hub, proxy, engine and platform agree on who runs."""

from __future__ import annotations

import contextlib
import json
import threading
from typing import Any

import requests

from tests.faults.docker_engine import Engine
from tests.faults.support import routed, token_session
from tests.integration.conftest import BASE_CONFIG
from tests.integration.hubrunner import RunningHub


def docker_config(
    tenant: str, users: list[str], image: str, engine_url: str | None = None
) -> dict[str, Any]:
    """The integration suite's config on the Docker backend, one tenant with ``users``
    and a server quota of one per user."""
    config: dict[str, Any] = json.loads(json.dumps(BASE_CONFIG))
    config["backend"] = {"kind": "docker", "docker": {"url": engine_url} if engine_url else {}}
    for profile in config["profiles"]:
        profile["image"] = image
    config["tenants"] = [
        {
            "name": tenant,
            "quota": {"servers": len(users), "cpu": "8", "memory": "16Gi"},
            "members": [{"user": u} for u in users],
        }
    ]
    return config


def servers(hub: RunningHub, api: requests.Session) -> dict[str, dict[str, Any]]:
    """username -> the hub's record of their default server (only users who have one)."""
    listed = api.get(f"{hub.url}hub/api/users", timeout=30)
    assert listed.status_code == 200, listed.text
    return {u["name"]: u["servers"][""] for u in listed.json() if u["servers"].get("")}


def ready(hub: RunningHub, api: requests.Session) -> set[str]:
    return {u for u, s in servers(hub, api).items() if s["ready"] and not s["pending"]}


def platform_servers_used(hub: RunningHub, api: requests.Session, tenant: str) -> int:
    answer = api.get(f"{hub.url}services/tenanthub/api/v1/tenants/{tenant}/usage", timeout=30)
    assert answer.status_code == 200, answer.text
    return int({r["resource"]: r["used"] for r in answer.json()["resources"]}["servers"])


def consistent(
    hub: RunningHub, api: requests.Session, tenant: str, engine: Engine, why: list[str]
) -> set[str] | None:
    """The set of running users once hub, proxy, engine and platform agree, else None
    (``why`` then says what disagrees). Agreeing on nobody gives ``{"<none>"}``."""
    why.clear()
    try:
        present = servers(hub, api)
    except (requests.RequestException, AssertionError) as exc:
        why.append(f"hub API: {exc}")
        return None
    stuck = {u for u, s in present.items() if s["pending"] or not s["ready"]}
    if stuck:
        why.append(f"pending: {sorted(stuck)}")
        return None
    running = set(present)
    on_engine = set(engine.containers(tenant))
    if on_engine != running:
        why.append(f"containers of {sorted(on_engine)} but servers of {sorted(running)}")
        return None
    unrouted = {u for u in running if not routed(hub, u)}
    if unrouted:
        why.append(f"not answering through the proxy: {sorted(unrouted)}")
        return None
    try:
        used = platform_servers_used(hub, api, tenant)
    except (requests.RequestException, AssertionError) as exc:
        why.append(f"platform usage: {exc}")
        return None
    if used != len(running):
        why.append(f"platform counts {used} servers, {len(running)} run")
        return None
    return running or {"<none>"}


def spawn(hub: RunningHub, token: str, tenant: str, user: str) -> requests.Response:
    return token_session(token).post(
        f"{hub.url}hub/api/users/{user}/server",
        json={"tenant": tenant, "profile": "small"},
        timeout=120,
    )


def spawn_all(hub: RunningHub, token: str, tenant: str, users: list[str]) -> None:
    """Ask for every user's server at once; the answers do not matter (the hub may die)."""

    def one(user: str) -> None:
        with contextlib.suppress(requests.RequestException):  # the hub may die under it
            spawn(hub, token, tenant, user)

    threads = [threading.Thread(target=one, args=(u,)) for u in users]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=150)
