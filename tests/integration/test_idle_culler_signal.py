"""The idle culler the hub starts stops on SIGINT even when it was started with SIGINT
ignored (what a non-interactive shell does to background jobs, as in CI), so a hub's
shutdown does not wait JupyterHub's 30 s interrupt_timeout for it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from hub.app.traits import culler_service
from hub.config.loader import parse_config


def started_with_sigint_ignored(command: list[str]) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        # a hub that does not answer: the culler logs its failure and waits for the next round
        "JUPYTERHUB_API_URL": "http://127.0.0.1:9/hub/api",
        "JUPYTERHUB_API_TOKEN": "not-a-real-token",
    }
    return subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )  # fmt: skip


def stops_on_sigint(process: subprocess.Popen[bytes], within: float = 8) -> bool:
    time.sleep(2)  # past its imports, in its loop
    assert process.poll() is None, "the culler exited on its own"
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=within)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        return False
    return True


def test_the_hubs_culler_command_stops_on_sigint_even_if_it_was_ignored() -> None:
    service, _ = culler_service(parse_config({"culling": {"enabled": True}}))
    assert service["command"][1:3] == ["-m", "hub.app.idle_culler"]
    assert stops_on_sigint(started_with_sigint_ignored(service["command"]))


def test_the_plain_culler_would_ignore_it() -> None:
    """Why the wrapper exists: the culler itself keeps the inherited SIG_IGN."""
    plain = [sys.executable, "-m", "jupyterhub_idle_culler", "--cull-every=300"]
    assert not stops_on_sigint(started_with_sigint_ignored(plain), within=3)
