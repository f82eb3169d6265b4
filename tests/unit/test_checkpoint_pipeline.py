"""The layer is read back while it is written: the tar writer hashes and writes on a
worker thread and reports progress; a follower hands out the file's chunks behind it
(what the commit's early upload gzips and sends)."""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

import pytest

from checkpointer.drivers.base import DriverError
from checkpointer.drivers.direct import LayerFollower
from checkpointer.layers.tarstream import BackgroundDigestWriter, write_layer


def tree(root: Path, files: int = 60) -> Path:
    for i in range(files):
        d = root / f"pkg{i // 20}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"f{i:03d}").write_bytes(os.urandom(1000 + 37_000 * (i % 5)))
    (root / "big").write_bytes(os.urandom(3_000_000))
    return root


def test_a_follower_reads_the_whole_layer_while_it_is_written(tmp_path: Path) -> None:
    src = tree(tmp_path / "upper")
    target = tmp_path / "layer.tar"
    follower = LayerFollower(target, chunk=256 << 10)
    got: list[bytes] = []
    errors: list[BaseException] = []

    def follow() -> None:
        try:
            got.extend(follower.chunks())
        except BaseException as exc:
            errors.append(exc)

    with open(target, "wb") as out:
        reader = threading.Thread(target=follow)
        reader.start()
        info = write_layer(str(src), out, progress=follower.progress)
    follower.finish()
    reader.join(30)
    assert not errors
    data = target.read_bytes()
    assert b"".join(got) == data
    assert all(len(c) == 256 << 10 for c in got[:-1]) and 0 < len(got[-1]) <= 256 << 10
    assert follower.read == info.size == len(data)
    assert info.diff_id == "sha256:" + hashlib.sha256(data).hexdigest()


def test_a_follower_stops_with_an_error_when_the_writer_fails(tmp_path: Path) -> None:
    target = tmp_path / "layer.tar"
    target.write_bytes(b"x" * 1000)
    follower = LayerFollower(target, chunk=4096)
    follower.progress(1000)
    chunks = follower.chunks()
    follower.fail()
    with pytest.raises(DriverError, match="not written to the end"):
        next(chunks)


def test_the_background_writer_keeps_order_and_reports_progress(tmp_path: Path) -> None:
    seen: list[int] = []
    pieces = [os.urandom(n) for n in (10, 600, 2 << 20, 3, 5000, 1 << 20, 1)]
    with open(tmp_path / "out", "wb") as out:
        writer = BackgroundDigestWriter(out, batch=4096, depth=2, progress=seen.append)
        for piece in pieces:
            writer.write(piece)
        digest = writer.close()
    data = b"".join(pieces)
    assert (tmp_path / "out").read_bytes() == data
    assert digest == hashlib.sha256(data).hexdigest()
    assert seen == sorted(seen) and seen[-1] == len(data)


def test_a_failing_disk_surfaces_in_the_writer(tmp_path: Path) -> None:
    with open(tmp_path / "out", "wb") as out:
        writer = BackgroundDigestWriter(out, batch=16, depth=1)
        out.close()  # every write of the worker fails now
        with pytest.raises(ValueError):
            for _ in range(100):
                writer.write(b"y" * 64)
            writer.close()
