"""``sql``: a database reached by an SQLAlchemy URL.

Tested here with PostgreSQL (``postgresql://`` uses the psycopg 3 driver, a
dependency). MySQL/MariaDB work by naming a driver that is installed, e.g.
``mysql+pymysql://user@host/db`` after ``pip install PyMySQL`` (not a
dependency of TenantHub). The password is kept out of the URL: it is a secret
of the source, put into the URL only when connecting, and taken out of every
error message.

Paths: ``""`` lists schemas (kind ``database``), ``"<schema>"`` lists its tables
and views, ``"<schema>/<table>"`` is a table. Listings come from SQLAlchemy's
inspector (one catalog query per call), sorted by name and paged with the last
name as the cursor. Samples are ``SELECT * FROM <table> LIMIT :n`` built by
SQLAlchemy (names quoted by the dialect, the limit a bound parameter: nothing
is formatted into SQL here). Row counts are the planner's estimate where it is
free: PostgreSQL's ``pg_class.reltuples`` (none until the table was analysed),
MySQL's ``information_schema.tables.table_rows``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import MetaData, Table, create_engine, inspect, select, text
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import NoSuchTableError, SQLAlchemyError
from sqlalchemy.pool import NullPool

from hub.service.datasets.connector import (
    Column,
    Entry,
    Health,
    Limits,
    Page,
    Problem,
    Redacted,
    Sample,
    Schema,
    SourceError,
    as_source_error,
    cap_rows,
)
from hub.service.datasets.files import first_names
from hub.service.datasets.paths import clean


def split_password(url: str) -> tuple[str, str | None]:
    """``url`` without its password, and the password (kept as a secret when saved)."""
    parsed = make_url(url)
    password = parsed.password
    # URL.set(password=None) keeps the password (None means "unchanged" there): replace it
    bare = parsed._replace(password=None)
    return bare.render_as_string(hide_password=False), (
        str(password) if password is not None else None
    )


def _driver(url: URL) -> URL:
    if url.drivername in ("postgresql", "postgres"):
        return url.set(drivername="postgresql+psycopg")
    return url


#: column names and rows (module level: inside the class ``list`` is the method)
Rows = tuple[list[str], list[list[Any]]]


class SqlConnector:
    kind = "sql"

    def __init__(self, url: str, *, password: str | None = None, limits: Limits | None = None):
        bare, in_url = split_password(url)
        self.url = bare
        self._password = Redacted(password or in_url or "")
        self.limits = limits or Limits()
        self._engine: Engine | None = None

    def __repr__(self) -> str:
        return f"SqlConnector(url={self.url!r})"

    @property
    def _secrets(self) -> tuple[str, ...]:
        return (self._password.value,)

    def engine(self) -> Engine:
        if self._engine is None:
            url = _driver(make_url(self.url))
            if self._password.value:
                url = url.set(password=self._password.value)
            connect_args: dict[str, Any] = {}
            if url.get_backend_name() in ("postgresql", "mysql", "mariadb"):
                connect_args["connect_timeout"] = max(1, int(self.limits.timeout))
            self._engine = create_engine(url, poolclass=NullPool, connect_args=connect_args)
        return self._engine

    def _connect(self) -> Connection:
        try:
            return self.engine().connect()
        except (SQLAlchemyError, OSError) as exc:
            raise as_source_error(exc, self._secrets) from exc

    def test(self) -> Health:
        try:
            with self._connect() as conn:
                conn.execute(text("SELECT 1"))
        except SourceError as exc:
            return exc.health()
        except (SQLAlchemyError, OSError) as exc:
            return as_source_error(exc, self._secrets).health()
        return Health(True)

    def _table(self, path: str) -> tuple[str, str]:
        parts = clean(path)
        if len(parts) != 2:
            raise SourceError(Problem.BAD_PATH, f"{path!r}: give <schema>/<table>")
        return parts[0], parts[1]

    def list(self, path: str = "", cursor: str | None = None, limit: int | None = None) -> Page:
        parts = clean(path)
        size = self.limits.page(limit)
        try:
            with self._connect() as conn:
                inspector = inspect(conn)
                if not parts:
                    names, more = first_names(inspector.get_schema_names(), cursor, size)
                    kind = "database"
                elif len(parts) == 1:
                    if parts[0] not in inspector.get_schema_names():
                        raise SourceError(Problem.NOT_FOUND, f"no schema {parts[0]!r}")
                    every = inspector.get_table_names(schema=parts[0]) + inspector.get_view_names(
                        schema=parts[0]
                    )
                    names, more = first_names(every, cursor, size)
                    kind = "table"
                else:
                    raise SourceError(Problem.BAD_PATH, f"{path!r} is a table: sample it instead")
        except SQLAlchemyError as exc:
            raise as_source_error(exc, self._secrets) from exc
        return Page([Entry(n, kind) for n in names], names[-1] if more and names else None)  # type: ignore[arg-type]

    def sample(self, path: str, n: int = 20) -> Sample:
        schema, name = self._table(path)
        rows = self.limits.rows(n)
        try:
            with self._connect() as conn:
                table = Table(name, MetaData(), schema=schema, autoload_with=conn)
                result = conn.execute(select(table).limit(rows + 1))
                return cap_rows(list(result.keys()), result, rows, self.limits.sample_bytes)
        except NoSuchTableError as exc:
            raise SourceError(Problem.NOT_FOUND, f"no table {path!r}") from exc
        except SQLAlchemyError as exc:
            raise as_source_error(exc, self._secrets) from exc

    def rows(self, path: str, n: int) -> Rows:
        """The first ``n`` rows of a table, uncapped in bytes (a notebook's whole read)."""
        schema, name = self._table(path)
        try:
            with self._connect() as conn:
                table = Table(name, MetaData(), schema=schema, autoload_with=conn)
                result = conn.execute(select(table).limit(n))
                return list(result.keys()), [list(r) for r in result]
        except NoSuchTableError as exc:
            raise SourceError(Problem.NOT_FOUND, f"no table {path!r}") from exc
        except SQLAlchemyError as exc:
            raise as_source_error(exc, self._secrets) from exc

    def _row_count(self, conn: Connection, schema: str, name: str) -> int | None:
        dialect = conn.dialect.name
        if dialect == "postgresql":
            query = text(
                "SELECT c.reltuples FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n "
                "ON n.oid = c.relnamespace WHERE n.nspname = :schema AND c.relname = :name"
            )
        elif dialect in ("mysql", "mariadb"):
            query = text(
                "SELECT table_rows FROM information_schema.tables "
                "WHERE table_schema = :schema AND table_name = :name"
            )
        else:
            return None
        value = conn.execute(query, {"schema": schema, "name": name}).scalar()
        return int(value) if value is not None and value >= 0 else None

    def schema(self, path: str) -> Schema:
        schema, name = self._table(path)
        try:
            with self._connect() as conn:
                columns = inspect(conn).get_columns(name, schema=schema)
                count = self._row_count(conn, schema, name)
        except NoSuchTableError as exc:
            raise SourceError(Problem.NOT_FOUND, f"no table {path!r}") from exc
        except SQLAlchemyError as exc:
            raise as_source_error(exc, self._secrets) from exc
        return Schema(
            [Column(c["name"], str(c["type"]), bool(c.get("nullable", True))) for c in columns],
            row_count=count,
            row_count_estimated=count is not None,
        )
