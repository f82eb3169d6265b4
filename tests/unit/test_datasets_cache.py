"""Connectors are kept per source version: the same source reuses its connector, a
changed one (new updated_at) gets a new one and drops the old, entries expire and the
cache stays bounded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hub.service.datasets.cache import ConnectorCache
from hub.service.datasets.files import FilesConnector

T0 = datetime(2026, 12, 7, tzinfo=UTC)


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def test_same_version_is_reused_a_new_version_replaces_it() -> None:
    cache = ConnectorCache(clock=Clock())
    made: list[FilesConnector] = []

    def make() -> FilesConnector:
        made.append(FilesConnector("/tmp"))
        return made[-1]

    first = cache.get(("t", "s", T0), make)
    assert cache.get(("t", "s", T0), make) is first and len(made) == 1
    changed = cache.get(("t", "s", T0 + timedelta(seconds=1)), make)
    assert changed is not first and len(made) == 2 and len(cache) == 1
    assert cache.get(("t", "other", T0), make) is not changed and len(cache) == 2


def test_entries_expire_and_the_cache_is_bounded() -> None:
    clock = Clock()
    cache = ConnectorCache(size=3, ttl=10, clock=clock)
    first = cache.get(("t", "a", T0), lambda: FilesConnector("/tmp"))
    clock.now = 11
    assert cache.get(("t", "a", T0), lambda: FilesConnector("/tmp")) is not first
    for name in "bcde":
        cache.get(("t", name, T0), lambda: FilesConnector("/tmp"))
    assert len(cache) == 3
