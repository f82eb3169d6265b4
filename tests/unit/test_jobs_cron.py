"""Cron slots in a time zone with an injected clock: exactly the slots between two
instants, daylight saving handled, and the missed-slot policy after downtime."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from hub.service.jobs.cron import CronError, next_slot, parse_schedule, slots, to_fire


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_slots_between_two_instants_are_each_slot_once_oldest_first() -> None:
    got = list(slots("*/15 * * * *", "UTC", utc(2026, 11, 23, 10, 0), utc(2026, 11, 23, 11, 0)))
    assert got == [utc(2026, 11, 23, 10, m) for m in (15, 30, 45)] + [utc(2026, 11, 23, 11, 0)]
    # the window is (after, until]: asking again from the last slot gives nothing twice
    assert list(slots("*/15 * * * *", "UTC", got[-1], got[-1])) == []


def test_local_time_schedules_follow_daylight_saving() -> None:
    # 06:00 in Berlin is 05:00 UTC in winter and 04:00 UTC in summer
    winter = next_slot("0 6 * * *", "Europe/Berlin", utc(2026, 1, 10, 12, 0))
    summer = next_slot("0 6 * * *", "Europe/Berlin", utc(2026, 7, 10, 12, 0))
    assert winter == utc(2026, 1, 11, 5, 0) and summer == utc(2026, 7, 11, 4, 0)
    # across the spring change (29 March 2026) every day still has exactly one slot
    days = list(slots("30 6 * * *", "Europe/Berlin", utc(2026, 3, 27), utc(2026, 3, 31)))
    assert [d.day for d in days] == [27, 28, 29, 30]
    assert days[1] - days[0] == timedelta(days=1) and days[2] - days[1] == timedelta(hours=23)


def test_bad_schedules_say_what_is_wrong() -> None:
    with pytest.raises(CronError, match="not five fields"):
        parse_schedule("0 6 * *", "UTC")
    with pytest.raises(CronError, match="not a valid cron"):
        parse_schedule("0 25 * * *", "UTC")
    with pytest.raises(CronError, match="IANA"):
        parse_schedule("0 6 * * *", "Europe/Nowhere")
    with pytest.raises(ValueError, match="aware"):
        list(slots("* * * * *", "UTC", datetime(2026, 1, 1), datetime(2026, 1, 2)))


def test_missed_slots_skip_or_run_once_and_on_time_slots_always_fire() -> None:
    now = utc(2026, 11, 23, 12, 0, 20)
    due = list(slots("0 * * * *", "UTC", utc(2026, 11, 23, 8, 30), now))  # 9, 10, 11, 12
    assert len(due) == 4
    assert to_fire(due, now, grace_seconds=60, missed="skip") == [utc(2026, 11, 23, 12)]
    assert to_fire(due, now, grace_seconds=60, missed="run_once") == [
        utc(2026, 11, 23, 11), utc(2026, 11, 23, 12),
    ]  # fmt: skip
    assert to_fire([], now, 60, "run_once") == []
