from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import need
from tests.integration.hubrunner import RunningHub, write_hub

try:
    from hub.app.proxy import find_proxy_command

    find_proxy_command()
    PROXY_MISSING = ""
except FileNotFoundError as exc:
    PROXY_MISSING = str(exc)

PASSWORDS = {
    "admin": "admin-password-1",
    "alice": "alice-password-1",
    "bob": "bob-password-1",
    "dan": "dan-password-1",
    "carol": "carol-password-1",
}

BASE_CONFIG: dict[str, Any] = {
    "auth": {"admin_users": ["admin"]},
    "profiles": [
        {
            "name": "small",
            "display_name": "Small",
            "cpu": {"limit": "1"},
            "memory": {"limit": "1Gi"},
            "default": True,
        },
        {"name": "big", "display_name": "Big", "cpu": {"limit": "4"}, "memory": {"limit": "4Gi"}},
    ],
    "tenants": [
        {
            "name": "vision",
            "display_name": "Computer Vision",
            "quota": {"servers": 3, "cpu": "4", "memory": "8Gi"},
            "members": [{"user": "alice", "role": "admin"}, {"user": "bob"}],
        },
        {
            "name": "nlp",
            "quota": {"servers": 1},
            "members": [{"user": "bob"}, {"user": "dan"}],
            "profiles": ["small"],
        },
    ],
    "culling": {"enabled": False},
    # tests that checkpoint run their own daemon (or ask for the hub's): none by default
    "checkpoint": {"run_daemon": False},
}


@pytest.fixture
def hub_factory(
    tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Callable[..., RunningHub]]:
    """Start hubs for one test; every one is shut down (hub, proxy, servers) afterwards."""
    if PROXY_MISSING:
        need(PROXY_MISSING)
    started: list[RunningHub] = []

    def start(
        config: dict[str, Any] | None = None, db_url: str | None = None, name: str = "hub"
    ) -> RunningHub:
        config = dict(config or BASE_CONFIG)
        if db_url:
            config["hub"] = {**config.get("hub", {}), "db_url": db_url}
        hub = write_hub(tmp_path / name, config, PASSWORDS)
        started.append(hub)
        hub.start()
        return hub

    yield start
    for hub in started:
        hub.shutdown()
