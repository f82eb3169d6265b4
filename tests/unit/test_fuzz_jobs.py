"""Fuzz: cron schedules, job bodies and notebook parameters are accepted or refused
with the jobs module's own error (CronError, a pydantic ValidationError, JobInvalid),
never another exception; an accepted schedule's slots move forward in time and
``slots_to_fire`` agrees with ``to_fire`` over the slots it walked."""

from __future__ import annotations

import json
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from pydantic import ValidationError

from hub.service.jobs import cron
from hub.service.jobs.cron import CronError, parse_schedule
from hub.service.jobs.model import JobInvalid, JobSpec, check_parameters
from tests.unit.fuzzing import fuzz, json_values, shaped


#: cron fields: mostly well-formed (numbers in and out of range, ranges, steps, lists,
#: names), sometimes any mix of cron's characters
def cron_field(low: int, high: int, names: list[str]) -> st.SearchStrategy[str]:
    """One field: its own range (and a little past both ends), names, ranges, steps, lists."""
    number = st.integers(min_value=low - 1, max_value=high + 2).map(str)
    term = st.one_of(
        st.just("*"),
        number,
        number,
        st.sampled_from(names or ["*"]),
        st.builds(lambda a, b: f"{a}-{b}", number, number),
        st.builds(lambda a, n: f"{a}/{n}", st.just("*") | number, number),
    )
    listed = st.lists(term, min_size=1, max_size=3).map(",".join)
    garbage = st.text(alphabet="0123456789*/-,?LW#", min_size=1, max_size=6)
    return st.one_of(st.just("*"), listed, listed, listed, garbage)


FIELDS = [
    cron_field(0, 59, []),
    cron_field(0, 23, []),
    cron_field(1, 31, ["L", "?"]),
    cron_field(1, 12, ["jan", "DEC"]),
    cron_field(0, 7, ["mon", "FRI", "sun-sat", "?"]),
]
five = st.tuples(*FIELDS).map(" ".join)
cron_like = st.one_of(five, five, five, st.lists(FIELDS[0], min_size=4, max_size=7).map(" ".join))
good_zones = st.sampled_from(
    ["UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kathmandu"]
)
zones = st.one_of(good_zones, good_zones, st.text(max_size=20))
instants = st.datetimes(
    min_value=datetime(1990, 1, 1), max_value=datetime(2090, 1, 1), timezones=st.just(UTC)
)


@fuzz(400, deadline_ms=None)
@given(cron_like | st.text(max_size=30), zones)
@example("0 0 30 2 *", "UTC")  # names no date
@example("* * * * *", "../../etc/passwd")
@example("* * * * *", "UTC\x00")
@example("* * * * *", "/UTC")
@example("0 2 * * *", "Europe/Berlin")
def test_any_schedule_is_accepted_or_a_cron_error(expression: str, timezone: str) -> None:
    try:
        parse_schedule(expression, timezone)
    except CronError as exc:
        assert isinstance(exc, ValueError) and str(exc)
        return
    now = datetime(2026, 3, 29, 0, 30, tzinfo=UTC)
    slot = cron.next_slot(expression, timezone, now)
    assert slot > now and slot.tzinfo is not None


@fuzz(150, deadline_ms=None)
@given(
    st.sampled_from(["*/7 * * * *", "0 6 * * 1-5", "30 2 * * *", "0 0 1 * *", "15 */3 * * *"]),
    zones.filter(lambda z: z in ("UTC", "Europe/Berlin", "America/New_York")),
    instants,
    st.integers(min_value=0, max_value=3 * 24 * 3600),
    st.sampled_from([60.0, 120.0, 3600.0]),
    st.sampled_from(["skip", "run_once"]),
)
def test_slots_move_forward_and_the_shortcut_agrees_with_the_walk(
    expression: str, timezone: str, after: datetime, span: int, grace: float, missed: str
) -> None:
    now = after + timedelta(seconds=span)
    walked = list(cron.slots(expression, timezone, after, now))
    assert walked == sorted(set(walked))  # increasing, none twice
    assert all(after < s <= now for s in walked)
    fired = cron.slots_to_fire(expression, timezone, after, now, grace, missed)
    assert fired == cron.to_fire(walked, now, grace, missed)


JOB_KEYS = list(JobSpec.model_fields)
schedules = shaped(["cron", "timezone", "missed"], st.one_of(cron_like, zones, json_values))


@fuzz(300, deadline_ms=None)
@given(
    shaped(JOB_KEYS)
    | st.builds(
        lambda body, sched: {**body, "schedule": sched},
        st.fixed_dictionaries(
            {
                "name": st.text(max_size=5),
                "notebook": st.text(max_size=20),
                "tenant": st.just("t"),
                "profile": st.just("p"),
            },
            optional={"parameters": st.dictionaries(st.text(max_size=5), json_values)},
        ),
        schedules,
    )
)
@example({"name": "n", "notebook": "a.ipynb", "tenant": "t", "profile": "p",
          "parameters": {"x": float("inf")}})  # fmt: skip
@example({"name": "n", "notebook": "a.ipynb", "tenant": "t", "profile": "p",
          "schedule": {"cron": "* * * * *", "timezone": ["UTC"]}})  # fmt: skip
def test_any_job_body_is_a_job_or_a_validation_error(body: dict[str, Any]) -> None:
    try:
        spec = JobSpec.model_validate(body)
    except ValidationError as exc:
        assert exc.errors(include_url=False)
        return
    assert spec.path.relative  # an accepted job's notebook path is usable


cells = st.fixed_dictionaries(
    {
        "cell_type": st.sampled_from(["code", "markdown", "raw", "bogus"]),
        "source": st.text(max_size=60)
        | st.lists(
            st.sampled_from(["x = 1\n", "y: int = 2\n", "z = 'a'  # note\n", "def f(:\n"])
        ).map("".join),
        "metadata": st.fixed_dictionaries(
            {}, optional={"tags": st.lists(st.sampled_from(["parameters", "other"]), max_size=2)}
        ),
    },
    optional={"outputs": st.just([]), "execution_count": st.none()},
)
notebooks = st.fixed_dictionaries(
    {"cells": st.lists(cells, max_size=4), "nbformat": st.sampled_from([4, 3, 5, "4"]),
     "nbformat_minor": st.integers(0, 6)},
    optional={"metadata": st.fixed_dictionaries({}, optional={
        "kernelspec": st.fixed_dictionaries({"name": st.sampled_from(["python3", "ir", "x"]),
                                             "language": st.sampled_from(["python", "R", "?"])}),
    })},
).map(json.dumps) | st.text(max_size=80)  # fmt: skip


@pytest.mark.filterwarnings("ignore::nbformat.validator.MissingIDFieldWarning")
@fuzz(120, deadline_ms=None)
@given(
    notebooks,
    st.dictionaries(st.sampled_from(["x", "y", "z", "w"]), json_values, max_size=3),
    st.sampled_from([None, "python3", "ir", "nope"]),
)
def test_any_notebook_and_parameters_are_accepted_or_refused_as_job_invalid(
    notebook: str, parameters: dict[str, Any], kernel: str | None
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "job.ipynb"
        path.write_text(notebook, encoding="utf-8")
        try:
            check_parameters(path, parameters, kernel)
        except JobInvalid as exc:
            assert str(exc)
