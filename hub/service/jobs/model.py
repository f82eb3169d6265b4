"""What a job is, what makes one invalid, and how its runs move (pure).

A job is a notebook (or, for ``spark``, a notebook or ``.py``) in the user's home or
the tenant's shared folder, papermill parameters, a profile and tenant, limits, and
either no schedule (one run now) or a cron schedule in a time zone. Every check here
answers with a sentence a user can act on; nothing is stored when one fails.

Runs: ``queued -> starting -> running -> succeeded | failed | cancelled | timed_out``.
A queued or starting run may also be cancelled or fail (it never started, or the
runner refused it), and a starting one may end before it was ever seen running. The
table below is the only place transitions are decided.
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from hub.service.jobs.cron import CronError, parse_schedule

MAX_PATH = 1024
MAX_PARAMETERS_BYTES = 64 * 1024
MAX_TIMEOUT = 7 * 24 * 3600
SHARED = "shared"


class JobInvalid(ValueError):
    """The job cannot be accepted; the message says why and what would be accepted."""


class NotebookPath(BaseModel):
    """Where the notebook is: ``home`` (the user's) or ``shared`` (the tenant's folder)."""

    model_config = ConfigDict(frozen=True)
    area: Literal["home", "shared"]
    relative: str  # POSIX, no "..", not absolute, not empty

    def on_disk(self, home: Path, shared: Path) -> Path:
        """The file under its area's root (the caller still resolves symlinks)."""
        return (home if self.area == "home" else shared).joinpath(*self.relative.split("/"))


def parse_notebook_path(raw: str, kind: str = "papermill") -> NotebookPath:
    """``analysis/report.ipynb`` (home) or ``shared/team/report.ipynb`` (tenant folder)."""
    if not isinstance(raw, str) or not raw.strip():
        raise JobInvalid("notebook: give the notebook's path, e.g. analysis/report.ipynb")
    if len(raw) > MAX_PATH or "\x00" in raw or any(ord(c) < 32 for c in raw):
        raise JobInvalid("notebook: the path is too long or has control characters")
    if raw.startswith("/") or raw.startswith("~"):
        raise JobInvalid(
            "notebook: use a path relative to your home (analysis/report.ipynb) or to the "
            "tenant's shared folder (shared/report.ipynb), not an absolute path"
        )
    parts = PurePosixPath(raw).parts
    if any(p == ".." for p in parts):
        raise JobInvalid("notebook: '..' is not allowed: the path must stay in your folders")
    parts = tuple(p for p in parts if p != ".")
    area: Literal["home", "shared"] = "home"
    if parts and parts[0] == SHARED:
        area, parts = "shared", parts[1:]
    if not parts:
        raise JobInvalid("notebook: the path names a folder, not a notebook")
    suffixes = (".ipynb", ".py") if kind == "spark" else (".ipynb",)
    if not parts[-1].endswith(suffixes):
        raise JobInvalid(f"notebook: a {kind} job runs a {' or '.join(suffixes)} file")
    return NotebookPath(area=area, relative="/".join(parts))


class MissedSlots(StrEnum):
    """After downtime: ``skip`` fires none of the missed slots; ``run_once`` fires one."""

    SKIP = "skip"
    RUN_ONCE = "run_once"


class Schedule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    cron: str = Field(description="Five cron fields, e.g. '0 6 * * 1-5'.")
    timezone: str = Field("UTC", description="IANA time zone the cron fields are read in.")
    missed: MissedSlots | None = Field(
        None, description="What to do about slots missed while down; default from config."
    )

    @model_validator(mode="after")
    def _valid(self) -> Schedule:
        try:
            parse_schedule(self.cron, self.timezone)
        except CronError as exc:
            raise ValueError(str(exc)) from None
        return self


class JobSpec(BaseModel):
    """A job as a user submits it (the API's request body)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(min_length=1, max_length=100)
    kind: Literal["papermill", "spark"] = "papermill"
    notebook: str
    parameters: dict[str, Any] = Field(default_factory=dict)
    tenant: str
    profile: str
    kernel: str | None = Field(None, max_length=100)
    timeout: int = Field(3600, ge=1, le=MAX_TIMEOUT, description="Seconds.")
    priority: int = Field(0, ge=-100, le=100, description="Higher runs first.")
    retries: int = Field(0, ge=0, le=10)
    schedule: Schedule | None = None

    @field_validator("parameters")
    @classmethod
    def _bounded(cls, value: dict[str, Any]) -> dict[str, Any]:
        size = len(json.dumps(value, default=str).encode())
        if size > MAX_PARAMETERS_BYTES:
            raise ValueError(
                f"parameters are {size} bytes as JSON, over {MAX_PARAMETERS_BYTES}: pass "
                "large inputs as a file path instead"
            )
        return value

    @model_validator(mode="after")
    def _path(self) -> JobSpec:
        try:
            parse_notebook_path(self.notebook, self.kind)
        except JobInvalid as exc:
            raise ValueError(str(exc)) from None
        return self

    @property
    def path(self) -> NotebookPath:
        return parse_notebook_path(self.notebook, self.kind)


def check_parameters(notebook: Path, parameters: dict[str, Any], kernel: str | None = None) -> None:
    """Refuse parameters the notebook's ``parameters`` cell does not define.

    Read with papermill's own inspection (what ``papermill.inspect_notebook`` runs,
    called with the job's kernel the way ``papermill.execute_notebook`` passes
    ``kernel_name``), so a job is checked exactly as papermill will inject it. A
    notebook without a parameters cell accepts none.
    """
    if notebook.suffix != ".ipynb":
        return  # a .py spark job gets its parameters in its environment
    from papermill.inspection import _infer_parameters
    from papermill.iorw import load_notebook_node

    try:
        nb = load_notebook_node(str(notebook))
    except Exception as exc:  # papermill raises several types for a broken notebook
        raise JobInvalid(f"notebook: cannot be read as a notebook ({exc})") from None
    try:
        known = {p.name for p in _infer_parameters(nb, name=kernel)}
    except ValueError as exc:  # papermill: no kernel name (or language) in the notebook
        raise JobInvalid(
            f"kernel: papermill cannot tell how to run this notebook ({exc}); give the "
            "job's kernel (e.g. python3), or save the notebook from Jupyter so it records "
            "its kernel"
        ) from None
    except Exception as exc:  # no translator for this kernel or language
        raise JobInvalid(f"kernel: papermill cannot parameterise this notebook ({exc})") from None
    unknown = sorted(set(parameters) - known)
    if unknown:
        listed = ", ".join(sorted(known)) if known else "none (no cell tagged 'parameters')"
        raise JobInvalid(
            f"parameters: {', '.join(unknown)} not defined in the notebook's parameters "
            f"cell; it defines: {listed}"
        )


class RunState(StrEnum):
    QUEUED = "queued"
    STARTING = "starting"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    TIMED_OUT = "timed_out"


FINAL = frozenset({RunState.SUCCEEDED, RunState.FAILED, RunState.CANCELLED, RunState.TIMED_OUT})
ACTIVE = frozenset({RunState.STARTING, RunState.RUNNING})  # count against running_jobs

_NEXT: dict[RunState, frozenset[RunState]] = {
    RunState.QUEUED: frozenset({RunState.STARTING, RunState.CANCELLED, RunState.FAILED}),
    # a short run can end between two polls without ever being seen running
    RunState.STARTING: frozenset(
        {
            RunState.RUNNING,
            RunState.SUCCEEDED,
            RunState.FAILED,
            RunState.CANCELLED,
            RunState.TIMED_OUT,
        }
    ),
    RunState.RUNNING: frozenset(
        {RunState.SUCCEEDED, RunState.FAILED, RunState.CANCELLED, RunState.TIMED_OUT}
    ),
}


def transition_problem(current: RunState, wanted: RunState) -> str | None:
    """None if a run may go from ``current`` to ``wanted``, else why not."""
    if current in FINAL:
        return f"the run is {current.value} already; a finished run does not change"
    if wanted not in _NEXT[current]:
        allowed = ", ".join(sorted(s.value for s in _NEXT[current]))
        return f"a {current.value} run can become {allowed}, not {wanted.value}"
    return None


#: why a run left starting or running by a service that died, and not found again by the
#: runner, is failed: the scheduler never starts such a run a second time on its own
LOST_REASON = "the platform service restarted and the run could not be found"

#: the ends a retry may follow: the notebook (or its runner) failed, or it ran too long;
#: a cancelled run was stopped on purpose and a lost one is never silently rerun
RETRYABLE = frozenset({RunState.FAILED, RunState.TIMED_OUT})


def retry_due(ended: RunState, attempt: int, retries: int, job_cancelled: bool) -> bool:
    """Whether attempt ``attempt`` (1-based) that ended ``ended`` gets another attempt."""
    return ended in RETRYABLE and not job_cancelled and attempt <= retries


def output_path(job_id: int, run_id: int) -> PurePosixPath:
    """Where a run's output notebook goes, relative to the owner's home."""
    return PurePosixPath(".tenanthub", "jobs", str(job_id), str(run_id), "output.ipynb")
