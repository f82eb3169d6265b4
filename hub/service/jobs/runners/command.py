"""What a job run executes and how its end is told to a person (pure; every runner).

Every backend runs the same command: papermill on the notebook (the ``parameters``
cell gets the job's parameters injected, the output notebook is written cell by
cell, so a failed run keeps its partial output), or for a ``spark`` job's ``.py``
file, Python on the script with the parameters in ``TENANTHUB_JOB_PARAMETERS``.
Only where the files are differs: a runner passes the paths as its process or
container sees them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import PurePosixPath

from hub.service.jobs.runners.base import RunSpec

#: the environment variable a ``.py`` spark job reads its parameters from (JSON)
PARAMETERS_ENV = "TENANTHUB_JOB_PARAMETERS"

#: pyspark started from Python (a notebook's ``SparkSession.builder.getOrCreate()``)
#: reads its master from here: every core of the run's container or process
LOCAL_SPARK_SUBMIT_ARGS = "--master local[*] pyspark-shell"

#: the last line of a Python traceback: ``ZeroDivisionError: division by zero``
_EXCEPTION_LINE = re.compile(r"^([A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt)): ?(.*)$")
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
MAX_REASON = 500


def command(
    spec: RunSpec, python: str, notebook: PurePosixPath, output: PurePosixPath
) -> list[str]:
    """The argv of one run. ``notebook`` and ``output`` as the run sees them."""
    if spec.kind == "spark" and notebook.suffix == ".py":
        return [python, str(notebook)]
    argv = [python, "-m", "papermill", str(notebook), str(output), "--log-output",
            "--cwd", str(notebook.parent)]  # fmt: skip
    if spec.parameters:
        # one YAML document (JSON is YAML): types survive, no quoting of -p values
        argv += ["-y", json.dumps(spec.parameters)]
    if spec.kernel:
        argv += ["-k", spec.kernel]
    return argv


def environment(spec: RunSpec) -> dict[str, str]:
    """What every run has in its environment besides the backend's own."""
    env = {
        "TENANTHUB_JOB_ID": str(spec.job_id),
        "TENANTHUB_JOB_RUN_ID": str(spec.run_id),
        "TENANTHUB_JOB_ATTEMPT": str(spec.attempt),
        "TENANTHUB_JOB_NAME": spec.job_name,
        "TENANTHUB_TENANT": spec.tenant,
        PARAMETERS_ENV: json.dumps(spec.parameters),
        "PYTHONUNBUFFERED": "1",
    }
    if spec.kind == "spark":
        env["PYSPARK_SUBMIT_ARGS"] = LOCAL_SPARK_SUBMIT_ARGS
    return env


def failure_reason(log: str, exit_code: int | None) -> str:
    """Why a run failed, from the end of its log: the failing cell's exception
    (papermill prints the kernel's traceback), else the exit code's meaning."""
    lines = [_ANSI.sub("", line).rstrip() for line in log.splitlines()]
    found = _last_exception(lines)
    cell = _failed_cell(lines)
    if found:
        where = f" in cell {cell}" if cell else ""
        return _trim(f"the notebook failed{where}: {found}")
    return _trim(exit_meaning(exit_code))


def _last_exception(lines: Sequence[str]) -> str | None:
    """The last ``SomeError: message`` line that is not papermill's own wrapper."""
    for line in reversed(lines):
        match = _EXCEPTION_LINE.match(line.strip())
        if match and not match[1].endswith("PapermillExecutionError"):
            return f"{match[1].rsplit('.', 1)[-1]}: {match[2]}".rstrip(": ")
    return None


def _failed_cell(lines: Sequence[str]) -> str | None:
    """Papermill's ``Exception encountered at "In [3]":`` names the failing cell."""
    for line in reversed(lines):
        match = re.search(r'Exception encountered at "In \[(\d+)\]"', line)
        if match:
            return match[1]
    return None


def exit_meaning(exit_code: int | None) -> str:
    if exit_code is None:
        return "the run ended without an exit code"
    if exit_code == 137:
        return "the run was killed (exit code 137: out of memory, or stopped)"
    if exit_code < 0:
        return f"the run was killed by signal {-exit_code}"
    if exit_code > 128:
        return f"the run was killed by signal {exit_code - 128} (exit code {exit_code})"
    return f"the run exited with code {exit_code}"


def _trim(text: str) -> str:
    return text if len(text) <= MAX_REASON else text[: MAX_REASON - 1] + "…"
