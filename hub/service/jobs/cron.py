"""Cron schedules in a time zone (pure; the clock is always an argument).

croniter reads the five fields; the slots are computed on aware datetimes in the
schedule's IANA zone, so a 06:00 job stays at 06:00 local time across daylight saving
changes. As in Vixie cron: a fixed-hour slot in the hour skipped in spring fires at the
jump (02:30 becomes 03:00), and one in the hour repeated in autumn fires once, at its
first occurrence; a schedule whose hour field is a wildcard (``*/30 * * * *``) keeps
firing at its real interval through both changes.
A slot is identified by its UTC instant: the store keeps (job, slot) unique, which is
what makes a slot fire once across restarts and across two scheduler instances.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadDateError, croniter

MAX_SLOTS = 10_000


class CronError(ValueError):
    """A schedule that cannot be used, with what is wrong."""


@lru_cache(maxsize=4096)  # the scheduler asks again for every due job; errors are not cached
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
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise CronError(
            f"timezone: {timezone!r} is not an IANA time zone (e.g. UTC, Europe/Berlin)"
        ) from None
    try:  # valid fields can still name no date at all (30 February)
        croniter(expression, datetime(2000, 1, 1, tzinfo=zone)).get_next(datetime)
    except CroniterBadDateError:
        raise CronError(f"cron: {expression!r} names no date that exists, so never fires") from None
    return zone


def _repeated(instant: datetime, zone: ZoneInfo, expression: str) -> bool:
    """The second occurrence of a wall time (autumn's repeated hour) of a fixed-hour
    schedule. The fold is recomputed from the instant: croniter's own is not reliable
    (its ``get_prev`` marks every result fold=1)."""
    if expression.split()[1].startswith("*"):
        return False
    local = instant.astimezone(zone)
    return local.fold == 1 and local.replace(fold=0).utcoffset() != local.utcoffset()


def _walk(expression: str, zone: ZoneInfo, start: datetime, forward: bool) -> Iterator[datetime]:
    """Slots after (or before) ``start`` as UTC instants, without autumn's repeats."""
    it = croniter(expression, start.astimezone(zone))
    step = it.get_next if forward else it.get_prev
    for _ in range(MAX_SLOTS):
        instant = step(datetime).astimezone(UTC)
        if not _repeated(instant, zone, expression):
            yield instant


def slots(expression: str, timezone: str, after: datetime, until: datetime) -> Iterator[datetime]:
    """Slots in ``(after, until]`` as UTC instants, oldest first (at most MAX_SLOTS)."""
    if after.tzinfo is None or until.tzinfo is None:
        raise ValueError("slots need aware datetimes")
    zone = parse_schedule(expression, timezone)
    for slot in _walk(expression, zone, after, forward=True):
        if slot > until:
            return
        yield slot


def next_slot(expression: str, timezone: str, now: datetime) -> datetime:
    """The first slot after ``now`` (UTC)."""
    zone = parse_schedule(expression, timezone)
    return next(_walk(expression, zone, now, forward=True))


def previous_slot(expression: str, timezone: str, before: datetime) -> datetime | None:
    """The newest slot strictly before ``before`` (UTC), None if there is none."""
    zone = parse_schedule(expression, timezone)
    return next(_walk(expression, zone, before, forward=False), None)


def slots_to_fire(
    expression: str,
    timezone: str,
    after: datetime,
    now: datetime,
    grace_seconds: float,
    missed: str,
) -> list[datetime]:
    """The slots to fire at ``now`` for a schedule last looked at ``after``.

    The same decision as :func:`to_fire` over ``slots(after, now)``, without walking
    every slot of a long outage: slots older than ``grace_seconds`` were missed (no
    scheduler ran); ``skip`` fires none of them, ``run_once`` only the newest. Slots
    within the grace always fire.
    """
    if after.tzinfo is None or now.tzinfo is None:
        raise ValueError("slots need aware datetimes")
    cutoff = now - timedelta(seconds=grace_seconds)
    newest_missed = previous_slot(expression, timezone, cutoff) if after < cutoff else None
    if newest_missed is None or newest_missed <= after:
        return list(slots(expression, timezone, after, now))
    on_time = list(slots(expression, timezone, newest_missed, now))
    return [newest_missed, *on_time] if missed == "run_once" else on_time


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
