"""sha256 of a stream on its own thread, so hashing overlaps reading and sending.

A push hashes the layer twice: the uncompressed tar (checked against the diff_id the
commit recorded) and the gzip blob (its digest names it in the registry). On the
sending thread the two took ~30 % of a 100 MB push; hashlib releases the GIL on
large buffers, so on a second thread they cost almost no wall time.
"""

from __future__ import annotations

import hashlib
import queue
import threading


class BackgroundHash:
    """``update`` hands a chunk over (it must not change afterwards: bytes are fine);
    ``hexdigest`` waits for the rest. At most ``depth`` chunks wait at a time."""

    def __init__(self, depth: int = 8) -> None:
        self._hash = hashlib.sha256()
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=depth)
        self._done = False
        self._thread = threading.Thread(target=self._run, name="sha256", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (chunk := self._queue.get()) is not None:
            self._hash.update(chunk)

    def update(self, chunk: bytes) -> None:
        if self._done:
            raise ValueError("update after hexdigest")
        self._queue.put(chunk)

    def close(self) -> None:
        """End the thread (idempotent); what was handed over is hashed first."""
        if not self._done:
            self._done = True
            self._queue.put(None)
        self._thread.join()

    def hexdigest(self) -> str:
        self.close()
        return self._hash.hexdigest()
