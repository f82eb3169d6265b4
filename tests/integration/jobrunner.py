"""A small real runner for the scheduler's tests: each run is a ``python -c`` process.

What the process does comes from the job's parameters (``sleep`` seconds, then
``exit`` with that code, printing ``say``), so a test chooses a run that succeeds,
fails or runs until it is stopped. Like a real runner it keeps nothing in memory that
a restart would lose: each run has a folder under ``root`` named by its run id, with
the process id, its output and, once it has ended, its exit status, so a new runner
object (a restarted service) polls, cancels and finds runs started by another.
Every start is also appended to ``starts.log``: a run started twice shows up twice.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hub.service.jobs.runners.base import Handle, RunSpec, RunStatus

SCRIPT = r"""
import json, sys, time
p = json.loads(sys.argv[1])
print(p.get("say", "hello from the run"), flush=True)
time.sleep(float(p.get("sleep", 0)))
sys.exit(int(p.get("exit", 0)))
"""

#: a shell writes the exit status once the process ends: it survives the runner object
WRAPPER = (
    '"$0" -c "$1" "$2" > "$3/output" 2>&1; '
    'echo $? > "$3/status.tmp"; mv "$3/status.tmp" "$3/status"'
)


#: the scheduler tests' start of time
T0 = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


class Clock:
    """The scheduler's time: stands still until the test moves it."""

    def __init__(self, start: datetime = T0) -> None:
        self.start = start
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> datetime:
        self.now += timedelta(**kw)
        return self.now

    def set(self, **kw: float) -> datetime:
        """``start`` plus ``kw``."""
        self.now = self.start + timedelta(**kw)
        return self.now


class ProcessRunner:
    name = "test-process"

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self._children: dict[int, subprocess.Popen[bytes]] = {}

    def _folder(self, handle: Handle) -> Path:
        return self.root / handle

    def start(self, spec: RunSpec) -> Handle:
        import json

        if spec.parameters.get("refuse"):
            raise RuntimeError(str(spec.parameters["refuse"]))
        folder = self.root / str(spec.run_id)
        folder.mkdir(exist_ok=True)
        with (self.root / "starts.log").open("a") as log:
            log.write(f"{spec.run_id}\n")
        args = [sys.executable, SCRIPT, json.dumps(spec.parameters), str(folder)]
        child = subprocess.Popen(
            ["sh", "-c", WRAPPER, *args], start_new_session=True, stdin=subprocess.DEVNULL
        )
        self._children[child.pid] = child
        (folder / "pid").write_text(str(child.pid))
        return str(spec.run_id)

    def _pid(self, handle: Handle) -> int | None:
        path = self._folder(handle) / "pid"
        return int(path.read_text()) if path.exists() else None

    def _alive(self, pid: int) -> bool:
        child = self._children.get(pid)
        if child is not None:
            return child.poll() is None  # reaps our own child
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return False
        return stat.rsplit(")", 1)[1].split()[0] != "Z"

    def poll(self, handle: Handle) -> RunStatus:
        status = self._folder(handle) / "status"
        pid = self._pid(handle)
        if not status.exists() and pid is not None and self._alive(pid):
            return RunStatus("running")
        if status.exists():  # looked at again: the run may have ended between the two looks
            code = int(status.read_text())
            return RunStatus("succeeded" if code == 0 else "failed", exit_code=code)
        return RunStatus("failed", reason="the run's process is gone")

    def cancel(self, handle: Handle) -> None:
        pid = self._pid(handle)
        if pid is None:
            return
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        child = self._children.pop(pid, None)
        if child is not None:
            child.wait()

    def logs(self, handle: Handle, tail: int) -> str:
        path = self._folder(handle) / "output"
        return path.read_bytes()[-tail:].decode(errors="replace") if path.exists() else ""

    def find(self, spec: RunSpec) -> Handle | None:
        handle = str(spec.run_id)
        return handle if (self._folder(handle) / "pid").exists() else None

    # ------------------------------------------------------------------ for the tests

    def starts(self) -> list[int]:
        path = self.root / "starts.log"
        return [int(line) for line in path.read_text().split()] if path.exists() else []

    def alive(self, handle: Handle) -> bool:
        pid = self._pid(handle)
        return pid is not None and self._alive(pid)

    def stop_all(self) -> None:
        for folder in self.root.iterdir():
            if folder.is_dir():
                self.cancel(folder.name)
