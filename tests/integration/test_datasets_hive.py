"""The hive connector on a real local Spark (pyspark, local[1]) with a Hive metastore
(embedded Derby) and a warehouse on disk: databases and tables listed, a Hive table
sampled with LIMIT and capped, its schema with the row count ANALYZE stored, and a
missing table reported as not found. One Spark session for the module."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hub.service.datasets.connector import Limits, Problem, SourceError
from hub.service.datasets.hive import HiveConnector, spark_session
from hub.service.datasets.kinds import build, validate
from tests.conftest import need

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def spark(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    try:
        import pyspark  # noqa: F401
    except ImportError as exc:
        need(f"pyspark is not installed ({exc}); `make install` installs it")
    if shutil.which("java") is None:
        need("no Java runtime (Spark needs Java 17): `make test` installs it")
    root = tmp_path_factory.mktemp("spark")
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # loopback only, whatever eth0 is
    session = spark_session(
        str(root / "warehouse"),
        hive=True,
        metastore_dir=str(root / "metastore"),
        conf={"spark.driver.host": "127.0.0.1", "spark.driver.bindAddress": "127.0.0.1"},
    )
    session.sql("CREATE DATABASE sales")
    session.sql(
        "CREATE TABLE sales.orders (id BIGINT, region STRING, note STRING) STORED AS PARQUET"
    )
    session.sql(
        "INSERT INTO sales.orders SELECT id, concat('r', id % 7), repeat('n', 400) FROM range(5000)"
    )
    session.sql("ANALYZE TABLE sales.orders COMPUTE STATISTICS")
    session.sql("CREATE TABLE sales.archive (x INT) STORED AS PARQUET")
    try:
        yield session
    finally:
        session.stop()


def test_the_catalog_is_reachable(spark: Any) -> None:
    assert HiveConnector(spark).test().ok


def test_databases_and_tables_are_listed(spark: Any) -> None:
    c = HiveConnector(spark)
    databases = c.list("")
    assert {"default", "sales"} <= {e.name for e in databases.entries}
    assert all(e.kind == "database" for e in databases.entries)
    tables = c.list("sales", limit=1)
    assert [(e.name, e.kind) for e in tables.entries] == [("archive", "table")]
    rest = c.list("sales", cursor=tables.next_cursor)
    assert [e.name for e in rest.entries] == ["orders"] and rest.next_cursor is None


def test_a_hive_tables_sample_is_limited_and_capped_in_bytes(spark: Any) -> None:
    sample = HiveConnector(spark).sample("sales/orders", 3)
    assert sample.columns == ["id", "region", "note"]
    assert len(sample.rows) == 3 and sample.truncated
    capped = HiveConnector(spark, Limits(sample_rows=5000, sample_bytes=8 * 1024))
    small = capped.sample("sales/orders", 5000)
    assert small.truncated and 0 < len(small.rows) < 30
    assert len(json.dumps([small.columns, small.rows])) <= 8 * 1024
    assert HiveConnector(spark).sample("sales/archive", 5).rows == []


def test_the_schema_has_types_and_the_analyzed_row_count(spark: Any) -> None:
    schema = HiveConnector(spark).schema("sales/orders")
    assert [(c.name, c.type) for c in schema.columns] == [
        ("id", "bigint"),
        ("region", "string"),
        ("note", "string"),
    ]
    assert schema.row_count == 5000


def test_missing_databases_and_tables_are_not_found(spark: Any) -> None:
    c = HiveConnector(spark)
    for call, problem in (
        (lambda: c.list("nope"), Problem.NOT_FOUND),
        (lambda: c.sample("sales/nope"), Problem.NOT_FOUND),
        (lambda: c.schema("nope/orders"), Problem.NOT_FOUND),
        (lambda: c.sample("sales"), Problem.BAD_PATH),
        (lambda: c.sample("../sales/orders"), Problem.BAD_PATH),
    ):
        with pytest.raises(SourceError) as caught:
            call()
        assert caught.value.problem is problem, caught.value


def test_a_stored_hive_source_builds_a_connector_on_the_session(spark: Any, tmp_path: Path) -> None:
    settings, secrets = validate("hive", {"warehouse_dir": str(tmp_path)})
    c = build("hive", settings, secrets, spark=lambda: spark)
    assert [e.name for e in c.list("sales").entries] == ["archive", "orders"]
