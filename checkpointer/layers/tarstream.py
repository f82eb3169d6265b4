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

import hashlib
import os
import stat
import tarfile
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

    def write(self, data: bytes) -> int:
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


def write_layer(root: str, out: BinaryIO) -> LayerInfo:
    """Write the layer tar of the upper directory ``root`` to ``out``; return its digest."""
    sink = DigestWriter(out)
    count = 0
    with tarfile.TarFile(
        fileobj=sink,  # type: ignore[arg-type]
        mode="w",
        format=tarfile.PAX_FORMAT,
        encoding="utf-8",
        errors="surrogateescape",
        copybufsize=COPY_BUFFER,
    ) as tar:
        for info, content in entries(root):
            count += 1
            if content is None:
                tar.addfile(info)
                continue
            with open(content, "rb") as source:
                tar.addfile(info, source)
    return LayerInfo(f"sha256:{sink.hash.hexdigest()}", sink.size, count)
