"""Free TCP ports for the servers the tests start, outside the kernel's ephemeral range.

A port found by binding to port 0 comes from the ephemeral range (32768-60999 on
Linux), the range every outgoing connection also takes its local port from: between the
test's look and the server's bind, a connection, or a test on another pytest-xdist
worker, can take it (seen: a hub's proxy API port, the port after a free one). These
come from 20000-29999 instead (below the ephemeral range and Kubernetes' NodePort range
30000-32767), from a slice of its own for each worker, handed out in turn from a random
start, each checked by binding it.
"""

from __future__ import annotations

import itertools
import os
import random
import socket
import threading
from collections.abc import Iterator

LOW, HIGH = 20000, 30000

_lock = threading.Lock()
_turn: Iterator[int] | None = None


def worker_slice(worker: str, count: int) -> range:
    """The ports of pytest-xdist worker ``worker`` (``gw0``...; "" without workers) of
    ``count`` (pure)."""
    index = int(worker[2:]) if worker.startswith("gw") and worker[2:].isdigit() else 0
    count = max(count, index + 1, 1)
    size = (HIGH - LOW) // count
    return range(LOW + index * size, LOW + (index + 1) * size)


def _ports() -> range:
    return worker_slice(
        os.environ.get("PYTEST_XDIST_WORKER", ""),
        int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1),
    )


def _candidates() -> Iterator[int]:
    global _turn
    if _turn is None:
        ports = _ports()
        start = random.randrange(len(ports))  # a new run does not begin on the last one's
        _turn = itertools.cycle([*ports[start:], *ports[:start]])
    return _turn


def bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    with _lock:
        candidates = _candidates()
        for _ in range(len(_ports())):
            port = next(candidates)
            if bindable(port):
                return port
    raise RuntimeError(f"no free port in {_ports()}")


def free_port_pair() -> int:
    """A port p with p and p+1 free (JupyterHub puts the proxy API on port+1)."""
    with _lock:
        candidates = _candidates()
        ports = _ports()
        for _ in range(len(ports)):
            port = next(candidates)
            if port + 1 in ports and bindable(port) and bindable(port + 1):
                next(candidates)  # p+1: not handed out again
                return port
    raise RuntimeError(f"no free port pair in {ports}")
