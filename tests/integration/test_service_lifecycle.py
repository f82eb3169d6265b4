"""The platform service does not outlive a killed hub (it would hold its port)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
import requests

from tests.integration.conftest import BASE_CONFIG

pytestmark = pytest.mark.integration


def children_running(parent: int, needle: str) -> list[int]:
    """PIDs of live processes whose parent is ``parent`` and whose command line has ``needle``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == parent and fields[0] != "Z" and needle in cmdline:
            found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_the_service_stops_when_its_hub_is_killed(hub_factory):
    hub = hub_factory(config={**BASE_CONFIG, "backend": {"kind": "local"}})
    assert hub.proc is not None
    hub.wait_for_service()
    missing = requests.get(hub.url + "services/tenanthub/api/v1/no/such/route", timeout=10)
    assert missing.status_code == 404
    assert "openapi.json" in missing.json()["message"]  # JSON like the rest of the API

    service = children_running(hub.proc.pid, "hub.service")
    assert len(service) == 1, service

    os.kill(hub.proc.pid, signal.SIGKILL)
    hub.proc.wait()
    deadline = time.monotonic() + 15
    while alive(service[0]) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not alive(service[0]), "the service outlived its hub"
