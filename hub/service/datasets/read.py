"""Reading a whole dataset for the notebook SDK, as an Arrow table (capped, never silently).

A sample is the first rows; ``datasets.read("sales/2024.parquet")`` in a notebook wants
the data. The service reads it with the source's credentials (the notebook never
sees them) and hands it over as an Arrow IPC stream, which pandas and Spark load
without a copy through text. Two caps keep one read from taking the service down:
a file larger than ``read_bytes`` and a table with more rows than the ``limit``
asked for (at most ``read_rows``) are refused with a sentence saying so and what
to do instead, never cut short: a truncated DataFrame that looks complete is worse
than an error.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import BinaryIO

import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

from hub.service.datasets.connector import Connector, Problem, SourceError
from hub.service.datasets.files import FilesConnector
from hub.service.datasets.formats import _read_text_table, file_format
from hub.service.datasets.hdfs import HdfsConnector
from hub.service.datasets.hive import HiveConnector
from hub.service.datasets.paths import resolve_inside
from hub.service.datasets.s3 import S3Connector
from hub.service.datasets.sql import SqlConnector

ARROW_STREAM = "application/vnd.apache.arrow.stream"


@dataclass(frozen=True)
class ReadLimits:
    max_bytes: int  # largest file read whole
    max_rows: int  # most rows of a table (the caller's limit, at most this)


def too_big(path: str, size: int, limits: ReadLimits) -> SourceError:
    return SourceError(
        Problem.UNSUPPORTED,
        f"{path} is {size} bytes, over the {limits.max_bytes} bytes a notebook read may "
        "take (datasets.read_bytes): read a part of it (a Parquet row group, a smaller "
        "file), or read it with Spark from the source itself",
    )


def read_file(f: BinaryIO, name: str, size: int | None, limits: ReadLimits) -> pa.Table:
    """A CSV, JSON lines or Parquet file, whole."""
    if size is not None and size > limits.max_bytes:
        raise too_big(name, size, limits)
    fmt = file_format(name)
    data = f.read(limits.max_bytes + 1)
    if len(data) > limits.max_bytes:
        raise too_big(name, len(data), limits)
    if fmt == "parquet":
        try:
            return pq.read_table(io.BytesIO(data))
        except pa.ArrowInvalid as exc:
            raise SourceError(Problem.OTHER, f"cannot read {name} as Parquet: {exc}") from exc
    return _read_text_table(fmt, data)


def too_many_rows(path: str, limit: int) -> SourceError:
    return SourceError(
        Problem.UNSUPPORTED,
        f"{path} has more than {limit} rows: pass a larger limit (at most datasets.read_rows), "
        "or filter in the database, or read it with Spark",
    )


def read_table(connector: Connector, path: str, limit: int, limits: ReadLimits) -> pa.Table:
    """The dataset at ``path`` of a source, whole (files) or up to ``limit`` rows (tables)."""
    rows = max(1, min(limit, limits.max_rows))
    if isinstance(connector, FilesConnector):
        target = resolve_inside(connector.root, path)
        if not target.is_file():
            raise SourceError(Problem.NOT_FOUND, f"{path!r} is not a file of this source")
        with target.open("rb") as f:
            return read_file(f, target.name, target.stat().st_size, limits)
    if isinstance(connector, S3Connector | HdfsConnector):

        def whole(f: BinaryIO, name: str, size: int | None) -> pa.Table:
            return read_file(f, name, size, limits)

        table: pa.Table = connector._read(path, whole)  # the connector's reader: its errors
        return table
    if isinstance(connector, SqlConnector):
        sample = connector.rows(path, rows + 1)
        if len(sample[1]) > rows:
            raise too_many_rows(path, rows)
        columns, values = sample
        return pa.table({c: [r[i] for r in values] for i, c in enumerate(columns)})
    if isinstance(connector, HiveConnector):
        table = connector.arrow(path, rows + 1)
        if table.num_rows > rows:
            raise too_many_rows(path, rows)
        return table
    raise SourceError(Problem.UNSUPPORTED, f"a {connector.kind} source cannot be read whole")


def arrow_stream(table: pa.Table) -> bytes:
    """The table as an Arrow IPC stream (what the API's read route answers)."""
    sink = pa.BufferOutputStream()
    with ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue().to_pybytes())
