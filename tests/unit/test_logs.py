"""hub.logs: text and JSON lines, event lines, secrets masked; the service's access line."""

from __future__ import annotations

import io
import json
import logging

import pytest

from hub import logs
from hub.service import access_log


@pytest.mark.parametrize(
    ("line", "secret"),
    [
        ("GET /hub/api/users?token=3f2a9c0d1e8b7a6f5e4d HTTP/1.1", "3f2a9c0d1e8b7a6f5e4d"),
        ("headers {'Authorization': 'token 3f2a9c0d1e8b7a6f'}", "3f2a9c0d1e8b7a6f"),
        ("Authorization: Bearer eyJhbGciOi.payload.sig", "eyJhbGciOi.payload.sig"),
        ('{"password": "hunter2hunter2", "user": "ann"}', "hunter2hunter2"),
        ("s3 client secret_key=wJalrXUtnFEMI/K7MDENG", "wJalrXUtnFEMI/K7MDENG"),
        ("connecting to postgresql://th:s3cretpw@db:5432/th", "s3cretpw"),
        ("GET /services/tenanthub/oauth_callback?code=abc123def456&state=x", "abc123def456"),
        ("client_secret: 0a1b2c3d4e5f", "0a1b2c3d4e5f"),
    ],
)
def test_what_looks_like_a_credential_is_masked(line: str, secret: str) -> None:
    masked = logs.redact(line)
    assert secret not in masked and logs.MASK in masked


@pytest.mark.parametrize(
    "line",
    [
        "job run 4 (job 2) failed: exit code=1",
        "tokens=3 servers=2",
        "checkpoint ready tenant=vision user=ann duration_ms=812.5 size_bytes=1048576",
        "the token file /data/secrets/x.token is missing",
    ],
)
def test_ordinary_lines_are_left_alone(line: str) -> None:
    assert logs.redact(line) == line


def capture(fmt: str) -> tuple[logging.Logger, io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.formatter("tenanthub-test", fmt))
    logger = logging.getLogger(f"tenanthub.test.{fmt}")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    return logger, stream


def test_an_event_line_in_json_has_the_fields_at_the_top_level() -> None:
    logger, stream = capture("json")
    logs.event(logger, "spawn", "ok", tenant="vision", user="ann", duration_s=1.2345,
               backend="docker", profile="small", reason=None)  # fmt: skip
    record = json.loads(stream.getvalue())
    assert record["event"] == "spawn" and record["outcome"] == "ok"
    assert (record["tenant"], record["user"], record["duration_ms"]) == ("vision", "ann", 1234.5)
    assert record["backend"] == "docker" and "reason" not in record
    assert record["level"] == "INFO" and record["component"] == "tenanthub-test"
    assert record["message"].startswith("spawn ok tenant=vision user=ann")


def test_an_event_line_in_text_has_the_fields_as_key_values() -> None:
    logger, stream = capture("text")
    logs.event(logger, "request", "refused", tenant="vision", user=None, duration_s=0.004,
               method="GET", path="/a b", status=403, level=logging.WARNING)  # fmt: skip
    line = stream.getvalue().strip()
    assert line.startswith("[W ") and "tenanthub-test]" in line
    assert line.endswith(
        'request refused tenant=vision duration_ms=4.0 method=GET path="/a b" status=403'
    )


def test_a_json_line_with_an_exception_is_still_one_line_and_masked() -> None:
    logger, stream = capture("json")
    try:
        raise RuntimeError("bad password=hunter2hunter2")
    except RuntimeError:
        logger.exception("failed with token=abcdef0123456789")
    text = stream.getvalue()
    assert text.count("\n") == 1
    record = json.loads(text)
    assert "RuntimeError" in record["exception"]
    assert "hunter2hunter2" not in text and "abcdef0123456789" not in text


def test_an_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="text, json"):
        logs.formatter("x", "xml")


def test_the_access_line_decisions() -> None:
    assert access_log.tenant_of("/services/tenanthub/api/v1/tenants/vision/jobs") == "vision"
    assert access_log.tenant_of("/services/tenanthub/api/v1/me") is None
    assert [access_log.outcome_of(s) for s in (200, 302, 404, 500)] == [
        "ok", "ok", "refused", "error",
    ]  # fmt: skip
    assert access_log.level_of("/services/tenanthub/health/ready", 200) == logging.DEBUG
    assert access_log.level_of("/services/tenanthub/metrics", 200) == logging.DEBUG
    assert access_log.level_of("/services/tenanthub/api/v1/me", 200) == logging.INFO
    assert access_log.level_of("/services/tenanthub/health", 503) == logging.ERROR

    class Handler:
        _current_user = {"name": "ann", "kind": "user"}

    assert access_log.user_of(Handler()) == "ann"
    assert access_log.user_of(object()) is None
