"""Keep user-supplied text from forging or flooding the hub's log.

JupyterHub logs values people send it: usernames, request URIs (with their
query strings), ``next`` URLs, server display names. Most of its own calls
quote them with ``%r`` and some are truncated, but not all: JupyterHub 6.1.1
logs a new server display name with an f-string (carriage returns, ANSI
escapes and 5 kB of text reach the log raw) and every request URI in full
(a 10 kB ``?next=`` makes a 10 kB line). So the hub process sanitizes every
log record when it is created:

- each argument of a ``%``-style record (where user values normally go) has
  its control, format and line-separator characters escaped (``\\n``,
  ``\\x1b``, ``\\u202e``) and is cut to ``MAX_VALUE_CHARS``; numbers stay
  numbers, so ``%d`` keeps working, and ``%r`` still shows a ``repr``;
- the message itself (which holds the values when the caller used an
  f-string) has the same characters escaped except newlines, whose
  continuation lines are indented, so no line can pass for a record of its
  own; a message without arguments is cut to ``MAX_MESSAGE_CHARS``.

Why a record factory rather than a handler filter: traitlets may replace the
hub's handlers when it reconfigures logging, and a filter on a logger does not
see records of its child loggers; the factory sees every record in the process.
"""

from __future__ import annotations

import logging
import numbers
import re
from collections.abc import Callable, Mapping
from typing import Any

MAX_VALUE_CHARS = 512
MAX_MESSAGE_CHARS = 2048

_INDENT = "    "
_UNINDENTED_LINE = re.compile(r"\n(?=\S)")


def _escape(ch: str) -> str:
    code = ord(ch)
    if ch in "\n\r\t":
        return {"\n": "\\n", "\r": "\\r", "\t": "\\t"}[ch]
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def is_unsafe_char(ch: str) -> bool:
    """Not printable: control (C0, DEL, C1), format (bidi overrides, zero-width),
    surrogate, private-use, unassigned, or a separator other than the ASCII space
    (line and paragraph separators, no-break and other spaces)."""
    return not ch.isprintable() and ch != " "


def escape_unsafe(text: str, keep_newlines: bool = False) -> str:
    """``text`` with every unsafe character written as a backslash escape."""
    if text.isprintable():
        return text
    return "".join(
        _escape(ch) if is_unsafe_char(ch) and not (keep_newlines and ch == "\n") else ch
        for ch in text
    )


def clean(text: str, limit: int | None, keep_newlines: bool = False) -> str:
    """``text`` escaped and cut to ``limit`` characters (saying how long it was)."""
    if limit is None:
        return escape_unsafe(text, keep_newlines)
    out = escape_unsafe(text[:limit], keep_newlines)
    if len(text) > limit or len(out) > limit:
        return f"{out[:limit]}...[{len(text)} chars]"
    return out


def safe_value(text: str) -> str:
    return clean(text, MAX_VALUE_CHARS)


def safe_message(text: str, has_args: bool) -> str:
    """Escape a message but keep its newlines, indenting the lines after the first.

    A message with arguments is a format string written in code, so only one
    without (an f-string, or a pre-formatted access log line) is cut.
    """
    out = clean(text, None if has_args else MAX_MESSAGE_CHARS, keep_newlines=True)
    return _UNINDENTED_LINE.sub("\n" + _INDENT, out)


class SafeArg:
    """A log argument that formats as a sanitized ``str``/``repr`` of the value."""

    __slots__ = ("value",)

    def __init__(self, value: object) -> None:
        self.value = value

    def __str__(self) -> str:
        return safe_value(str(self.value))

    def __repr__(self) -> str:
        return safe_value(repr(self.value))


def _safe_arg(value: object) -> object:
    if value is None or isinstance(value, numbers.Number | SafeArg):
        return value
    return SafeArg(value)


def sanitize_record(record: logging.LogRecord) -> logging.LogRecord:
    """Make ``record`` safe to write (in place; also returned)."""
    args = record.args
    if isinstance(args, Mapping):
        record.args = {key: _safe_arg(value) for key, value in args.items()}
    elif args:
        record.args = tuple(_safe_arg(value) for value in args)
    if not isinstance(record.msg, str):
        record.msg = str(record.msg)
    record.msg = safe_message(record.msg, has_args=bool(args))
    return record


RecordFactory = Callable[..., logging.LogRecord]


def install() -> None:
    """Sanitize every log record of this process from now on (idempotent)."""
    previous: RecordFactory = logging.getLogRecordFactory()
    if getattr(previous, "tenanthub_safe", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        return sanitize_record(previous(*args, **kwargs))

    factory.tenanthub_safe = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)
