"""``tenanthub backup`` and ``tenanthub restore``: the platform DB, the config and the datasets
key file in one ``tar.gz``.

Archive members (regular files only, flat names, nothing else is accepted on restore)::

    manifest.json          format, schema revision, DB kind, created at, version, sha256s
    db.sqlite | db.pgdump  SQLite: the online backup API's copy (consistent while the
                           service writes); PostgreSQL: ``pg_dump --format=custom``
    tenanthub.yaml         the config file
    datasets.keys          the datasets key file, when there is one (secrets!)

The archive is written 0600 (it can hold the key that decrypts every stored credential,
and the config's own secrets). A restore reads and checks the whole archive (member
names, sizes, checksums, schema revision) into a private temporary folder before it
touches anything; only then is the target database replaced. Cross-kind restores
(SQLite archive into PostgreSQL or back) are not supported.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import io
import json
import os
import re
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, inspect, select, text
from sqlalchemy import table as sa_table
from sqlalchemy.engine import make_url

from hub.tenancy import db

FORMAT = 1
MANIFEST = "manifest.json"
DB_MEMBER = {"sqlite": "db.sqlite", "postgresql": "db.pgdump"}
CONFIG_MEMBER = "tenanthub.yaml"
KEYS_MEMBER = "datasets.keys"
KNOWN_MEMBERS = {MANIFEST, CONFIG_MEMBER, KEYS_MEMBER, *DB_MEMBER.values()}
#: the manifest is small; anything bigger is not one of ours
MANIFEST_LIMIT = 1 << 20
PG_BIN_ENV = "TENANTHUB_PG_BIN"


class BackupError(Exception):
    """Backup or restore refused or failed; the message says why and what to do."""


# ---------------------------------------------------------------------- pure parts


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def db_kind(engine: Engine) -> str:
    name = engine.dialect.name
    if name not in DB_MEMBER:
        raise BackupError(f"database kind {name!r} cannot be backed up (sqlite, postgresql)")
    return name


def make_manifest(
    kind: str, revision: str, members: Mapping[str, Path], created_at: datetime
) -> dict[str, Any]:
    from hub import __version__

    return {
        "format": FORMAT,
        "schema_revision": revision,
        "db_kind": kind,
        "created_at": created_at.isoformat(),
        "tenanthub_version": __version__,
        "members": {
            name: {"sha256": sha256_file(path), "size": path.stat().st_size}
            for name, path in sorted(members.items())
        },
    }


def check_manifest(manifest: Any, known: list[str]) -> dict[str, Any]:
    """The manifest's problems as one BackupError, or the manifest."""
    if not isinstance(manifest, dict):
        raise BackupError("manifest.json is not a JSON object")
    if manifest.get("format") != FORMAT:
        raise BackupError(
            f"archive format {manifest.get('format')!r} is not one this version reads ({FORMAT})"
        )
    kind = manifest.get("db_kind")
    if kind not in DB_MEMBER:
        raise BackupError(f"manifest.json: unknown db_kind {kind!r}")
    members = manifest.get("members")
    if not isinstance(members, dict) or DB_MEMBER[kind] not in members:
        raise BackupError(f"manifest.json lists no database member ({DB_MEMBER[kind]})")
    for name, entry in members.items():
        if name not in KNOWN_MEMBERS or name == MANIFEST:
            raise BackupError(f"manifest.json lists an unexpected member {name!r}")
        if not (
            isinstance(entry, dict)
            and isinstance(entry.get("sha256"), str)
            and re.fullmatch(r"[0-9a-f]{64}", entry["sha256"])
            and isinstance(entry.get("size"), int)
        ):
            raise BackupError(f"manifest.json: member {name!r} has no valid sha256 and size")
    revision = manifest.get("schema_revision")
    if not isinstance(revision, str):
        raise BackupError("manifest.json has no schema_revision")
    if revision not in known:
        raise BackupError(
            f"the archive's database is at schema revision {revision!r}, newer than this "
            f"TenantHub knows (its newest is {known[-1]!r}); restore it with the version that "
            "made it (manifest: tenanthub_version "
            f"{manifest.get('tenanthub_version')!r}) or newer. Nothing was changed."
        )
    return manifest


# ---------------------------------------------------------------------- PostgreSQL tools


@dataclass(frozen=True)
class PgTarget:
    """A libpq connection string without the password, which goes in PGPASSWORD."""

    uri: str
    password: str | None

    @property
    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        if self.password is not None:
            env["PGPASSWORD"] = self.password
        return env


def pg_target(engine: Engine) -> PgTarget:
    url = make_url(db.normalize_db_url(engine.url.render_as_string(hide_password=False)))
    password = url.password
    plain = url.set(drivername="postgresql", password=None)
    return PgTarget(plain.render_as_string(hide_password=False), password)


def _tool_major(path: Path) -> int | None:
    try:
        done = subprocess.run(
            [str(path), "--version"], capture_output=True, text=True, check=True, timeout=30
        )
    except (OSError, subprocess.SubprocessError):
        return None
    found = re.search(r"(\d+)(?:\.\d+)?", done.stdout)
    return int(found.group(1)) if found else None


def pg_tool(name: str, server_major: int) -> Path:
    """``pg_dump`` / ``pg_restore`` at least as new as the server (pg_dump refuses older
    ones): $TENANTHUB_PG_BIN, then Debian's /usr/lib/postgresql/*/bin newest first, then
    PATH."""
    dirs: list[Path] = []
    if os.environ.get(PG_BIN_ENV):
        dirs.append(Path(os.environ[PG_BIN_ENV]))
    dirs += [
        Path(p).parent
        for p in sorted(
            glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
            key=lambda p: int(re.sub(r"\D", "", Path(p).parent.parent.name) or 0),
            reverse=True,
        )
    ]
    on_path = shutil.which(name)
    if on_path:
        dirs.append(Path(on_path).parent)
    seen: list[str] = []
    for folder in dirs:
        tool = folder / name
        if not tool.exists():
            continue
        major = _tool_major(tool)
        seen.append(f"{tool} ({major})")
        if major is not None and major >= server_major:
            return tool
    raise BackupError(
        f"no {name} of PostgreSQL {server_major} or newer found (the server is "
        f"{server_major}; tried: {', '.join(seen) or 'none'}); install the PostgreSQL "
        f"client of that version, or point {PG_BIN_ENV} at its bin folder"
    )


def server_major(engine: Engine) -> int:
    with engine.connect() as conn:
        number = int(conn.execute(text("SHOW server_version_num")).scalar_one())
    return number // 10000


def _run_tool(argv: list[str], env: Mapping[str, str], what: str) -> None:
    done = subprocess.run(argv, env=dict(env), capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BackupError(f"{what} failed (exit {done.returncode}): {done.stderr.strip()}")


# ---------------------------------------------------------------------- database


def sqlite_path(engine: Engine) -> Path:
    database = engine.url.database
    if not database or database == ":memory:":
        raise BackupError("an in-memory SQLite database cannot be backed up or restored")
    return Path(database)


def dump_database(engine: Engine, kind: str, out: Path) -> None:
    if kind == "sqlite":
        source = sqlite3.connect(str(sqlite_path(engine)), timeout=30)
        try:
            target = sqlite3.connect(str(out))
            try:
                source.backup(target)  # a consistent copy, even with writers at work
            finally:
                target.close()
        finally:
            source.close()
        return
    target_pg = pg_target(engine)
    tool = pg_tool("pg_dump", server_major(engine))
    _run_tool(
        [str(tool), "--format=custom", "--no-owner", "--no-privileges", f"--file={out}",
         f"--dbname={target_pg.uri}"],
        target_pg.env, "pg_dump",
    )  # fmt: skip


def rows_in(engine: Engine) -> dict[str, int]:
    """Rows per table of the database, the migration bookkeeping table left out."""
    tables = [t for t in inspect(engine).get_table_names() if t != db.VERSION_TABLE]
    counts: dict[str, int] = {}
    with engine.connect() as conn:
        for name in tables:
            table = sa_table(name)
            counts[name] = int(conn.execute(select(func.count()).select_from(table)).scalar_one())
    return {name: n for name, n in counts.items() if n}


def load_database(engine: Engine, kind: str, dump: Path) -> None:
    if kind == "sqlite":
        source = sqlite3.connect(str(dump))
        try:
            target = sqlite3.connect(str(sqlite_path(engine)), timeout=30)
            try:
                source.backup(target)  # pages replaced in one step; the WAL stays consistent
            finally:
                target.close()
        finally:
            source.close()
        return
    target_pg = pg_target(engine)
    tool = pg_tool("pg_restore", server_major(engine))
    _run_tool(
        [str(tool), "--clean", "--if-exists", "--no-owner", "--no-privileges",
         "--single-transaction", "--exit-on-error", f"--dbname={target_pg.uri}", str(dump)],
        target_pg.env, "pg_restore",
    )  # fmt: skip


# ---------------------------------------------------------------------- backup


@dataclass(frozen=True)
class BackupResult:
    path: Path
    manifest: dict[str, Any]
    warnings: tuple[str, ...]


def key_file_of(config: Any, data_dir: Path) -> Path | None:
    """The datasets key file the platform reads, when it exists."""
    from hub.service.datasets.secrets import GENERATED_KEY_FILE

    path = config.datasets.key_file or data_dir / GENERATED_KEY_FILE
    return Path(path) if Path(path).exists() else None


def _write_private(path: Path) -> Any:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    return os.fdopen(fd, "wb")


def backup(
    engine: Engine, config: Any, config_path: Path, data_dir: Path, out: Path
) -> BackupResult:
    """Write the archive to ``out`` (refused when it exists); returns what went in."""
    if out.exists():
        raise BackupError(f"{out} exists; give a new file name")
    kind = db_kind(engine)
    revision = db.current_revision(engine)
    if revision is None:
        raise BackupError("the platform database has no TenantHub tables: nothing to back up")
    warnings: list[str] = []
    with tempfile.TemporaryDirectory(prefix="tenanthub-backup-") as tmp:
        work = Path(tmp)
        members: dict[str, Path] = {}
        dump = work / DB_MEMBER[kind]
        dump_database(engine, kind, dump)
        members[DB_MEMBER[kind]] = dump
        members[CONFIG_MEMBER] = config_path
        keys = key_file_of(config, data_dir)
        if keys is not None:
            members[KEYS_MEMBER] = keys
        elif os.environ.get("TENANTHUB_DATASETS_KEYS"):
            warnings.append(
                "the datasets keys come from TENANTHUB_DATASETS_KEYS and are not in the "
                "archive: keep them with it, or the restored credentials cannot be read"
            )
        manifest = make_manifest(kind, revision, members, datetime.now(UTC))
        partial = out.with_name(f".{out.name}.partial")
        partial.unlink(missing_ok=True)
        try:
            with _write_private(partial) as raw, tarfile.open(fileobj=raw, mode="w:gz") as tar:
                data = json.dumps(manifest, indent=2).encode()
                info = tarfile.TarInfo(MANIFEST)
                info.size, info.mode, info.mtime = len(data), 0o600, int(manifest_time(manifest))
                tar.addfile(info, io.BytesIO(data))
                for name, path in sorted(members.items()):
                    info = tar.gettarinfo(str(path), arcname=name)
                    info.mode, info.uid, info.gid, info.uname, info.gname = 0o600, 0, 0, "", ""
                    with path.open("rb") as handle:
                        tar.addfile(info, handle)
            os.replace(partial, out)
        finally:
            partial.unlink(missing_ok=True)
    return BackupResult(out, manifest, tuple(warnings))


def manifest_time(manifest: Mapping[str, Any]) -> float:
    return datetime.fromisoformat(manifest["created_at"]).timestamp()


# ---------------------------------------------------------------------- restore


def _open_archive(path: Path) -> tarfile.TarFile:
    try:
        return tarfile.open(path, mode="r:gz")
    except FileNotFoundError:
        raise BackupError(f"{path}: no such file") from None
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise BackupError(f"{path} is not a TenantHub backup (tar.gz): {exc}") from None


@contextlib.contextmanager
def unpacked(path: Path) -> Iterator[tuple[dict[str, Any], Path]]:
    """The archive's checked manifest and a private folder with its checked members.

    Every member must be a regular file with one of the known flat names, listed in the
    manifest with the size and sha256 it has; the manifest's revision must be known.
    """
    with tempfile.TemporaryDirectory(prefix="tenanthub-restore-") as tmp:
        folder = Path(tmp)
        found: dict[str, tuple[str, int]] = {}
        manifest_bytes: bytes | None = None
        with _open_archive(path) as tar:
            try:
                for member in tar:
                    name = member.name
                    if name not in KNOWN_MEMBERS or not member.isfile():
                        raise BackupError(
                            f"{path}: unexpected member {name!r} (a backup holds only "
                            f"{', '.join(sorted(KNOWN_MEMBERS))} as plain files); not restored"
                        )
                    if name in found or (name == MANIFEST and manifest_bytes is not None):
                        raise BackupError(f"{path}: member {name!r} appears twice; not restored")
                    handle = tar.extractfile(member)
                    assert handle is not None
                    if name == MANIFEST:
                        manifest_bytes = handle.read(MANIFEST_LIMIT + 1)
                        if len(manifest_bytes) > MANIFEST_LIMIT:
                            raise BackupError(f"{path}: manifest.json is too large")
                        continue
                    digest = hashlib.sha256()
                    size = 0
                    with _write_private(folder / name) as out:
                        while block := handle.read(1 << 20):
                            digest.update(block)
                            size += len(block)
                            out.write(block)
                    found[name] = (digest.hexdigest(), size)
            except (tarfile.TarError, OSError, EOFError, zlib_error()) as exc:
                raise BackupError(f"{path} is damaged or truncated: {exc}; not restored") from None
        if manifest_bytes is None:
            raise BackupError(f"{path} has no manifest.json: not a TenantHub backup")
        try:
            manifest = json.loads(manifest_bytes)
        except ValueError as exc:
            raise BackupError(f"{path}: manifest.json is not JSON ({exc})") from None
        check_manifest(manifest, db.known_revisions())
        listed = manifest["members"]
        for name in sorted(set(listed) | set(found)):
            if name not in found:
                raise BackupError(f"{path}: member {name!r} is in the manifest but missing")
            if name not in listed:
                raise BackupError(f"{path}: member {name!r} is not in the manifest")
            got_sha, got_size = found[name]
            if got_sha != listed[name]["sha256"] or got_size != listed[name]["size"]:
                raise BackupError(
                    f"{path}: member {name!r} does not match its checksum in the manifest "
                    "(changed or damaged since the backup); not restored"
                )
        yield manifest, folder


def zlib_error() -> type[Exception]:
    import zlib

    return zlib.error


@dataclass(frozen=True)
class RestoreResult:
    manifest: dict[str, Any]
    config_written: Path | None
    keys_written: Path | None
    notes: tuple[str, ...]


def _place(source: Path, target: Path, force: bool, what: str) -> None:
    if target.exists() and target.read_bytes() == source.read_bytes():
        return
    if target.exists() and not force:
        raise BackupError(f"{target} exists and differs from the archive's {what}; --force")
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    partial = target.with_name(f".{target.name}.restoring")
    partial.unlink(missing_ok=True)
    with _write_private(partial) as out:
        out.write(source.read_bytes())
    os.replace(partial, target)


def restore(
    archive: Path,
    engine: Engine,
    keys_target: Path | None,
    config_target: Path | None = None,
    force: bool = False,
) -> RestoreResult:
    """Check the whole archive, then load its database into ``engine``'s (empty unless
    ``force``), write its key file to ``keys_target`` and its config to ``config_target``
    (None: not written). Migrates to this code's head after the load."""
    notes: list[str] = []
    with unpacked(archive) as (manifest, folder):
        kind = manifest["db_kind"]
        target_kind = db_kind(engine)
        if kind != target_kind:
            raise BackupError(
                f"the archive holds a {kind} database and the configured one is {target_kind}: "
                "restoring across kinds is not supported. Nothing was changed."
            )
        filled = rows_in(engine)
        if filled and not force:
            shown = ", ".join(f"{t} ({n})" for t, n in sorted(filled.items()))
            raise BackupError(
                f"the target database is not empty ({shown}); restore into a new, empty "
                "database, or replace this one with --force. Nothing was changed."
            )
        for name, target, what in (
            (KEYS_MEMBER, keys_target, "datasets key file"),
            (CONFIG_MEMBER, config_target, "config"),
        ):
            source = folder / name
            if (
                target is not None
                and source.exists()
                and target.exists()
                and not force
                and target.read_bytes() != source.read_bytes()
            ):
                raise BackupError(
                    f"{target} exists and differs from the archive's {what}; move it away or "
                    "use --force. Nothing was changed."
                )
        engine.dispose()
        load_database(engine, kind, folder / DB_MEMBER[kind])
        engine.dispose()
        db.upgrade(engine)
        keys_written = config_written = None
        if (folder / KEYS_MEMBER).exists():
            if keys_target is not None:
                _place(folder / KEYS_MEMBER, keys_target, force, "datasets key file")
                keys_written = keys_target
            else:
                notes.append("the archive's datasets key file was not written (no target)")
        else:
            notes.append(
                "the archive has no datasets key file: credentials stored with keys from "
                "the config or TENANTHUB_DATASETS_KEYS need those same keys"
            )
        if config_target is not None:
            _place(folder / CONFIG_MEMBER, config_target, force, "config")
            config_written = config_target
    return RestoreResult(manifest, config_written, keys_written, tuple(notes))
