"""How TenantHub's processes write their logs: text or JSON lines, event lines, no secrets.

Platform teams ship logs to Loki or Elasticsearch and ask questions like "which
spawns of tenant X failed today, and how long did they take". So besides its
free-text messages every process writes one **event line** per request (the
platform service), spawn (the hub), job run (the scheduler) and checkpoint (the
checkpointer), always with the same fields: ``event``, ``tenant``, ``user``,
``duration_ms``, ``outcome`` (plus a few per kind). In text format they follow the
message as ``key=value``; in JSON (``logging.format: json``) each line is one
object with those fields at the top level.

Secrets: TenantHub never logs a token on purpose, and the hub already escapes
what users send (``hub.app.log_safety``). As a second line of defence every
formatter here masks what looks like a credential in the final line: an
``Authorization`` header value, a ``token=``/``secret=``/``password=`` value in a
query string or ``key=value`` text, a URL's ``user:password@``. A test scans the
logs of the whole test run for the tokens the tests were issued.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

FORMATS = ("text", "json")
MASK = "[redacted]"
#: the record attribute that carries an event line's fields
EVENT_ATTR = "tenanthub_event"

#: names of settings that hold secrets (not secrets themselves)
_SECRET_KEYS = "|".join(
    ("token", "access_token", "api_token", "api_key", "apikey", "client_secret", "secret",
     "secret_key", "secret_access_key", "password", "passwd", "private_key")
)  # fmt: skip
_PATTERNS = (
    # Authorization: token abc / Bearer abc (headers logged by a library)
    re.compile(
        r"(?i)(\bauthorization\b[\"']?\s*[:=]\s*[\"']?(?:token|bearer|basic)\s+)[^\s\"',}]+"
    ),
    # token=abc, ?token=abc&..., "password": "abc", secret: abc
    re.compile(
        rf"(?i)((?:^|[\s?&;,{{(\"'])(?:{_SECRET_KEYS})[\"']?\s*[:=]\s*[\"']?)[^\s&\"',;}})]+"
    ),
    # an OAuth authorization code in a callback URL
    re.compile(r"(?i)([?&]code=)[^\s&\"']+"),
    # scheme://user:password@host
    re.compile(r"(?i)(\b[a-z][a-z0-9+.-]*://[^\s/:@]+:)[^\s/@]+(@)"),
)


def redact(text: str) -> str:
    """``text`` with every value that looks like a credential replaced by ``[redacted]``."""
    for pattern in _PATTERNS:
        text = pattern.sub(
            lambda m: m.group(1) + MASK + (m.group(2) if m.re.groups > 1 else ""), text
        )
    return text


def event_fields(record: logging.LogRecord) -> Mapping[str, Any]:
    fields = getattr(record, EVENT_ATTR, None)
    return fields if isinstance(fields, Mapping) else {}


def _text_value(value: Any) -> str:
    text = str(value)
    return json.dumps(text) if (not text or any(c in text for c in ' "=')) else text


class TextFormatter(logging.Formatter):
    """The usual ``[L time component] message`` line (event fields are in the message)."""

    def __init__(self, component: str = "tenanthub", *args: Any, **kwargs: Any) -> None:
        super().__init__(f"[%(levelname)1.1s %(asctime)s {component}] %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, component, message, event fields,
    and the exception's text when there is one."""

    def __init__(self, component: str = "tenanthub", *args: Any, **kwargs: Any) -> None:
        # dictConfig (traitlets' logging_config) passes the replaced formatter's keys
        super().__init__()
        self.component = component

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "component": self.component,
            "message": record.getMessage(),
        }
        for key, value in event_fields(record).items():
            out.setdefault(key, value)
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            out["exception"] = record.exc_text
        # masked value by value: masking the encoded line could cut an escape in two
        safe = {k: redact(v) if isinstance(v, str) else v for k, v in out.items()}
        return json.dumps(safe, default=str, ensure_ascii=False)


def formatter(component: str, fmt: str) -> logging.Formatter:
    if fmt not in FORMATS:
        raise ValueError(f"log format {fmt!r}: use one of {', '.join(FORMATS)}")
    return JsonFormatter(component) if fmt == "json" else TextFormatter(component)


def configure(component: str, fmt: str = "text", level: str = "INFO") -> logging.Handler:
    """The process's root handler (stderr) in ``fmt``; replaces handlers set before."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter(component, fmt))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    return handler


def event(
    logger: logging.Logger,
    kind: str,
    outcome: str,
    *,
    tenant: str | None = None,
    user: str | None = None,
    duration_s: float | None = None,
    level: int = logging.INFO,
    **fields: Any,
) -> None:
    """One event line: ``<kind> <outcome> tenant=.. user=.. duration_ms=.. ...``.

    The fields are in the message itself, so any formatter shows them (the hub's
    lines go through JupyterHub's own), and on the record for the JSON formatter,
    which puts them at the top level of the object. None values are left out."""
    data: dict[str, Any] = {
        "event": kind,
        "tenant": tenant,
        "user": user,
        "duration_ms": None if duration_s is None else round(duration_s * 1000, 1),
        "outcome": outcome,
        **fields,
    }
    kept = {k: v for k, v in data.items() if v is not None}
    text = " ".join(
        f"{k}={_text_value(v)}" for k, v in kept.items() if k not in ("event", "outcome")
    )
    logger.log(level, "%s %s %s", kind, outcome, text, extra={EVENT_ATTR: kept})
