"""User-supplied text cannot forge or flood log lines (hub/app/log_safety.py), and
native usernames that would do it are refused (hub/auth/native.py)."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest
from tornado.log import LogFormatter

from hub.app import log_safety
from hub.app.log_safety import MAX_MESSAGE_CHARS, MAX_VALUE_CHARS, sanitize_record
from hub.auth.native import MAX_USERNAME_LENGTH, acceptable_username

FORGED = "[W 2026-01-01 00:00:00.000 JupyterHub base:1] admin granted"
ODD = [
    "\n",
    "\r",
    "\x00",
    "\x1b[31m",
    "\x7f",
    "\x9b",  # C1 CSI: an escape sequence on some terminals
    "\u2028",  # line separator: a line break for many viewers
    "\u202e",  # right-to-left override
    "\u200b",  # zero-width space
    "\ud800",  # a lone surrogate (JSON can carry one)
]


def record(msg: object, *args: object) -> logging.LogRecord:
    return logging.LogRecord("JupyterHub", logging.INFO, __file__, 1, msg, args or None, None)


def formatted(rec: logging.LogRecord) -> str:
    return logging.Formatter("%(message)s").format(sanitize_record(rec))


@pytest.mark.parametrize("odd", ODD)
def test_unsafe_characters_in_arguments_are_escaped(odd: str) -> None:
    line = formatted(record("User logged in: %s", f"eve{odd}{FORGED}"))
    assert odd not in line
    assert line.startswith("User logged in: eve\\")
    assert line.endswith(FORGED)
    assert "\n" not in line


def test_repr_arguments_keep_their_quotes() -> None:
    assert formatted(record("Failed login for %r", "eve\nx")) == "Failed login for 'eve\\nx'"


def test_numbers_keep_their_format() -> None:
    assert formatted(record("%d servers, %.1f ms, %s", 3, 2.25, None)) == "3 servers, 2.2 ms, None"


def test_mapping_arguments() -> None:
    assert formatted(record("%(user)s left", {"user": "a\x1bb"})) == "a\\x1bb left"


def test_long_arguments_are_cut_and_say_how_long_they_were() -> None:
    line = formatted(record("User logged in: %s", "m" * 10_000))
    assert len(line) < MAX_VALUE_CHARS + 60
    assert line.endswith("...[10000 chars]")


def test_escaping_cannot_grow_a_value_past_the_bound() -> None:
    line = formatted(record("%s", "\x1b" * 5_000))
    assert len(line) <= MAX_VALUE_CHARS + 20


def test_fstring_messages_keep_newlines_but_cannot_start_a_line() -> None:
    # JupyterHub 6.1.1 logs a server's new display name with an f-string
    display_name = f"b\n{FORGED}\x1b[31m\r"
    line = formatted(record(f"Updating display_name for bob/x ok -> {display_name}"))
    assert [not part.startswith("[") for part in line.splitlines()[1:]] == [True]
    assert line.splitlines()[1] == f"    {FORGED}\\x1b[31m\\r"


def test_long_preformatted_messages_are_cut() -> None:
    # the access log line is formatted before logging: a 10 kB URI is one argument-less message
    line = formatted(record("302 GET /hub/login?next=" + "q" * 10_000 + " (@127.0.0.1) 1.00ms"))
    assert len(line) < MAX_MESSAGE_CHARS + 30


def test_format_strings_with_arguments_are_not_cut() -> None:
    # a format string is code: cutting it could break its %-placeholders
    fmt = "x" * (MAX_MESSAGE_CHARS + 10) + " %s"
    assert formatted(record(fmt, "end")).endswith(" end")


def test_multiline_code_messages_stay_readable() -> None:
    assert formatted(record("first\n  indented\nplain")) == "first\n  indented\n    plain"


def test_non_string_messages() -> None:
    assert formatted(record(ValueError("bad\rname"))) == "bad\\rname"


@pytest.fixture
def installed() -> Iterator[None]:
    before = logging.getLogRecordFactory()
    log_safety.install()
    log_safety.install()  # idempotent: one wrapper
    yield
    logging.setLogRecordFactory(before)


def test_installed_factory_sanitizes_every_logger_and_handler(installed: None) -> None:
    """Records of any logger, through JupyterHub's (tornado's) formatter."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(LogFormatter(color=False))
    logger = logging.getLogger("tenanthub.test.log_safety.child")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("Failed login for %s", f"x\r{FORGED}")
        logger.warning(f"display name -> y\n{FORGED}")
    finally:
        logger.removeHandler(handler)
    lines = stream.getvalue().splitlines()
    assert not any(line.startswith("[W 2026") for line in lines)
    assert "\r" not in stream.getvalue()
    factory = logging.getLogRecordFactory()
    assert getattr(factory, "tenanthub_safe", False)


@pytest.mark.parametrize("odd", [*ODD, "\t", "\xa0"])
def test_native_usernames_with_unprintable_characters_are_refused(odd: str) -> None:
    assert not acceptable_username(f"eve{odd}x")


def test_native_username_length_is_bounded() -> None:
    assert acceptable_username("a" * MAX_USERNAME_LENGTH)
    assert not acceptable_username("a" * (MAX_USERNAME_LENGTH + 1))
    assert not acceptable_username("")
    assert acceptable_username("zoë.o'brien-2")
