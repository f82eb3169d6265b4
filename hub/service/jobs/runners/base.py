"""What a job runner is: the scheduler's only view of a backend (local, Docker, Kubernetes).

The scheduler decides *which* run starts, when it has run too long and when it is
cancelled; a runner only carries that out on its backend. Runners are synchronous
(subprocess, the Docker SDK, the Kubernetes client all block): the scheduler calls
them from a worker thread, never on the event loop.

A handle is an opaque string the runner chooses (a pid with its start time, a
container id, a Job's name). The scheduler stores it in the run's row, so after a
restart of the platform service, possibly in another process, ``poll``, ``cancel``
and ``logs`` must work from the stored handle alone, and ``find`` must find a run
whose handle was never stored (the service died between ``start`` and the write).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any, Literal, Protocol, runtime_checkable

from hub.service.jobs.model import NotebookPath

Handle = str

#: what a runner can observe; ``timed_out`` only when the backend itself enforced the
#: deadline (Kubernetes ``activeDeadlineSeconds``), the scheduler enforces it otherwise
Observed = Literal["starting", "running", "succeeded", "failed", "timed_out"]


@dataclass(frozen=True)
class RunSpec:
    """Everything a runner needs to start one attempt of a job, and to find it again."""

    run_id: int
    job_id: int
    attempt: int
    job_name: str
    tenant: str
    owner: str  # the user whose home, volumes and checkpoint image the run uses
    profile: str
    kind: Literal["papermill", "spark"]
    notebook: NotebookPath  # home- or shared-relative; the runner maps it onto its backend
    output: PurePosixPath  # where papermill writes the output notebook, relative to home
    parameters: dict[str, Any] = field(default_factory=dict)
    kernel: str | None = None
    timeout: int = 3600  # seconds; backends that can enforce it themselves should


@dataclass(frozen=True)
class RunStatus:
    """One observation of a started run. ``reason``: for a person, why it ended as it did
    (the failing cell's error, the exit code's meaning); empty while it runs."""

    state: Observed
    exit_code: int | None = None
    reason: str = ""

    @property
    def finished(self) -> bool:
        return self.state in ("succeeded", "failed", "timed_out")


@runtime_checkable
class Runner(Protocol):
    """A backend that runs job attempts in their own process, container or pod."""

    #: which backend this is (``local``, ``docker``, ``kubernetes``), stored with each run
    name: str

    def start(self, spec: RunSpec) -> Handle:
        """Start the run and return at once (without waiting for it to finish).

        Raise with a message a person can act on when it cannot start (no image, the
        notebook is gone); the scheduler records the run as failed with that message.
        """
        ...

    def poll(self, handle: Handle) -> RunStatus:
        """The run's state now. A run that vanished is ``failed`` with the reason."""
        ...

    def cancel(self, handle: Handle) -> None:
        """Stop the run (and everything it started); idempotent, a finished run is fine."""
        ...

    def logs(self, handle: Handle, tail: int) -> str:
        """The last ``tail`` bytes of the run's output (stdout and stderr)."""
        ...

    def find(self, spec: RunSpec) -> Handle | None:
        """The handle of this run if it exists on the backend (re-attach after a restart),
        else None: the scheduler then marks the run failed, it never starts it again."""
        ...
