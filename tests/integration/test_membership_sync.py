"""Directory memberships synced into the store, on real SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, select

from hub.config.loader import parse_config
from hub.tenancy import db
from hub.tenancy.membership_sync import group_mappings, sync_source_memberships
from hub.tenancy.models import AuditRow
from hub.tenancy.store import TenantStore

pytestmark = pytest.mark.integration


@pytest.fixture
def store(db_url: str) -> Iterator[TenantStore]:
    engine: Engine = db.make_engine(db_url)
    db.upgrade(engine)
    store = TenantStore(engine)
    store.seed(
        parse_config(
            {
                "tenants": [
                    {
                        "name": "vision",
                        "members": [{"user": "alice", "role": "member"}],
                        "group_mappings": [
                            {"group": "ds-vision", "role": "member"},
                            {"group": "ds-vision-admins", "role": "admin"},
                        ],
                    },
                    {"name": "nlp", "group_mappings": [{"group": "ds-nlp"}]},
                ]
            }
        )
    )
    yield store
    engine.dispose()


def roles(store: TenantStore, user: str) -> dict[str, str]:
    return {m.tenant.name: m.role for m in store.memberships_of(user)}


def test_mappings_come_from_the_database(store: TenantStore) -> None:
    assert group_mappings(store) == {
        "vision": [("ds-vision", "member"), ("ds-vision-admins", "admin")],
        "nlp": [("ds-nlp", "member")],
    }


def test_sync_adds_changes_and_removes_only_its_own_source(store: TenantStore) -> None:
    first = sync_source_memberships(
        store, "alice", "ldap", {"vision": "admin", "nlp": "member"}, "ldap-login"
    )
    assert first.added == {"vision": "admin", "nlp": "member"}
    # the config membership (member) and the ldap one (admin): the highest role wins
    assert roles(store, "alice") == {"nlp": "member", "vision": "admin"}

    second = sync_source_memberships(store, "alice", "ldap", {"vision": "member"}, "ldap-login")
    assert second.changed == {"vision": "member"} and second.removed == ["nlp"]
    assert roles(store, "alice") == {"vision": "member"}

    third = sync_source_memberships(store, "alice", "ldap", {}, "ldap-login")
    assert third.removed == ["vision"]
    # the config membership is still there: other sources are never touched
    assert roles(store, "alice") == {"vision": "member"}
    with store.session() as session:
        actions = [a.action for a in session.scalars(select(AuditRow).order_by(AuditRow.id))]
    assert actions[-5:] == [
        "membership.add", "membership.add", "membership.change", "membership.remove",
        "membership.remove",
    ]  # fmt: skip


def test_unknown_tenants_are_reported_and_nothing_is_written(store: TenantStore) -> None:
    result = sync_source_memberships(store, "bob", "oauth", {"ghost": "member"}, "oauth-login")
    assert result.unknown_tenants == ["ghost"] and not result.any
    assert roles(store, "bob") == {}


def test_config_source_and_bad_roles_are_refused(store: TenantStore) -> None:
    with pytest.raises(ValueError, match="source 'config'"):
        sync_source_memberships(store, "bob", "config", {}, "x")
    with pytest.raises(ValueError, match="role must be one of"):
        sync_source_memberships(store, "bob", "ldap", {"vision": "owner"}, "x")
