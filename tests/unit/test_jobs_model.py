"""The job model: what a user may submit, checked before anything is stored, and how
runs move. Parameters are checked against real notebooks with papermill's inspection."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import nbformat
import pytest
from pydantic import ValidationError

from hub.service.jobs.model import (
    ACTIVE,
    FINAL,
    JobInvalid,
    JobSpec,
    RunState,
    check_parameters,
    output_path,
    parse_notebook_path,
    retry_due,
    transition_problem,
)

BASE = {"name": "daily", "notebook": "reports/daily.ipynb", "tenant": "vision", "profile": "small"}


def notebook(tmp_path: Path, parameters: str | None) -> Path:
    nb = nbformat.v4.new_notebook()
    if parameters is not None:
        cell = nbformat.v4.new_code_cell(parameters)
        cell.metadata["tags"] = ["parameters"]
        nb.cells.append(cell)
    nb.cells.append(nbformat.v4.new_code_cell("result = 1"))
    nb.metadata["kernelspec"] = {"name": "python3", "language": "python", "display_name": "P"}
    path = tmp_path / "job.ipynb"
    nbformat.write(nb, path)
    return path


def test_paths_stay_in_the_users_home_or_the_tenants_shared_folder() -> None:
    home = parse_notebook_path("reports/./daily.ipynb")
    assert (home.area, home.relative) == ("home", "reports/daily.ipynb")
    shared = parse_notebook_path("shared/team/weekly.ipynb")
    assert (shared.area, shared.relative) == ("shared", "team/weekly.ipynb")
    assert shared.on_disk(Path("/h"), Path("/s")) == Path("/s/team/weekly.ipynb")
    assert parse_notebook_path("etl/load.py", kind="spark").relative == "etl/load.py"
    bad = {
        "": "give the notebook's path",
        "/etc/passwd.ipynb": "not an absolute path",
        "~/x.ipynb": "not an absolute path",
        "../bob/x.ipynb": "'..' is not allowed",
        "shared/../../x.ipynb": "'..' is not allowed",
        "a\x00b.ipynb": "control characters",
        "x" * 2000 + ".ipynb": "too long",
        "shared": "names a folder",
        "report.txt": "runs a .ipynb file",
        "etl/load.py": "runs a .ipynb file",
    }
    for raw, reason in bad.items():
        with pytest.raises(JobInvalid, match=reason):
            parse_notebook_path(raw)


def test_a_valid_job_spec_is_accepted() -> None:
    job = JobSpec.model_validate({**BASE, "parameters": {"day": "2026-11-23"}})
    assert job.path.relative == "reports/daily.ipynb" and job.schedule is None


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        pytest.param({"notebook": "../x.ipynb"}, "'..' is not allowed", id="notebook"),
        pytest.param({"timeout": 0}, "greater than or equal to 1", id="timeout"),
        pytest.param({"priority": 1000}, "less than or equal to 100", id="priority"),
        pytest.param({"retries": -1}, "greater than or equal to 0", id="retries"),
        pytest.param({"parameters": {"x": "y" * 70_000}}, "over 65536", id="parameters"),
        pytest.param({"image": "evil"}, "Extra inputs are not permitted", id="unknown-field"),
        pytest.param({"schedule": {"cron": "61 * * * *"}}, "not a valid cron", id="cron"),
        pytest.param({"schedule": {"cron": "* * *"}}, "not five fields", id="cron-fields"),
        pytest.param(
            {"schedule": {"cron": "0 6 * * *", "timezone": "Mars/Base"}}, "IANA", id="zone"
        ),
        pytest.param({"schedule": {"cron": "0 6 * * *", "missed": "twice"}}, "skip", id="missed"),
    ],
)
def test_a_job_spec_refuses_bad_input_with_the_field_and_why(change: dict, reason: str) -> None:
    with pytest.raises(ValidationError, match=reason):
        JobSpec.model_validate({**BASE, **change})


def test_parameters_must_be_defined_in_the_notebooks_parameters_cell(tmp_path: Path) -> None:
    path = notebook(tmp_path, "day = '2026-01-01'\nlimit = 10")
    check_parameters(path, {"day": "2026-11-23", "limit": 5})
    check_parameters(path, {})
    with pytest.raises(JobInvalid, match=r"dya not defined .* it defines: day, limit"):
        check_parameters(path, {"dya": "2026-11-23"})


def test_a_notebook_without_a_parameters_cell_accepts_none(tmp_path: Path) -> None:
    path = notebook(tmp_path, None)
    check_parameters(path, {})
    with pytest.raises(JobInvalid, match="it defines: none"):
        check_parameters(path, {"day": "x"})


def test_a_broken_notebook_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.ipynb"
    path.write_text("{not json")
    with pytest.raises(JobInvalid, match="cannot be read as a notebook"):
        check_parameters(path, {"a": 1})


def test_runs_move_only_forward_and_finished_runs_never_change() -> None:
    ok = [
        (RunState.QUEUED, RunState.STARTING),
        (RunState.QUEUED, RunState.CANCELLED),
        (RunState.STARTING, RunState.RUNNING),
        (RunState.RUNNING, RunState.SUCCEEDED),
        (RunState.RUNNING, RunState.TIMED_OUT),
        (RunState.RUNNING, RunState.CANCELLED),
        (RunState.STARTING, RunState.SUCCEEDED),  # ended between two polls
    ]
    for current, wanted in ok:
        assert transition_problem(current, wanted) is None, (current, wanted)
    assert "not running" in (transition_problem(RunState.QUEUED, RunState.RUNNING) or "")
    assert "does not change" in (transition_problem(RunState.SUCCEEDED, RunState.FAILED) or "")
    assert "does not change" in (transition_problem(RunState.CANCELLED, RunState.QUEUED) or "")
    assert {RunState.STARTING, RunState.RUNNING} == ACTIVE and not ACTIVE & FINAL


def test_a_runs_output_goes_under_the_owners_home() -> None:
    assert output_path(7, 42) == PurePosixPath(".tenanthub/jobs/7/42/output.ipynb")


def test_failed_and_timed_out_runs_are_retried_while_attempts_remain_cancelled_ones_never() -> None:
    assert retry_due(RunState.FAILED, attempt=1, retries=2, job_cancelled=False)
    assert retry_due(RunState.TIMED_OUT, attempt=2, retries=2, job_cancelled=False)
    assert not retry_due(RunState.FAILED, attempt=3, retries=2, job_cancelled=False)
    assert not retry_due(RunState.FAILED, attempt=1, retries=0, job_cancelled=False)
    assert not retry_due(RunState.CANCELLED, attempt=1, retries=2, job_cancelled=False)
    assert not retry_due(RunState.SUCCEEDED, attempt=1, retries=2, job_cancelled=False)
    assert not retry_due(RunState.FAILED, attempt=1, retries=2, job_cancelled=True)
