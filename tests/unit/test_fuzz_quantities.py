"""Fuzz: Kubernetes quantities parse to exact integers and print back, and anything else
is a QuantityError (a ValueError) that says what is wrong, never another exception."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import example, given
from hypothesis import strategies as st

from hub.config.quantities import (
    QuantityError,
    byte_quantity,
    cpu_quantity,
    format_bytes,
    format_cpu,
    parse_bytes,
    parse_cpu_millis,
    parse_quantity,
)
from tests.unit.fuzzing import fuzz

#: Kubernetes keeps quantities in 63 bits
INT64 = 2**63 - 1

suffixes = st.sampled_from(
    ["", "m", "k", "M", "G", "T", "P", "E", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"]
)
numbers = st.from_regex(r"\A[0-9]{1,25}(\.[0-9]{0,6})?\Z") | st.from_regex(r"\A\.[0-9]{1,6}\Z")
quantity_like = st.builds(lambda n, s: n + s, numbers, suffixes)
anything = (
    quantity_like
    | st.text(max_size=20)
    | st.text(alphabet="0123456789.-+eEmkKMGTPi ", max_size=12)
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats()
    | st.booleans()
)


@fuzz(300)
@given(st.integers(min_value=0, max_value=INT64))
def test_cpu_millicores_print_and_parse_back(millis: int) -> None:
    assert parse_cpu_millis(format_cpu(millis)) == millis
    assert parse_cpu_millis(cpu_quantity(millis)) == millis


@fuzz(300)
@given(st.integers(min_value=0, max_value=INT64))
def test_byte_counts_print_and_parse_back(count: int) -> None:
    assert parse_bytes(format_bytes(count)) == count
    assert parse_bytes(byte_quantity(count)) == count


@fuzz(600)
@given(anything)
@example(float("inf"))  # was an OverflowError out of the config loader
@example(float("nan"))
@example("1" * 40 + "Ei")
@example("1.0000000000000000000000000001Ki")  # was 1024 bytes: rounded to 28 digits
@example("1.0000000000000000000000000001")  # was 1000 millicores
def test_any_value_is_a_quantity_or_a_quantity_error_with_a_message(value: object) -> None:
    for parse in (parse_cpu_millis, parse_bytes):
        try:
            parsed = parse(value)  # type: ignore[arg-type]
        except QuantityError as exc:
            assert isinstance(exc, ValueError)
            assert str(exc)
        else:
            assert isinstance(parsed, int) and parsed >= 0
            # what parsed is exact: it is the quantity's own value, not a rounded one
            exact = parse_quantity(value)  # type: ignore[arg-type]
            unit = Decimal(1000) if parse is parse_cpu_millis else Decimal(1)
            assert Decimal(parsed) == exact * unit


@fuzz(300)
@given(quantity_like)
def test_a_valid_quantity_never_parses_to_more_than_kubernetes_can_hold(text: str) -> None:
    try:
        assert parse_bytes(text) <= INT64
    except QuantityError as exc:
        assert str(exc)
