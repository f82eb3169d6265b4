"""The one interface every data source kind implements, and the plain data it returns.

A connector answers four questions about one data source: can I reach it
(``test``), what is in this folder/schema (``list``, one page at a time), what do
the first rows look like (``sample``, capped in rows *and* bytes) and what are
its columns (``schema``). Everything returned is plain, JSON-ready data, so the
API can hand it out as is; connectors are synchronous (they wrap blocking
clients) and the service calls them in a worker thread.

Failures are told to a person: ``test()`` never raises, it returns a ``Health``
whose ``problem`` says which kind of failure it is (the console words it) and
whose ``message`` is the underlying error trimmed and with every secret of the
source taken out. The other calls raise ``SourceError`` carrying the same.
"""

from __future__ import annotations

import enum
import json
import re
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol, runtime_checkable
from urllib.parse import quote

EntryKind = Literal["file", "folder", "table", "database"]

#: longest message handed to a person; the rest of a driver's error is noise
MAX_MESSAGE = 300


class Problem(enum.StrEnum):
    """Why a source cannot be used, in the words a person acts on."""

    HOST_NOT_FOUND = "host_not_found"
    REFUSED = "refused"
    BAD_CREDENTIALS = "bad_credentials"
    NO_PERMISSION = "no_permission"
    NOT_FOUND = "not_found"
    TIMEOUT = "timeout"
    BAD_PATH = "bad_path"
    UNSUPPORTED = "unsupported"
    OTHER = "other"


#: what to do about each problem (the console shows it under the message)
ADVICE = {
    Problem.HOST_NOT_FOUND: "check the host name in the source's settings",
    Problem.REFUSED: "nothing listens at that address and port: check them, or start the service",
    Problem.BAD_CREDENTIALS: "the service rejected the credentials: enter them again",
    Problem.NO_PERMISSION: "the credentials work but may not read this: ask the owner for access",
    Problem.NOT_FOUND: "the bucket, database, table or path does not exist",
    Problem.TIMEOUT: "the service did not answer in time: check the address and the network",
    Problem.BAD_PATH: "use a path inside the source, without .. or a leading /",
    Problem.UNSUPPORTED: "this kind of file or object cannot be read here",
    Problem.OTHER: "see the message",
}


@dataclass(frozen=True)
class Health:
    ok: bool
    problem: Problem | None = None
    message: str = ""

    @property
    def advice(self) -> str:
        return ADVICE[self.problem] if self.problem else ""


@dataclass(frozen=True)
class Entry:
    name: str
    kind: EntryKind
    size: int | None = None
    modified: datetime | None = None


@dataclass(frozen=True)
class Page:
    """One page of a listing; ``next_cursor`` is None on the last page.

    A cursor is opaque to callers: pass it back as it came to get the next page.
    """

    entries: list[Entry]
    next_cursor: str | None = None


@dataclass(frozen=True)
class Sample:
    columns: list[str]
    rows: list[list[Any]]
    #: rows were left out (the ``n`` asked for, the byte cap, or the read cap was reached)
    truncated: bool = False


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    nullable: bool = True


@dataclass(frozen=True)
class Schema:
    columns: list[Column]
    #: rows, when the source knows it without counting (may be an estimate)
    row_count: int | None = None
    row_count_estimated: bool = False


@dataclass(frozen=True)
class Limits:
    """Caps of every sample; the config's ``datasets`` section sets them."""

    sample_rows: int = 100
    sample_bytes: int = 1 << 20
    page_size: int = 200
    max_page_size: int = 1000
    timeout: float = 10.0

    def rows(self, n: int) -> int:
        return max(0, min(n, self.sample_rows))

    def page(self, limit: int | None) -> int:
        return max(1, min(limit or self.page_size, self.max_page_size))


class SourceError(Exception):
    """A call on a source failed; ``problem`` and ``message`` are safe to show and log."""

    def __init__(self, problem: Problem, message: str) -> None:
        super().__init__(f"{problem.value}: {message}")
        self.problem = problem
        self.message = message

    def health(self) -> Health:
        return Health(False, self.problem, self.message)


@runtime_checkable
class Connector(Protocol):
    """What the API, the console and the notebook SDK use, whatever the kind."""

    kind: str

    def test(self) -> Health: ...

    def list(self, path: str = "", cursor: str | None = None, limit: int | None = None) -> Page: ...

    def sample(self, path: str, n: int = 20) -> Sample: ...

    def schema(self, path: str) -> Schema: ...


# ----------------------------------------------------------------------------- messages


_URL_PASSWORD = re.compile(r"(\w[\w+.-]*://[^/:@\s]*:)[^@\s]*@")


#: shorter "secrets" are not searched for: replacing every "a" would garble the message
MIN_SECRET = 4


def redact(message: str, secrets: Iterable[str]) -> str:
    """``message`` without any of ``secrets`` (nor a password written in a URL), trimmed.

    Secrets shorter than ``MIN_SECRET`` characters are left alone (no real
    credential is that short, and replacing them would make the message unreadable).
    """
    text = _URL_PASSWORD.sub(r"\1***@", message)
    found = {s for s in secrets if s and len(s) >= MIN_SECRET}
    found |= {quote(s, safe="") for s in found}
    for secret in sorted(found, key=len, reverse=True):
        text = text.replace(secret, "***")
    text = " ".join(text.split())
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 1] + "…"


# message fragments of drivers (psycopg/libpq, botocore, pyarrow, PyMySQL, Spark), first match wins
_PATTERNS: Sequence[tuple[Problem, re.Pattern[str]]] = [
    (
        Problem.HOST_NOT_FOUND,
        re.compile(
            r"could not translate host name|name or service not known|nodename nor servname|"
            r"temporary failure in name resolution|unknown host|getaddrinfo failed|"
            r"no address associated",
            re.I,
        ),
    ),
    (Problem.REFUSED, re.compile(r"connection refused|errno 111|ECONNREFUSED", re.I)),
    (Problem.TIMEOUT, re.compile(r"timed? ?out|timeout expired", re.I)),
    (
        Problem.BAD_CREDENTIALS,
        re.compile(
            r"password authentication failed|InvalidAccessKeyId|SignatureDoesNotMatch|"
            r"InvalidClientTokenId|access denied for user|authentication failed|"
            r"no password supplied|invalid credentials|Unable to locate credentials",
            re.I,
        ),
    ),
    (
        Problem.NO_PERMISSION,
        re.compile(r"AccessDenied|permission denied|forbidden|not authorized|\b403\b", re.I),
    ),
    (
        Problem.NOT_FOUND,
        re.compile(
            r"NoSuchBucket|NoSuchKey|does not exist|not found|no such file|"
            r"TABLE_OR_VIEW_NOT_FOUND|SCHEMA_NOT_FOUND|unknown database|\b404\b",
            re.I,
        ),
    ),
]


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def classify(exc: BaseException) -> Problem:
    """Which ``Problem`` an exception (or anything in its chain) is: types first, then words."""
    chain = _chain(exc)
    for e in chain:
        if isinstance(e, SourceError):
            return e.problem
        if isinstance(e, socket.gaierror):
            return Problem.HOST_NOT_FOUND
        if isinstance(e, ConnectionRefusedError):
            return Problem.REFUSED
        if isinstance(e, TimeoutError | socket.timeout):
            return Problem.TIMEOUT
        if isinstance(e, PermissionError):
            return Problem.NO_PERMISSION
        if isinstance(e, FileNotFoundError):
            return Problem.NOT_FOUND
    text = " ".join(f"{type(e).__name__} {e}" for e in chain)
    for problem, pattern in _PATTERNS:
        if pattern.search(text):
            return problem
    return Problem.OTHER


def as_source_error(exc: BaseException, secrets: Iterable[str]) -> SourceError:
    """``exc`` as a SourceError whose message holds none of ``secrets``."""
    if isinstance(exc, SourceError):
        return SourceError(exc.problem, redact(exc.message, secrets))
    return SourceError(classify(exc), redact(f"{exc}" or type(exc).__name__, secrets))


def json_safe(value: Any) -> Any:
    """A cell as JSON can carry it: numbers, strings, booleans, null, lists and objects."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return str(value)


def cap_rows(
    columns: list[str], rows: Iterable[Sequence[Any]], n: int, max_bytes: int, more: bool = False
) -> Sample:
    """The first rows of ``rows`` that fit ``n`` rows and ``max_bytes`` of JSON.

    The bytes are those of ``json.dumps([columns, rows])`` (what an API answer
    carries, give or take its envelope).

    ``more``: the reader already knows rows were left (it stopped reading at its own cap).
    """
    out: list[list[Any]] = []
    # measured as json.dumps([columns, rows]) writes it: ", " between rows, ASCII escapes
    used = len(json.dumps([columns, []]))
    truncated = more
    for row in rows:
        if len(out) >= n:
            truncated = True
            break
        cells = [json_safe(v) for v in row]
        size = len(json.dumps(cells, default=str)) + 2
        if used + size > max_bytes:
            truncated = True
            break
        out.append(cells)
        used += size
    return Sample(columns, out, truncated)


@dataclass(frozen=True)
class Redacted:
    """A secret value whose repr and str never show it (for settings held in memory)."""

    value: str = field(repr=False)

    def __repr__(self) -> str:
        return "Redacted('***')"

    __str__ = __repr__
