"""Your notebook jobs and their runs from a notebook (what the Jobs panel shows).

    from tenanthub import jobs
    jobs.job(7)                  # the job as the platform keeps it (schedule, paused, ...)
    jobs.runs(7)                 # its runs, newest first
    jobs.latest_run(7)           # its newest run, or None
    jobs.run(42)                 # one run: state, reason, times, output path
    jobs.log(42, tail=4096)      # the end of its log (live while it runs)

Calls go to the platform API as you (``tenanthub.datasets.platform()``); a refusal is
an :class:`~tenanthub.api.ApiError` with the platform's message.
"""

from __future__ import annotations

from typing import Any

from tenanthub.datasets import platform

#: the states a run does not leave
FINAL = frozenset({"succeeded", "failed", "cancelled", "timed_out"})


def job(job_id: int) -> dict[str, Any]:
    p = platform()
    return dict(p.get(p.tenant_path("jobs", str(int(job_id)))))


def runs(job_id: int, limit: int = 20) -> list[dict[str, Any]]:
    """The job's runs, newest first (at most ``limit``)."""
    p = platform()
    answer = p.get(p.tenant_path("jobs", str(int(job_id)), "runs"), limit=limit)
    return [dict(r) for r in answer["items"]]


def latest_run(job_id: int) -> dict[str, Any] | None:
    found = runs(job_id, limit=1)
    return found[0] if found else None


def run(run_id: int) -> dict[str, Any]:
    p = platform()
    return dict(p.get(p.tenant_path("runs", str(int(run_id)))))


def log(run_id: int, tail: int = 65536) -> dict[str, Any]:
    """``{"run", "state", "live", "log"}``: the last ``tail`` bytes of the run's log."""
    p = platform()
    return dict(p.get(p.tenant_path("runs", str(int(run_id)), "log"), tail=tail))
