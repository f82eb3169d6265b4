"""The tenancy store on real SQLite and PostgreSQL: migrations, seeding, memberships, audit.

Every test here runs once per database (the ``db_url`` fixture).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import IntegrityError

from hub.config.loader import parse_config
from hub.config.schema import PlatformConfig
from hub.tenancy import db
from hub.tenancy.models import AuditRow, MembershipRow, QuotaRow, TenantProfileRow, TenantRow
from hub.tenancy.quota import QuotaLimits
from hub.tenancy.seed import SeedAction, SeedDecision
from hub.tenancy.store import TenantStore

pytestmark = pytest.mark.integration

GiB = 2**30
PROFILES = [{"name": "small"}, {"name": "large"}, {"name": "gpu", "gpu": 1}]


def config(*tenants: dict[str, Any]) -> PlatformConfig:
    return parse_config({"profiles": PROFILES, "tenants": list(tenants)})


VISION = {
    "name": "vision",
    "display_name": "Computer Vision",
    "quota": {"cpu": "6", "memory": "16Gi", "gpu": 1, "servers": 3},
    "members": [{"user": "alice", "role": "admin"}, {"user": "bob"}],
    "profiles": ["small", "gpu"],
    "group_mappings": [{"group": "cv-team"}],
}
NLP = {"name": "nlp", "quota": {"servers": 1}, "members": [{"user": "bob", "role": "admin"}]}


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = db.make_engine(db_url)
    db.upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def store(engine: Engine) -> TenantStore:
    return TenantStore(engine)


def counts(store: TenantStore) -> dict[str, int]:
    with store.session() as session:
        return {
            model.__tablename__: session.scalar(select(func.count()).select_from(model)) or 0
            for model in (TenantRow, QuotaRow, MembershipRow, TenantProfileRow, AuditRow)
        }


def actions(decisions: list[SeedDecision]) -> dict[str, SeedAction]:
    return {d.tenant: d.action for d in decisions}


def audit_actions(store: TenantStore) -> list[tuple[str, str]]:
    """(action, target) of every audit row, oldest first."""
    return [(e["action"], e["target"]) for e in reversed(store.audit_entries(limit=1000))]


def roles(store: TenantStore, user: str) -> dict[str, str]:
    return {m.tenant.name: m.role for m in store.memberships_of(user)}


# ----------------------------------------------------------------------------- migrations


def test_migrations_reach_head_and_are_idempotent(db_url: str) -> None:
    engine = db.make_engine(db_url)
    try:
        assert db.current_revision(engine) is None  # a fresh database
        db.upgrade(engine)
        db.upgrade(engine)  # idempotent
        assert db.current_revision(engine) == db.head_revision()
    finally:
        engine.dispose()


def test_plain_postgresql_urls_use_psycopg3() -> None:
    assert db.normalize_db_url("postgresql://u@h/d").startswith("postgresql+psycopg://")
    assert db.normalize_db_url("sqlite:///x.sqlite") == "sqlite:///x.sqlite"


# ----------------------------------------------------------------------------- seeding


def test_seed_creates_tenants_with_quota_profiles_and_members(store: TenantStore) -> None:
    decisions = store.seed(config(VISION, NLP))
    assert actions(decisions) == {"vision": SeedAction.CREATE, "nlp": SeedAction.CREATE}
    assert store.tenant_names() == ["nlp", "vision"]
    vision = store.tenant("vision")
    assert vision is not None
    assert vision.display_name == "Computer Vision"
    assert vision.limits == QuotaLimits(cpu_millis=6000, memory_bytes=16 * GiB, gpu=1, servers=3)
    assert vision.allowed_profiles == frozenset({"small", "gpu"})
    nlp = store.tenant("nlp")
    assert nlp is not None and nlp.allowed_profiles is None  # every profile
    assert nlp.display_name == "nlp"
    assert roles(store, "alice") == {"vision": "admin"}
    assert roles(store, "bob") == {"nlp": "admin", "vision": "member"}
    assert audit_actions(store) == [("tenant.seed.create", "vision"), ("tenant.seed.create", "nlp")]


def test_second_seed_of_the_same_config_changes_nothing(store: TenantStore) -> None:
    store.seed(config(VISION, NLP))
    before = counts(store)
    spec_before = store.tenant_spec("vision")
    decisions = store.seed(config(VISION, NLP))
    assert actions(decisions) == {"vision": SeedAction.UNCHANGED, "nlp": SeedAction.UNCHANGED}
    assert counts(store) == before  # no duplicate rows, no audit noise
    assert store.tenant_spec("vision") == spec_before


def test_config_change_is_applied_when_the_db_was_not_edited(store: TenantStore) -> None:
    store.seed(config(VISION))
    changed = {
        **VISION,
        "display_name": "Vision Lab",
        "quota": {"cpu": "8", "servers": 5},
        "members": [{"user": "alice"}, {"user": "carol", "role": "admin"}],  # bob removed
        "profiles": ["small", "large"],  # gpu swapped for large, small kept
    }
    assert actions(store.seed(config(changed))) == {"vision": SeedAction.UPDATE}
    vision = store.tenant("vision")
    assert vision is not None
    assert vision.display_name == "Vision Lab"
    assert vision.limits == QuotaLimits(cpu_millis=8000, servers=5)
    assert vision.allowed_profiles == frozenset({"small", "large"})
    assert roles(store, "alice") == {"vision": "member"}
    assert roles(store, "bob") == {}
    assert roles(store, "carol") == {"vision": "admin"}
    assert ("tenant.seed.update", "vision") in audit_actions(store)
    # and the update is now the baseline: the same config again is unchanged
    assert actions(store.seed(config(changed))) == {"vision": SeedAction.UNCHANGED}


def test_config_can_switch_a_tenant_between_some_and_all_profiles(store: TenantStore) -> None:
    store.seed(config(VISION))
    store.seed(config({**VISION, "profiles": []}))
    assert store.tenant("vision").allowed_profiles is None  # type: ignore[union-attr]
    store.seed(config({**VISION, "profiles": ["large"]}))
    assert store.tenant("vision").allowed_profiles == frozenset({"large"})  # type: ignore[union-attr]


def test_db_edit_is_kept_when_the_config_changes(store: TenantStore) -> None:
    store.seed(config(VISION))
    seeded = store.tenant_spec("vision")
    assert seeded is not None
    edited = dataclasses.replace(
        seeded, limits=dataclasses.replace(seeded.limits, servers=10), display_name="Edited"
    )
    store.update_tenant(edited, actor="console:alice")
    before = counts(store)

    decisions = store.seed(config({**VISION, "quota": {"servers": 1}}))
    assert actions(decisions) == {"vision": SeedAction.KEEP_DB}
    assert store.tenant_spec("vision") == edited  # nothing written
    vision = store.tenant("vision")
    assert vision is not None and vision.limits.servers == 10 and vision.display_name == "Edited"
    entry = store.audit_entries(limit=1)[0]
    assert (entry["action"], entry["target"], entry["actor"]) == (
        "tenant.seed.keep_db",
        "vision",
        "config",
    )
    assert "console" in json.loads(entry["detail"])["reason"]
    assert counts(store)["th_audit_log"] == before["th_audit_log"] + 1
    assert {k: v for k, v in counts(store).items() if k != "th_audit_log"} == {
        k: v for k, v in before.items() if k != "th_audit_log"
    }


def test_config_wins_again_once_the_db_edit_is_undone(store: TenantStore) -> None:
    store.seed(config(VISION))
    original = store.tenant_spec("vision")
    assert original is not None
    store.update_tenant(dataclasses.replace(original, display_name="Edited"), actor="console")
    new_config = config({**VISION, "quota": {"servers": 1}})
    assert actions(store.seed(new_config)) == {"vision": SeedAction.KEEP_DB}
    store.update_tenant(original, actor="console")  # changed back
    assert actions(store.seed(new_config)) == {"vision": SeedAction.UPDATE}
    assert store.tenant("vision").limits == QuotaLimits(servers=1)  # type: ignore[union-attr]


def test_tenant_created_by_hand_is_never_overwritten_by_the_config(store: TenantStore) -> None:
    with store.session() as session:
        session.add(TenantRow(name="vision", display_name="By hand", source="manual"))
    decisions = store.seed(config(VISION))
    assert actions(decisions) == {"vision": SeedAction.KEEP_DB}
    assert store.tenant("vision").display_name == "By hand"  # type: ignore[union-attr]
    assert roles(store, "alice") == {}


def test_tenant_removed_from_the_config_is_left_in_place(store: TenantStore) -> None:
    store.seed(config(VISION, NLP))
    decisions = store.seed(config(NLP))
    assert actions(decisions) == {"nlp": SeedAction.UNCHANGED, "vision": SeedAction.ORPHANED}
    assert store.tenant_names() == ["nlp", "vision"]
    assert roles(store, "alice") == {"vision": "admin"}  # members kept too
    assert ("tenant.seed.orphaned", "vision") in audit_actions(store)


def test_seeding_never_touches_memberships_from_other_sources(store: TenantStore) -> None:
    store.seed(config(VISION))
    store.add_membership("vision", "carol", "member", source="ldap", actor="ldap-sync")
    store.add_membership("vision", "bob", "admin", source="oauth", actor="oauth")
    store.add_membership("vision", "alice", "member", source="ldap", actor="ldap-sync")

    # the config drops bob and alice and changes the quota
    store.seed(config({**VISION, "members": [{"user": "dave"}], "quota": {"servers": 9}}))
    with store.session() as session:
        rows = {(m.username, m.source): m.role for m in session.scalars(select(MembershipRow))}
    assert rows == {
        ("carol", "ldap"): "member",
        ("bob", "oauth"): "admin",
        ("alice", "ldap"): "member",
        ("dave", "config"): "member",
    }
    assert roles(store, "alice") == {"vision": "member"}  # still in via LDAP
    assert roles(store, "bob") == {"vision": "admin"}  # still in via OAuth


def test_other_source_memberships_do_not_count_as_a_db_edit(store: TenantStore) -> None:
    store.seed(config(VISION))
    store.add_membership("vision", "carol", "member", source="ldap", actor="ldap-sync")
    assert actions(store.seed(config(VISION))) == {"vision": SeedAction.UNCHANGED}
    assert actions(store.seed(config({**VISION, "quota": {}}))) == {"vision": SeedAction.UPDATE}


# ----------------------------------------------------------------------------- memberships


def test_memberships_of_gives_the_highest_role_over_all_sources(store: TenantStore) -> None:
    store.seed(config(VISION, NLP))
    store.add_membership("vision", "bob", "admin", source="ldap", actor="ldap-sync")
    store.add_membership("nlp", "bob", "member", source="oauth", actor="oauth")
    memberships = store.memberships_of("bob")
    assert [(m.tenant.name, m.role) for m in memberships] == [("nlp", "admin"), ("vision", "admin")]
    vision = memberships[1].tenant
    assert vision.allowed_profiles == frozenset({"small", "gpu"})
    assert vision.limits.gpu == 1


def test_every_write_is_seen_by_the_next_lookup_of_another_hub_process(
    store: TenantStore, db_url: str
) -> None:
    # memberships_of runs on every spawn and reads the database each time (no cache): a
    # change made through any write path, by this or another hub process sharing the
    # database, decides the very next spawn. A second engine stands for the other process.
    other_engine = db.make_engine(db_url)
    other = TenantStore(other_engine)
    try:
        other.memberships_of("carol")  # the other process has looked carol up before
        store.seed(config(VISION, NLP))  # seed
        assert roles(other, "bob") == {"nlp": "admin", "vision": "member"}
        assert roles(other, "carol") == {}
        store.add_membership("vision", "carol", "admin", source="ldap", actor="sync")  # add
        assert roles(other, "carol") == {"vision": "admin"}
        spec = store.tenant_spec("vision")
        assert spec is not None
        store.update_tenant(  # edit: bob removed, quota and profiles changed
            dataclasses.replace(
                spec,
                members=(("alice", "admin"),),
                limits=dataclasses.replace(spec.limits, servers=7),
                allowed_profiles=("small",),
            ),
            actor="console",
        )
        assert roles(other, "bob") == {"nlp": "admin"}
        (vision,) = other.memberships_of("alice")
        assert vision.tenant.limits.servers == 7
        assert vision.tenant.allowed_profiles == frozenset({"small"})
        # the other process seeds a config with a new tenant holding bob
        other.seed(config(VISION, NLP, {"name": "audio", "members": [{"user": "bob"}]}))
        assert roles(store, "bob") == {"audio": "member", "nlp": "admin"}
    finally:
        other_engine.dispose()


def test_memberships_of_a_stranger_is_empty(store: TenantStore) -> None:
    store.seed(config(VISION))
    assert store.memberships_of("mallory") == []


def test_the_same_membership_from_the_same_source_cannot_be_added_twice(
    store: TenantStore,
) -> None:
    store.seed(config(VISION))
    store.add_membership("vision", "carol", "member", source="ldap", actor="sync")
    with pytest.raises(IntegrityError):
        store.add_membership("vision", "carol", "admin", source="ldap", actor="sync")
    assert roles(store, "carol") == {"vision": "member"}  # the failed add left nothing behind


def test_writes_to_unknown_tenants_are_refused(store: TenantStore) -> None:
    store.seed(config(VISION))
    spec = store.tenant_spec("vision")
    assert spec is not None
    with pytest.raises(KeyError):
        store.update_tenant(dataclasses.replace(spec, name="ghost"), actor="console")
    with pytest.raises(KeyError):
        store.add_membership("ghost", "carol", "member", source="manual", actor="console")
    assert store.tenant("ghost") is None and store.tenant_spec("ghost") is None


# ----------------------------------------------------------------------------- audit


def test_writes_are_audited_with_actor_action_target_and_detail(store: TenantStore) -> None:
    store.seed(config(VISION))
    store.add_membership("vision", "carol", "admin", source="manual", actor="console:alice")
    store.audit("console:alice", "quota.view", "vision", {"why": "check"})
    newest, membership = store.audit_entries(limit=2)
    assert (newest["actor"], newest["action"], newest["target"]) == (
        "console:alice",
        "quota.view",
        "vision",
    )
    assert json.loads(newest["detail"]) == {"why": "check"}
    assert newest["at"] is not None
    assert (membership["action"], membership["target"]) == ("membership.add", "vision/carol")
    assert json.loads(membership["detail"]) == {"role": "admin", "source": "manual"}
