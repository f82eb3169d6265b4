"""Sample and schema of one data file (CSV, Parquet, JSON lines) read through pyarrow.

Shared by every kind that holds files (``files``, ``s3``, ``hdfs``): they hand in
an open, seekable binary file and its size, and only the bytes a sample needs
are read:

- CSV / TSV and JSON lines: the first ``max_bytes`` (+ one line's worth of
  slack), cut at the last complete line, parsed by pyarrow; a bigger file's
  sample says ``truncated``. The schema is inferred from the same head, so its
  types are a guess from the first rows, and there is no row count (counting
  would read the whole file).
- Parquet: the footer, then the first row group(s) until ``n`` rows (pyarrow's
  ``iter_batches``); the schema and the row count come from the footer alone.
"""

from __future__ import annotations

import io
from typing import Any, BinaryIO, Literal

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.json as pa_json
import pyarrow.parquet as pq

from hub.service.datasets.connector import Column, Problem, Sample, Schema, SourceError, cap_rows

Format = Literal["csv", "tsv", "jsonl", "parquet"]

_SUFFIXES: dict[str, Format] = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
}


def file_format(name: str) -> Format:
    """The format a file's name says, or SourceError(unsupported)."""
    lower = name.lower()
    for suffix, fmt in _SUFFIXES.items():
        if lower.endswith(suffix):
            return fmt
    raise SourceError(
        Problem.UNSUPPORTED,
        f"{name!r}: only CSV (.csv, .tsv), JSON lines (.jsonl, .ndjson, .json) and "
        "Parquet (.parquet) files can be sampled",
    )


def _head(f: BinaryIO, size: int | None, max_bytes: int) -> tuple[bytes, bool]:
    """The file's first complete lines within ``max_bytes``; True when bytes were left."""
    data = f.read(max_bytes + 1)
    more = len(data) > max_bytes or (size is not None and size > len(data))
    if not more:
        return data, False
    cut = data.rfind(b"\n", 0, max_bytes)
    return (data[: cut + 1] if cut >= 0 else b""), True


def _read_text_table(fmt: Format, data: bytes) -> pa.Table:
    if not data.strip():
        return pa.table({})
    try:
        if fmt == "jsonl":
            return pa_json.read_json(io.BytesIO(data))
        delimiter = "\t" if fmt == "tsv" else ","
        return pa_csv.read_csv(
            io.BytesIO(data), parse_options=pa_csv.ParseOptions(delimiter=delimiter)
        )
    except pa.ArrowInvalid as exc:
        raise SourceError(Problem.OTHER, f"cannot parse the file as {fmt}: {exc}") from exc


def _rows(table: pa.Table) -> list[list[Any]]:
    columns = [table.column(i).to_pylist() for i in range(table.num_columns)]
    return [list(r) for r in zip(*columns, strict=True)] if columns else []


def sample_file(f: BinaryIO, name: str, size: int | None, n: int, max_bytes: int) -> Sample:
    """The first ``n`` rows of the file, at most ``max_bytes`` read (text) or returned."""
    fmt = file_format(name)
    if fmt == "parquet":
        parquet = pq.ParquetFile(f)
        batch = next(parquet.iter_batches(batch_size=max(n, 1)), None)
        if batch is None or n == 0:
            return Sample(parquet.schema_arrow.names, [], parquet.metadata.num_rows > 0)
        table = pa.Table.from_batches([batch])
        more = parquet.metadata.num_rows > table.num_rows
        return cap_rows(table.column_names, _rows(table), n, max_bytes, more)
    data, more = _head(f, size, max_bytes)
    table = _read_text_table(fmt, data)
    return cap_rows(table.column_names, _rows(table), n, max_bytes, more)


def schema_file(f: BinaryIO, name: str, size: int | None, max_bytes: int) -> Schema:
    """Columns and types (Parquet: with the row count from the footer)."""
    fmt = file_format(name)
    if fmt == "parquet":
        parquet = pq.ParquetFile(f)
        arrow = parquet.schema_arrow
        return Schema(
            [Column(fld.name, str(fld.type), fld.nullable) for fld in arrow],
            row_count=parquet.metadata.num_rows,
        )
    data, _ = _head(f, size, max_bytes)
    table = _read_text_table(fmt, data)
    return Schema([Column(fld.name, str(fld.type), fld.nullable) for fld in table.schema])
