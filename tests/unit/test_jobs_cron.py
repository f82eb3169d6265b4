"""Cron slots in a time zone with an injected clock: exactly the slots between two
instants, daylight saving handled, and the missed-slot policy after downtime."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from hub.service.jobs.cron import (
    CronError,
    next_slot,
    parse_schedule,
    previous_slot,
    slots,
    slots_to_fire,
    to_fire,
)


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


def test_autumns_repeated_hour_fires_fixed_hour_slots_once_and_wildcard_hours_on_time() -> None:
    # Berlin falls back on 25 October 2026: 02:00-03:00 local happens twice
    day = list(slots("30 2 * * *", "Europe/Berlin", utc(2026, 10, 24, 12), utc(2026, 10, 26, 12)))
    assert day == [utc(2026, 10, 25, 0, 30), utc(2026, 10, 26, 1, 30)]
    half_hours = list(
        slots("*/30 * * * *", "Europe/Berlin", utc(2026, 10, 24, 23, 45), utc(2026, 10, 25, 2, 0))
    )
    assert half_hours == [utc(2026, 10, 25, h, m) for h in (0, 1) for m in (0, 30)] + [
        utc(2026, 10, 25, 2, 0)
    ]
    assert next_slot("30 2 * * *", "Europe/Berlin", utc(2026, 10, 25, 0, 30)) == utc(
        2026, 10, 26, 1, 30
    )


def test_a_slot_in_springs_skipped_hour_fires_once_at_the_jump() -> None:
    # 29 March 2026: 02:00 local jumps to 03:00; the 02:30 job runs at 03:00 local
    got = list(slots("30 2 * * *", "Europe/Berlin", utc(2026, 3, 28, 12), utc(2026, 3, 30, 12)))
    assert got == [utc(2026, 3, 29, 1, 0), utc(2026, 3, 30, 0, 30)]


def test_a_schedule_naming_no_real_date_is_refused() -> None:
    with pytest.raises(CronError, match="never fires"):
        parse_schedule("0 0 30 2 *", "UTC")


@pytest.mark.parametrize("missed", ["skip", "run_once"])
@pytest.mark.parametrize(
    ("expression", "zone", "after", "now"),
    [
        ("*/5 * * * *", "UTC", utc(2026, 11, 23, 10, 0), utc(2026, 11, 23, 10, 1)),  # nothing
        ("*/5 * * * *", "UTC", utc(2026, 11, 23, 10, 0), utc(2026, 11, 23, 10, 5, 30)),  # on time
        ("*/5 * * * *", "UTC", utc(2026, 11, 23, 8, 3), utc(2026, 11, 23, 10, 5, 30)),  # outage
        ("0 * * * *", "UTC", utc(2026, 11, 23, 10, 0), utc(2026, 11, 23, 10, 59)),  # late, no slot
        ("30 2 * * *", "Europe/Berlin", utc(2026, 10, 20), utc(2026, 10, 27)),  # across DST
        ("*/1 * * * *", "UTC", utc(2026, 11, 23, 10, 0), utc(2026, 11, 23, 10, 1, 59)),  # edge
    ],
)
def test_slots_to_fire_decides_like_to_fire_over_every_due_slot(
    expression: str, zone: str, after: datetime, now: datetime, missed: str
) -> None:
    every = to_fire(list(slots(expression, zone, after, now)), now, 120, missed)
    assert slots_to_fire(expression, zone, after, now, 120, missed) == every


def test_a_long_outage_fires_one_catch_up_run_or_none_and_then_the_on_time_slots() -> None:
    after, now = utc(2025, 1, 1), utc(2026, 11, 23, 10, 0, 30)  # every minute, ~1M slots missed
    assert slots_to_fire("* * * * *", "UTC", after, now, 60, "skip") == [utc(2026, 11, 23, 10)]
    assert slots_to_fire("* * * * *", "UTC", after, now, 60, "run_once") == [
        utc(2026, 11, 23, 9, 59, 30).replace(second=0),  # the newest one older than the grace
        utc(2026, 11, 23, 10),
    ]
    assert previous_slot("0 6 * * *", "UTC", utc(2026, 11, 23, 6)) == utc(2026, 11, 22, 6)
