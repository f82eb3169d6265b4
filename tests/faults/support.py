"""Helpers of the fault suite: kill a hub or its platform service the hard way, time a
recovery, call the hub's and the platform's APIs with a token."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import requests

from tests.integration.hubrunner import Browser, RunningHub

T = TypeVar("T")


def kill_hub(hub: RunningHub) -> None:
    """SIGKILL the hub process (no shutdown handlers run: a crash, an OOM kill)."""
    assert hub.proc is not None and hub.proc.poll() is None, "the hub is not running"
    hub.proc.send_signal(signal.SIGKILL)
    hub.proc.wait(timeout=30)


def service_pids(hub: RunningHub) -> list[int]:
    """PIDs of this hub's platform service (``python -m hub.service`` whose environment
    names this hub's config file); never another hub's."""
    config = str(hub.config_path.resolve()).encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
            if b"hub.service" not in cmdline:
                continue
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"TENANTHUB_CONFIG=" + config in environ:
            found.append(int(entry.name))
    return found


def wait_for(
    what: str,
    check: Callable[[], T | None],
    limit: float,
    every: float = 0.3,
    why: list[str] | None = None,
) -> T:
    """Poll ``check`` until it returns something truthy; fail naming ``what`` after ``limit``
    s, with ``why`` (a list ``check`` fills with its reasons) in the message."""
    deadline = time.monotonic() + limit
    last: T | None = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(every)
    raise AssertionError(f"{what}: not within {limit} s (last: {last!r}; {why or ''})")


def routed(hub: RunningHub, user: str) -> bool:
    """The server answers through the proxy (Jupyter Server's unauthenticated /api)."""
    try:
        answer = requests.get(f"{hub.url}user/{user}/api", timeout=10, allow_redirects=False)
    except requests.RequestException:
        return False
    return answer.status_code == 200 and "version" in answer.text


def admin_token(hub: RunningHub, note: str = "fault suite") -> str:
    admin = Browser(hub, "admin")
    assert admin.login().status_code == 302
    made = admin.api("POST", "users/admin/tokens", json={"note": note})
    assert made.status_code == 201, made.text
    return str(made.json()["token"])


def token_session(token: str) -> requests.Session:
    session = requests.Session()
    session.headers["Authorization"] = f"token {token}"
    return session


def report_recovery(name: str, seconds: float) -> None:
    """Print a recovery time in one greppable line (``-s`` shows it; RESULTS.md quotes it)."""
    print(f"\nFAULT-RECOVERY {name}: {seconds:.1f} s", flush=True)
