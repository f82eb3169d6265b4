"""Cron schedules in a time zone (pure; the clock is always an argument).

croniter reads the five fields; the slots are computed on aware datetimes in the
schedule's IANA zone, so a 06:00 job stays at 06:00 local time across daylight saving
changes (a slot in a skipped hour does not exist; one in a repeated hour fires once).
A slot is identified by its UTC instant: the store keeps (job, slot) unique, which is
what makes a slot fire once across restarts and across two scheduler instances.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

MAX_SLOTS = 10_000


class CronError(ValueError):
    """A schedule that cannot be used, with what is wrong."""


def parse_schedule(expression: str, timezone: str) -> ZoneInfo:
    """Validate five cron fields and an IANA zone; the zone to read them in."""
    if not isinstance(expression, str) or len(expression.split()) != 5:
        raise CronError(
            f"cron: {expression!r} is not five fields (minute hour day month weekday), "
            "e.g. '0 6 * * 1-5'"
        )
    if not croniter.is_valid(expression):
        raise CronError(f"cron: {expression!r} is not a valid cron expression")
    try:
        return ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise CronError(
            f"timezone: {timezone!r} is not an IANA time zone (e.g. UTC, Europe/Berlin)"
        ) from None


def slots(expression: str, timezone: str, after: datetime, until: datetime) -> Iterator[datetime]:
    """Slots in ``(after, until]`` as UTC instants, oldest first (at most MAX_SLOTS)."""
    if after.tzinfo is None or until.tzinfo is None:
        raise ValueError("slots need aware datetimes")
    zone = parse_schedule(expression, timezone)
    it = croniter(expression, after.astimezone(zone))
    seen: set[datetime] = set()
    for _ in range(MAX_SLOTS):
        slot = it.get_next(datetime).astimezone(UTC)
        if slot > until:
            return
        if slot in seen:
            continue
        seen.add(slot)
        yield slot


def next_slot(expression: str, timezone: str, now: datetime) -> datetime:
    """The first slot after ``now`` (UTC)."""
    zone = parse_schedule(expression, timezone)
    return croniter(expression, now.astimezone(zone)).get_next(datetime).astimezone(UTC)


def to_fire(
    due: list[datetime], now: datetime, grace_seconds: float, missed: str
) -> list[datetime]:
    """Which due slots to fire now.

    Slots within ``grace_seconds`` of ``now`` are on time and always fire. Older ones
    were missed (the scheduler was down): ``skip`` fires none of them, ``run_once``
    fires only the newest missed one (one catch-up run for the whole outage).
    """
    on_time = [s for s in due if (now - s).total_seconds() <= grace_seconds]
    missed_slots = [s for s in due if (now - s).total_seconds() > grace_seconds]
    if missed == "run_once" and missed_slots:
        return [missed_slots[-1], *on_time]
    return on_time
