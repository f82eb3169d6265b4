"""``tenanthub backup`` / ``tenanthub restore`` end to end on real SQLite and PostgreSQL
(``db_url``): a platform with tenants, members, quotas, a scheduled job, a ready checkpoint
and a data source with a credential is backed up, a fresh install (new empty database, new
data dir) is restored from the archive, and everything is back, the credential readable.
Bad archives (a changed member, a truncated file, a ``..`` member, a newer schema) are
refused with a clear error and nothing is written."""

from __future__ import annotations

import gzip
import io
import json
import os
import stat
import subprocess
import sys
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from hub.service.datasets.secrets import GENERATED_KEY_FILE, platform_keys
from hub.service.datasets.store import DataSourceStore
from hub.service.jobs.model import JobSpec
from hub.service.jobs.store import JobStore
from hub.tenancy import db
from hub.tenancy.checkpoint_store import CheckpointStore, Step
from hub.tenancy.quota import QuotaLimits
from hub.tenancy.seed import TenantSpec
from hub.tenancy.store import TenantStore

pytestmark = pytest.mark.integration
TENANTHUB = Path(sys.executable).with_name("tenanthub")
DIGEST = "sha256:" + "ab" * 32
SECRET = {"access_key": "AKIAEXAMPLE", "secret_key": "very-secret-value"}


def install(folder: Path, db_url: str) -> Path:
    """A platform install: its config file and data dir (the config seeds nothing)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "tenanthub.yaml"
    path.write_text(yaml.safe_dump({"hub": {"data_dir": str(folder / "data"), "db_url": db_url}}))
    return path


def tenanthub(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TENANTHUB_")}
    return subprocess.run(
        [str(TENANTHUB), *args], env=env, capture_output=True, text=True, check=False, timeout=120
    )


def fill(db_url: str, data_dir: Path) -> dict[str, Any]:
    """Tenants, members, quotas, a scheduled job, a ready checkpoint and a data source with a
    credential, through the platform's own stores; returns what a restore must bring back."""
    engine = db.make_engine(db_url)
    try:
        db.upgrade(engine)
        tenants = TenantStore(engine)
        vision = TenantSpec("vision", "Vision", QuotaLimits(cpu_millis=8000, servers=4), None,
                            (), {}, ())  # fmt: skip
        tenants.create_tenant(vision, "test")
        nlp = TenantSpec("nlp", "NLP", QuotaLimits(gpu=2, running_jobs=3), ("small",), (), {}, ())
        tenants.create_tenant(nlp, "test")
        tenants.add_manual_member("vision", "alice", "admin", "test")
        tenants.add_manual_member("vision", "bob", "member", "test")
        tenants.add_manual_member("nlp", "carol", "member", "test")
        spec = JobSpec.model_validate({
            "name": "nightly", "notebook": "train.ipynb", "tenant": "vision", "profile": "small",
            "schedule": {"cron": "0 6 * * *", "timezone": "Europe/Berlin"},
        })  # fmt: skip
        job, _ = JobStore(engine).create_job(spec, "alice")
        checkpoints = CheckpointStore(engine)
        made = checkpoints.create("alice", "", "vision", "small", "tenanthub/notebook-cpu", "n1")
        for state in ("committing", "verifying", "pushing"):
            checkpoints.step(made.id, Step(state), 3)
        checkpoints.step(made.id, Step("ready", image="reg/ckpt-vision-alice:t1", digest=DIGEST), 3)
        keys = platform_keys([], None, data_dir, environ={})
        DataSourceStore(engine, keys).create("vision", "lake", "s3", {"bucket": "lake-bucket"},
                                             SECRET)  # fmt: skip
        return snapshot(engine, data_dir) | {"job_id": job.id}
    finally:
        engine.dispose()


def snapshot(engine: Any, data_dir: Path) -> dict[str, Any]:
    tenants = TenantStore(engine)
    jobs = JobStore(engine)
    total, listed = jobs.jobs(tenant="vision")
    newest = CheckpointStore(engine).newest_ready_per_profile("alice", "")
    keys = platform_keys([], None, data_dir, environ={})
    sources = DataSourceStore(engine, keys)
    return {
        "tenants": {name: tenants.tenant(name) for name in tenants.tenant_names()},
        "members": {name: tenants.tenant_members(name)[1] for name in tenants.tenant_names()},
        "jobs": (total, listed),
        "checkpoints": newest,
        "source": (sources.get("vision", "lake"), sources._secrets("vision", "lake")),
    }


@pytest.fixture
def platform(db_url: str, tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    config = install(tmp_path / "old", db_url)
    return config, fill(db_url, tmp_path / "old" / "data")


def make_backup(config: Path, out: Path) -> dict[str, Any]:
    done = tenanthub("backup", "--config", str(config), "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert "very-secret-value" not in done.stdout + done.stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    with tarfile.open(out) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
    return manifest


def test_backup_wipe_restore_brings_back_tenants_members_quotas_jobs_checkpoints_and_credentials(
    platform: tuple[Path, dict[str, Any]],
    db_url: str,
    make_db_url: Callable[[str], str],
    tmp_path: Path,
) -> None:
    config, before = platform
    kind = "sqlite" if db_url.startswith("sqlite") else "postgresql"
    archive = tmp_path / "platform.tar.gz"
    manifest = make_backup(config, archive)
    assert manifest["format"] == 1
    assert manifest["db_kind"] == kind
    assert manifest["schema_revision"] == db.head_revision()
    assert set(manifest["members"]) == {
        "db.sqlite" if kind == "sqlite" else "db.pgdump", "tenanthub.yaml", "datasets.keys",
    }  # fmt: skip

    fresh_url = make_db_url(kind)  # the wiped platform: a new empty DB, a new data dir
    fresh = install(tmp_path / "new", fresh_url)
    config_copy = tmp_path / "restored.yaml"
    done = tenanthub("restore", str(archive), "--config", str(fresh),
                     "--config-out", str(config_copy))  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "restored the" in done.stdout
    assert config_copy.read_bytes() == config.read_bytes()
    assert stat.S_IMODE(config_copy.stat().st_mode) == 0o600
    keys = tmp_path / "new" / "data" / GENERATED_KEY_FILE
    assert keys.read_bytes() == (tmp_path / "old" / "data" / GENERATED_KEY_FILE).read_bytes()
    assert stat.S_IMODE(keys.stat().st_mode) == 0o600

    engine = db.make_engine(fresh_url)
    try:
        assert db.current_revision(engine) == db.head_revision()
        after = snapshot(engine, tmp_path / "new" / "data")
        assert after == {k: v for k, v in before.items() if k != "job_id"}
        assert after["source"][1] == SECRET  # the credential decrypts with the restored key
        assert after["tenants"]["vision"].limits == QuotaLimits(cpu_millis=8000, servers=4)
        (total, (job,)) = after["jobs"]
        assert total == 1 and job.id == before["job_id"]
        assert job.schedule is not None and job.schedule["cron"] == "0 6 * * *"
        assert job.next_fire_at is not None
        (checkpoint,) = after["checkpoints"]
        assert (checkpoint.state, checkpoint.image) == ("ready", "reg/ckpt-vision-alice:t1")
        assert len(after["members"]["vision"]) == 2
        # and the restored platform keeps working: a new tenant gets a fresh id
        spec = TenantSpec("geo", "Geo", QuotaLimits(), None, (), {}, ())
        TenantStore(engine).create_tenant(spec, "test")
    finally:
        engine.dispose()

    again = tenanthub("restore", str(archive), "--config", str(fresh))
    assert again.returncode == 1
    assert "the target database is not empty" in again.stderr
    assert "Nothing was changed" in again.stderr
    forced = tenanthub("restore", str(archive), "--config", str(fresh), "--force")
    assert forced.returncode == 0, forced.stderr
    engine = db.make_engine(fresh_url)
    try:
        assert TenantStore(engine).tenant_names() == sorted(before["tenants"])  # geo is gone
    finally:
        engine.dispose()


def rewrite(archive: Path, out: Path, change: Callable[[str, bytes], tuple[str, bytes]]) -> None:
    """A copy of ``archive`` with each member passed through ``change`` (name, data)."""
    with tarfile.open(archive) as src, tarfile.open(out, "w:gz") as dst:
        for member in src:
            data = src.extractfile(member).read()  # type: ignore[union-attr]
            name, data = change(member.name, data)
            info = tarfile.TarInfo(name)
            info.size = len(data)
            dst.addfile(info, io.BytesIO(data))


def test_bad_archives_are_refused_with_a_clear_error_and_nothing_written(
    platform: tuple[Path, dict[str, Any]],
    db_url: str,
    make_db_url: Callable[[str], str],
    tmp_path: Path,
) -> None:
    config, _ = platform
    kind = "sqlite" if db_url.startswith("sqlite") else "postgresql"
    archive = tmp_path / "platform.tar.gz"
    make_backup(config, archive)

    def tampered(name: str, data: bytes) -> tuple[str, bytes]:
        return name, data + b"# changed\n" if name == "tenanthub.yaml" else data

    def escaping(name: str, data: bytes) -> tuple[str, bytes]:
        return ("../escaped.yaml" if name == "tenanthub.yaml" else name), data

    def newer(name: str, data: bytes) -> tuple[str, bytes]:
        if name != "manifest.json":
            return name, data
        manifest = json.loads(data)
        manifest["schema_revision"] = "9999_from_the_future"
        return name, json.dumps(manifest).encode()

    bad: dict[str, tuple[Path, str]] = {}
    for label, change, message in (
        ("tampered", tampered, "does not match its checksum in the manifest"),
        ("escaping", escaping, "unexpected member '../escaped.yaml'"),
        ("newer", newer, "schema revision '9999_from_the_future', newer than this TenantHub"),
    ):
        path = tmp_path / f"{label}.tar.gz"
        rewrite(archive, path, change)
        bad[label] = (path, message)
    truncated = tmp_path / "truncated.tar.gz"
    truncated.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    bad["truncated"] = (truncated, "is damaged or truncated")
    not_gzip = tmp_path / "plain.tar.gz"
    not_gzip.write_bytes(gzip.decompress(archive.read_bytes())[:1000])
    bad["not gzip"] = (not_gzip, "is not a TenantHub backup")

    fresh_url = make_db_url(kind)
    fresh = install(tmp_path / "new", fresh_url)
    config_out = tmp_path / "restored.yaml"
    for label, (path, message) in bad.items():
        done = tenanthub("restore", str(path), "--config", str(fresh),
                         "--config-out", str(config_out))  # fmt: skip
        assert done.returncode == 1, label
        assert message in done.stderr, (label, done.stderr)
        assert done.stdout == "", label
        assert not config_out.exists(), label
        assert not (tmp_path / "new" / "data" / GENERATED_KEY_FILE).exists(), label
        assert not (tmp_path / "escaped.yaml").exists()
        engine = db.make_engine(fresh_url)
        try:
            assert db.current_revision(engine) is None, label  # the database is untouched
        finally:
            engine.dispose()


def test_backup_refuses_an_existing_output_file(
    platform: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    config, _ = platform
    out = tmp_path / "exists.tar.gz"
    out.write_text("keep me")
    done = tenanthub("backup", "--config", str(config), "-o", str(out))
    assert done.returncode == 1
    assert "exists" in done.stderr
    assert out.read_text() == "keep me"


def test_a_sqlite_backup_taken_while_tenants_are_being_written_is_consistent(
    tmp_path: Path,
) -> None:
    """The online backup API copies a consistent state while another connection writes:
    the restored copy passes SQLite's integrity check and holds a prefix of the writes."""
    import sqlite3
    import threading
    import time

    url = f"sqlite:///{tmp_path / 'live.sqlite'}"
    config = install(tmp_path / "live", url)
    engine = db.make_engine(url)
    db.upgrade(engine)
    tenants = TenantStore(engine)
    stop = threading.Event()
    written: list[str] = []

    def writer() -> None:
        while not stop.is_set():
            name = f"t{len(written)}"
            tenants.create_tenant(TenantSpec(name, name, QuotaLimits(), None, (), {}, ()), "test")
            written.append(name)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        while len(written) < 20:
            time.sleep(0.01)
        archive = tmp_path / "live.tar.gz"
        make_backup(config, archive)
    finally:
        stop.set()
        thread.join()
        engine.dispose()
    restored_url = f"sqlite:///{tmp_path / 'restored.sqlite'}"
    fresh = install(tmp_path / "new", restored_url)
    done = tenanthub("restore", str(archive), "--config", str(fresh))
    assert done.returncode == 0, done.stderr
    check = sqlite3.connect(tmp_path / "restored.sqlite")
    try:
        assert check.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    finally:
        check.close()
    engine = db.make_engine(restored_url)
    try:
        names = set(TenantStore(engine).tenant_names())
    finally:
        engine.dispose()
    assert len(names) >= 20
    assert names == {f"t{i}" for i in range(len(names))}  # every tenant written before the copy
