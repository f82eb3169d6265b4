"""The sql connector against a real PostgreSQL: schemas and tables listed and paged,
samples with LIMIT capped in rows and bytes, column types and the planner's row count,
and a person's reason for a bad password, a refused port, an unknown host, a missing
database or table and a table the user may not read, with no password in any message."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg
import pytest

from hub.service.datasets.connector import Limits, Problem, SourceError
from hub.service.datasets.sql import SqlConnector
from tests.services.postgres import PostgresServer, free_port

pytestmark = pytest.mark.integration

PASSWORD = "Reader-Passw0rd-4711"


@dataclass
class Db:
    server: PostgresServer
    name: str

    def url(
        self, user: str = "reader", password: str | None = PASSWORD, database: str | None = None
    ) -> str:
        secret = f":{password}" if password else ""
        return f"postgresql://{user}{secret}@127.0.0.1:{self.server.port}/{database or self.name}"


@pytest.fixture(scope="module")
def db(postgres: PostgresServer) -> Iterator[Db]:
    name = f"th_sales_{free_port()}"
    postgres.create_database(name)
    dsn = f"host=127.0.0.1 port={postgres.port} user=tenanthub dbname={name}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        for statement in (
            # the server trusts loopback connections: the reader gets a password that is checked
            f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'reader') THEN "
            f"CREATE ROLE reader LOGIN PASSWORD '{PASSWORD}'; END IF; END $$",
            "CREATE SCHEMA sales",
            "CREATE SCHEMA hr",
            "CREATE TABLE sales.orders (id bigint PRIMARY KEY, region text NOT NULL, "
            "amount numeric(10,2), at timestamptz, note text)",
            "INSERT INTO sales.orders SELECT i, 'r' || (i % 7), i * 1.5, "
            "'2024-01-01'::timestamptz + i * interval '1 minute', repeat('n', 500) "
            "FROM generate_series(1, 200000) i",
            "ANALYZE sales.orders",
            "CREATE VIEW sales.big_orders AS SELECT * FROM sales.orders WHERE amount > 100",
            "CREATE TABLE hr.salaries (who text, pay int)",
            f"GRANT CONNECT ON DATABASE {name} TO reader",
            "GRANT USAGE ON SCHEMA sales, hr TO reader",
            "GRANT SELECT ON ALL TABLES IN SCHEMA sales TO reader",
        ):
            conn.execute(statement)
        for i in range(30):
            conn.execute(f"CREATE TABLE sales.t{i:02d} (x int)")
            conn.execute(f"GRANT SELECT ON sales.t{i:02d} TO reader")
    yield Db(postgres, name)


@pytest.fixture(scope="module", autouse=True)
def passwords_are_checked(postgres: PostgresServer) -> None:
    """The test server trusts loopback logins: make the reader's password count (scram)."""
    hba = postgres.root / "data" / "pg_hba.conf"
    rule = "host all reader 127.0.0.1/32 scram-sha-256\n"
    text = hba.read_text()
    if rule not in text:
        hba.write_text(rule + text)  # first matching line wins
        dsn = f"host=127.0.0.1 port={postgres.port} user=tenanthub dbname=postgres"
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("SELECT pg_reload_conf()")


def connector(db: Db, **kw: object) -> SqlConnector:
    return SqlConnector(db.url(**kw), limits=Limits(timeout=5))  # type: ignore[arg-type]


def test_good_credentials_are_healthy(db: Db) -> None:
    assert connector(db).test().ok


def test_the_root_lists_schemas_and_a_schema_its_tables_and_views_in_pages(db: Db) -> None:
    c = connector(db)
    schemas = [e.name for e in c.list("").entries]
    assert {"sales", "hr", "public"} <= set(schemas)
    assert all(e.kind == "database" for e in c.list("").entries)
    first = c.list("sales", limit=10)
    assert [e.name for e in first.entries] == ["big_orders", "orders"] + [
        f"t{i:02d}" for i in range(8)
    ]
    assert first.entries[0].kind == "table" and first.next_cursor
    names = [e.name for e in first.entries]
    cursor = first.next_cursor
    while cursor:
        page = c.list("sales", cursor=cursor, limit=10)
        names += [e.name for e in page.entries]
        cursor = page.next_cursor
    assert len(names) == 32 and len(set(names)) == 32


def test_a_sample_is_limited_in_rows_and_bytes(db: Db) -> None:
    sample = connector(db).sample("sales/orders", 5)
    assert sample.columns == ["id", "region", "amount", "at", "note"]
    assert len(sample.rows) == 5 and sample.truncated
    assert sample.rows[0][:3] == [1, "r1", "1.50"]
    small = SqlConnector(db.url(), limits=Limits(sample_rows=10_000, sample_bytes=16 * 1024))
    capped = small.sample("sales/orders", 10_000)
    assert capped.truncated and 0 < len(capped.rows) < 40
    assert len(json.dumps([capped.columns, capped.rows])) <= 16 * 1024
    view = connector(db).sample("sales/big_orders", 2)
    assert len(view.rows) == 2 and all(r[0] >= 67 for r in view.rows)  # amount > 100


def test_the_schema_has_column_types_and_the_planners_row_count(db: Db) -> None:
    schema = connector(db).schema("sales/orders")
    assert [(c.name, c.type, c.nullable) for c in schema.columns] == [
        ("id", "BIGINT", False),
        ("region", "TEXT", False),
        ("amount", "NUMERIC(10, 2)", True),
        ("at", "TIMESTAMP", True),
        ("note", "TEXT", True),
    ]
    assert schema.row_count == 200_000 and schema.row_count_estimated


def test_a_wrong_password_is_bad_credentials_and_the_password_is_never_shown(db: Db) -> None:
    wrong = "Wrong-Passw0rd-0815"
    c = connector(db, password=wrong)
    health = c.test()
    assert (health.ok, health.problem) == (False, Problem.BAD_CREDENTIALS), health
    assert wrong not in health.message and wrong not in repr(c)
    with pytest.raises(SourceError) as caught:
        c.list("")
    assert caught.value.problem is Problem.BAD_CREDENTIALS
    assert wrong not in str(caught.value)


def test_a_closed_port_is_refused_and_an_unknown_host_is_host_not_found(db: Db) -> None:
    refused = SqlConnector(
        f"postgresql://reader:{PASSWORD}@127.0.0.1:{free_port()}/x", limits=Limits(timeout=5)
    ).test()
    assert refused.problem is Problem.REFUSED, refused
    assert PASSWORD not in refused.message
    unknown = SqlConnector(
        f"postgresql://reader:{PASSWORD}@no-such-db-host.invalid:5432/x", limits=Limits(timeout=5)
    ).test()
    assert unknown.problem is Problem.HOST_NOT_FOUND, unknown


def test_missing_database_table_and_a_table_without_grant(db: Db) -> None:
    assert connector(db, database="no_such_db").test().problem is Problem.NOT_FOUND
    c = connector(db)
    for call, problem in (
        (lambda: c.sample("sales/nope"), Problem.NOT_FOUND),
        (lambda: c.schema("sales/nope"), Problem.NOT_FOUND),
        (lambda: c.list("nope"), Problem.NOT_FOUND),
        (lambda: c.sample("hr/salaries"), Problem.NO_PERMISSION),
        (lambda: c.sample("../etc"), Problem.BAD_PATH),
        (lambda: c.sample("sales"), Problem.BAD_PATH),
    ):
        with pytest.raises(SourceError) as caught:
            call()
        assert caught.value.problem is problem, caught.value
