"""The local runner: each run is a process on this machine, in the owner's folders.

For the local backend (no Docker, no Kubernetes), like its servers: the run uses
the user's home and the tenant's shared folder under the platform's data dir and
runs as the service's own OS user, so users are not isolated from each other
(the README says so). Each run gets its own session (``setsid``): stopping the
user's server or the platform service never signals it, and cancel stops the
whole group.

Nothing is kept in memory that a restart would lose. Each run has a folder
``<data_dir>/jobs/runs/<run id>/`` with ``pid`` (process id and its start time
from ``/proc``, so a recycled pid is never mistaken for the run), ``output.log``
and, once the process ended, ``status`` (its exit code, written by the shell that
waits for it). A new runner object -- the service restarted -- polls, cancels and
re-attaches from that folder alone.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path, PurePosixPath

from hub.service.jobs.runners.base import Handle, RunSpec, RunStatus
from hub.service.jobs.runners.command import command, environment, failure_reason
from spawner.plan import local_paths

#: the shell waits for the run and records how it ended; ``$1`` is the run's folder
WRAPPER = (
    'dir="$1"; shift; "$@" > "$dir/output.log" 2>&1 < /dev/null; '
    'echo $? > "$dir/status.tmp" && mv "$dir/status.tmp" "$dir/status"'
)

#: what a run inherits from the service's environment: nothing secret (the service's
#: hub token and the platform's settings stay out of users' code)
INHERITED = ("PATH", "LANG", "LC_ALL", "TZ", "JAVA_HOME", "SPARK_HOME")

#: seconds between SIGTERM and SIGKILL when a run is cancelled
GRACE = 5.0


def process_start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (``/proc/<pid>/stat`` field
    22), or None when there is no such process or it is a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] == "Z":
        return None
    return fields[19]


class LocalRunner:
    name = "local"

    def __init__(self, data_dir: Path, python: str | None = None) -> None:
        self.data_dir = data_dir
        self.root = data_dir / "jobs" / "runs"
        self.python = python or sys.executable
        self._children: dict[int, subprocess.Popen[bytes]] = {}

    # ------------------------------------------------------------------ folders

    def _folder(self, handle: Handle) -> Path:
        if not handle.isdigit():
            raise ValueError(f"not a local run handle: {handle!r}")
        return self.root / handle

    def _notebook(self, spec: RunSpec, home: Path, shared: Path) -> Path:
        root = (home if spec.notebook.area == "home" else shared).resolve()
        path = spec.notebook.on_disk(home, shared).resolve()
        where = "your home" if spec.notebook.area == "home" else "the tenant's shared folder"
        if not path.is_relative_to(root):
            raise RuntimeError(f"the notebook {spec.notebook.relative} leads outside {where}")
        if not path.is_file():
            raise RuntimeError(f"the notebook {spec.notebook.relative} is no longer in {where}")
        return path

    # ------------------------------------------------------------------ the protocol

    def start(self, spec: RunSpec) -> Handle:
        paths = local_paths(self.data_dir, spec.tenant, spec.owner)
        notebook = self._notebook(spec, paths.home, paths.shared)
        output = paths.home.joinpath(*spec.output.parts)
        output.parent.mkdir(parents=True, exist_ok=True)
        handle = str(spec.run_id)
        folder = self._folder(handle)
        folder.mkdir(parents=True, exist_ok=True)
        for stale in ("status", "pid", "output.log"):  # a folder left by a refused start
            (folder / stale).unlink(missing_ok=True)
        argv = command(spec, self.python, PurePosixPath(notebook), PurePosixPath(output))
        env = {k: os.environ[k] for k in INHERITED if k in os.environ}
        env |= environment(spec) | {"HOME": str(paths.home), "USER": spec.owner}
        child = subprocess.Popen(
            ["sh", "-c", WRAPPER, "tenanthub-job", str(folder), *argv],
            cwd=notebook.parent,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            close_fds=True,
        )
        self._children[child.pid] = child
        started = process_start_time(child.pid) or "0"
        tmp = folder / "pid.tmp"
        tmp.write_text(f"{child.pid} {started}\n")
        tmp.replace(folder / "pid")
        return handle

    def _pid(self, handle: Handle) -> tuple[int, str] | None:
        try:
            pid, started = (self._folder(handle) / "pid").read_text().split()
        except (OSError, ValueError):
            return None
        return int(pid), started

    def _alive(self, handle: Handle) -> int | None:
        """The run's process id while it lives (the same process: pid and start time)."""
        found = self._pid(handle)
        if found is None:
            return None
        pid, started = found
        child = self._children.get(pid)
        if child is not None and child.poll() is not None:  # reap our own child
            self._children.pop(pid, None)
            return None
        return pid if process_start_time(pid) == started else None

    def _status(self, handle: Handle) -> int | None:
        try:
            return int((self._folder(handle) / "status").read_text())
        except (OSError, ValueError):
            return None

    def poll(self, handle: Handle) -> RunStatus:
        code = self._status(handle)
        if code is None and self._alive(handle) is not None:
            return RunStatus("running")
        code = self._status(handle)  # it may have ended between the two looks
        if code is None:
            return RunStatus("failed", reason="the run's process is gone (it was killed)")
        if code == 0:
            return RunStatus("succeeded", exit_code=0)
        reason = failure_reason(self.logs(handle, 16384), code)
        return RunStatus("failed", exit_code=code, reason=reason)

    def cancel(self, handle: Handle) -> None:
        pid = self._alive(handle)
        if pid is None:
            return
        try:
            os.killpg(pid, signal.SIGTERM)  # papermill shuts its kernel down
        except ProcessLookupError:
            return
        deadline = time.monotonic() + GRACE
        while time.monotonic() < deadline and self._alive(handle) is not None:
            time.sleep(0.1)
        if self._alive(handle) is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
        child = self._children.pop(pid, None)
        if child is not None:
            child.wait()

    def logs(self, handle: Handle, tail: int) -> str:
        path = self._folder(handle) / "output.log"
        try:
            with path.open("rb") as log:
                size = log.seek(0, os.SEEK_END)
                log.seek(max(0, size - tail))
                data = log.read()
        except OSError:
            return ""
        return data.decode(errors="replace")

    def find(self, spec: RunSpec) -> Handle | None:
        handle = str(spec.run_id)
        return handle if self._pid(handle) is not None else None
