"""The s3 connector against a real S3 API server (moto) on loopback."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from hub.service.datasets.connector import Limits, Problem, SourceError
from hub.service.datasets.s3 import S3Connector
from tests.conftest import need
from tests.services.postgres import free_port
from tests.services.s3 import S3Server, S3Unavailable, start_s3

pytestmark = pytest.mark.integration

BIG = 100_000


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    try:
        server = start_s3()
    except S3Unavailable as exc:
        need(str(exc))
        raise
    server.create_bucket("lake")
    for i in range(BIG):
        server.put("lake", f"raw/many/part-{i:06d}.csv", b"a,b\n1,2\n")
    server.put("lake", "raw/sales/2024.csv", b"region,amount\nnorth,10\nsouth,20\n")
    table = pa.table({"id": list(range(5000)), "name": [f"n{i}" for i in range(5000)]})
    buf = io.BytesIO()
    pq.write_table(table, buf, row_group_size=1000)
    server.put("lake", "raw/sales/ids.parquet", buf.getvalue())
    server.put("lake", "raw/huge.csv", b"x,y\n" + b"123456789,abcdefghij\n" * 300_000)
    server.put("lake", "other/secret.csv", b"a\n1\n")
    try:
        yield server
    finally:
        server.stop()


def connector(s3: S3Server, **kw: object) -> S3Connector:
    args: dict[str, object] = {
        "prefix": "raw",
        "endpoint_url": s3.endpoint_url,
        "access_key": s3.reader.access_key,
        "secret_key": s3.reader.secret_key,
    }
    args.update(kw)
    return S3Connector("lake", **args)  # type: ignore[arg-type]


def test_a_source_with_good_credentials_is_healthy(s3: S3Server) -> None:
    assert connector(s3).test().ok


def test_a_wrong_secret_is_reported_as_bad_credentials_without_the_secret(s3: S3Server) -> None:
    health = connector(s3, secret_key="WrongSecretValue1234567890").test()
    assert (health.ok, health.problem) == (False, Problem.BAD_CREDENTIALS)
    assert "WrongSecretValue1234567890" not in health.message


def test_an_unknown_access_key_is_reported_as_bad_credentials(s3: S3Server) -> None:
    health = connector(s3, access_key="AKIAUNKNOWNKEY000000").test()
    assert health.problem is Problem.BAD_CREDENTIALS
    assert "AKIAUNKNOWNKEY000000" not in health.message


def test_credentials_without_a_policy_are_reported_as_no_permission(s3: S3Server) -> None:
    health = connector(s3, access_key=s3.nobody.access_key, secret_key=s3.nobody.secret_key).test()
    assert health.problem is Problem.NO_PERMISSION


def test_a_missing_bucket_is_reported_as_not_found(s3: S3Server) -> None:
    c = S3Connector(
        "no-such-bucket",
        endpoint_url=s3.endpoint_url,
        access_key=s3.reader.access_key,
        secret_key=s3.reader.secret_key,
    )
    assert c.test().problem is Problem.NOT_FOUND


def test_a_closed_port_is_reported_as_refused(s3: S3Server) -> None:
    health = connector(s3, endpoint_url=f"http://127.0.0.1:{free_port()}").test()
    assert health.problem is Problem.REFUSED


def test_the_first_page_of_a_100000_key_prefix_has_limit_entries_and_a_cursor(
    s3: S3Server,
) -> None:
    c = connector(s3)
    first = c.list("many", limit=100)
    assert [e.name for e in first.entries] == [f"part-{i:06d}.csv" for i in range(100)]
    assert first.entries[0].kind == "file" and first.entries[0].size == 8
    assert first.next_cursor
    second = c.list("many", cursor=first.next_cursor, limit=100)
    assert [e.name for e in second.entries] == [f"part-{i:06d}.csv" for i in range(100, 200)]


def test_the_root_lists_sub_prefixes_as_folders_and_stays_inside_the_prefix(s3: S3Server) -> None:
    page = connector(s3).list("")
    assert [(e.name, e.kind) for e in page.entries] == [
        ("huge.csv", "file"),
        ("many", "folder"),
        ("sales", "folder"),
    ]
    assert page.next_cursor is None
    with pytest.raises(SourceError) as caught:
        connector(s3).list("../other")
    assert caught.value.problem is Problem.BAD_PATH


def test_csv_and_parquet_samples_and_schemas(s3: S3Server) -> None:
    c = connector(s3)
    sample = c.sample("sales/2024.csv", 10)
    assert (sample.columns, sample.rows, sample.truncated) == (
        ["region", "amount"],
        [["north", 10], ["south", 20]],
        False,
    )
    parquet = c.sample("sales/ids.parquet", 3)
    assert parquet.rows == [[0, "n0"], [1, "n1"], [2, "n2"]] and parquet.truncated
    schema = c.schema("sales/ids.parquet")
    assert [(col.name, col.type) for col in schema.columns] == [("id", "int64"), ("name", "string")]
    assert schema.row_count == 5000


def test_a_huge_objects_sample_stays_within_the_byte_cap(s3: S3Server) -> None:
    c = connector(s3, limits=Limits(sample_rows=10_000, sample_bytes=64 * 1024))
    sample = c.sample("huge.csv", 10_000)
    assert sample.truncated
    assert 0 < len(sample.rows) < 10_000
    assert sum(len(str(r)) for r in sample.rows) < 64 * 1024


def test_a_missing_object_is_not_found(s3: S3Server) -> None:
    with pytest.raises(SourceError) as caught:
        connector(s3).sample("sales/nope.csv")
    assert caught.value.problem is Problem.NOT_FOUND


def test_logging_a_source_and_its_errors_never_shows_the_secret(
    s3: S3Server, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "TopSecretValue-0123456789abcdef"
    c = connector(s3, secret_key=secret)
    log = logging.getLogger("test.datasets")
    with caplog.at_level(logging.DEBUG):
        log.info("source %r %s", c, c)
        health = c.test()
        log.warning("test: %r", health)
        try:
            c.list("sales")
        except SourceError as exc:
            log.exception("list failed: %s", exc)
    assert health.problem is Problem.BAD_CREDENTIALS
    assert "list failed" in caplog.text
    assert secret not in caplog.text
