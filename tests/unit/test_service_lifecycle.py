"""The service stops when the hub that started it is gone."""

from __future__ import annotations

import asyncio

from hub.service.lifecycle import parent_gone, stop_when_parent_exits


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


def test_the_demo_banner_points_at_the_console_and_the_api() -> None:
    from pathlib import Path

    from hub.demo import banner

    text = banner("http://127.0.0.1:8000/", {"admin": "pw"}, "docker", Path("creds.json"))
    assert "http://127.0.0.1:8000/services/tenanthub/console" in text
    assert "http://127.0.0.1:8000/services/tenanthub/api/v1/openapi.json" in text
