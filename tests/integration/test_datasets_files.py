"""The files connector on real folders: pages of a 100 000-entry folder read only about a
page of directory entries (the first page does not list the folder) and a cursor walks
every entry exactly once; paths and symlinks never leave the root; samples and
schemas of CSV, Parquet and JSON lines files stay capped in rows and bytes."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from hub.service.datasets.connector import Limits, Problem, SourceError
from hub.service.datasets.files import FilesConnector

pytestmark = pytest.mark.integration

BIG = 100_000


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("big")
    for i in range(BIG):
        os.close(os.open(folder / f"f{i:06d}.csv", os.O_CREAT | os.O_WRONLY, 0o644))
    return folder


class CountingScandir:
    """The real os.scandir, counting the directory entries a listing pulls from it."""

    def __init__(self) -> None:
        self.read = 0

    @contextmanager
    def __call__(self, path: Path) -> Iterator[Iterator[os.DirEntry[str]]]:
        with os.scandir(path) as it:

            def counted() -> Iterator[os.DirEntry[str]]:
                for entry in it:
                    self.read += 1
                    yield entry

            yield counted()


def test_the_first_page_of_a_100000_entry_folder_reads_one_page_of_entries(big: Path) -> None:
    counter = CountingScandir()
    c = FilesConnector(big, scandir=counter)
    started = time.perf_counter()
    page = c.list("", limit=100)
    first_page = time.perf_counter() - started
    assert len(page.entries) == 100 and page.next_cursor
    assert counter.read == 101  # the page and one more to know that more follow
    names = [e.name for e in page.entries]
    assert names == sorted(names) and all(n.startswith("f") for n in names)
    assert all(e.kind == "file" and e.size == 0 and e.modified for e in page.entries)
    started = time.perf_counter()
    everything = sorted(os.listdir(big))
    for name in everything:
        (big / name).stat()
    full = time.perf_counter() - started
    assert first_page < full, (first_page, full)


def test_a_cursor_walks_every_entry_once(big: Path) -> None:
    c = FilesConnector(big, Limits(page_size=1000, max_page_size=5000))
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        page = c.list("", cursor=cursor, limit=5000)
        seen += [e.name for e in page.entries]
        pages += 1
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert pages == BIG // 5000
    assert len(seen) == BIG and set(seen) == {f"f{i:06d}.csv" for i in range(BIG)}


def test_a_forged_cursor_is_refused(big: Path) -> None:
    for cursor in ("garbage!", "WzAsIngiXQ", "W3RydWUsIngiXQ"):  # junk, [0,"x"], [true,"x"]
        with pytest.raises(SourceError, match="not a cursor"):
            FilesConnector(big).list("", cursor=cursor)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "shared"
    (root / "sales").mkdir(parents=True)
    (root / "sales" / "2024.csv").write_text("region,amount\nnorth,10\nsouth,20\n")
    (root / "notes.txt").write_text("hello")
    outside = tmp_path / "private"
    outside.mkdir()
    (outside / "passwords.csv").write_text("user,password\nroot,hunter2\n")
    os.symlink(outside / "passwords.csv", root / "leak.csv")
    os.symlink(outside, root / "leakdir")
    os.symlink("sales/2024.csv", root / "alias.csv")
    return root


def test_a_folder_lists_files_and_folders_and_hides_symlinks_leading_out(tree: Path) -> None:
    page = FilesConnector(tree).list("")
    assert [(e.name, e.kind) for e in page.entries] == [
        ("alias.csv", "file"),
        ("notes.txt", "file"),
        ("sales", "folder"),
    ]
    assert page.next_cursor is None
    assert FilesConnector(tree).test().ok


@pytest.mark.parametrize(
    "path", ["../private/passwords.csv", "/etc/passwd", "leak.csv", "leakdir/passwords.csv"]
)
def test_paths_and_symlinks_leaving_the_root_are_refused(tree: Path, path: str) -> None:
    c = FilesConnector(tree)
    for call in (lambda: c.sample(path), lambda: c.schema(path), lambda: c.list(path)):
        with pytest.raises(SourceError) as caught:
            call()
        assert caught.value.problem is Problem.BAD_PATH
        assert "hunter2" not in caught.value.message


def test_a_symlink_inside_the_root_is_followed(tree: Path) -> None:
    sample = FilesConnector(tree).sample("alias.csv")
    assert sample.rows == [["north", 10], ["south", 20]]


def test_missing_and_unreadable_things_are_reported(tree: Path, tmp_path: Path) -> None:
    c = FilesConnector(tree)
    for call in (lambda: c.sample("sales/nope.csv"), lambda: c.list("nope")):
        with pytest.raises(SourceError) as caught:
            call()
        assert caught.value.problem is Problem.NOT_FOUND
    with pytest.raises(SourceError) as caught:
        c.sample("notes.txt")
    assert caught.value.problem is Problem.UNSUPPORTED
    health = FilesConnector(tmp_path / "gone").test()
    assert (health.ok, health.problem) == (False, Problem.NOT_FOUND)


@pytest.fixture(scope="module")
def huge(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CSV and a JSON lines file of about 60 MB, a Parquet file of 2 million rows."""
    folder = tmp_path_factory.mktemp("huge")
    line = b"123456789,abcdefghijklmnopqrstuvwxyz,2024-01-01\n"
    with (folder / "huge.csv").open("wb") as f:
        f.write(b"id,text,day\n")
        for _ in range(20):
            f.write(line * 60_000)
    row = json.dumps({"id": 1, "text": "x" * 40, "nested": {"a": [1, 2]}}).encode() + b"\n"
    with (folder / "huge.jsonl").open("wb") as f:
        for _ in range(20):
            f.write(row * 40_000)
    n = 2_000_000
    table = pa.table({"id": pa.array(range(n), pa.int64()), "text": pa.array(["y" * 20] * n)})
    pq.write_table(table, folder / "huge.parquet", row_group_size=500_000)
    return folder


@pytest.mark.parametrize("name", ["huge.csv", "huge.jsonl", "huge.parquet"])
def test_a_huge_files_sample_stays_capped_in_rows_and_bytes(huge: Path, name: str) -> None:
    assert (huge / name).stat().st_size > 8 << 20
    by_rows = FilesConnector(huge, Limits(sample_rows=50, sample_bytes=1 << 20)).sample(name, 1000)
    assert len(by_rows.rows) == 50 and by_rows.truncated
    by_bytes = FilesConnector(huge, Limits(sample_rows=10_000, sample_bytes=32 * 1024))
    started = time.perf_counter()
    sample = by_bytes.sample(name, 10_000)
    elapsed = time.perf_counter() - started
    assert sample.truncated and 0 < len(sample.rows) < 10_000
    assert len(json.dumps([sample.columns, sample.rows])) <= 32 * 1024
    assert elapsed < 5, f"sampling {name} took {elapsed:.1f} s: it must not read the whole file"


def test_schemas_of_csv_jsonl_and_parquet(huge: Path) -> None:
    c = FilesConnector(huge, Limits(sample_bytes=64 * 1024))
    csv = c.schema("huge.csv")
    assert [(col.name, col.type) for col in csv.columns] == [
        ("id", "int64"),
        ("text", "string"),
        ("day", "date32[day]"),
    ]
    assert csv.row_count is None
    jsonl = c.schema("huge.jsonl")
    assert [col.name for col in jsonl.columns] == ["id", "text", "nested"]
    parquet = c.schema("huge.parquet")
    assert [(col.name, col.type) for col in parquet.columns] == [
        ("id", "int64"),
        ("text", "string"),
    ]
    assert parquet.row_count == 2_000_000
