"""Checkpoint records in the platform DB, on real SQLite and PostgreSQL (``db_url``):
migration 0003, the lifecycle enforced under a row lock, ready + retention in one
transaction, users' own lists, the spawn's lookups, and the ``checkpoint:`` config."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect

from hub.config.loader import ConfigError, parse_config
from hub.tenancy import db
from hub.tenancy.checkpoint_store import (
    CheckpointNotFound,
    CheckpointStore,
    IllegalStep,
    IncompleteStep,
    Step,
)
from hub.tenancy.models import Base
from hub.tenancy.quota import QuotaLimits
from hub.tenancy.seed import TenantSpec
from hub.tenancy.store import TenantStore

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
DIGEST = "sha256:" + "ab" * 32
BASE = "tenanthub/notebook-cpu:1"


class Clock:
    """Each call one second later: creation order is observable, and deterministic."""

    def __init__(self) -> None:
        self.now = T0

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
def store(engine: Engine) -> CheckpointStore:
    return CheckpointStore(engine, Clock())


def new(store: CheckpointStore, user: str = "alice", server: str = "", base: str = BASE, **kw):
    args = {"tenant": "vision", "profile": "small", "node": "node-1", **kw}
    return store.create(user, server, args["tenant"], args["profile"], base, args["node"])


def walk_to_ready(store: CheckpointStore, cid: int, keep: int = 3, tag: str = "t"):
    for state in ("committing", "verifying", "pushing"):
        store.step(cid, Step(state), keep)
    return store.step(cid, Step("ready", image=f"reg/ckpt-vision-alice:{tag}", digest=DIGEST), keep)


# ----------------------------------------------------------------------------- migration


def test_migration_0003_adds_the_checkpoints_table_to_a_0002_database_keeping_its_data(
    db_url: str,
) -> None:
    engine = db.make_engine(db_url)
    try:
        db.upgrade(engine, "0002")
        spec = TenantSpec("vision", "vision", QuotaLimits(), None, (), {}, ())
        TenantStore(engine).create_tenant(spec, "test")
        assert "th_checkpoints" not in inspect(engine).get_table_names()
        db.upgrade(engine)
        assert db.current_revision(engine) == db.head_revision()
        inspector = inspect(engine)
        indexes = {i["name"]: i["column_names"] for i in inspector.get_indexes("th_checkpoints")}
        assert indexes["ix_th_checkpoints_owner"] == [
            "user",
            "server",
            "tenant",
            "profile",
            "state",
        ]
        assert indexes["ix_th_checkpoints_node_state"] == ["node", "state"]
        assert TenantStore(engine).tenant_names() == ["vision"]
    finally:
        engine.dispose()


def test_the_migrated_checkpoints_table_matches_the_model(engine: Engine) -> None:
    with engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert [d for d in diffs if "th_checkpoints" in repr(d)] == []


# ----------------------------------------------------------------------------- lifecycle


def test_a_checkpoint_walks_requested_to_ready_and_keeps_what_each_step_reported(
    store: CheckpointStore,
) -> None:
    made = new(store)
    assert (made.state, made.deleted, made.image, made.created_at) == (
        "requested", False, None, T0 + timedelta(seconds=1),
    )  # fmt: skip
    store.step(made.id, Step("committing"), 3)
    store.step(
        made.id, Step("verifying", image="reg/ckpt-vision-alice:default-1", size_bytes=42), 3
    )
    store.step(made.id, Step("pushing"), 3)
    done = store.step(made.id, Step("ready", digest=DIGEST), 3)  # the image came earlier
    assert done.expired == ()
    c = done.checkpoint
    assert (c.state, c.image, c.digest, c.size_bytes) == (
        "ready", "reg/ckpt-vision-alice:default-1", DIGEST, 42,
    )  # fmt: skip
    assert c.updated_at > c.created_at
    assert store.get(made.id) == c


def test_an_illegal_step_is_refused_and_changes_nothing(store: CheckpointStore) -> None:
    made = new(store)
    with pytest.raises(IllegalStep) as refused:
        store.step(made.id, Step("ready", image="x:y", digest=DIGEST), 3)
    assert refused.value.current == "requested"
    assert store.get(made.id) == made
    walk_to_ready(store, made.id)
    with pytest.raises(IllegalStep, match="final"):
        store.step(made.id, Step("failed", message="late"), 3)
    assert store.get(made.id).state == "ready"  # type: ignore[union-attr]


def test_ready_without_a_digest_and_failed_without_a_reason_are_incomplete(
    store: CheckpointStore,
) -> None:
    made = new(store)
    for state in ("committing", "verifying", "pushing"):
        store.step(made.id, Step(state), 3)
    with pytest.raises(IncompleteStep) as incomplete:
        store.step(made.id, Step("ready", image="reg/x:y"), 3)
    assert incomplete.value.missing == ["digest"]
    with pytest.raises(IncompleteStep) as incomplete:
        store.step(made.id, Step("failed"), 3)
    assert incomplete.value.missing == ["message"]
    assert store.get(made.id).state == "pushing"  # type: ignore[union-attr]
    skipped = store.step(new(store).id, Step("skipped", message="nothing changed"), 3)
    assert skipped.checkpoint.message == "nothing changed"


def test_a_missing_checkpoint_is_not_found(store: CheckpointStore) -> None:
    with pytest.raises(CheckpointNotFound):
        store.step(12345, Step("committing"), 3)
    assert store.get(12345) is None


def test_two_racing_reports_of_the_same_step_cannot_both_leave_committing(
    store: CheckpointStore,
) -> None:
    """The row lock serialises them: one moves on, the other then sees it moved."""
    made = new(store)
    store.step(made.id, Step("committing"), 3)
    outcomes: list[str] = []

    def report(state: str) -> None:
        try:
            store.step(made.id, Step(state, message="x"), 3)
            outcomes.append(state)
        except IllegalStep:
            outcomes.append("refused")

    threads = [threading.Thread(target=report, args=(s,)) for s in ("skipped", "failed")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(outcomes) == 2 and outcomes.count("refused") == 1, outcomes
    winner = next(o for o in outcomes if o != "refused")
    assert store.get(made.id).state == winner  # type: ignore[union-attr]


# ----------------------------------------------------------------------------- retention


def test_marking_ready_beyond_keep_retires_the_oldest_ready_ones_in_the_same_step(
    store: CheckpointStore,
) -> None:
    ids = [new(store).id for _ in range(4)]
    in_flight = new(store).id  # never ready: retention leaves it alone
    other_server = new(store, server="gpu").id
    walk_to_ready(store, other_server, keep=2)
    assert walk_to_ready(store, ids[0], keep=2).expired == ()
    assert walk_to_ready(store, ids[1], keep=2).expired == ()
    third = walk_to_ready(store, ids[2], keep=2)
    assert [c.id for c in third.expired] == [ids[0]]
    assert all(c.deleted for c in third.expired)
    fourth = walk_to_ready(store, ids[3], keep=2)
    assert [c.id for c in fourth.expired] == [ids[1]]
    total, mine = store.of_user("alice", 0, 50)
    assert [c.id for c in mine] == [other_server, in_flight, ids[3], ids[2]]
    assert total == 4
    assert store.get(other_server).deleted is False  # type: ignore[union-attr]


# ----------------------------------------------------------------------------- users


def test_a_user_lists_and_deletes_only_their_own_checkpoints(store: CheckpointStore) -> None:
    mine, theirs = new(store, "alice"), new(store, "bob")
    assert [c.id for c in store.of_user("bob", 0, 50)[1]] == [theirs.id]
    with pytest.raises(CheckpointNotFound):
        store.delete_of_user("bob", mine.id)
    assert store.get(mine.id).deleted is False  # type: ignore[union-attr]
    gone = store.delete_of_user("alice", mine.id)
    assert gone.deleted and store.of_user("alice", 0, 50) == (0, [])
    with pytest.raises(CheckpointNotFound):
        store.delete_of_user("alice", mine.id)  # twice: it is gone for her
    total, deleted = store.page(0, 50, deleted=True)
    assert (total, [c.id for c in deleted]) == (1, [mine.id])  # the daemon still sees it


def test_the_daemon_pages_by_node_and_state_oldest_first(store: CheckpointStore) -> None:
    a, b, c = new(store, node="n1"), new(store, node="n2"), new(store, node="n1")
    store.step(c.id, Step("committing"), 3)
    assert [x.id for x in store.page(0, 50, node="n1")[1]] == [a.id, c.id]
    assert [x.id for x in store.page(0, 50, state="requested")[1]] == [a.id, b.id]
    assert store.page(1, 1) == (3, [store.get(b.id)])


# ----------------------------------------------------------------------------- spawns


def test_restore_candidates_are_the_latest_of_this_image_and_the_newest_of_any(
    store: CheckpointStore,
) -> None:
    key = ("alice", "", "vision", "small")
    assert store.restore_candidates(*key, BASE) == (None, None)
    old = new(store)
    walk_to_ready(store, old.id)
    failed = new(store)
    store.step(failed.id, Step("failed", message="engine down"), 3)
    latest, newest = store.restore_candidates(*key, BASE)
    assert latest == newest and latest is not None and latest.id == old.id
    # the profile's image changed: no latest of the new one, the old one is offered
    assert store.restore_candidates(*key, "tenanthub/notebook-cpu:2") == (None, latest)
    fresh = new(store, base="tenanthub/notebook-cpu:2")
    walk_to_ready(store, fresh.id)
    got = store.restore_candidates(*key, "tenanthub/notebook-cpu:2")
    assert got[0] is not None and got[0].id == fresh.id and got[1] == got[0]
    # another profile, tenant or server sees none of these
    assert store.restore_candidates("alice", "", "vision", "large", BASE) == (None, None)
    assert store.restore_candidates("alice", "x", "vision", "small", BASE) == (None, None)
    assert store.restore_candidates("bob", "", "vision", "small", BASE) == (None, None)
    store.delete_of_user("alice", fresh.id)
    latest, newest = store.restore_candidates(*key, "tenanthub/notebook-cpu:2")
    assert latest is None and newest is not None and newest.id == old.id
    assert [(c.tenant, c.profile, c.id) for c in store.newest_ready_per_profile("alice", "")] == [
        ("vision", "small", old.id)
    ]


# ----------------------------------------------------------------------------- config


def test_checkpoint_config_has_the_contract_defaults() -> None:
    c = parse_config({}).checkpoint
    assert (c.enabled, c.registry, c.repository_prefix, c.keep) == (
        True, "127.0.0.1:5000", "tenanthub", 3,
    )  # fmt: skip
    assert (c.idle_after, c.check_every, c.stop_wait, c.max_diff) == (1800, 30, 120, 5 * 2**30)
    assert c.port(parse_config({"hub": {"port": 9000}}).hub) == 9004
    assert (
        parse_config({"checkpoint": {"daemon_port": 7777, "idle_after": "5m"}}).checkpoint.port(
            parse_config({}).hub
        )
        == 7777
    )


@pytest.mark.parametrize(
    ("section", "path"),
    [
        ({"keep": 0}, "checkpoint.keep"),
        ({"registry": "https://registry.example/x"}, "checkpoint.registry"),
        ({"repository_prefix": "Upper/Case"}, "checkpoint.repository_prefix"),
        ({"max_diff_bytes": "lots"}, "checkpoint.max_diff_bytes"),
        ({"idle_after": "soon"}, "checkpoint.idle_after"),
        ({"daemon_port": 70000}, "checkpoint.daemon_port"),
        ({"registy": "typo"}, "checkpoint.registy"),
    ],
)
def test_a_bad_checkpoint_setting_is_reported_with_its_key_path(section, path) -> None:
    with pytest.raises(ConfigError) as bad:
        parse_config({"checkpoint": section})
    assert [issue.path for issue in bad.value.issues] == [path]
