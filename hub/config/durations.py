"""Durations written as ``90``, ``"90s"``, ``"30m"``, ``"1h"``, ``"7d"``, parsed into seconds."""

from __future__ import annotations

import re

_DURATION = re.compile(r"^(?P<n>[0-9]+)(?P<unit>[smhd]?)$")
_FACTOR = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(value: str | int) -> int:
    """Return whole seconds; raises ValueError with an example on bad input."""
    if isinstance(value, bool):
        raise ValueError(f"expected a duration, got {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"duration must not be negative: {value}")
        return value
    match = _DURATION.match(str(value).strip())
    if not match:
        raise ValueError(f"{value!r} is not a duration (examples: 3600, 90s, 30m, 1h, 7d)")
    return int(match.group("n")) * _FACTOR[match.group("unit")]
