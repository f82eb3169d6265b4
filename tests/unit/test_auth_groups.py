"""Directory groups -> memberships -> JupyterHub groups and roles (pure rules)."""

from __future__ import annotations

from hub.auth.groups import (
    hub_groups,
    hub_roles,
    is_in_any,
    memberships_from_groups,
    tenant_admin_role,
)

MAPPINGS = {
    "vision": [("ds-vision", "member"), ("ds-vision-admins", "admin")],
    "nlp": [("DS-NLP", "member")],
}
DEFAULTS = [
    {"name": "user", "scopes": ["self"]},
    {"name": "admin", "scopes": ["admin:users"]},
    {"name": "server", "scopes": ["inherit"]},
]


def test_highest_role_wins_and_names_compare_case_insensitively() -> None:
    assert memberships_from_groups(["ds-vision", "ds-vision-admins", "ds-nlp"], MAPPINGS) == {
        "vision": "admin",
        "nlp": "member",
    }
    assert memberships_from_groups(["other"], MAPPINGS) == {}


def test_one_hub_group_per_tenant() -> None:
    assert hub_groups({"vision": "admin", "nlp": "member"}) == ["tenant-nlp", "tenant-vision"]


def test_tenant_admin_scopes_are_filtered_to_the_tenant_group() -> None:
    role = tenant_admin_role("vision")
    assert role["name"] == "tenant-admin-vision"
    assert role["scopes"] and all(s.endswith("!group=tenant-vision") for s in role["scopes"])
    assert "delete:servers!group=tenant-vision" in role["scopes"]
    # never opening users' servers, never admin-wide scopes
    assert not any(s.startswith(("access:servers", "admin", "servers!")) for s in role["scopes"])


def test_roles_keep_the_default_roles_jupyterhub_would_otherwise_strip() -> None:
    names = [r["name"] for r in hub_roles({"vision": "admin", "nlp": "member"}, DEFAULTS)]
    assert names == ["user", "tenanthub-user", "tenant-admin-vision"]
    admin = [r["name"] for r in hub_roles({}, DEFAULTS, admin=True)]
    assert admin == ["user", "admin", "tenanthub-user", "tenanthub-platform-admin"]


def test_everyone_may_sign_in_to_the_service_and_only_admins_carry_its_admin_scope() -> None:
    member = {r["name"]: r["scopes"] for r in hub_roles({"nlp": "member"}, DEFAULTS)}
    assert member["tenanthub-user"] == ["access:services!service=tenanthub"]
    assert not any("custom:tenanthub:admin" in scopes for scopes in member.values())
    admin = {r["name"]: r["scopes"] for r in hub_roles({}, DEFAULTS, admin=True)}
    assert admin["tenanthub-platform-admin"] == ["custom:tenanthub:admin"]


def test_is_in_any() -> None:
    assert is_in_any(["Platform-Admins"], ["platform-admins"])
    assert not is_in_any([], ["platform-admins"])
