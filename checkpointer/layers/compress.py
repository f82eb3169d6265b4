"""Parallel gzip for a layer upload: independent gzip members, compressed on threads.

``docker push`` gzips a layer on one core (8-10 s for 520 MB of random bytes
here). A gzip file may be a sequence of members (RFC 1952 2.2); Go's
``compress/gzip`` reader (the engine's pull) and ``unpigz`` read them all. So the
layer is cut into fixed chunks, each chunk becomes one member, and the members
are compressed on worker threads (zlib releases the GIL) and emitted in order.

Inside a member, each 64 KiB segment is deflated or stored on its own: a layer's
small files alternate source text with wheels, archives and other bytes that do
not shrink, so a whole-chunk decision either deflates random bytes (~25 MB/s a
core here, for nothing) or stores text. A trial compress of a segment's first
4 KiB decides. Deflated runs are raw deflate from one compressor per member; before
a stored segment the compressor is fully flushed (byte-aligned, history reset, so
nothing after refers back across the stored bytes), and the segment is written as
deflate *stored* blocks (RFC 1951 3.2.4: a copy with a 5-byte header per 64 KiB).
The member's header, one CRC32 and size wrap it as an ordinary gzip member
(RFC 1952), which Python's ``gzip``, ``gzip -t``, Go's reader and containerd read.

Docker 20.10 cannot pull zstd layers, so gzip it is. Level 1 by default: on two
cores the upload, not the ratio, is what the user waits for. Deflate is ISA-L's
(``isal``) where it is installed: its level 1 deflated the benchmark's layer about
ten times faster than zlib's level 1 here (at about the same ratio), and its CRC32
five times faster; levels above 3 are its 3. Without it, zlib.
"""

from __future__ import annotations

import struct
import zlib
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from types import ModuleType

deflate: ModuleType
try:
    from isal import isal_zlib as deflate

    #: the highest level the deflate implementation has
    MAX_LEVEL = 3
except ImportError:  # pragma: no cover - isal is a dependency; zlib does the same, slower
    deflate = zlib
    MAX_LEVEL = 9

CHUNK = 4 << 20
#: the unit of the stored-or-deflate decision inside a member
SEGMENT = 64 << 10
#: bytes of a segment compressed on trial to decide
PROBE = 4 << 10
#: a probe that compresses to more than this share of itself is stored
STORE_ABOVE = 0.9
#: the largest stored block deflate allows (its LEN field is 16 bits)
STORED_BLOCK = 0xFFFF
#: gzip member header: magic, deflate, no flags, mtime 0, no extra flags, OS unix
GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03"
#: an empty final block (fixed Huffman, end-of-block only), from a byte boundary
FINAL_EMPTY_BLOCK = b"\x03\x00"


@dataclass(frozen=True)
class GzipSettings:
    level: int = 1
    chunk: int = CHUNK
    workers: int = 2
    segment: int = SEGMENT


def compressible(data: bytes | memoryview, level: int = 1) -> bool:
    """Whether ``data`` is worth deflating (pure): its first :data:`PROBE` bytes shrink."""
    if level == 0 or not len(data):
        return False
    probe = data[:PROBE]
    return len(deflate.compress(probe, 1)) <= STORE_ABOVE * len(probe)


def member_level(chunk: bytes, level: int) -> int:
    """0 when ``chunk`` looks incompressible at its start, else ``level`` (pure)."""
    return level if compressible(chunk, level) else 0


def stored_blocks(data: bytes | memoryview) -> list[bytes | memoryview]:
    """``data`` as non-final deflate stored blocks, from a byte boundary (RFC 1951 3.2.4)."""
    view = memoryview(data)
    parts: list[bytes | memoryview] = []
    for start in range(0, len(view), STORED_BLOCK):
        block = view[start : start + STORED_BLOCK]
        parts.append(b"\x00" + struct.pack("<HH", len(block), len(block) ^ 0xFFFF))
        parts.append(block)
    return parts


def gzip_member(chunk: bytes, level: int, segment: int = SEGMENT) -> bytes:
    """One complete gzip member (header, deflate stream, CRC and size) for ``chunk``;
    each ``segment`` bytes of it deflated or stored, whichever its probe says."""
    view = memoryview(chunk)
    parts: list[bytes | memoryview] = [GZIP_HEADER]
    compressor = None
    deflating = False
    for start in range(0, len(view), segment):
        piece = view[start : start + segment]
        if compressible(piece, level):
            if compressor is None:
                compressor = deflate.compressobj(min(level, MAX_LEVEL), deflate.DEFLATED, -15)
            parts.append(compressor.compress(piece))
            deflating = True
            continue
        if deflating:
            assert compressor is not None
            parts.append(compressor.flush(deflate.Z_FULL_FLUSH))
            deflating = False
        parts.extend(stored_blocks(piece))
    if deflating:
        assert compressor is not None
        parts.append(compressor.flush(deflate.Z_FINISH))
    else:
        parts.append(FINAL_EMPTY_BLOCK)
    parts.append(struct.pack("<II", deflate.crc32(view), len(view) & 0xFFFFFFFF))
    return b"".join(parts)


def gzip_chunks(chunks: Iterable[bytes], settings: GzipSettings) -> Iterator[bytes]:
    """Members of ``chunks`` in order, at most ``2 * workers`` chunks in memory at once."""
    ahead = max(2, 2 * settings.workers)
    with ThreadPoolExecutor(max(1, settings.workers), thread_name_prefix="gzip") as pool:
        pending: deque[Future[bytes]] = deque()
        for chunk in chunks:
            pending.append(pool.submit(gzip_member, chunk, settings.level, settings.segment))
            if len(pending) >= ahead:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def read_chunks(path: str, size: int = CHUNK) -> Iterator[bytes]:
    with open(path, "rb", buffering=0) as source:
        while chunk := source.read(size):
            yield chunk
