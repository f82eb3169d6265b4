"""An overlay2 upper directory as an image layer tar, digested while it is written.

What Docker's own overlay2 diff does (moby ``archive`` with its overlay whiteout
converter), so that the layer restores to the same file tree as ``docker commit``:

- entries in lexical order, a directory before its children, the root itself left out;
- an overlay whiteout (a character device 0/0) becomes an empty regular file
  ``.wh.<name>`` (mode 0600); a directory marked opaque (xattr
  ``trusted.overlay.opaque=y``) is followed by an empty ``<dir>/.wh..wh..opq``;
- modes (with setuid/setgid/sticky), owners, whole-second mtimes, symlink
  targets, devices and FIFOs as they are; a second name of an inode already
  written becomes a hard link to the first; sockets are left out (tar cannot
  carry them);
- of the extended attributes only ``security.capability`` is kept (the only one
  moby keeps), so ``setcap``'d binaries keep working.

The upper directory must be a faithful diff: an engine whose overlay uses
``redirect_dir`` or ``metacopy`` stores renamed directories and metadata-only
copies that only the kernel can resolve. Such an entry raises
:class:`NotNativeDiff` (the caller then lets the engine commit).

The sha256 of the uncompressed bytes is the layer's ``diff_id``; it is computed
from the same buffers that are written, so no second read is needed.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import queue
import stat
import tarfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

WHITEOUT_PREFIX = ".wh."
OPAQUE_MARKER = ".wh..wh..opq"
OPAQUE_XATTR = "trusted.overlay.opaque"
#: overlay features whose upper directory is not a self-contained diff
FOREIGN_XATTRS = ("trusted.overlay.redirect", "trusted.overlay.metacopy")
KEPT_XATTRS = ("security.capability",)
COPY_BUFFER = 1 << 20


class NotNativeDiff(RuntimeError):
    """The upper directory holds overlay redirects or metacopies: not a plain diff."""


@dataclass(frozen=True)
class LayerInfo:
    #: ``sha256:<hex>`` of the uncompressed tar (the image config's ``rootfs.diff_ids``)
    diff_id: str
    #: bytes of the uncompressed tar
    size: int
    #: tar entries written (0: the writable layer held nothing)
    entries: int


class DigestWriter:
    """A write-only file that hashes what passes through it (and counts it)."""

    def __init__(self, out: BinaryIO) -> None:
        self.out = out
        self.hash = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes | memoryview) -> int:
        self.hash.update(data)
        self.size += len(data)
        return self.out.write(data)

    def tell(self) -> int:
        return self.size

    def flush(self) -> None:
        self.out.flush()


def _xattr(path: str, name: str) -> bytes | None:
    try:
        return os.getxattr(path, name, follow_symlinks=False)
    except OSError:
        return None


def _xattr_names(path: str) -> list[str]:
    try:
        return os.listxattr(path, follow_symlinks=False)
    except OSError:
        return []


def walk(root: str, prefix: str = "") -> Iterator[tuple[str, os.stat_result, str]]:
    """(path, lstat, name in the archive) under ``root`` in moby's order: lexical, and a
    directory's whole subtree before its next sibling (depth first)."""
    with os.scandir(root) as it:
        children = sorted(it, key=lambda e: e.name)
    for entry in children:
        st = entry.stat(follow_symlinks=False)
        name = prefix + entry.name
        yield entry.path, st, name
        if stat.S_ISDIR(st.st_mode):
            yield from walk(entry.path, name + "/")


def _header(name: str, st: os.stat_result, kind: bytes) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.mode = stat.S_IMODE(st.st_mode)
    info.uid, info.gid = st.st_uid, st.st_gid
    info.uname = info.gname = ""
    info.mtime = int(st.st_mtime)
    info.type = kind
    return info


def entries(root: str) -> Iterator[tuple[tarfile.TarInfo, str | None]]:
    """The tar headers of the layer, each with the file to copy its content from (or None)."""
    links: dict[tuple[int, int], str] = {}
    for path, st, name in walk(root):
        mode = st.st_mode
        names = _xattr_names(path)
        foreign = [x for x in FOREIGN_XATTRS if x in names]
        if foreign:
            raise NotNativeDiff(
                f"{name} carries {foreign[0]}: the upper directory is no plain diff"
            )
        if stat.S_ISCHR(mode) and st.st_rdev == 0:
            head, _, base = name.rpartition("/")
            info = _header(
                (head + "/" if head else "") + WHITEOUT_PREFIX + base, st, tarfile.REGTYPE
            )
            info.mode, info.size = 0o600, 0
            yield info, None
            continue
        if stat.S_ISSOCK(mode):
            continue
        content: str | None = None
        if stat.S_ISDIR(mode):
            info = _header(name + "/", st, tarfile.DIRTYPE)
        elif stat.S_ISLNK(mode):
            info = _header(name, st, tarfile.SYMTYPE)
            info.linkname = os.readlink(path)
        elif stat.S_ISREG(mode):
            key = (st.st_dev, st.st_ino)
            if st.st_nlink > 1 and key in links:
                info = _header(name, st, tarfile.LNKTYPE)
                info.linkname = links[key]
            else:
                if st.st_nlink > 1:
                    links[key] = name
                info = _header(name, st, tarfile.REGTYPE)
                info.size = st.st_size
                content = path
        elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
            info = _header(name, st, tarfile.CHRTYPE if stat.S_ISCHR(mode) else tarfile.BLKTYPE)
            info.devmajor, info.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
        elif stat.S_ISFIFO(mode):
            info = _header(name, st, tarfile.FIFOTYPE)
        else:
            continue
        kept = {}
        for xattr in KEPT_XATTRS:
            value = _xattr(path, xattr) if xattr in names else None
            if value is not None:
                kept["SCHILY.xattr." + xattr] = value.decode("utf-8", "surrogateescape")
        if kept:
            info.pax_headers = kept
        yield info, content
        if stat.S_ISDIR(mode) and OPAQUE_XATTR in names and _xattr(path, OPAQUE_XATTR) == b"y":
            marker = _header(name + "/" + OPAQUE_MARKER, st, tarfile.REGTYPE)
            marker.mode, marker.size = stat.S_IMODE(mode) & 0o777, 0
            yield marker, None


class PipelinedSink:
    """Hash and write on a second thread while the caller reads the next file.

    Reading cold files blocks in the kernel, and sha256 and ``write`` release the GIL
    on large buffers, so the two overlap on two cores. Chunks come in as buffers
    taken with :meth:`buffer` and go back to the pool once hashed and written: no
    copies, and at most ``depth`` buffers in flight.
    """

    def __init__(self, out: BinaryIO, depth: int = 4, size: int = COPY_BUFFER) -> None:
        self.sink = DigestWriter(out)
        self.size = size
        self.free: queue.Queue[bytearray] = queue.Queue()
        for _ in range(depth):
            self.free.put(bytearray(size))
        self.work: queue.Queue[tuple[bytearray, int] | None] = queue.Queue()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="layer-writer", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while (item := self.work.get()) is not None:
            chunk, length = item
            try:
                if self.error is None:
                    self.sink.write(memoryview(chunk)[:length])
            except BaseException as exc:  # re-raised on the caller's thread
                self.error = exc
            finally:
                self.free.put(chunk)

    def buffer(self) -> bytearray:
        if self.error is not None:
            raise self.error
        return self.free.get()

    def put(self, chunk: bytearray, length: int) -> None:
        if length:
            self.work.put((chunk, length))
        else:
            self.free.put(chunk)

    def close(self) -> DigestWriter:
        self.work.put(None)
        self.thread.join()
        if self.error is not None:
            raise self.error
        return self.sink


class Prefetcher:
    """Asks the kernel to read the next files ahead of the writer.

    GNU tar, like a plain read loop, reads a cold diff one file at a time: one
    request in flight, so a diff of many small files waits on the disk's latency
    over and over. ``POSIX_FADV_WILLNEED`` on the files just ahead (at most
    ``ahead`` bytes beyond what the writer finished) starts their reads in the
    background, so several are in flight while the writer copies from the page cache.
    """

    def __init__(self, files: list[tuple[str, int]], ahead: int = 32 << 20) -> None:
        self.files = files
        self.ahead = ahead
        self.consumed = 0
        self.stopped = False
        self.cond = threading.Condition()
        self.thread = threading.Thread(target=self._run, name="layer-prefetch", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        issued = 0
        for path, size in self.files:
            with self.cond:
                while not self.stopped and issued - self.consumed > self.ahead:
                    self.cond.wait()
                if self.stopped:
                    return
            try:
                fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
            except OSError:
                continue
            try:
                os.posix_fadvise(fd, 0, size, os.POSIX_FADV_WILLNEED)
            except OSError:
                pass
            finally:
                os.close(fd)
            issued += size

    def done(self, size: int) -> None:
        with self.cond:
            self.consumed += size
            self.cond.notify()

    def stop(self) -> None:
        with self.cond:
            self.stopped = True
            self.cond.notify()
        self.thread.join()


def write_layer(root: str, out: BinaryIO) -> LayerInfo:
    """Write the layer tar of the upper directory ``root`` to ``out``; return its digest.

    The bytes are what ``tarfile`` (PAX format, UTF-8) writes, header for header
    (a unit test compares them), but headers, small files and padding are gathered
    into 1 MiB buffers and large files are read straight into them, and a second
    thread hashes and writes (:class:`PipelinedSink`). ``TarFile.addfile`` allocates
    a new bytes object per read, writes every header on its own and hashes on the
    reading thread: about 30 % slower than GNU tar on a cold 100 MB diff.
    """
    sink = PipelinedSink(out)
    try:
        count = _write_entries(root, sink)
    except BaseException:
        with contextlib.suppress(BaseException):
            sink.close()
        raise
    done = sink.close()
    return LayerInfo(f"sha256:{done.hash.hexdigest()}", done.size, count)


def _write_entries(root: str, sink: PipelinedSink) -> int:
    total = 0  # bytes handed to the sink
    chunk, used = sink.buffer(), 0

    def add(data: bytes) -> None:
        nonlocal chunk, used, total
        view = memoryview(data)
        while view:
            n = min(len(view), sink.size - used)
            chunk[used : used + n] = view[:n]
            used += n
            view = view[n:]
            if used == sink.size:
                sink.put(chunk, used)
                total += used
                chunk, used = sink.buffer(), 0

    # the whole listing first (metadata only), so the prefetcher knows what comes next
    items = list(entries(root))
    prefetch = Prefetcher([(path, info.size) for info, path in items if path is not None])
    try:
        for info, content in items:
            add(info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape"))
            if content is None:
                continue
            left = info.size
            with open(content, "rb", buffering=0) as source:
                while left:
                    if used == sink.size:
                        sink.put(chunk, used)
                        total += used
                        chunk, used = sink.buffer(), 0
                    want = min(left, sink.size - used)
                    got = source.readinto(memoryview(chunk)[used : used + want])
                    if not got:
                        raise OSError(f"{content}: the file got shorter while it was written")
                    used += got
                    left -= got
            prefetch.done(info.size)
            if info.size % tarfile.BLOCKSIZE:
                add(bytes(tarfile.BLOCKSIZE - info.size % tarfile.BLOCKSIZE))
    finally:
        prefetch.stop()
    # the end of the archive as TarFile.close writes it: two zero blocks, then zeros
    # up to a whole record
    end = total + used + 2 * tarfile.BLOCKSIZE
    add(bytes(2 * tarfile.BLOCKSIZE + (-end % tarfile.RECORDSIZE)))
    sink.put(chunk, used)
    return len(items)
