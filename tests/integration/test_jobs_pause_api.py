"""Pausing and resuming a schedule through the platform API (``PATCH
/tenants/{tenant}/jobs/{job}``) and ``tenanthub job pause|resume``, on a real hub whose
service runs the scheduler with the local runner and the real clock: a paused
every-minute schedule fires no run at its next slot; resumed, the following slot is due
and never the one missed while paused; another member cannot pause it (the same
404 as a job that does not exist), the tenant's admin can; a bad body is a 422 that
changes nothing; a one-off job cannot be paused (409 with the reason)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.conftest import need
from tests.integration.conftest import PASSWORDS, PROXY_MISSING
from tests.integration.hubrunner import api_tokens, write_hub
from tests.integration.notebooks import write_notebook
from tests.integration.test_jobs_api import CONFIG, USERS, Platform

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    if PROXY_MISSING:
        need(PROXY_MISSING)
    root = tmp_path_factory.mktemp("jobs-pause")
    hub = write_hub(root / "hub", CONFIG, {**PASSWORDS, "erin": "erin-password-1"})
    try:
        hub.start()
        hub.wait_for_service()
        tokens = api_tokens(hub, USERS, "pause test")
        (root / "cli-home").mkdir()
        yield Platform(hub, tokens, root / "cli-home")
    finally:
        hub.shutdown()


def runs_of(platform: Platform, job_id: int) -> list[dict[str, Any]]:
    answer = platform.api("bob", "GET", f"tenants/vision/jobs/{job_id}/runs")
    assert answer.status_code == 200, answer.text
    items: list[dict[str, Any]] = answer.json()["items"]
    return items


def job_of(platform: Platform, job_id: int, user: str = "bob") -> dict[str, Any]:
    answer = platform.api(user, "GET", f"tenants/vision/jobs/{job_id}")
    assert answer.status_code == 200, answer.text
    job: dict[str, Any] = answer.json()
    return job


def patch(platform: Platform, user: str, job_id: int, body: Any):  # type: ignore[no-untyped-def]
    return platform.api(user, "PATCH", f"tenants/vision/jobs/{job_id}", json=body)


def sleep_until(moment: datetime) -> None:
    time.sleep(max(0.0, (moment - datetime.now(UTC)).total_seconds()))


def next_minute(after: datetime) -> datetime:
    return after.replace(second=0, microsecond=0) + timedelta(minutes=1)


@pytest.fixture
def minutely(platform: Platform) -> Iterator[int]:
    """bob's every-minute schedule, paused at once (well before its first slot)."""
    write_notebook(platform.home("bob").home / "tick.ipynb", "n = 0", "print('tick', n)")
    while datetime.now(UTC).second >= 45:  # submit and pause within the same minute
        time.sleep(1)
    made = platform.submit(
        "bob", {"name": "minutely", "notebook": "tick.ipynb", "schedule": {"cron": "* * * * *"}}
    )
    assert made.status_code == 201, made.text
    job_id = int(made.json()["job"]["id"])
    paused = patch(platform, "bob", job_id, {"paused": True})
    assert paused.status_code == 200, paused.text
    yield job_id
    platform.api("bob", "DELETE", f"tenants/vision/jobs/{job_id}")


def test_a_paused_schedule_fires_nothing_and_resumed_is_due_at_the_next_slot_not_the_missed_one(
    platform: Platform, minutely: int
) -> None:
    """One minute boundary on the real clock: the slot passed while paused fires nothing,
    and the resume makes the following slot due, never the missed one. That the
    scheduler then starts that slot's run is
    ``test_jobs_pause.py::test_the_scheduler_starts_no_run_of_a_paused_schedule_and_the_next_slot_after_resume``
    (same store and scheduler, a settable clock): waiting for a second boundary here
    would cost another minute of the suite."""
    job = job_of(platform, minutely)
    assert (job["paused"], job["next_run_at"]) == (True, None)
    missed = next_minute(datetime.now(UTC))
    sleep_until(missed + timedelta(seconds=5))  # poll_every is 1 s: it would have fired
    assert runs_of(platform, minutely) == []

    resumed = patch(platform, "bob", minutely, {"paused": False})
    at = datetime.now(UTC)
    assert resumed.status_code == 200, resumed.text
    assert resumed.json()["paused"] is False
    following = datetime.fromisoformat(resumed.json()["next_run_at"])
    assert following == next_minute(at) and following > missed
    assert job_of(platform, minutely)["next_run_at"] == resumed.json()["next_run_at"]
    time.sleep(2)
    assert runs_of(platform, minutely) == []  # the missed slot is not caught up
    paused = patch(platform, "bob", minutely, {"paused": True})  # no more slots in this test
    assert paused.json()["paused"] is True


def test_another_member_cannot_pause_a_schedule_its_owner_and_the_tenant_admin_can(
    platform: Platform, minutely: int
) -> None:
    for body in ({"paused": False}, {"paused": True}):
        refused = patch(platform, "erin", minutely, body)
        assert refused.status_code == 404, refused.text
        assert refused.json()["message"] == f"No job {minutely} of yours in tenant 'vision'."
        assert job_of(platform, minutely)["paused"] is True
    resumed = patch(platform, "alice", minutely, {"paused": False})  # the tenant's admin
    assert resumed.status_code == 200, resumed.text
    assert job_of(platform, minutely)["paused"] is False
    again = patch(platform, "bob", minutely, {"paused": True})
    assert again.status_code == 200 and again.json()["paused"] is True
    audit = platform.api("alice", "GET", "tenants/vision/audit").json()["items"]
    actions = [(a["actor"], a["action"]) for a in audit if a["action"].startswith("job.")]
    assert ("alice", "job.resume") in actions and ("bob", "job.pause") in actions


@pytest.mark.parametrize(
    "body",
    [{}, {"paused": "yes"}, {"paused": 1}, {"paused": None}, {"paused": False, "cron": "* * * * *"},
     ["paused"]],
    ids=["empty", "a string", "a number", "null", "an extra field", "not an object"],
)  # fmt: skip
def test_a_bad_body_is_a_422_and_changes_nothing(
    platform: Platform, minutely: int, body: Any
) -> None:
    before = job_of(platform, minutely)
    refused = patch(platform, "bob", minutely, body)
    assert refused.status_code == 422, refused.text
    assert refused.json()["message"]
    assert job_of(platform, minutely) == before


def test_a_one_off_job_cannot_be_paused(platform: Platform) -> None:
    write_notebook(platform.home("bob").home / "once.ipynb", "n = 0", "print('once', n)")
    made = platform.submit("bob", {"name": "once", "notebook": "once.ipynb"})
    assert made.status_code == 201, made.text
    job_id = made.json()["job"]["id"]
    refused = patch(platform, "bob", job_id, {"paused": True})
    assert refused.status_code == 409, refused.text
    assert "no schedule to pause" in refused.json()["message"]
    assert job_of(platform, job_id)["paused"] is False


def test_the_cli_pauses_and_resumes_a_schedule(platform: Platform, minutely: int) -> None:
    resumed = platform.cli("bob", "job", "resume", "vision", str(minutely))
    assert resumed.returncode == 0, resumed.stderr
    assert f"job {minutely} resumed: next run" in resumed.stdout
    assert "missed while paused do not run" in resumed.stdout
    paused = platform.cli("bob", "job", "pause", "vision", str(minutely))
    assert paused.returncode == 0, paused.stderr
    assert f"job {minutely} paused" in paused.stdout
    table = platform.cli("bob", "job", "list", "vision", "--schedules")
    row = next(line for line in table.stdout.splitlines() if "minutely" in line)
    assert row.rstrip().endswith("paused")
    refused = platform.cli("erin", "job", "pause", "vision", str(minutely))
    assert refused.returncode != 0 and f"No job {minutely} of yours" in refused.stderr
