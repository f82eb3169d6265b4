"""``files``: a folder on this machine (the tenant's shared folder, an NFS mount).

Paths never leave the root (``paths.resolve_inside``: ``..``, absolute paths,
NUL and symlinks pointing out, also through a symlinked parent, are refused).

Listing is paged the way the directory itself is read: ``os.scandir`` yields
entries in the order the file system keeps them, and a page stops reading after
``limit + 1`` entries, so the first page of a folder of 100 000 entries reads
about ``limit`` directory entries and stats only the entries on the page (never
the whole folder, unlike Jupyter's contents API, which lists and stats all of
it). The cursor records how many entries earlier pages consumed and the last
name handed out; the next page skips that many entries of a new scan (reading,
not statting, them). Entries within a page are sorted by name; pages follow the
directory's order. A folder that changes between two pages may show an entry
twice or skip one, as ``ls`` of a changing folder would: the listing is a
browser, not a snapshot. Symlinks whose target is outside the root are left out
of listings.
"""

from __future__ import annotations

import base64
import heapq
import json
import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from pathlib import Path

from hub.service.datasets.connector import (
    Entry,
    EntryKind,
    Health,
    Limits,
    Page,
    Problem,
    Sample,
    Schema,
    SourceError,
    as_source_error,
)
from hub.service.datasets.formats import sample_file, schema_file
from hub.service.datasets.paths import inside, resolve_inside


def first_names(names: Iterable[str], cursor: str | None, limit: int) -> tuple[list[str], bool]:
    """The ``limit`` smallest of ``names`` greater than ``cursor``; True when more follow.

    For listings that come whole from their source (SQL schemas, Spark catalogs,
    HDFS folders): one pass, a bounded heap, memory for one page.
    """
    wanted = (n for n in names if cursor is None or n > cursor)
    page = heapq.nsmallest(limit + 1, wanted)
    return page[:limit], len(page) > limit


def encode_cursor(offset: int, last: str) -> str:
    raw = json.dumps([offset, last], ensure_ascii=False).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int:
    """How many directory entries earlier pages consumed; SourceError for a forged cursor."""
    if not cursor:
        return 0
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        offset, last = json.loads(raw)
        if type(offset) is int and offset > 0 and isinstance(last, str):
            return offset
    except (ValueError, TypeError):
        pass
    raise SourceError(Problem.OTHER, "not a cursor of this listing: start again without one")


Scandir = Callable[[Path], AbstractContextManager[Iterator[os.DirEntry[str]]]]


class FilesConnector:
    kind = "files"

    def __init__(
        self, root: str | Path, limits: Limits | None = None, scandir: Scandir = os.scandir
    ) -> None:
        self.root = Path(os.path.realpath(root))
        self.limits = limits or Limits()
        self._scandir = scandir

    def __repr__(self) -> str:
        return f"FilesConnector(root={str(self.root)!r})"

    def test(self) -> Health:
        if not self.root.exists():
            return Health(False, Problem.NOT_FOUND, f"{self.root} does not exist")
        if not self.root.is_dir():
            return Health(False, Problem.NOT_FOUND, f"{self.root} is not a folder")
        if not os.access(self.root, os.R_OK | os.X_OK):
            return Health(False, Problem.NO_PERMISSION, f"{self.root} cannot be read")
        return Health(True)

    def _entry(self, folder: Path, name: str) -> Entry | None:
        path = folder / name
        try:
            real = Path(os.path.realpath(path)) if path.is_symlink() else path
            if not inside(self.root, real):
                return None
            st = real.stat()
        except OSError:
            return None
        kind: EntryKind = "folder" if os.path.isdir(real) else "file"
        return Entry(
            name,
            kind,
            None if kind == "folder" else st.st_size,
            datetime.fromtimestamp(st.st_mtime, UTC),
        )

    def list(self, path: str = "", cursor: str | None = None, limit: int | None = None) -> Page:
        folder = resolve_inside(self.root, path)
        size = self.limits.page(limit)
        skip = decode_cursor(cursor)
        names: list[str] = []
        more = False
        try:
            if not folder.is_dir():
                raise SourceError(Problem.NOT_FOUND, f"{path!r} is not a folder in this source")
            with self._scandir(folder) as it:
                for i, entry in enumerate(it):
                    if i < skip:
                        continue
                    if len(names) == size:
                        more = True
                        break
                    names.append(entry.name)
        except OSError as exc:
            raise as_source_error(exc, ()) from exc
        entries = [e for e in (self._entry(folder, n) for n in sorted(names)) if e is not None]
        return Page(entries, encode_cursor(skip + len(names), names[-1]) if more else None)

    def _file(self, path: str) -> Path:
        target = resolve_inside(self.root, path)
        if not target.is_file():
            raise SourceError(Problem.NOT_FOUND, f"{path!r} is not a file in this source")
        return target

    def sample(self, path: str, n: int = 20) -> Sample:
        target = self._file(path)
        try:
            with target.open("rb") as f:
                return sample_file(
                    f,
                    target.name,
                    target.stat().st_size,
                    self.limits.rows(n),
                    self.limits.sample_bytes,
                )
        except OSError as exc:
            raise as_source_error(exc, ()) from exc

    def schema(self, path: str) -> Schema:
        target = self._file(path)
        try:
            with target.open("rb") as f:
                return schema_file(f, target.name, target.stat().st_size, self.limits.sample_bytes)
        except OSError as exc:
            raise as_source_error(exc, ()) from exc
