"""Kubernetes resource quantities, parsed into plain numbers.

Profiles and quotas are written the way Kubernetes users write them (``500m``,
``2``, ``4Gi``, ``512M``) so the same values can go into ResourceQuota objects
unchanged, while the quota arithmetic works on exact integers (millicores and
bytes) to avoid float rounding surprises at the limit.
"""

from __future__ import annotations

import math
import re
from decimal import Context, Decimal, InvalidOperation
from functools import lru_cache

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {
    "m": Decimal("0.001"),
    "": Decimal(1),
    "k": Decimal(10) ** 3,
    "M": Decimal(10) ** 6,
    "G": Decimal(10) ** 9,
    "T": Decimal(10) ** 12,
    "P": Decimal(10) ** 15,
    "E": Decimal(10) ** 18,
}
_QUANTITY = re.compile(
    r"^(?P<number>[0-9]+(\.[0-9]*)?|\.[0-9]+)(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|[mkMGTPE])?$"
)


#: Kubernetes keeps a quantity in 63 bits; a larger one is no limit anyone can set
MAX_QUANTITY = Decimal(2**63 - 1)


class QuantityError(ValueError):
    """A value is not a valid Kubernetes quantity for the resource it is used for."""


def _times(number: Decimal, factor: Decimal) -> Decimal:
    """``number * factor`` exactly: the default context keeps 28 digits and would round
    ``1.0000000000000000000000000001Ki`` to a whole number of bytes."""
    digits = len(number.as_tuple().digits) + len(factor.as_tuple().digits) + 2
    return Context(prec=max(28, digits)).multiply(number, factor)


def _bounded(amount: Decimal, value: object) -> Decimal:
    if amount > MAX_QUANTITY:
        raise QuantityError(f"{value!r} is too large (at most {MAX_QUANTITY} base units)")
    return amount


def parse_quantity(value: str | int | float) -> Decimal:
    """Parse a Kubernetes quantity into an exact Decimal of base units."""
    if isinstance(value, bool):
        raise QuantityError(f"expected a quantity, got {value!r}")
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            raise QuantityError(f"quantity must be a finite number, got {value!r}")
        if value < 0:
            raise QuantityError(f"quantity must not be negative: {value!r}")
        return _bounded(Decimal(str(value)), value)
    text = str(value).strip()
    match = _QUANTITY.match(text)
    if not match:
        raise QuantityError(
            f"{value!r} is not a Kubernetes quantity (examples: 500m, 2, 1.5, 512M, 4Gi)"
        )
    try:
        number = Decimal(match.group("number"))
    except InvalidOperation as exc:  # pragma: no cover - the regex already restricts this
        raise QuantityError(f"{value!r} is not a number") from exc
    suffix = match.group("suffix") or ""
    factor = Decimal(_BINARY[suffix]) if suffix in _BINARY else _DECIMAL[suffix]
    return _bounded(_times(number, factor), value)


# the same few profile and quota strings are parsed on every spawn: remember them
# (typed: True and 1 are different inputs; errors are not cached and raise again)
@lru_cache(maxsize=512, typed=True)
def parse_cpu_millis(value: str | int | float) -> int:
    """CPU quantity -> integer millicores (``500m`` -> 500, ``2`` -> 2000)."""
    cores = parse_quantity(value)
    millis = _times(cores, Decimal(1000))
    if millis != millis.to_integral_value():
        raise QuantityError(f"{value!r}: CPU cannot be finer than 1m (one millicore)")
    return int(millis)


@lru_cache(maxsize=512, typed=True)
def parse_bytes(value: str | int | float) -> int:
    """Memory/storage quantity -> integer bytes (``4Gi`` -> 4294967296)."""
    text = str(value).strip()
    if text.endswith("m") and not isinstance(value, int | float):
        raise QuantityError(f"{value!r}: a byte quantity cannot use the milli suffix 'm'")
    amount = parse_quantity(value)
    if amount != amount.to_integral_value():
        raise QuantityError(f"{value!r} is not a whole number of bytes")
    return int(amount)


def format_cpu(millis: int) -> str:
    """Millicores back to the shortest Kubernetes form (2000 -> '2', 500 -> '500m')."""
    return str(millis // 1000) if millis % 1000 == 0 else f"{millis}m"


def format_bytes(count: int) -> str:
    """Bytes back to a Kubernetes quantity, binary suffix when it divides evenly."""
    for suffix in ("Ei", "Pi", "Ti", "Gi", "Mi", "Ki"):
        unit = _BINARY[suffix]
        if count and count % unit == 0:
            return f"{count // unit}{suffix}"
    return str(count)


def human_bytes(count: int) -> str:
    """Bytes for people (messages and the console): '1.5 GiB'."""
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            if unit == "B":
                return f"{value:.0f} {unit}"
            # at most two decimals, never scientific notation ('1000 GiB', not '1e+03 GiB')
            return f"{value:.2f}".rstrip("0").rstrip(".") + f" {unit}"
        value /= 1024
    return f"{count} B"  # pragma: no cover


def human_cpu(millis: int) -> str:
    """Millicores for people: '0.5 CPU', '2 CPU'."""
    return f"{millis / 1000:g} CPU"


def cpu_quantity(millis: int) -> str:
    """Millicores back to a Kubernetes quantity: 4000 -> '4', 500 -> '500m'."""
    return str(millis // 1000) if millis % 1000 == 0 else f"{millis}m"


def byte_quantity(count: int) -> str:
    """Bytes back to the largest exact binary Kubernetes quantity: 2**33 -> '8Gi'."""
    for suffix, size in reversed(list(_BINARY.items())):
        if count and count % size == 0:
            return f"{count // size}{suffix}"
    return str(count)
