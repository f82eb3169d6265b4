"""The store methods behind the tenant API, on real SQLite and PostgreSQL (``db_url``):
members with their sources, manual-only changes, quota and profile writes, the audit
pages, tenant removal, and a constant number of statements per member page."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, event

from hub.config.loader import parse_config
from hub.tenancy import db
from hub.tenancy.quota import QuotaLimits
from hub.tenancy.seed import SeedAction, TenantSpec
from hub.tenancy.store import (
    ManualMembershipExists,
    MemberNotFound,
    NotManualMembership,
    TenantNotFound,
    TenantStore,
)
from hub.tenancy.tenant_removal import delete_tenant, remove_tenant, still_in_config

GiB = 2**30
CONFIG = parse_config(
    {
        "profiles": [{"name": "small"}, {"name": "big"}],
        "tenants": [
            {
                "name": "vision",
                "quota": {"cpu": "4", "servers": 2},
                "members": [{"user": "alice", "role": "admin"}, {"user": "bob"}],
                "storage": {"nfs": {"server": "nfs.example", "path": "/export/vision"}},
            }
        ],
    }
)


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = db.make_engine(db_url)
    db.upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def store(engine: Engine) -> TenantStore:
    store = TenantStore(engine)
    store.seed(CONFIG)
    return store


def make_tenant(store: TenantStore, name: str) -> None:
    store.create_tenant(
        TenantSpec(
            name=name,
            display_name=name,
            limits=QuotaLimits(),
            allowed_profiles=None,
            members=(),
            storage={},
            group_mappings=(),
        ),
        "admin",
    )


def actions_for(store: TenantStore, tenant: str | None = None) -> list[tuple[str, str, str]]:
    return [(e.actor, e.action, e.target) for e in store.audit_page(tenant, 0, 500)[1]]


class StatementCounter:
    def __init__(self, engine: Engine) -> None:
        self.count = 0
        event.listen(engine, "before_cursor_execute", self._seen)

    def _seen(self, *args: Any) -> None:
        self.count += 1


# ----------------------------------------------------------------------------- members


def test_members_are_listed_once_with_the_highest_role_and_every_source(
    store: TenantStore,
) -> None:
    store.add_membership("vision", "bob", "admin", "ldap", "ldap-login")
    store.add_manual_member("vision", "carol", "member", "alice")
    total, members = store.tenant_members("vision")
    assert total == 3
    assert [(m.user, m.role, m.sources) for m in members] == [
        ("alice", "admin", (("config", "admin"),)),
        ("bob", "admin", (("config", "member"), ("ldap", "admin"))),
        ("carol", "member", (("manual", "member"),)),
    ]
    total, page = store.tenant_members("vision", offset=1, limit=1)
    assert total == 3 and [m.user for m in page] == ["bob"]
    with pytest.raises(TenantNotFound):
        store.tenant_members("nope")


def test_a_member_page_costs_the_same_statements_for_10_or_200_members(
    store: TenantStore, engine: Engine
) -> None:
    for name, size in (("small", 10), ("large", 200)):
        make_tenant(store, name)
        for i in range(size):
            store.add_manual_member(name, f"user{i:03d}", "member", "admin")
            store.add_membership(name, f"user{i:03d}", "admin", "ldap", "ldap-login")
    counter = StatementCounter(engine)
    _total, members = store.tenant_members("small", 0, 500)
    small = counter.count
    counter.count = 0
    total, members = store.tenant_members("large", 0, 500)
    assert total == 200 and len(members) == 200
    assert all(m.role == "admin" and len(m.sources) == 2 for m in members)
    assert counter.count == small <= 5


def test_manual_membership_is_added_once_and_changed_only_by_role(store: TenantStore) -> None:
    member = store.add_manual_member("vision", "bob", "admin", "alice")
    assert member.role == "admin" and member.sources == (("config", "member"), ("manual", "admin"))
    with pytest.raises(ManualMembershipExists) as exists:
        store.add_manual_member("vision", "bob", "member", "alice")
    assert exists.value.member.role_from("manual") == "admin"

    lowered = store.set_manual_role("vision", "bob", "member", "alice")
    assert lowered.role == "member"
    assert ("alice", "membership.change", "vision/bob") in actions_for(store, "vision")

    remaining = store.remove_manual_member("vision", "bob", "alice")
    assert remaining is not None and remaining.sources == (("config", "member"),)


def test_memberships_from_config_or_directory_are_not_changed_through_the_api(
    store: TenantStore,
) -> None:
    store.add_membership("vision", "dan", "admin", "ldap", "ldap-login")
    for change in (
        lambda: store.set_manual_role("vision", "bob", "admin", "x"),
        lambda: store.remove_manual_member("vision", "bob", "x"),
        lambda: store.remove_manual_member("vision", "dan", "x"),
    ):
        with pytest.raises(NotManualMembership) as refused:
            change()
        assert refused.value.member.role_from("manual") is None
    with pytest.raises(MemberNotFound):
        store.set_manual_role("vision", "nobody", "admin", "x")
    with pytest.raises(MemberNotFound):
        store.remove_manual_member("vision", "nobody", "x")
    assert store.member("vision", "bob") is not None
    assert store.member("vision", "dan") is not None
    assert not [a for a in actions_for(store) if a[0] == "x"]  # nothing changed, nothing audited


def test_removing_the_only_membership_leaves_the_user_outside(store: TenantStore) -> None:
    store.add_manual_member("vision", "carol", "member", "alice")
    assert store.remove_manual_member("vision", "carol", "alice") is None
    assert store.member("vision", "carol") is None
    assert store.memberships_of("carol") == []
    assert actions_for(store, "vision")[0] == ("alice", "membership.remove", "vision/carol")


# ----------------------------------------------------------------------------- quota, profiles


def test_quota_is_replaced_whole_and_audited_only_when_it_changes(store: TenantStore) -> None:
    view = store.set_quota("vision", QuotaLimits(memory_bytes=8 * GiB), "admin")
    assert view.limits == QuotaLimits(memory_bytes=8 * GiB)  # cpu and servers: no limit now
    assert store.tenant("vision").limits == QuotaLimits(memory_bytes=8 * GiB)  # type: ignore[union-attr]
    store.set_quota("vision", QuotaLimits(memory_bytes=8 * GiB), "admin")
    entries = [e for e in store.audit_page("vision", 0, 100)[1] if e.action == "quota.set"]
    assert len(entries) == 1
    assert entries[0].detail["quota"]["memory_bytes"] == 8 * GiB
    assert entries[0].detail["previous"]["cpu_millis"] == 4000
    with pytest.raises(TenantNotFound):
        store.set_quota("nope", QuotaLimits(), "admin")


def test_allowed_profiles_switch_between_some_and_all(store: TenantStore) -> None:
    assert store.set_allowed_profiles("vision", ("small",), "admin").allowed_profiles == {"small"}
    view = store.set_allowed_profiles("vision", ("small", "big"), "admin")
    assert view.allowed_profiles == {"small", "big"}
    assert store.set_allowed_profiles("vision", None, "admin").allowed_profiles is None
    assert [a[1] for a in actions_for(store, "vision")[:3]] == ["profiles.set"] * 3


def test_display_name_changes_are_audited_with_the_previous_name(store: TenantStore) -> None:
    assert store.set_display_name("vision", "CV team", "admin").display_name == "CV team"
    entry = store.audit_page("vision", 0, 1)[1][0]
    assert entry.action == "tenant.update"
    assert entry.detail == {"display_name": "CV team", "previous": "vision"}


def test_an_api_edit_makes_the_next_seed_keep_the_database(store: TenantStore) -> None:
    store.set_quota("vision", QuotaLimits(servers=9), "admin")
    decisions = {d.tenant: d.action for d in store.seed(CONFIG)}
    assert decisions["vision"] is SeedAction.KEEP_DB
    assert store.tenant("vision").limits.servers == 9  # type: ignore[union-attr]


# ----------------------------------------------------------------------------- audit


def test_a_tenants_audit_is_its_own_target_and_its_members_not_a_prefix_namesake(
    store: TenantStore,
) -> None:
    make_tenant(store, "vis")
    make_tenant(store, "vis-ion")
    store.add_manual_member("vis", "eve", "member", "admin")
    store.add_manual_member("vis-ion", "eve", "member", "admin")
    store.audit("admin", "server.stop", "vis/eve", {"server": ""})
    total, entries = store.audit_page("vis", 0, 50)
    assert [(e.action, e.target) for e in entries] == [
        ("server.stop", "vis/eve"),
        ("membership.add", "vis/eve"),
        ("tenant.create", "vis"),
    ]
    assert total == 3
    assert entries[0].at.tzinfo is not None and entries[0].detail == {"server": ""}
    everything, _ = store.audit_page(None, 0, 1)
    assert everything > total
    assert store.audit_page("vi_", 0, 50)[0] == 0  # LIKE wildcards are escaped


# ----------------------------------------------------------------------------- removal


def test_removing_a_tenant_returns_its_storage_and_the_config_seeds_it_again(
    store: TenantStore,
) -> None:
    store.add_manual_member("vision", "carol", "member", "alice")
    gone = remove_tenant(store, "vision", "admin")
    assert gone.removed == {"memberships": 3, "profiles": 0}
    assert gone.storage["nfs"]["path"] == "/export/vision" and gone.source == "config"
    assert gone.members == ("alice", "bob", "carol")
    assert store.tenant("vision") is None
    assert actions_for(store, "vision")[0] == ("admin", "tenant.delete", "vision")
    with pytest.raises(TenantNotFound):
        delete_tenant(store, "vision", "admin")

    assert still_in_config(CONFIG, "vision")
    decisions = {d.tenant: d.action for d in store.seed(CONFIG)}
    assert decisions["vision"] is SeedAction.CREATE
    back = store.tenant_members("vision")[1]
    assert [m.user for m in back] == ["alice", "bob"]  # config members only; carol is not back


def test_a_tenant_page_is_reused_until_this_store_writes(
    store: TenantStore, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The list cache never hides this process's own writes (ORM flushes and DML both
    clear it); another process's writes show within SUMMARY_TTL_SECONDS."""
    import hub.tenancy.store as store_module

    def members_of_vision() -> int:
        _total, rows = store.tenant_summaries(None)
        return next(r.members for r in rows if r.view.name == "vision")

    assert members_of_vision() == 2
    store.add_manual_member("vision", "carol", "member", actor="admin")
    assert members_of_vision() == 3
    store.set_quota("vision", QuotaLimits(cpu_millis=8000), actor="admin")
    assert store.tenant_summaries(["vision"])[1][0].view.limits.cpu_millis == 8000

    assert members_of_vision() == 3  # the page is built again, and kept
    elsewhere = TenantStore(engine)  # as if the hub process wrote it
    elsewhere.add_manual_member("vision", "dave", "member", actor="admin")
    assert members_of_vision() == 3  # still the page this store built
    monkeypatch.setattr(store_module, "SUMMARY_TTL_SECONDS", 0.0)
    assert members_of_vision() == 4
