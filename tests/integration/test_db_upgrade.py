"""Upgrades on real SQLite and PostgreSQL (``db_url``): a database made by the first schema
revision (0001) with data in it, written with SQL of 0001's own tables, is upgraded to head
by ``tenanthub db upgrade`` with the data intact and the newer tables usable; a database a
newer TenantHub migrated (a revision this code does not know) is refused by
``db upgrade``, ``db current``, ``tenanthub run``, the hub's config and the platform
service's start, each naming both revisions, and nothing is changed."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml
from sqlalchemy import Engine

from hub.service.datasets.secrets import KeyRing, generate_key
from hub.service.datasets.store import DataSourceStore
from hub.service.jobs.model import JobSpec
from hub.service.jobs.store import JobStore
from hub.tenancy import db
from hub.tenancy.checkpoint_store import CheckpointStore
from hub.tenancy.quota import QuotaLimits
from hub.tenancy.seed import TenantSpec
from hub.tenancy.store import TenantStore

pytestmark = pytest.mark.integration
TENANTHUB = Path(sys.executable).with_name("tenanthub")
FIRST = "0001"
NEWER = "9999_from_a_newer_tenanthub"
T0 = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)

# the tables as revision 0001 made them (only the columns written here)
TENANTS = sa.table(
    "th_tenants",
    sa.column("id", sa.Integer), sa.column("name", sa.String), sa.column("display_name", sa.String),
    sa.column("all_profiles", sa.Boolean), sa.column("storage", sa.JSON),
    sa.column("group_mappings", sa.JSON), sa.column("source", sa.String),
    sa.column("seeded_fingerprint", sa.String), sa.column("created_at", sa.DateTime(True)),
    sa.column("updated_at", sa.DateTime(True)),
)  # fmt: skip
MEMBERSHIPS = sa.table(
    "th_memberships",
    sa.column("id", sa.Integer), sa.column("tenant_id", sa.Integer),
    sa.column("username", sa.String), sa.column("role", sa.String),
    sa.column("source", sa.String), sa.column("created_at", sa.DateTime(True)),
)  # fmt: skip
QUOTAS = sa.table(
    "th_quotas",
    sa.column("tenant_id", sa.Integer), sa.column("cpu_millis", sa.BigInteger),
    sa.column("memory_bytes", sa.BigInteger), sa.column("gpu", sa.Integer),
    sa.column("servers", sa.Integer), sa.column("storage_bytes", sa.BigInteger),
    sa.column("running_jobs", sa.Integer),
)  # fmt: skip
PROFILES = sa.table("th_tenant_profiles", sa.column("tenant_id", sa.Integer),
                    sa.column("profile", sa.String))  # fmt: skip
AUDIT = sa.table(
    "th_audit_log",
    sa.column("id", sa.Integer), sa.column("at", sa.DateTime(True)),
    sa.column("actor", sa.String), sa.column("action", sa.String),
    sa.column("target", sa.String), sa.column("detail", sa.Text),
)  # fmt: skip


def write_config(folder: Path, db_url: str) -> Path:
    path = folder / "tenanthub.yaml"
    path.write_text(yaml.safe_dump({"hub": {"data_dir": str(folder / "data"), "db_url": db_url}}))
    return path


def tenanthub(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TENANTHUB_")}
    return subprocess.run(
        [str(TENANTHUB), *args], env=env, capture_output=True, text=True, check=False, timeout=120
    )


def make_first_release_db(engine: Engine) -> None:
    db.upgrade(engine, FIRST)
    tenant = {"all_profiles": True, "storage": {}, "group_mappings": [], "source": "manual",
              "seeded_fingerprint": None, "created_at": T0, "updated_at": T0}  # fmt: skip
    with engine.begin() as conn:
        conn.execute(sa.insert(TENANTS), [
            {"id": 1, "name": "vision", "display_name": "Vision", **tenant,
             "storage": {"size": "100Gi"},
             "group_mappings": [{"group": "cn=vision", "role": "member"}]},
            {"id": 2, "name": "nlp", "display_name": "NLP", **tenant, "all_profiles": False},
        ])  # fmt: skip
        conn.execute(sa.insert(QUOTAS), [
            {"tenant_id": 1, "cpu_millis": 8000, "memory_bytes": 32 * 2**30, "gpu": None,
             "servers": 5, "storage_bytes": None, "running_jobs": None},
            {"tenant_id": 2, "cpu_millis": None, "memory_bytes": None, "gpu": 2,
             "servers": None, "storage_bytes": 500 * 2**30, "running_jobs": None},
        ])  # fmt: skip
        conn.execute(sa.insert(PROFILES), [{"tenant_id": 2, "profile": "small"}])
        conn.execute(sa.insert(MEMBERSHIPS), [
            {"id": 1, "tenant_id": 1, "username": "alice", "role": "admin", "source": "manual",
             "created_at": T0},
            {"id": 2, "tenant_id": 1, "username": "bob", "role": "member", "source": "ldap",
             "created_at": T0},
            {"id": 3, "tenant_id": 2, "username": "alice", "role": "member", "source": "manual",
             "created_at": T0},
        ])  # fmt: skip
        conn.execute(sa.insert(AUDIT), [{"id": 1, "at": T0, "actor": "admin",
                                        "action": "tenant.create", "target": "vision",
                                        "detail": "{}"}])  # fmt: skip
        if engine.dialect.name == "postgresql":  # explicit ids: move the sequences past them
            for table in ("th_tenants", "th_memberships", "th_audit_log"):
                move = f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"  # noqa: E501,S608 - constant names
                conn.execute(sa.text(move))


def test_a_first_release_database_upgrades_to_head_with_its_data_intact(
    db_url: str, tmp_path: Path
) -> None:
    engine = db.make_engine(db_url)
    try:
        make_first_release_db(engine)
        config = write_config(tmp_path, db_url)
        assert tenanthub("db", "current", str(config)).stdout.startswith(f"{FIRST} (")
        done = tenanthub("db", "upgrade", str(config))
        assert done.returncode == 0, done.stderr
        assert db.current_revision(engine) == db.head_revision()
        assert tenanthub("db", "current", str(config)).stdout.strip() == (
            f"{db.head_revision()} (head)"
        )

        store = TenantStore(engine)
        assert store.tenant_names() == ["nlp", "vision"]
        vision, nlp = store.tenant("vision"), store.tenant("nlp")
        assert vision is not None and nlp is not None
        assert vision.display_name == "Vision" and vision.allowed_profiles is None
        assert vision.limits == QuotaLimits(cpu_millis=8000, memory_bytes=32 * 2**30, servers=5)
        assert nlp.limits == QuotaLimits(gpu=2, storage_bytes=500 * 2**30)
        assert nlp.allowed_profiles == frozenset({"small"})
        spec = store.tenant_spec("vision")
        assert spec is not None and spec.storage == {"size": "100Gi"}
        members = {m.user: (m.role, m.sources) for m in store.tenant_members("vision")[1]}
        assert members == {
            "alice": ("admin", (("manual", "admin"),)),
            "bob": ("member", (("ldap", "member"),)),
        }
        assert [(m.tenant.name, m.role) for m in store.memberships_of("alice")] == [
            ("nlp", "member"), ("vision", "admin"),
        ]  # fmt: skip
        assert [e["target"] for e in store.audit_entries()] == ["vision"]

        # the tables of later revisions work next to the old data
        store.add_manual_member("nlp", "carol", "admin", "test")
        spec_job = JobSpec.model_validate({
            "name": "nightly", "notebook": "a.ipynb", "tenant": "vision", "profile": "small",
            "schedule": {"cron": "0 6 * * *", "timezone": "UTC"},
        })  # fmt: skip
        job, _ = JobStore(engine).create_job(spec_job, "alice")
        assert JobStore(engine).get_job(job.id) == job
        made = CheckpointStore(engine).create("alice", "", "vision", "small", "base:1", "n1")
        assert CheckpointStore(engine).get(made.id) == made
        keys = KeyRing([generate_key()])
        sources = DataSourceStore(engine, keys)
        sources.create("nlp", "lake", "s3", {"bucket": "nlp-lake"}, {"secret_key": "s"})
        assert sources._secrets("nlp", "lake") == {"secret_key": "s"}
    finally:
        engine.dispose()


def stamp_newer(engine: Engine) -> None:
    db.upgrade(engine)
    spec = TenantSpec("vision", "Vision", QuotaLimits(), None, (), {}, ())
    TenantStore(engine).create_tenant(spec, "test")
    with engine.begin() as conn:
        stamp = f"UPDATE {db.VERSION_TABLE} SET version_num = :v"  # noqa: S608 - a constant
        conn.execute(sa.text(stamp), {"v": NEWER})


def refused_naming_both(text: str) -> None:
    assert NEWER in text, text
    assert db.head_revision() in text, text
    assert "newer TenantHub" in text, text


def test_a_database_of_a_newer_tenanthub_is_refused_everywhere_and_left_alone(
    db_url: str, tmp_path: Path
) -> None:
    engine = db.make_engine(db_url)
    try:
        stamp_newer(engine)
        config = write_config(tmp_path, db_url)

        upgraded = tenanthub("db", "upgrade", str(config))
        assert upgraded.returncode == 1
        refused_naming_both(upgraded.stderr)
        current = tenanthub("db", "current", str(config))
        assert current.returncode == 1 and NEWER in current.stdout

        run = tenanthub("run", str(config))
        assert run.returncode == 1
        assert "cannot start:" in run.stderr
        refused_naming_both(run.stderr)

        env = {
            k: v for k, v in os.environ.items() if not k.startswith(("TENANTHUB_", "JUPYTERHUB_"))
        }
        env.update(
            TENANTHUB_CONFIG=str(config),
            JUPYTERHUB_SERVICE_URL="http://127.0.0.1:9/",
            JUPYTERHUB_API_TOKEN="unused",
            JUPYTERHUB_API_URL="http://127.0.0.1:9/hub/api",
        )
        service = subprocess.run(
            [sys.executable, "-m", "hub.service"],
            env=env, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert service.returncode == 1, service.stderr
        assert "cannot start:" in service.stderr
        refused_naming_both(service.stderr)

        from hub.app.traits import configure  # what jupyterhub_config.py calls at hub start

        class Section(dict[str, object]):
            def __getattr__(self, name: str) -> Section:
                return self.setdefault(name, Section())  # type: ignore[return-value]

        with pytest.raises(db.SchemaTooNew) as refused:
            configure(Section(), config)
        refused_naming_both(str(refused.value))

        assert db.current_revision(engine) == NEWER  # nothing migrated, nothing seeded
        assert TenantStore(engine).tenant_names() == ["vision"]
    finally:
        engine.dispose()
