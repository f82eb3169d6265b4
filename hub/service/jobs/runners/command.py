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
from typing import Any

import yaml

from hub.service.jobs.runners.base import RunSpec

#: the environment variable a ``.py`` spark job reads its parameters from (JSON)
PARAMETERS_ENV = "TENANTHUB_JOB_PARAMETERS"

#: pyspark started from Python (a notebook's ``SparkSession.builder.getOrCreate()``)
#: reads its master from here: every core of the run's container or process
LOCAL_SPARK_SUBMIT_ARGS = "--master local[*] --conf spark.ui.enabled=false pyspark-shell"

#: the last line of a Python traceback: ``ZeroDivisionError: division by zero``
_EXCEPTION_LINE = re.compile(r"^([A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt|Warning))(:.*)?$")
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
#: papermill names the failing cell: ``Exception encountered at "In [3]":``
_CELL = re.compile(r'Exception encountered at "(In \[[^\]]*\])"')
MAX_REASON = 500


def command(
    spec: RunSpec, python: str, notebook: PurePosixPath, output: PurePosixPath
) -> list[str]:
    """The argv of one run. ``notebook`` and ``output`` as the run sees them."""
    if spec.kind == "spark" and notebook.suffix == ".py":
        return [python, str(notebook)]
    argv = [python, "-m", "papermill", str(notebook), str(output), "--log-output",
            "--no-progress-bar", "--cwd", str(notebook.parent)]  # fmt: skip
    if spec.parameters:
        argv += ["-y", parameters_yaml(spec.parameters)]
    if spec.kernel:
        argv += ["-k", spec.kernel]
    return argv


def parameters_yaml(parameters: dict[str, Any]) -> str:
    """The parameters as YAML papermill reads back exactly (``-y``): JSON text is not
    always read back as written by a YAML 1.1 reader (``1e+20`` becomes a string)."""
    return yaml.safe_dump(parameters, default_flow_style=True, sort_keys=True).strip()


def environment(spec: RunSpec) -> dict[str, str]:
    """What every run has in its environment besides the backend's own."""
    env = {
        "TENANTHUB_JOB_ID": str(spec.job_id),
        "TENANTHUB_JOB_RUN_ID": str(spec.run_id),
        "TENANTHUB_JOB_ATTEMPT": str(spec.attempt),
        "TENANTHUB_JOB_NAME": spec.job_name,
        "TENANTHUB_TENANT": spec.tenant,
        PARAMETERS_ENV: json.dumps(spec.parameters, sort_keys=True),
        "PYTHONUNBUFFERED": "1",
    }
    if spec.kind == "spark":
        env["PYSPARK_SUBMIT_ARGS"] = LOCAL_SPARK_SUBMIT_ARGS
        # local mode needs loopback only: no port on other interfaces of a host network
        env["SPARK_LOCAL_IP"] = "127.0.0.1"
    return env


def failure_reason(log: str, exit_code: int | None, oom: bool = False, mem_limit: int = 0) -> str:
    """Why a run failed, for a person: the failing cell and its error from papermill's
    log, a script's exception, a kill for memory, or what the exit code means."""
    if oom:
        limit = f" of {mem_limit / 2**30:.3g} GiB" if mem_limit else ""
        return (
            f"killed: out of memory (the profile's memory limit{limit}); use a profile with "
            "more memory or make the notebook use less"
        )
    lines = [_ANSI.sub("", line).rstrip() for line in log.splitlines()]
    cells = [(i, m.group(1)) for i, line in enumerate(lines) if (m := _CELL.search(line))]
    if cells:
        start, cell = cells[-1]
        error = _last_exception(lines[start:]) or "an error"
        return _trim(f"the notebook failed in cell {cell}: {error}")
    if "PapermillExecutionError" in log:
        return _trim(f"the notebook failed: {_last_exception(lines) or 'an error'}")
    last = _last_exception(lines)
    if last:
        return _trim(f"the run failed (exit code {exit_code}): {last}")
    return exit_meaning(exit_code)


def _last_exception(lines: Sequence[str]) -> str | None:
    """The last ``SomeError: message`` line that is not papermill's own wrapper."""
    for line in reversed(lines):
        text = line.strip()
        match = _EXCEPTION_LINE.match(text)
        if match and "PapermillExecutionError" not in match[1]:
            return text
    return None


def exit_meaning(exit_code: int | None) -> str:
    if exit_code is None:
        return "the run ended without an exit code"
    if exit_code == 137:
        return "the run was killed (SIGKILL, exit code 137: out of memory, or stopped)"
    if exit_code == 143:
        return "the run was stopped (SIGTERM, exit code 143)"
    if exit_code < 0:
        return f"the run was killed by signal {-exit_code}"
    if exit_code > 128:
        return f"the run was killed by signal {exit_code - 128} (exit code {exit_code})"
    return f"the run exited with code {exit_code}"


def _trim(text: str) -> str:
    return text if len(text) <= MAX_REASON else text[: MAX_REASON - 1] + "…"
