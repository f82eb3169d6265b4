"""A job submission is checked completely before anything is stored: fields, this
platform's limits (``jobs:``), the notebook file inside the user's folders, and the
parameters against the notebook's ``parameters`` cell; each refusal says why."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path, PurePosixPath

import nbformat
import pytest

from hub.config.schema import JobSettings
from hub.service.jobs.model import JobInvalid
from hub.service.jobs.runners.base import RunStatus
from hub.service.jobs.scheduler import ended_reason, run_spec, timed_out
from hub.service.jobs.store import Job, Run
from hub.service.jobs.submit import parse_spec, validate

BODY = {"name": "daily", "notebook": "reports/daily.ipynb", "tenant": "vision", "profile": "small"}


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path]:
    home, shared = tmp_path / "home", tmp_path / "shared"
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("day = '2026-01-01'")
    cell.metadata["tags"] = ["parameters"]
    nb.cells.append(cell)
    nb.metadata["kernelspec"] = {"name": "python3", "language": "python", "display_name": "P"}
    for root in (home / "reports", shared / "team"):
        root.mkdir(parents=True)
    nbformat.write(nb, home / "reports" / "daily.ipynb")
    nbformat.write(nb, shared / "team" / "weekly.ipynb")
    (tmp_path / "outside.ipynb").write_text((home / "reports" / "daily.ipynb").read_text())
    (home / "escape.ipynb").symlink_to(tmp_path / "outside.ipynb")
    return home, shared


def test_a_good_submission_in_the_home_or_the_shared_folder_passes(
    folders: tuple[Path, Path],
) -> None:
    home, shared = folders
    spec = validate({**BODY, "parameters": {"day": "2026-11-24"}}, JobSettings(), home, shared)
    assert spec.path.area == "home"
    spec = validate({**BODY, "notebook": "shared/team/weekly.ipynb"}, JobSettings(), home, shared)
    assert spec.path.area == "shared"


@pytest.mark.parametrize(
    ("change", "settings", "reason"),
    [
        (
            {"notebook": "reports/missing.ipynb"},
            {},
            "reports/missing.ipynb does not exist in your home",
        ),
        ({"notebook": "shared/x.ipynb"}, {}, "does not exist in the tenant's shared folder"),
        ({"notebook": "escape.ipynb"}, {}, "escape.ipynb leads outside your home"),
        ({"notebook": "../outside.ipynb"}, {}, "'..' is not allowed"),
        ({"notebook": "/etc/x.ipynb"}, {}, "not an absolute path"),
        ({"parameters": {"dya": 1}}, {}, "dya not defined .* it defines: day"),
        ({"schedule": {"cron": "0 6 * *"}}, {}, "schedule: cron: .* not five fields"),
        ({"schedule": {"cron": "0 6 * * *", "timezone": "Europe/Nowhere"}}, {}, "IANA"),
        ({"timeout": 7200}, {"max_timeout": 3600}, "over this platform's limit of 3600 s"),
        ({"parameters": {"day": "x" * 600}}, {"max_parameters_bytes": 512}, "max_parameters_bytes"),
        ({"name": ""}, {}, "name: String should have at least 1 character"),
    ],
)
def test_a_bad_submission_is_refused_with_the_field_and_why(
    folders: tuple[Path, Path], change: dict, settings: dict, reason: str
) -> None:
    home, shared = folders
    with pytest.raises(JobInvalid, match=reason):
        validate({**BODY, **change}, JobSettings(**settings), home, shared)


def test_a_notebook_naming_no_kernel_needs_the_jobs_kernel(folders: tuple[Path, Path]) -> None:
    home, shared = folders
    nb = nbformat.read(home / "reports" / "daily.ipynb", as_version=4)
    del nb.metadata["kernelspec"]  # as a script would write it: only the language is known
    nb.metadata["language_info"] = {"name": "python"}
    nbformat.write(nb, home / "bare.ipynb")
    body = {**BODY, "notebook": "bare.ipynb", "parameters": {"day": "2026-11-24"}}
    with pytest.raises(
        JobInvalid, match=r"kernel: papermill cannot tell how to run this notebook .*No kernel name"
    ):
        validate(body, JobSettings(), home, shared)
    assert validate({**body, "kernel": "python3"}, JobSettings(), home, shared).kernel == "python3"
    with pytest.raises(JobInvalid, match="dya not defined"):
        validate(
            {**body, "kernel": "python3", "parameters": {"dya": 1}}, JobSettings(), home, shared
        )


def test_the_limits_are_checked_before_the_notebook_is_read(tmp_path: Path) -> None:
    # no notebook exists at all: the limit is what the user hears about first
    with pytest.raises(JobInvalid, match="timeout"):
        parse_spec({**BODY, "timeout": 90_000}, JobSettings())


T0 = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def job(**kw: object) -> Job:
    values: dict = {
        "id": 7, "tenant": "vision", "owner": "alice", "name": "daily", "kind": "papermill",
        "notebook": "shared/team/weekly.ipynb", "parameters": {"day": "x"}, "profile": "small",
        "kernel": None, "timeout": 60, "priority": 0, "retries": 0, "cron": None,
        "timezone": None, "missed": None, "next_fire_at": None, "fired_until": None,
        "created_at": T0, "cancelled_at": None, "cancelled_by": None, **kw,
    }  # fmt: skip
    return Job(**values)


def run(**kw: object) -> Run:
    values: dict = {
        "id": 42, "job_id": 7, "tenant": "vision", "owner": "alice", "priority": 0,
        "attempt": 2, "slot": None, "retry_of": 41, "state": "starting", "reason": "",
        "exit_code": None, "cancel_requested": False, "cancelled_by": None, "runner": None,
        "handle": None, "instance": "a", "lease_until": None, "log_tail": "",
        "queued_at": T0, "claimed_at": T0 + timedelta(seconds=5), "started_at": None,
        "finished_at": None, **kw,
    }  # fmt: skip
    return Run(**values)


def test_a_runner_is_given_the_job_the_attempt_and_where_output_goes() -> None:
    spec = run_spec(run(), job())
    assert (spec.run_id, spec.job_id, spec.attempt, spec.owner) == (42, 7, 2, "alice")
    assert (spec.notebook.area, spec.notebook.relative) == ("shared", "team/weekly.ipynb")
    assert spec.output == PurePosixPath(".tenanthub/jobs/7/42/output.ipynb")
    assert spec.parameters == {"day": "x"} and spec.timeout == 60


def test_a_runs_timeout_counts_from_its_claim() -> None:
    assert not timed_out(run(), job(), T0 + timedelta(seconds=64))
    assert timed_out(run(), job(), T0 + timedelta(seconds=65))


def test_an_ending_without_a_reason_gets_one_a_person_can_read() -> None:
    assert ended_reason(RunStatus("failed", exit_code=3)) == "the run exited with code 3"
    assert ended_reason(RunStatus("failed", 1, "ZeroDivisionError in cell 2")) == (
        "ZeroDivisionError in cell 2"
    )
    assert "ran to the end" in ended_reason(RunStatus("succeeded", 0))
