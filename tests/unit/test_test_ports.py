"""The tests' port allocator (tests/ports.py): each pytest-xdist worker has ports no
other worker and no outgoing connection can take."""

from __future__ import annotations

from pathlib import Path

from tests.ports import HIGH, LOW, worker_slice


def ephemeral_range() -> range:
    low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
    return range(int(low), int(high) + 1)


def test_workers_have_disjoint_slices_outside_the_ephemeral_range() -> None:
    slices = [worker_slice(f"gw{i}", 3) for i in range(3)]
    assert all(len(s) > 1000 for s in slices)
    for i, a in enumerate(slices):
        for b in slices[i + 1 :]:
            assert not set(a) & set(b)
    ephemeral = ephemeral_range()
    assert max(s.stop for s in slices) <= min(HIGH, ephemeral.start, 30000)  # NodePorts: 30000+
    assert min(s.start for s in slices) >= LOW > 1024


def test_without_workers_the_whole_range_is_used() -> None:
    assert worker_slice("", 1) == range(LOW, HIGH)
    assert worker_slice("master", 1) == range(LOW, HIGH)
