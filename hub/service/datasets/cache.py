"""Connectors kept between API calls: building one can cost more than the call itself.

An S3 connector's botocore client takes ~150 ms to make (it loads the service model),
an SQL connector's engine keeps a connection pool: both are worth keeping across the
calls of a person browsing a source. An entry is keyed by the source's ``updated_at``,
so a changed source (new settings or credentials) gets a new connector on its next
call and a removed one is refused before the cache is looked at; entries also expire
after ``ttl`` seconds and the cache holds at most ``size`` of them.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime

from hub.service.datasets.connector import Connector

Key = tuple[str, str, datetime]


class ConnectorCache:
    def __init__(
        self, size: int = 64, ttl: float = 300.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.size = size
        self.ttl = ttl
        self.clock = clock
        self._entries: OrderedDict[Key, tuple[float, Connector]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Key, make: Callable[[], Connector]) -> Connector:
        now = self.clock()
        with self._lock:
            found = self._entries.get(key)
            if found is not None and now - found[0] < self.ttl:
                self._entries.move_to_end(key)
                return found[1]
        connector = make()  # outside the lock: it may take a while
        with self._lock:
            for stale in [k for k in self._entries if k[:2] == key[:2] and k != key]:
                del self._entries[stale]  # an older version of the same source
            self._entries[key] = (now, connector)
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
        return connector

    def __len__(self) -> int:
        return len(self._entries)
