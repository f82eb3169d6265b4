"""Usage history in the platform DB, on real SQLite and PostgreSQL (the ``db_url`` fixture):
migration 0002, one batch per tick, windows read back in order, retention pruning driven
by an injected clock, and a sampler that survives an unreachable hub."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, event, func, inspect, select

from hub.app.context import PlatformContext
from hub.config.loader import parse_config
from hub.service.context import ServiceContext
from hub.service.hub_client import HubClient
from hub.service.sampler import UsageSampler, record_tick
from hub.tenancy import db
from hub.tenancy.models import Base, TenantRow, UsageSampleRow
from hub.tenancy.quota import QuotaLimits, Resources
from hub.tenancy.seed import TenantSpec
from hub.tenancy.store import TenantStore
from hub.tenancy.usage_store import TenantBasis, UsageSample, UsageStore

GiB = 2**30
T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = db.make_engine(db_url)
    db.upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def store(engine: Engine) -> UsageStore:
    return UsageStore(engine)


def spec(name: str, limits: QuotaLimits, storage: dict | None = None) -> TenantSpec:
    return TenantSpec(
        name=name,
        display_name=name,
        limits=limits,
        allowed_profiles=None,
        members=(),
        storage=storage or {},
        group_mappings=(),
    )


def sample(tenant: str, at: datetime, servers: int = 1) -> UsageSample:
    return UsageSample(tenant, at, servers, 1000 * servers, GiB * servers, 0, 10 * GiB, 0)


def rows(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(UsageSampleRow)) or 0)


# ----------------------------------------------------------------------------- migration


def test_migration_0002_adds_the_samples_table_to_a_0001_database_keeping_its_data(
    db_url: str,
) -> None:
    engine = db.make_engine(db_url)
    try:
        db.upgrade(engine, "0001")
        TenantStore(engine).create_tenant(spec("vision", QuotaLimits(servers=2)), "test")
        assert "th_usage_samples" not in inspect(engine).get_table_names()
        db.upgrade(engine)
        assert db.current_revision(engine) == db.head_revision()
        inspector = inspect(engine)
        assert "th_usage_samples" in inspector.get_table_names()
        indexes = {i["name"]: i["column_names"] for i in inspector.get_indexes("th_usage_samples")}
        assert indexes["ix_th_usage_samples_tenant_at"] == ["tenant", "at"]
        assert indexes["ix_th_usage_samples_at"] == ["at"]
        assert TenantStore(engine).tenant_names() == ["vision"]
    finally:
        engine.dispose()


def test_the_migrated_samples_table_matches_the_model(engine: Engine) -> None:
    with engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    ours = [d for d in diffs if "th_usage_samples" in repr(d)]
    assert ours == []


# ----------------------------------------------------------------------------- store


def test_tenant_bases_read_quota_and_storage_by_name_one_page_at_a_time(engine: Engine) -> None:
    tenants = TenantStore(engine)
    tenants.create_tenant(spec("vision", QuotaLimits(cpu_millis=4000), {"size": "50Gi"}), "t")
    tenants.create_tenant(spec("nlp", QuotaLimits(servers=1)), "t")
    tenants.create_tenant(spec("geo", QuotaLimits()), "t")
    store = UsageStore(engine)
    total, bases = store.tenant_bases()
    assert total == 3
    assert [b.name for b in bases] == ["geo", "nlp", "vision"]
    assert bases[2] == TenantBasis("vision", QuotaLimits(cpu_millis=4000), {"size": "50Gi"})
    total, page = store.tenant_bases(None, offset=1, limit=1)
    assert (total, [b.name for b in page]) == (3, ["nlp"])
    total, only = store.tenant_bases(["vision", "nope"])
    assert (total, [b.name for b in only]) == (1, ["vision"])


def test_history_is_one_tenants_window_oldest_first_in_utc(store: UsageStore) -> None:
    store.record(
        [
            sample("vision", T0 + timedelta(minutes=2), servers=3),
            sample("vision", T0, servers=1),
            sample("nlp", T0 + timedelta(minutes=1)),
            sample("vision", T0 + timedelta(minutes=1), servers=2),
            sample("vision", T0 + timedelta(hours=2)),
        ]
    )
    got = store.history("vision", T0, T0 + timedelta(minutes=2))
    assert [(s.at, s.servers) for s in got] == [
        (T0, 1),
        (T0 + timedelta(minutes=1), 2),
        (T0 + timedelta(minutes=2), 3),
    ]
    assert got[0] == sample("vision", T0, servers=1)
    assert all(s.at.tzinfo is not None for s in got)


def test_times_in_another_zone_are_stored_and_compared_as_utc(store: UsageStore) -> None:
    two_hours_east = (T0 + timedelta(hours=2)).replace(tzinfo=timezone(timedelta(hours=2)))
    store.record([sample("vision", two_hours_east)])  # the same instant as T0
    (got,) = store.history("vision", T0 - timedelta(seconds=1), T0 + timedelta(seconds=1))
    assert got.at == T0 and got.at.utcoffset() == timedelta(0)
    assert store.history("vision", T0 + timedelta(seconds=1), T0 + timedelta(hours=3)) == []


def test_one_tick_of_a_thousand_tenants_is_one_batch(store: UsageStore, engine: Engine) -> None:
    batch = [sample(f"t{i:04d}", T0) for i in range(1000)]
    statements: list[str] = []

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    event.listen(engine, "before_cursor_execute", count)
    try:
        assert store.record(batch) == 1000
    finally:
        event.remove(engine, "before_cursor_execute", count)
    inserts = [s for s in statements if s.lstrip().upper().startswith("INSERT")]
    assert 1 <= len(inserts) <= 2  # executemany / insertmanyvalues batches, not 1000 inserts
    assert rows(engine) == 1000


# ----------------------------------------------------------------------------- retention


def test_ticks_prune_samples_older_than_the_retention_by_the_injected_clock(
    store: UsageStore, engine: Engine
) -> None:
    bases = [
        TenantBasis("vision", QuotaLimits(), {"size": "1Gi"}),
        TenantBasis("nlp", QuotaLimits(), {}),
    ]
    retention = timedelta(days=8)
    every = timedelta(hours=6)
    now = T0
    ticks = 0
    while now <= T0 + timedelta(days=10):
        result = record_tick(store, bases, {"vision": Resources(servers=1)}, now, retention)
        assert result.recorded == 2
        ticks += 1
        now += every
    last = now - every
    kept = store.history("vision", T0 - timedelta(days=30), last)
    assert kept[0].at == last - retention  # exactly the retention is kept, nothing older
    assert kept[-1].at == last
    assert len(kept) == int(retention / every) + 1
    assert rows(engine) == 2 * len(kept)
    assert ticks > len(kept)  # so some were pruned
    assert {s.servers for s in kept} == {1}
    assert {s.storage_bytes for s in kept} == {GiB}
    assert {s.servers for s in store.history("nlp", T0, last)} == {0}


def test_pruning_keeps_samples_of_deleted_tenants_until_they_age_out(
    store: UsageStore, engine: Engine
) -> None:
    store.record([sample("gone", T0)])
    assert store.prune(T0) == 0  # not older than the limit
    assert store.prune(T0 + timedelta(seconds=1)) == 1
    assert rows(engine) == 0


# ----------------------------------------------------------------------------- sampler


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # nobody listens once it is closed


async def test_sampler_logs_a_failing_hub_and_keeps_ticking(
    db_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = parse_config(
        {"hub": {"db_url": db_url, "data_dir": str(tmp_path)}, "tenants": [{"name": "vision"}]}
    )
    platform = PlatformContext(config)
    platform.prepare_database()
    service = ServiceContext(
        platform=platform,
        hub=HubClient(api_url=f"http://127.0.0.1:{closed_port()}/hub/api", token="unused"),
    )
    times = iter(T0 + timedelta(minutes=i) for i in range(1000))
    sampler = UsageSampler(service, every=0.05, retention=3600, clock=lambda: next(times))
    stop = asyncio.Event()
    caplog.set_level(logging.WARNING, logger="tenanthub.service")

    class StopAfterThree(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if "usage sample failed" in record.getMessage() and sampler.failures >= 3:
                stop.set()

    watcher = StopAfterThree()
    logging.getLogger("tenanthub.service").addHandler(watcher)
    try:
        # ends when asked after three failed ticks, having never raised
        await asyncio.wait_for(sampler.run(stop), 30)
    finally:
        logging.getLogger("tenanthub.service").removeHandler(watcher)
    assert sampler.failures >= 3
    failed = [r for r in caplog.records if "usage sample failed" in r.getMessage()]
    assert len(failed) >= 3
    assert "trying again" in failed[0].getMessage()
    assert "unused" not in caplog.text  # the token is never logged
    assert rows(platform.engine) == 0 and service.live_usage == {}
    platform.engine.dispose()
    with platform.engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(TenantRow)) == 1
