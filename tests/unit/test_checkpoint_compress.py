"""The layer compressor's gzip members: each 64 KiB segment deflated or stored on its
own, one CRC and size per member, readable by Python's gzip, zlib and ``gzip -t``."""

from __future__ import annotations

import gzip
import os
import random
import shutil
import struct
import subprocess
import zlib

import pytest

from checkpointer.layers import compress
from checkpointer.layers.compress import (
    GZIP_HEADER,
    SEGMENT,
    STORED_BLOCK,
    GzipSettings,
    compressible,
    gzip_chunks,
    gzip_member,
)


@pytest.fixture(autouse=True, params=["isal", "zlib"])
def implementation(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test with ISA-L's deflate (the dependency) and with zlib (the fallback)."""
    if request.param == "zlib":
        monkeypatch.setattr(compress, "deflate", zlib)
        monkeypatch.setattr(compress, "MAX_LEVEL", 9)
    else:
        assert compress.deflate.__name__ == "isal.isal_zlib", "isal is a dependency"
    return str(request.param)


TEXT = b"import numpy as np  # a line of a package that compresses well\n" * 4000


def text(n: int) -> bytes:
    return (TEXT * (n // len(TEXT) + 1))[:n]


def members(blob: bytes) -> list[bytes]:
    """The decompressed content of each gzip member of ``blob``, in order."""
    out = []
    while blob:
        reader = zlib.decompressobj(31)
        out.append(reader.decompress(blob))
        assert reader.eof, "a member ends with its CRC and size"
        blob = reader.unused_data
    return out


def gzip_tool_accepts(blob: bytes) -> bytes:
    if shutil.which("gzip") is None:
        pytest.skip("gzip(1) is not installed")
    subprocess.run(["gzip", "-t"], input=blob, check=True)
    return subprocess.run(["gzip", "-dc"], input=blob, check=True, capture_output=True).stdout


def mixed(n_segments: int, seed: int = 1) -> bytes:
    """Segments that alternate random bytes and text, in sizes that straddle segments."""
    rng = random.Random(seed)
    parts, total = [], 0
    i = 0
    while total < n_segments * SEGMENT:
        n = rng.randint(2048, 3 * SEGMENT)
        parts.append(rng.randbytes(n) if i % 2 else text(n))
        total += n
        i += 1
    return b"".join(parts)


def test_mixed_random_and_text_round_trips_through_every_reader() -> None:
    data = mixed(24)
    blob = gzip_member(data, 1)
    assert gzip.decompress(blob) == data
    assert zlib.decompress(blob, 31) == data
    assert gzip_tool_accepts(blob) == data
    assert blob.startswith(GZIP_HEADER)
    crc, size = struct.unpack("<II", blob[-8:])
    assert (crc, size) == (zlib.crc32(data), len(data))


def test_empty_input_is_a_valid_empty_member_and_no_chunks_no_members() -> None:
    blob = gzip_member(b"", 1)
    assert gzip.decompress(blob) == b""
    assert gzip_tool_accepts(blob) == b""
    assert gzip_member(b"", 0) == blob
    assert list(gzip_chunks([], GzipSettings())) == []


@pytest.mark.parametrize("kind", ["random", "text"])
@pytest.mark.parametrize("size", [1, SEGMENT - 1, SEGMENT, SEGMENT + 1, 2 * SEGMENT])
def test_segment_sized_inputs_round_trip(kind: str, size: int) -> None:
    data = os.urandom(size) if kind == "random" else text(size)
    blob = gzip_member(data, 1)
    assert gzip.decompress(blob) == data
    assert gzip_tool_accepts(blob) == data


def test_random_segments_are_stored_blocks_not_deflated() -> None:
    data = os.urandom(3 * SEGMENT)
    blob = gzip_member(data, 1)
    # header, then stored blocks of at most 65535 bytes (1-byte header from a byte
    # boundary, LEN, NLEN, the bytes as they are), an empty final block, CRC + size
    blocks = 3 * -(-SEGMENT // STORED_BLOCK)  # per segment: 65535 + 1 bytes
    assert len(blob) == len(GZIP_HEADER) + len(data) + 5 * blocks + 2 + 8
    first = blob[len(GZIP_HEADER) :]
    assert first[:5] == b"\x00" + struct.pack("<HH", STORED_BLOCK, 0)
    assert first[5 : 5 + STORED_BLOCK] == data[:STORED_BLOCK]
    assert gzip.decompress(blob) == data


def test_compressible_segments_shrink_and_random_ones_stay_stored_in_one_member() -> None:
    """A chunk-wide decision would store all of this (its start is random) or deflate
    random bytes; per segment only the text is deflated."""
    noise = [os.urandom(SEGMENT) for _ in range(4)]
    prose = [text(SEGMENT)] * 4
    data = b"".join(n + p for n, p in zip(noise, prose, strict=True))
    blob = gzip_member(data, 1)
    assert gzip.decompress(blob) == data
    random_bytes = 4 * SEGMENT
    overhead = 5 * 2 * 4 + 64
    assert len(blob) < random_bytes + 0.05 * 4 * SEGMENT + overhead
    # text alone shrinks a lot
    assert len(gzip_member(text(8 * SEGMENT), 1)) < 0.05 * 8 * SEGMENT


def test_level_zero_stores_everything() -> None:
    data = text(2 * SEGMENT)
    blob = gzip_member(data, 0)
    assert len(blob) == len(GZIP_HEADER) + len(data) + 5 * 4 + 2 + 8  # 2 blocks a segment
    assert gzip.decompress(blob) == data


def test_members_keep_their_boundaries_and_order() -> None:
    data = mixed(40, seed=2)
    chunk = 3 * SEGMENT + 123  # members do not line up with segments
    chunks = [data[i : i + chunk] for i in range(0, len(data), chunk)]
    blob = b"".join(gzip_chunks(chunks, GzipSettings(level=1, workers=3, chunk=chunk)))
    assert members(blob) == chunks
    assert gzip.decompress(blob) == data
    assert gzip_tool_accepts(blob) == data


def test_probe_decides_on_the_segment_start() -> None:
    assert compressible(text(SEGMENT))
    assert not compressible(os.urandom(SEGMENT))
    assert not compressible(text(SEGMENT), 0)
    assert not compressible(b"")
