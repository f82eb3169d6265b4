"""``hive``: tables of a Spark catalog (a Hive metastore, or Spark's in-memory catalog).

pyspark is an optional extra (``pip install tenanthub[spark]``); this module
imports it only when a session is made. A JVM holds one SparkContext, so one
SparkSession serves every hive source of the process (``getOrCreate``): its
catalog settings are those of the first source that started it. Starting
Spark takes seconds; calls run in a worker thread.

Paths: ``""`` lists databases, ``"<db>"`` its tables, ``"<db>/<table>"`` a
table. Names are quoted with backticks (a backtick inside doubled), never
formatted into SQL unquoted; samples are ``table.limit(n)``. The row count is
the catalog's statistic when ``ANALYZE TABLE ... COMPUTE STATISTICS`` stored one.
"""

from __future__ import annotations

from typing import Any

from hub.service.datasets.connector import (
    Column,
    Entry,
    Health,
    Limits,
    Page,
    Problem,
    Sample,
    Schema,
    SourceError,
    as_source_error,
    cap_rows,
)
from hub.service.datasets.files import first_names
from hub.service.datasets.paths import clean


def quote(name: str) -> str:
    """A Spark SQL identifier in backticks."""
    return "`" + name.replace("`", "``") + "`"


def spark_session(
    warehouse_dir: str,
    *,
    hive: bool = True,
    metastore_dir: str | None = None,
    master: str = "local[1]",
    conf: dict[str, str] | None = None,
) -> Any:
    """The process's SparkSession (created on first use) over ``warehouse_dir``."""
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise SourceError(
            Problem.UNSUPPORTED, "pyspark is not installed: pip install 'tenanthub[spark]'"
        ) from exc
    builder = (
        SparkSession.builder.master(master)
        .appName("tenanthub-datasets")
        .config("spark.sql.warehouse.dir", warehouse_dir)
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "1")
    )
    if metastore_dir:
        builder = builder.config(
            "spark.hadoop.javax.jdo.option.ConnectionURL",
            f"jdbc:derby:;databaseName={metastore_dir}/metastore_db;create=true",
        ).config(
            # Derby's log goes next to its database, not into the service's working directory
            "spark.driver.extraJavaOptions",
            f"-Dderby.stream.error.file={metastore_dir}/derby.log",
        )
    for key, value in (conf or {}).items():
        builder = builder.config(key, value)
    builder = (
        builder.enableHiveSupport()
        if hive
        else builder.config("spark.sql.catalogImplementation", "in-memory")
    )
    return builder.getOrCreate()


class HiveConnector:
    kind = "hive"

    def __init__(self, session: Any, limits: Limits | None = None) -> None:
        """``session``: a SparkSession, or a no-argument callable making one (lazily)."""
        self._session = session
        self.limits = limits or Limits()

    def __repr__(self) -> str:
        return "HiveConnector()"

    def spark(self) -> Any:
        if callable(self._session) and not hasattr(self._session, "catalog"):
            self._session = self._session()
        return self._session

    def _call(self, fn: Any) -> Any:
        try:
            return fn(self.spark())
        except SourceError:
            raise
        except Exception as exc:  # py4j and pyspark raise many types; all are reported
            raise as_source_error(exc, ()) from exc

    def test(self) -> Health:
        try:
            self._call(lambda s: s.catalog.listDatabases())
        except SourceError as exc:
            return exc.health()
        return Health(True)

    def list(self, path: str = "", cursor: str | None = None, limit: int | None = None) -> Page:
        parts = clean(path)
        size = self.limits.page(limit)
        if not parts:
            every = self._call(lambda s: [d.name for d in s.catalog.listDatabases()])
            kind = "database"
        elif len(parts) == 1:
            if not self._call(lambda s: s.catalog.databaseExists(parts[0])):
                raise SourceError(Problem.NOT_FOUND, f"no database {parts[0]!r}")
            every = self._call(lambda s: [t.name for t in s.catalog.listTables(parts[0])])
            kind = "table"
        else:
            raise SourceError(Problem.BAD_PATH, f"{path!r} is a table: sample it instead")
        names, more = first_names(every, cursor, size)
        return Page([Entry(n, kind) for n in names], names[-1] if more and names else None)  # type: ignore[arg-type]

    def _name(self, path: str) -> str:
        parts = clean(path)
        if len(parts) != 2:
            raise SourceError(Problem.BAD_PATH, f"{path!r}: give <database>/<table>")
        return f"{quote(parts[0])}.{quote(parts[1])}"

    def sample(self, path: str, n: int = 20) -> Sample:
        name, rows = self._name(path), self.limits.rows(n)

        def run(s: Any) -> Sample:
            frame = s.table(name)
            got = frame.limit(rows + 1).collect()
            return cap_rows(frame.columns, [list(r) for r in got], rows, self.limits.sample_bytes)

        return self._call(run)

    def arrow(self, path: str, n: int) -> Any:
        """The first ``n`` rows of a table as an Arrow table (a notebook's whole read)."""
        import pyarrow as pa

        name = self._name(path)

        def run(s: Any) -> Any:
            frame = s.table(name).limit(n)
            if hasattr(frame, "toArrow"):  # Spark 4
                return frame.toArrow()
            return pa.Table.from_pandas(frame.toPandas(), preserve_index=False)

        return self._call(run)

    def schema(self, path: str) -> Schema:
        name = self._name(path)

        def run(s: Any) -> Schema:
            fields = s.table(name).schema.fields
            count = None
            for row in s.sql(f"DESCRIBE TABLE EXTENDED {name}").collect():
                if row[0] == "Statistics" and "rows" in str(row[1]):
                    words = str(row[1]).split(",")
                    count = int(next(w for w in words if "rows" in w).split()[0])
            return Schema(
                [Column(f.name, f.dataType.simpleString(), f.nullable) for f in fields],
                row_count=count,
            )

        return self._call(run)
