"""How a data source's failure is told to a person: real socket failures and driver
messages classified as host not found / refused / timeout / bad credentials / no
permission / not found, every secret (also URL-quoted, also a password inside a URL)
taken out of the message, messages trimmed; samples capped in rows and bytes."""

from __future__ import annotations

import json
import socket
from datetime import UTC, datetime

import pytest
from botocore.exceptions import ClientError
from sqlalchemy.exc import OperationalError

from hub.service.datasets.connector import (
    ADVICE,
    MAX_MESSAGE,
    Health,
    Problem,
    SourceError,
    as_source_error,
    cap_rows,
    classify,
    redact,
)
from tests.services.postgres import free_port


def raised(fn) -> BaseException:  # type: ignore[no-untyped-def]
    try:
        fn()
    except BaseException as exc:
        return exc
    raise AssertionError("did not raise")


def test_a_host_name_that_does_not_resolve_is_host_not_found() -> None:
    exc = raised(lambda: socket.getaddrinfo("no-such-host.invalid", 80))
    assert classify(exc) is Problem.HOST_NOT_FOUND


def test_a_closed_loopback_port_is_refused() -> None:
    exc = raised(lambda: socket.create_connection(("127.0.0.1", free_port()), timeout=2))
    assert classify(exc) is Problem.REFUSED


def test_the_cause_chain_is_searched_for_the_real_reason() -> None:
    def wrapped() -> None:
        try:
            socket.create_connection(("127.0.0.1", free_port()), timeout=2)
        except OSError as exc:
            raise RuntimeError("could not connect to the endpoint") from exc

    assert classify(raised(wrapped)) is Problem.REFUSED


def client_error(code: str, message: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, "ListObjectsV2")


@pytest.mark.parametrize(
    ("exc", "problem"),
    [
        (
            OperationalError(
                "SELECT 1",
                {},
                Exception(
                    'connection failed: FATAL:  password authentication failed for user "ana"'
                ),
            ),
            Problem.BAD_CREDENTIALS,
        ),
        (
            OperationalError(
                "x",
                {},
                Exception(
                    'failed to resolve host "db.nowhere": [Errno -2] Name or service not known'
                ),
            ),
            Problem.HOST_NOT_FOUND,
        ),
        (
            OperationalError(
                "x",
                {},
                Exception('connection to server at "127.0.0.1", port 1 failed: Connection refused'),
            ),
            Problem.REFUSED,
        ),
        (OperationalError("x", {}, Exception("timeout expired")), Problem.TIMEOUT),
        (
            OperationalError("x", {}, Exception('permission denied for table "sales"')),
            Problem.NO_PERMISSION,
        ),
        (OperationalError("x", {}, Exception('database "nope" does not exist')), Problem.NOT_FOUND),
        (
            client_error("InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist"),
            Problem.BAD_CREDENTIALS,
        ),
        (
            client_error("SignatureDoesNotMatch", "The request signature we calculated"),
            Problem.BAD_CREDENTIALS,
        ),
        (client_error("AccessDenied", "Access Denied"), Problem.NO_PERMISSION),
        (client_error("NoSuchBucket", "The specified bucket does not exist"), Problem.NOT_FOUND),
        (PermissionError(13, "Permission denied", "/data/x"), Problem.NO_PERMISSION),
        (FileNotFoundError(2, "No such file or directory", "/data/x"), Problem.NOT_FOUND),
        (ValueError("something else entirely"), Problem.OTHER),
    ],
    ids=lambda v: v.name if isinstance(v, Problem) else type(v).__name__,
)
def test_driver_errors_are_classified_in_a_persons_words(
    exc: BaseException, problem: Problem
) -> None:
    assert classify(exc) is problem
    assert ADVICE[problem]


def test_a_source_error_keeps_its_problem() -> None:
    inner = SourceError(Problem.BAD_PATH, "'..' leaves its folder")
    assert as_source_error(inner, ()).problem is Problem.BAD_PATH


def test_secrets_are_taken_out_of_messages_also_url_quoted_and_inside_urls() -> None:
    secret = "p@ss/w0rd+Secret"
    quoted = "p%40ss%2Fw0rd%2BSecret"
    message = (
        f"login failed for {secret}; url postgresql://ana:{quoted}@db/x "
        "and mysql+pymysql://bob:other-pass@h/y"
    )
    clean = redact(message, [secret])
    assert secret not in clean and "p%40ss" not in clean and "other-pass" not in clean
    assert "postgresql://ana:***@db/x" in clean and "mysql+pymysql://bob:***@h/y" in clean
    assert clean.startswith("login failed for ***;")


def test_short_values_are_not_replaced_and_long_messages_are_trimmed() -> None:
    assert redact("a b c", ["a", ""]) == "a b c"
    long = redact("x" * 1000 + "\n\n  y", [])
    assert len(long) == MAX_MESSAGE and long.endswith("…")
    assert redact("one\n  two\tthree", []) == "one two three"


def test_as_source_error_scrubs_the_message_of_any_exception() -> None:
    err = as_source_error(
        OperationalError(
            "x", {}, Exception('password authentication failed for user "ana" (pw hunter2-long)')
        ),
        ["hunter2-long"],
    )
    assert err.problem is Problem.BAD_CREDENTIALS
    assert "hunter2-long" not in err.message and "hunter2-long" not in str(err)
    health = err.health()
    assert health == Health(False, Problem.BAD_CREDENTIALS, err.message)
    assert health.advice == ADVICE[Problem.BAD_CREDENTIALS]


def test_samples_are_capped_in_rows_and_in_bytes_and_cells_become_json() -> None:
    rows = ([i, "x" * 100, datetime(2024, 1, 1, tzinfo=UTC), b"raw"] for i in range(10_000))
    by_rows = cap_rows(["i", "s", "t", "b"], rows, 5, 1 << 20)
    assert len(by_rows.rows) == 5 and by_rows.truncated
    assert by_rows.rows[0] == [0, "x" * 100, "2024-01-01T00:00:00+00:00", "raw"]
    by_bytes = cap_rows(["i", "s"], ([i, "y" * 1000] for i in range(10_000)), 10_000, 20_000)
    assert by_bytes.truncated and 0 < len(by_bytes.rows) < 20
    assert len(json.dumps([by_bytes.columns, by_bytes.rows])) <= 20_000
    whole = cap_rows(["a"], [[1], [2]], 10, 1000)
    assert (whole.rows, whole.truncated) == ([[1], [2]], False)
