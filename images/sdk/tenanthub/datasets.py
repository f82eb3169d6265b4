"""Your tenant's data sources in a notebook, without handling any credentials.

    from tenanthub import datasets
    datasets.sources()                         # [Source(name='sales', kind='s3'), ...]
    datasets.list("sales")                     # what is at the top of the source
    datasets.list("sales/2024")                # a folder / prefix / schema
    datasets.page("sales/2024", cursor=None)   # one page and the next page's cursor
    df = datasets.read("sales/2024.parquet")   # a pandas DataFrame
    sdf = datasets.read("warehouse/public/orders", spark=spark)  # a Spark DataFrame
    datasets.sample("sales/2024.parquet", n=5) # the first rows, as a DataFrame
    datasets.schema("warehouse/public/orders") # columns and types

A dataset path is ``<source>/<path inside it>``. The platform reads the data with the
source's credentials and hands it over as Arrow; the notebook never sees them.
"""

from __future__ import annotations

import builtins
import io
from dataclasses import dataclass
from typing import Any

from tenanthub.api import ApiError, Platform

_platform: Platform | None = None


def platform() -> Platform:
    """The platform this notebook server belongs to (from its environment)."""
    global _platform
    if _platform is None:
        _platform = Platform.from_environment()
    return _platform


def use(p: Platform | None) -> None:
    """Talk to another platform or tenant (``Platform(url, token, tenant)``); None: reset."""
    global _platform
    _platform = p


@dataclass(frozen=True)
class Source:
    name: str
    kind: str
    settings: dict[str, Any]


@dataclass(frozen=True)
class Entry:
    name: str
    kind: str  # file, folder, table, database
    size: int | None = None
    modified: str | None = None


@dataclass(frozen=True)
class Page:
    """One page of a listing; ``next_cursor`` asks for the next one (None: the last)."""

    entries: builtins.list[Entry]
    next_cursor: str | None


def split(path: str) -> tuple[str, str]:
    """``sales/2024/jan.csv`` -> (``sales``, ``2024/jan.csv``)."""
    source, _, rest = path.strip("/").partition("/")
    if not source:
        raise ValueError("give a dataset path: <source>/<path in it>, e.g. sales/2024.parquet")
    return source, rest


def sources() -> builtins.list[Source]:
    p = platform()
    answer = p.get(p.tenant_path("datasets"))
    return [Source(s["name"], s["kind"], s["settings"]) for s in answer["items"]]


def page(path: str, cursor: str | None = None, limit: int | None = None) -> Page:
    """One page of a folder from ``cursor`` (None: the first), at most ``limit`` entries."""
    p = platform()
    source, inner = split(path)
    got = p.get(p.tenant_path("datasets", source, "list"), path=inner, cursor=cursor,
                limit=limit)  # fmt: skip
    entries = [Entry(e["name"], e["kind"], e.get("size"), e.get("modified"))
               for e in got["entries"]]  # fmt: skip
    return Page(entries, got.get("next_cursor") or None)


def list(path: str, limit: int | None = None, all: bool = False) -> builtins.list[Entry]:
    """One page of a folder (``limit`` entries), or every page with ``all=True``."""
    entries: builtins.list[Entry] = []
    cursor = None
    while True:
        got = page(path, cursor, limit)
        entries += got.entries
        cursor = got.next_cursor
        if not all or not cursor:
            return entries


def test(source: str) -> dict[str, Any]:
    """Can the platform reach the source? ``{"ok": ..., "problem": ..., "advice": ...}``."""
    p = platform()
    return dict(p.get(p.tenant_path("datasets", source, "test")))


def schema(path: str) -> dict[str, Any]:
    p = platform()
    source, inner = split(path)
    return dict(p.get(p.tenant_path("datasets", source, "schema"), path=inner))


def sample(path: str, n: int = 20) -> Any:
    """The first ``n`` rows as a pandas DataFrame (capped by the platform)."""
    import pandas as pd

    p = platform()
    source, inner = split(path)
    got = p.get(p.tenant_path("datasets", source, "sample"), path=inner, n=n)
    return pd.DataFrame(got["rows"], columns=got["columns"])


def read(path: str, limit: int | None = None, spark: Any = None) -> Any:
    """The whole file or table as a pandas DataFrame, or a Spark DataFrame when a
    SparkSession is given. A table with more rows than ``limit`` (or than the platform
    allows) is refused with a message, never cut short."""
    try:
        import pyarrow.ipc as ipc
    except ImportError:
        raise ImportError(
            "datasets.read needs pyarrow and pandas (in the cpu and spark images): "
            "pip install pyarrow pandas"
        ) from None
    p = platform()
    source, inner = split(path)
    kind, body = p.request("GET", p.tenant_path("datasets", source, "read"),
                           {"path": inner, "limit": limit})  # fmt: skip
    if "arrow" not in kind:
        raise ApiError(500, f"the platform answered {kind or 'no content type'}, not Arrow")
    table = ipc.open_stream(io.BytesIO(body)).read_all()
    frame = table.to_pandas()
    if spark is not None:
        return spark.createDataFrame(frame)
    return frame
