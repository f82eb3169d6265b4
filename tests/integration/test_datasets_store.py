"""Data sources in the platform DB, on SQLite and PostgreSQL: migration 0005 up and down
matching the model, sources kept per tenant, credentials encrypted at rest (the raw
row holds no plaintext) and never returned, updates that keep, replace or remove
credentials, key rotation, and stored sources that become working connectors."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect, text

from hub.service.datasets.files import FilesConnector
from hub.service.datasets.kinds import InvalidSource
from hub.service.datasets.secrets import KeyRing, SecretsUnreadable, generate_key
from hub.service.datasets.sql import SqlConnector
from hub.service.datasets.store import DataSourceStore, SourceExists, SourceNotFound
from hub.tenancy import db
from hub.tenancy.models import Base

pytestmark = pytest.mark.integration

SECRET = "S3cret-Key-0123456789-abcdef"
PASSWORD = "Db-Passw0rd-42-xyz"


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = db.make_engine(db_url)
    db.upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def key() -> str:
    return generate_key()


@pytest.fixture
def store(engine: Engine, key: str) -> DataSourceStore:
    return DataSourceStore(engine, KeyRing([key]), Clock())


def raw_rows(engine: Engine) -> str:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT * FROM th_data_sources")).all()
    return repr(rows)


def test_migration_0005_adds_the_table_matching_the_model_and_goes_back(db_url: str) -> None:
    engine = db.make_engine(db_url)
    try:
        db.upgrade(engine, "0004")
        assert "th_data_sources" not in inspect(engine).get_table_names()
        db.upgrade(engine)
        assert "th_data_sources" in inspect(engine).get_table_names()
        uniques = {
            u["name"]: u["column_names"]
            for u in inspect(engine).get_unique_constraints("th_data_sources")
        }
        assert uniques["uq_th_data_sources_tenant_name"] == ["tenant", "name"]
        with engine.connect() as conn:
            diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        assert [d for d in diffs if "th_data_sources" in repr(d)] == []
        cfg = Config()
        cfg.set_main_option("script_location", str(db.MIGRATIONS))
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0004")
        assert "th_data_sources" not in inspect(engine).get_table_names()
        assert db.current_revision(engine) == "0004"
        db.upgrade(engine)
        assert db.current_revision(engine) == db.head_revision()
    finally:
        engine.dispose()


def test_credentials_are_encrypted_at_rest_and_never_returned(
    store: DataSourceStore, engine: Engine
) -> None:
    source = store.create(
        "vision",
        "lake",
        "s3",
        {"bucket": "lake", "endpoint_url": "http://127.0.0.1:9000"},
        {"access_key": "AKIAEXAMPLE00000", "secret_key": SECRET},
    )
    store.create("vision", "warehouse", "sql", {"url": f"postgresql://ana:{PASSWORD}@db/x"})
    raw = raw_rows(engine)
    assert SECRET not in raw and PASSWORD not in raw and "AKIAEXAMPLE00000" not in raw
    assert "gAAAAA" in raw  # Fernet tokens
    assert source.secret_names == ("access_key", "secret_key")
    listed = store.list("vision")
    assert [s.name for s in listed] == ["lake", "warehouse"]
    for s in listed:
        for text_ in (repr(s), str(s.settings)):
            assert SECRET not in text_ and PASSWORD not in text_
    assert listed[1].settings == {"url": "postgresql://ana@db/x"}
    assert listed[1].secret_names == ("password",)
    assert repr(store) == "DataSourceStore()"


def test_sources_belong_to_their_tenant(store: DataSourceStore, tmp_path: Path) -> None:
    store.create("vision", "shared", "files", {"root": str(tmp_path)})
    store.create("nlp", "shared", "files", {"root": str(tmp_path / "nlp")})
    assert [s.tenant for s in store.list("vision")] == ["vision"]
    assert store.get("nlp", "shared").settings == {"root": str(tmp_path / "nlp")}
    with pytest.raises(SourceNotFound):
        store.get("nlp", "other")
    with pytest.raises(SourceExists):
        store.create("vision", "shared", "files", {"root": str(tmp_path)})
    store.delete("nlp", "shared")
    assert store.list("nlp") == [] and store.list("vision")
    with pytest.raises(SourceNotFound):
        store.delete("nlp", "shared")


def test_bad_sources_store_nothing(store: DataSourceStore) -> None:
    for name, kind, settings in (
        ("Bad Name", "files", {"root": "/x"}),
        ("ok", "nope", {}),
        ("ok", "files", {"root": "relative"}),
        ("ok", "sql", {"url": "sqlite:////etc/passwd"}),
    ):
        with pytest.raises(InvalidSource):
            store.create("vision", name, kind, settings)
    assert store.list("vision") == []


def test_updates_keep_replace_or_remove_credentials(store: DataSourceStore) -> None:
    store.create("vision", "wh", "sql", {"url": f"postgresql://ana:{PASSWORD}@db/x"})
    kept = store.update("vision", "wh", {"url": "postgresql://ana@db2/x"})
    assert kept.settings == {"url": "postgresql://ana@db2/x"} and kept.secret_names == ("password",)
    assert store._secrets("vision", "wh") == {"password": PASSWORD}
    store.update("vision", "wh", {"url": "postgresql://ana:newer-pass@db2/x"})
    assert store._secrets("vision", "wh") == {"password": "newer-pass"}
    store.update("vision", "wh", secrets={"password": "newest-pass"})
    assert store._secrets("vision", "wh") == {"password": "newest-pass"}
    removed = store.update("vision", "wh", secrets={"password": None})
    assert removed.secret_names == () and store._secrets("vision", "wh") == {}
    assert removed.updated_at > removed.created_at
    with pytest.raises(InvalidSource):
        store.update("vision", "wh", secrets={"secret_key": "x"})


def test_key_rotation_reencrypts_every_source(engine: Engine, key: str) -> None:
    old = DataSourceStore(engine, KeyRing([key]))
    for i in range(3):
        old.create(
            "vision",
            f"s{i}",
            "sql",
            {"url": f"postgresql://u@h/d{i}"},
            {"password": f"pw-{i}-long"},
        )
    before = raw_rows(engine)
    new_key = generate_key()
    both = DataSourceStore(engine, KeyRing([new_key, key]))
    assert both.reencrypt() == 3
    assert raw_rows(engine) != before
    only_new = DataSourceStore(engine, KeyRing([new_key]))
    assert [only_new._secrets("vision", f"s{i}") for i in range(3)] == [
        {"password": f"pw-{i}-long"} for i in range(3)
    ]
    with pytest.raises(SecretsUnreadable):
        DataSourceStore(engine, KeyRing([key]))._secrets("vision", "s0")


def test_without_a_key_sources_with_credentials_are_refused(engine: Engine, tmp_path: Path) -> None:
    keyless = DataSourceStore(engine, None)
    keyless.create("vision", "shared", "files", {"root": str(tmp_path)})
    with pytest.raises(InvalidSource, match="no datasets key"):
        keyless.create("vision", "wh", "sql", {"url": f"postgresql://u:{PASSWORD}@h/d"})
    assert [s.name for s in keyless.list("vision")] == ["shared"]


def test_a_stored_source_becomes_its_connector_with_its_credentials(
    store: DataSourceStore, tmp_path: Path
) -> None:
    (tmp_path / "a.csv").write_text("x\n1\n")
    store.create("vision", "shared", "files", {"root": str(tmp_path)})
    files = store.connector("vision", "shared")
    assert isinstance(files, FilesConnector)
    assert files.sample("a.csv").rows == [[1]]
    store.create("vision", "wh", "sql", {"url": f"postgresql://ana:{PASSWORD}@127.0.0.1:1/x"})
    sql = store.connector("vision", "wh")
    assert isinstance(sql, SqlConnector)
    assert sql.url == "postgresql://ana@127.0.0.1:1/x" and PASSWORD not in repr(sql)
    health = sql.test()
    assert not health.ok and PASSWORD not in health.message
