"""decide_seed: the config seeds tenants but never silently overwrites an admin's change."""

from __future__ import annotations

import dataclasses
from typing import Any

from hub.config.schema import Tenant
from hub.tenancy.quota import QuotaLimits
from hub.tenancy.seed import (
    DbTenantState,
    SeedAction,
    SeedDecision,
    TenantSpec,
    decide_seed,
    spec_from_config,
)


def spec(name: str = "vision", **fields: Any) -> TenantSpec:
    return spec_from_config(Tenant.model_validate({"name": name, **fields}))


def seeded(s: TenantSpec) -> DbTenantState:
    """What the DB holds right after the config seeded ``s``."""
    return DbTenantState(spec=s, source="config", seeded_fingerprint=s.fingerprint())


def actions(decisions: list[SeedDecision]) -> dict[str, SeedAction]:
    return {d.tenant: d.action for d in decisions}


def test_spec_from_config_normalizes_the_tenant() -> None:
    s = spec(
        quota={"cpu": "2", "memory": "4Gi"},
        members=[{"user": "bob"}, {"user": "alice", "role": "admin"}],
        profiles=["small", "gpu", "small"],
    )
    assert s.display_name == "vision"  # no display name: the name
    assert s.limits == QuotaLimits(cpu_millis=2000, memory_bytes=4 * 2**30)
    assert s.members == (("alice", "admin"), ("bob", "member"))  # sorted
    assert s.allowed_profiles == ("gpu", "small")
    assert spec().allowed_profiles is None  # empty list in the config: every profile


def test_fingerprint_ignores_member_order_but_not_content() -> None:
    a = spec(members=[{"user": "alice"}, {"user": "bob"}])
    b = spec(members=[{"user": "bob"}, {"user": "alice"}])
    c = spec(members=[{"user": "bob"}, {"user": "alice", "role": "admin"}])
    assert a.fingerprint() == b.fingerprint()
    assert a.fingerprint() != c.fingerprint()


def test_fingerprint_changes_with_each_seedable_field() -> None:
    base = spec()
    variants = [
        spec(display_name="CV"),
        spec(quota={"servers": 1}),
        spec(profiles=["small"]),
        spec(members=[{"user": "alice"}]),
        spec(storage={"size": "1Gi"}),
        spec(group_mappings=[{"group": "cv"}]),
    ]
    prints = {v.fingerprint() for v in variants} | {base.fingerprint()}
    assert len(prints) == len(variants) + 1


def test_new_tenant_is_created() -> None:
    assert actions(decide_seed([spec("vision")], {})) == {"vision": SeedAction.CREATE}


def test_tenant_equal_to_the_config_is_unchanged() -> None:
    s = spec(quota={"servers": 2})
    assert actions(decide_seed([s], {"vision": seeded(s)})) == {"vision": SeedAction.UNCHANGED}


def test_config_change_is_applied_when_the_db_was_not_edited() -> None:
    old, new = spec(quota={"servers": 2}), spec(quota={"servers": 3})
    [decision] = decide_seed([new], {"vision": seeded(old)})
    assert decision.action is SeedAction.UPDATE


def test_db_edit_wins_over_a_config_change() -> None:
    old, new = spec(quota={"servers": 2}), spec(quota={"servers": 3})
    edited = dataclasses.replace(old, display_name="Edited in the console")
    state = DbTenantState(edited, "config", seeded_fingerprint=old.fingerprint())
    [decision] = decide_seed([new], {"vision": state})
    assert decision.action is SeedAction.KEEP_DB
    assert "console" in decision.reason


def test_db_edit_that_happens_to_match_the_config_is_unchanged() -> None:
    old, new = spec(quota={"servers": 2}), spec(quota={"servers": 3})
    state = DbTenantState(new, "config", seeded_fingerprint=old.fingerprint())
    assert actions(decide_seed([new], {"vision": state})) == {"vision": SeedAction.UNCHANGED}


def test_tenant_created_outside_the_config_is_never_overwritten() -> None:
    s = spec()
    for source in ("manual", "api"):
        state = DbTenantState(spec(display_name="by hand"), source, seeded_fingerprint=None)
        [decision] = decide_seed([s], {"vision": state})
        assert decision.action is SeedAction.KEEP_DB
        assert source in decision.reason


def test_tenant_created_outside_the_config_keeps_db_even_when_equal() -> None:
    s = spec()
    state = DbTenantState(s, "manual", seeded_fingerprint=None)
    assert actions(decide_seed([s], {"vision": state})) == {"vision": SeedAction.KEEP_DB}


def test_tenant_removed_from_the_config_is_orphaned_not_deleted() -> None:
    gone = spec("old-team")
    decisions = decide_seed([spec("vision")], {"old-team": seeded(gone)})
    assert actions(decisions) == {"vision": SeedAction.CREATE, "old-team": SeedAction.ORPHANED}
    orphan = next(d for d in decisions if d.tenant == "old-team")
    assert "left in place" in orphan.reason


def test_manual_tenants_not_in_the_config_are_not_reported() -> None:
    state = DbTenantState(spec("by-hand"), "manual", seeded_fingerprint=None)
    assert decide_seed([], {"by-hand": state}) == []


def test_every_config_tenant_gets_exactly_one_decision() -> None:
    a, b, c = spec("a"), spec("b", quota={"gpu": 1}), spec("c")
    db = {"a": seeded(a), "b": seeded(spec("b")), "z": seeded(spec("z"))}
    assert actions(decide_seed([a, b, c], db)) == {
        "a": SeedAction.UNCHANGED,
        "b": SeedAction.UPDATE,
        "c": SeedAction.CREATE,
        "z": SeedAction.ORPHANED,
    }
