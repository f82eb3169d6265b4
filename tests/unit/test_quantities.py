"""Kubernetes quantities and durations parse into exact integers, and print back for people."""

from __future__ import annotations

from decimal import Decimal

import pytest

from hub.config.durations import parse_duration
from hub.config.quantities import (
    QuantityError,
    format_bytes,
    format_cpu,
    human_bytes,
    human_cpu,
    parse_bytes,
    parse_cpu_millis,
    parse_quantity,
)


@pytest.mark.parametrize(
    ("text", "millis"),
    [
        ("500m", 500),
        ("2", 2000),
        ("1.5", 1500),
        ("0.5", 500),
        (".25", 250),
        ("1m", 1),
        ("100m", 100),
        (2, 2000),
        (0.5, 500),
        (1.5, 1500),
        ("0", 0),
    ],
)
def test_cpu_quantities_parse_to_exact_millicores(text: str | int | float, millis: int) -> None:
    assert parse_cpu_millis(text) == millis


@pytest.mark.parametrize(
    ("text", "count"),
    [
        ("4Gi", 4 * 2**30),
        ("512Mi", 512 * 2**20),
        ("512M", 512_000_000),
        ("1Ki", 1024),
        ("1k", 1000),
        ("1.5Gi", 3 * 2**29),
        ("10Gi", 10 * 2**30),
        ("1Ti", 2**40),
        ("1G", 10**9),
        ("1024", 1024),
        (1024, 1024),
    ],
)
def test_byte_quantities_parse_to_exact_bytes(text: str | int, count: int) -> None:
    assert parse_bytes(text) == count


def test_quantity_arithmetic_is_exact_not_float() -> None:
    # 0.1 + 0.2 style float error would make "0.3" != 300m
    assert parse_quantity("0.3") == Decimal("0.3")
    assert parse_cpu_millis("0.3") == 300
    assert parse_cpu_millis("0.1") + parse_cpu_millis("0.2") == parse_cpu_millis("300m")


@pytest.mark.parametrize("bad", ["abc", "4Gb", "1.2.3", "", "-1", "-500m", "1 Gi", "Gi", "1e3x"])
def test_malformed_quantities_are_refused_with_examples(bad: str) -> None:
    with pytest.raises(QuantityError, match="Kubernetes quantity"):
        parse_quantity(bad)


@pytest.mark.parametrize("bad", [-1, -0.5])
def test_negative_numbers_are_refused(bad: float) -> None:
    with pytest.raises(QuantityError, match="negative"):
        parse_quantity(bad)


def test_booleans_are_not_quantities() -> None:
    with pytest.raises(QuantityError):
        parse_quantity(True)


def test_remembered_results_keep_booleans_and_errors_apart() -> None:
    # parse_cpu_millis and parse_bytes remember their results: True == 1 must not
    # share 1's entry, and a refused value is refused again, not remembered
    assert parse_bytes(1) == 1 and parse_cpu_millis(1) == 1000
    for parse in (parse_bytes, parse_cpu_millis):
        for _ in range(2):
            with pytest.raises(QuantityError):
                parse(True)
            with pytest.raises(QuantityError):
                parse("12x")
    assert parse_bytes("4Gi") == parse_bytes("4Gi") == 4 * 2**30


def test_memory_with_milli_suffix_is_refused() -> None:
    # "500m" of memory is half a byte: almost always a typo for 500M or 500Mi
    with pytest.raises(QuantityError, match="milli suffix"):
        parse_bytes("500m")


def test_fractional_bytes_are_refused() -> None:
    with pytest.raises(QuantityError, match="whole number of bytes"):
        parse_bytes("0.5")


def test_cpu_finer_than_a_millicore_is_refused() -> None:
    with pytest.raises(QuantityError, match="1m"):
        parse_cpu_millis("0.0005")


@pytest.mark.parametrize(
    ("millis", "text"), [(2000, "2"), (500, "500m"), (1500, "1500m"), (0, "0")]
)
def test_format_cpu_gives_the_shortest_kubernetes_form(millis: int, text: str) -> None:
    assert format_cpu(millis) == text
    assert parse_cpu_millis(text) == millis


@pytest.mark.parametrize(
    ("count", "text"), [(4 * 2**30, "4Gi"), (512 * 2**20, "512Mi"), (1000, "1000"), (0, "0")]
)
def test_format_bytes_round_trips(count: int, text: str) -> None:
    assert format_bytes(count) == text
    assert parse_bytes(text) == count


@pytest.mark.parametrize(
    ("count", "text"),
    [
        (512, "512 B"),
        (2**10, "1 KiB"),
        (3 * 2**29, "1.5 GiB"),
        (16 * 2**30, "16 GiB"),
        (1000 * 2**30, "1000 GiB"),  # not "1e+03 GiB"
        (1000 * 2**20, "1000 MiB"),
        (2**40, "1 TiB"),
        (4096 * 2**40, "4096 TiB"),
    ],
)
def test_human_bytes_reads_naturally_without_scientific_notation(count: int, text: str) -> None:
    assert human_bytes(count) == text


@pytest.mark.parametrize(("millis", "text"), [(500, "0.5 CPU"), (2000, "2 CPU"), (250, "0.25 CPU")])
def test_human_cpu_speaks_in_cores(millis: int, text: str) -> None:
    assert human_cpu(millis) == text


@pytest.mark.parametrize(
    ("value", "seconds"),
    [(90, 90), ("90", 90), ("90s", 90), ("30m", 1800), ("1h", 3600), ("7d", 604800), (0, 0)],
)
def test_durations_parse_to_seconds(value: str | int, seconds: int) -> None:
    assert parse_duration(value) == seconds


@pytest.mark.parametrize("bad", ["1w", "1.5h", "h", "-5", "", "1 h h", True, -1])
def test_bad_durations_are_refused(bad: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(bad)  # type: ignore[arg-type]
