"""The pure pieces of layer-direct checkpoints: the layer tar of an overlay upper
directory, parallel gzip members, the image JSON, and the staging directory."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import stat
import subprocess
import tarfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from checkpointer.layers import image, tarstream
from checkpointer.layers.compress import GzipSettings, gzip_chunks, gzip_member, member_level
from checkpointer.layers.hashing import BackgroundHash
from checkpointer.layers.staging import StagedMeta, Staging
from checkpointer.layers.tarstream import COPY_BUFFER, NotNativeDiff, entries, write_layer
from tests.conftest import need


def layer_of(root: Path) -> tuple[list[tarfile.TarInfo], dict[str, bytes], str, bytes]:
    out = io.BytesIO()
    info = write_layer(str(root), out)
    raw = out.getvalue()
    assert info.diff_id == "sha256:" + hashlib.sha256(raw).hexdigest()
    assert info.size == len(raw)
    members, contents = [], {}
    with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
        for member in tar:
            members.append(member)
            if member.isreg():
                handle = tar.extractfile(member)
                assert handle is not None
                contents[member.name] = handle.read()
    return members, contents, info.diff_id, raw


def overlay_like(root: Path) -> Path:
    """An upper directory as overlayfs leaves it: a whiteout, an opaque dir, links."""
    if os.geteuid() != 0:
        need("whiteouts (mknod) and trusted.* xattrs need root")
    upper = root / "upper"
    (upper / "etc").mkdir(parents=True)
    os.mknod(upper / "etc" / "issue", stat.S_IFCHR | 0o000, os.makedev(0, 0))
    (upper / "usr" / "share" / "doc").mkdir(parents=True)
    os.setxattr(upper / "usr" / "share" / "doc", "trusted.overlay.opaque", b"y")
    os.setxattr(upper / "usr" / "share", "trusted.overlay.origin", b"\x00\x01")
    (upper / "usr" / "share" / "doc" / "new").write_text("n\n")
    (upper / "opt" / "a").mkdir(parents=True)
    (upper / "opt" / "a" / "x").write_text("hi\n")
    os.chown(upper / "opt" / "a" / "x", 1000, 100)
    os.chmod(upper / "opt" / "a" / "x", 0o4755)  # noqa: S103 (setuid is kept, as by docker)
    os.link(upper / "opt" / "a" / "x", upper / "opt" / "a" / "y")
    os.symlink("x", upper / "opt" / "a" / "z")
    os.mkfifo(upper / "opt" / "fifo")
    os.utime(upper / "opt" / "a" / "x", (1_600_000_000, 1_600_000_000.7))
    return upper


def test_the_layer_tar_converts_overlay_whiteouts_and_keeps_metadata(tmp_path: Path) -> None:
    upper = overlay_like(tmp_path)
    members, contents, _, _ = layer_of(upper)
    by_name = {m.name: m for m in members}
    assert [m.name for m in members] == [
        "etc",
        "etc/.wh.issue",
        "opt",
        "opt/a",
        "opt/a/x",
        "opt/a/y",
        "opt/a/z",
        "opt/fifo",
        "usr",
        "usr/share",
        "usr/share/doc",
        "usr/share/doc/.wh..wh..opq",
        "usr/share/doc/new",
    ], "lexical, each directory's subtree before its next sibling, the root left out"
    whiteout = by_name["etc/.wh.issue"]
    assert whiteout.isreg() and whiteout.size == 0 and whiteout.mode == 0o600
    assert by_name["usr/share/doc/.wh..wh..opq"].isreg()
    assert not by_name["usr/share"].pax_headers, "overlay's own xattrs are not kept"
    x = by_name["opt/a/x"]
    assert (x.mode, x.uid, x.gid, x.mtime) == (0o4755, 1000, 100, 1_600_000_000)
    assert contents["opt/a/x"] == b"hi\n"
    assert by_name["opt/a/y"].islnk() and by_name["opt/a/y"].linkname == "opt/a/x"
    assert by_name["opt/a/z"].issym() and by_name["opt/a/z"].linkname == "x"
    assert by_name["opt/fifo"].isfifo()


def test_the_same_upper_directory_gives_the_same_diff_id(tmp_path: Path) -> None:
    upper = overlay_like(tmp_path)
    _, _, first, _ = layer_of(upper)
    _, _, again, _ = layer_of(upper)
    assert first == again
    (upper / "opt" / "a" / "x").write_text("changed\n")
    _, _, changed, _ = layer_of(upper)
    assert changed != first


def test_file_capabilities_are_kept_and_other_xattrs_are_not(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        need("setting security.capability needs root")
    (tmp_path / "bin").write_bytes(b"\x7fELF")
    # VFS_CAP_REVISION_2 with cap_net_bind_service permitted + effective
    cap = bytes.fromhex("0100000200040000000000000000000000000000")
    os.setxattr(tmp_path / "bin", "security.capability", cap)
    os.setxattr(tmp_path / "bin", "user.note", b"dropped")
    members, _, _, _ = layer_of(tmp_path)
    headers = members[0].pax_headers
    assert headers["SCHILY.xattr.security.capability"].encode("utf-8", "surrogateescape") == cap
    assert not any("user.note" in k for k in headers)


def test_an_upper_directory_with_overlay_redirects_is_refused(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        need("trusted.* xattrs need root")
    (tmp_path / "moved").mkdir()
    os.setxattr(tmp_path / "moved", "trusted.overlay.redirect", b"/old")
    with pytest.raises(NotNativeDiff, match="redirect"):
        write_layer(str(tmp_path), io.BytesIO())


def reference_layer(root: Path) -> bytes:
    """The same entries written by ``tarfile`` itself, as the writer did before it
    gathered writes into buffers and hashed on a second thread."""
    out = io.BytesIO()
    with tarfile.TarFile(
        fileobj=out, mode="w", format=tarfile.PAX_FORMAT, encoding="utf-8",
        errors="surrogateescape",
    ) as tar:  # fmt: skip
        for info, content in entries(str(root)):
            if content is None:
                tar.addfile(info)
            else:
                with open(content, "rb") as source:
                    tar.addfile(info, source)
    return out.getvalue()


def test_the_buffered_writer_writes_what_tarfile_writes(tmp_path: Path) -> None:
    """Byte for byte, across the 1 MiB buffer's edges: the diff_id of a checkpoint must
    not depend on how its bytes were gathered."""
    upper = overlay_like(tmp_path)
    sizes = [0, 1, 511, 512, 513, COPY_BUFFER - 513, COPY_BUFFER - 512, COPY_BUFFER - 1,
             COPY_BUFFER, COPY_BUFFER + 1, 3 * COPY_BUFFER + 700, 70_000]  # fmt: skip
    for i, size in enumerate(sizes):
        data = os.urandom(size // 2) + b"t" * (size - size // 2)
        (upper / "opt" / f"f{i:02d}").write_bytes(data)
    (upper / "opt" / ("long-" * 30)).write_text("a name over 100 bytes needs a pax header")
    (upper / "opt" / "unicodé").write_text("x")
    _, _, diff_id, raw = layer_of(upper)
    expected = reference_layer(upper)
    assert len(raw) == len(expected) and raw == expected
    assert diff_id == "sha256:" + hashlib.sha256(expected).hexdigest()


def test_a_file_that_shrinks_while_written_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A paused container cannot do this; a file changed under the writer anyway must
    not give a layer whose header promises bytes that are not there."""
    (tmp_path / "big").write_bytes(b"x" * 5000)
    real = tarstream.entries

    def shrinking(root: str) -> Iterator[tuple[tarfile.TarInfo, str | None]]:
        for info, content in real(root):
            if content is not None:
                Path(content).write_bytes(b"x" * 10)  # after its header said 5000
            yield info, content

    monkeypatch.setattr(tarstream, "entries", shrinking)
    with pytest.raises(OSError, match="got shorter"):
        write_layer(str(tmp_path), io.BytesIO())


def test_gnu_tar_reads_the_layer(tmp_path: Path) -> None:
    upper = overlay_like(tmp_path)
    _, _, _, raw = layer_of(upper)
    listing = subprocess.run(
        ["tar", "-tvf", "-"], input=raw, capture_output=True, check=True
    ).stdout.decode()
    assert "opt/a/y link to opt/a/x" in listing


def test_gzip_members_decompress_to_the_input_in_order() -> None:
    text = b"import numpy as np  # compresses well\n" * 20_000
    noise = os.urandom(300_000)
    chunks = [text[:250_000], noise, text[250_000:], noise[:10]]
    out = b"".join(gzip_chunks(chunks, GzipSettings(level=1, workers=3)))
    assert gzip.decompress(out) == b"".join(chunks)
    assert out.count(b"\x1f\x8b\x08") >= len(chunks), "one gzip member per chunk"


def test_incompressible_chunks_are_stored() -> None:
    noise = os.urandom(200_000)
    assert member_level(noise, 1) == 0
    assert member_level(b"a" * 200_000, 1) == 1
    assert member_level(b"a" * 200_000, 0) == 0
    stored = gzip_member(noise, 1)
    assert len(noise) < len(stored) < len(noise) * 1.01
    assert gzip.decompress(stored) == noise


PARENT = {
    "architecture": "amd64",
    "os": "linux",
    "config": {
        "Env": ["PATH=/usr/bin", "LANG=C.UTF-8"],
        "Cmd": ["jupyterhub-singleuser"],
        "Labels": {"org.example": "base"},
    },
    "rootfs": {"type": "layers", "diff_ids": ["sha256:aa", "sha256:bb"]},
    "history": [{"created_by": "debootstrap"}, {"created_by": "pip install"}],
    "container": "0123",
}


def test_the_config_is_the_parents_plus_labels_layer_and_history() -> None:
    made = image.checkpoint_config(
        PARENT,
        diff_id="sha256:cc",
        labels={"tenanthub.io/checkpoint-id": "7"},
        container_env=["PATH=/x", "LANG=de_DE.UTF-8", "JUPYTERHUB_API_TOKEN=secret"],
        created=datetime(2026, 11, 23, 12, 0, tzinfo=UTC),
    )
    assert made["config"]["Env"] == ["PATH=/usr/bin", "LANG=C.UTF-8", "JUPYTERHUB_API_TOKEN="]
    assert made["config"]["Cmd"] == ["jupyterhub-singleuser"]
    assert made["config"]["Labels"] == {
        "org.example": "base",
        "tenanthub.io/checkpoint-id": "7",
    }
    assert made["rootfs"]["diff_ids"] == ["sha256:aa", "sha256:bb", "sha256:cc"]
    assert made["history"][-1] == {
        "created": "2026-11-23T12:00:00.000000Z",
        "created_by": "tenanthub checkpoint",
    }
    assert "container" not in made
    assert PARENT["rootfs"]["diff_ids"] == ["sha256:aa", "sha256:bb"], "the parent is untouched"
    assert "secret" not in image.encode(made).decode()


def test_the_manifest_lists_the_parent_layers_then_the_new_one() -> None:
    parent = {
        "schemaVersion": 2,
        "mediaType": image.MANIFEST_V2,
        "config": {"mediaType": "x", "size": 1, "digest": "sha256:p"},
        "layers": [{"mediaType": image.LAYER_GZIP, "size": 10, "digest": "sha256:l1"}],
    }
    config = b'{"a":1}'
    layers = [*image.parent_layers(parent), image.new_layer(99, "sha256:l2")]
    manifest = json.loads(image.registry_manifest(config, layers))
    assert manifest["config"] == {
        "mediaType": image.CONFIG_V1,
        "size": len(config),
        "digest": image.digest(config),
    }
    assert [layer["digest"] for layer in manifest["layers"]] == ["sha256:l1", "sha256:l2"]
    with pytest.raises(ValueError, match="schema 2"):
        image.parent_layers(
            {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json"}
        )


def meta(tag: str) -> StagedMeta:
    return StagedMeta("127.0.0.1:5000/t/ckpt-a-b", tag, "sha256:p", "sha256:d", 10, 1, "now",
                      {"tenanthub.io/checkpoint-id": "1"})  # fmt: skip


def test_staging_keeps_finished_checkpoints_and_drops_partials_of_gone_processes(
    tmp_path: Path,
) -> None:
    staging = Staging(tmp_path / "staging")
    assert staging.usable()
    partial = staging.begin()
    (partial / "layer.tar").write_bytes(b"x" * 10)
    done = staging.finish(partial, meta("t1"))
    assert [s.meta.tag for s in staging.all()] == ["t1"]
    assert staging.find(image_id=done.id) == staging.find(ref=done.meta.ref) != []

    proc = subprocess.Popen(["true"])
    proc.wait()
    leftover = staging.root / f"{proc.pid}-deadbeef.partial"
    leftover.mkdir()
    writing = staging.begin()  # this process, still writing: kept
    assert leftover.name in staging.clean_partials() or not leftover.exists()
    assert not leftover.exists() and writing.exists()
    staging.abandon(writing)
    assert not writing.exists()
    stale = staging.begin()
    staging.active.clear()  # as after a failure that skipped abandon()
    staging.clean_partials()
    assert not stale.exists()
    assert [s.meta.tag for s in staging.all()] == ["t1"], "finished checkpoints stay"
    staging.remove(done)
    assert list(staging.all()) == []


def test_the_background_hash_is_sha256_of_the_chunks_in_order() -> None:
    chunks = [os.urandom(n) for n in (0, 1, 4096, 1 << 20, 3 * (1 << 20) + 7)] * 5
    background = BackgroundHash(depth=2)
    for chunk in chunks:
        background.update(chunk)
    assert background.hexdigest() == hashlib.sha256(b"".join(chunks)).hexdigest()
    background.close()  # idempotent: a finally after hexdigest
    with pytest.raises(ValueError, match="after hexdigest"):
        background.update(b"late")


def test_a_push_refuses_a_staged_layer_changed_on_disk(tmp_path: Path) -> None:
    """The diff_id recorded at commit is checked while the layer is read for the upload
    (on the hashing thread), before the upload may finish."""
    from checkpointer.drivers.base import DriverError
    from checkpointer.drivers.direct import DirectPath

    staging = Staging(tmp_path)
    partial = staging.begin()
    (partial / "layer.tar").write_bytes(b"a" * 5000)
    meta = StagedMeta(
        repository="127.0.0.1:1/x/y", tag="t", parent="sha256:" + "0" * 64,
        diff_id="sha256:" + hashlib.sha256(b"a" * 5000).hexdigest(), size=5000, entries=1,
        created=datetime.now(UTC).isoformat(), labels={}, added_env=[],
    )  # fmt: skip
    staged = staging.finish(partial, meta)
    path = DirectPath(None, staging, None, GzipSettings(chunk=1024))  # type: ignore[arg-type]
    assert b"".join(path._layer_chunks(staged)) == b"a" * 5000
    staged.layer.write_bytes(b"b" * 5000)
    with pytest.raises(DriverError, match="changed on disk"):
        b"".join(path._layer_chunks(staged))
