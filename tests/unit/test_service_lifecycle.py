"""The service stops when the hub that started it is gone."""

from __future__ import annotations

import asyncio

from hub.service.lifecycle import HUB_PID_ENV, hub_pid, parent_gone, stop_when_parent_exits


def test_a_changed_parent_means_the_hub_is_gone() -> None:
    assert parent_gone(4242, 1)
    assert not parent_gone(4242, 4242)


def test_the_watch_sets_stop_once_the_parent_changes() -> None:
    parents = iter([100, 100, 100, 1, 1])

    async def run() -> bool:
        stop = asyncio.Event()
        await asyncio.wait_for(
            stop_when_parent_exits(stop, every=0.001, getppid=lambda: next(parents)), 5
        )
        return stop.is_set()

    assert asyncio.run(run())


def test_the_hub_pid_comes_from_the_environment_the_hub_gave() -> None:
    assert hub_pid({HUB_PID_ENV: "4242"}, getppid=lambda: 1) == 4242
    assert hub_pid({}, getppid=lambda: 77) == 77  # started by hand: the parent now
    assert hub_pid({HUB_PID_ENV: "x"}, getppid=lambda: 77) == 77


def test_a_service_re_parented_before_it_looked_still_stops() -> None:
    """The hub died while the service was importing: its parent is already init. With
    the hub's PID from the environment the watch still sees that the hub is gone (the
    leak the Kubernetes fault test found: a provisioner re-creating deleted namespaces)."""

    async def run() -> bool:
        stop = asyncio.Event()
        await asyncio.wait_for(
            stop_when_parent_exits(stop, every=0.001, getppid=lambda: 1, parent=4242), 5
        )
        return stop.is_set()

    assert asyncio.run(run())


def test_the_demo_banner_points_at_the_console_and_the_api() -> None:
    from pathlib import Path

    from hub.demo import banner

    text = banner("http://127.0.0.1:8000/", {"admin": "pw"}, "docker", Path("creds.json"))
    assert "http://127.0.0.1:8000/services/tenanthub/console" in text
    assert "http://127.0.0.1:8000/services/tenanthub/api/v1/openapi.json" in text
