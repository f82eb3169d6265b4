"""Tenant names and every name derived from them."""

from __future__ import annotations

import re

import pytest

from hub.tenancy.names import (
    MAX_TENANT_NAME,
    RESERVED_TENANT_NAMES,
    InvalidNameError,
    group_for,
    home_volume_for,
    namespace_for,
    profile_name_problem,
    safe_slug,
    shared_volume_for,
    tenant_name_problem,
    validate_tenant_name,
)

DNS1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")


@pytest.mark.parametrize("name", ["a", "team", "team-2", "0day", "a" * MAX_TENANT_NAME, "x-y-z"])
def test_valid_tenant_names_pass_unchanged(name: str) -> None:
    assert tenant_name_problem(name) is None
    assert validate_tenant_name(name) == name


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("Team", "DNS-1123"),
        ("TEAM", "DNS-1123"),
        ("-team", "DNS-1123"),
        ("team-", "DNS-1123"),
        ("te am", "DNS-1123"),
        ("team.a", "DNS-1123"),
        ("team_a", "DNS-1123"),
        ("tëam", "DNS-1123"),
        ("team\n", "DNS-1123"),
        ("", "empty"),
        ("a" * (MAX_TENANT_NAME + 1), "the limit is 40"),
        ("kube-system", "reserved"),
        ("kube-x", "reserved"),
        (None, "string"),
        (7, "string"),
    ],
)
def test_invalid_tenant_names_say_why(name: object, says: str) -> None:
    problem = tenant_name_problem(name)
    assert problem is not None and says in problem
    with pytest.raises(InvalidNameError, match=re.escape(says)):
        validate_tenant_name(name)


@pytest.mark.parametrize("name", sorted(RESERVED_TENANT_NAMES))
def test_reserved_tenant_names_are_refused(name: str) -> None:
    assert "reserved" in (tenant_name_problem(name) or "")


def test_reserved_names_include_admin_and_default() -> None:
    assert {"admin", "default", "hub", "api"} <= RESERVED_TENANT_NAMES


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("cpu-small", True),
        ("p" * 63, True),
        ("p" * 64, False),
        ("Small", False),
        ("", False),
        ("gpu\n", False),
        ("a_b", False),
    ],
)
def test_profile_names_are_dns_labels_up_to_63(name: str, ok: bool) -> None:
    assert (profile_name_problem(name) is None) is ok


def test_namespace_is_th_prefix_plus_tenant_and_a_valid_dns_label() -> None:
    assert namespace_for("vision") == "th-vision"
    longest = namespace_for("a" * MAX_TENANT_NAME)
    assert DNS1123_LABEL.fullmatch(longest)


def test_derived_names() -> None:
    assert group_for("vision") == "tenant-vision"
    assert shared_volume_for("vision") == "tenanthub-vision-shared"
    assert home_volume_for("vision", "alice") == "tenanthub-vision-home-alice"
    assert home_volume_for("vision", "a.b") != home_volume_for("vision", "a-b")


@pytest.mark.parametrize("derive", [namespace_for, group_for, shared_volume_for])
def test_derived_names_refuse_invalid_tenants(derive) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidNameError):
        derive("../etc")
    with pytest.raises(InvalidNameError):
        derive("admin")


def test_safe_slug_keeps_lowercase_letters_and_digits() -> None:
    assert safe_slug("alice42") == "alice42"


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("a.b", "a-b"),
        ("a-b", "a-2db"),  # an escape sequence written literally
        ("Alice", "alice"),
        ("a_b", "a b"),
        ("é", "e"),
        ("a/b", "a.b"),
    ],
)
def test_safe_slug_never_maps_two_names_to_one(a: str, b: str) -> None:
    assert safe_slug(a) != safe_slug(b)


def test_safe_slug_is_injective_over_a_tricky_set() -> None:
    names = [
        "a.b",
        "a-b",
        "a_b",
        "a b",
        "A.b",
        "a-2eb",
        "a-2db",
        "a--b",
        "ab",
        "a",
        "-",
        ".",
        "..",
        "../..",
        "a/b",
        "a\\b",
        "ä",
        "a\u0308",
        "用户",
        "x@y.z",
        "X@Y.Z",
    ]
    slugs = [safe_slug(n) for n in names]
    assert len(set(slugs)) == len(names)


@pytest.mark.parametrize(
    "name", ["..", "../../etc", "a/../../b", "/root", ".hidden", "..\\x", "a/b", "\x00", "名前/.."]
)
def test_safe_slug_never_contains_a_slash_or_dots(name: str) -> None:
    slug = safe_slug(name)
    assert "/" not in slug and "\\" not in slug
    assert "." not in slug  # so never "..", never a hidden file
    assert re.fullmatch(r"[a-z0-9-]+", slug)


@pytest.mark.parametrize("user", ["alice", "Alice", "a.b", "-x-", "ü" * 40, "x" * 200, "@"])
def test_label_value_is_a_valid_kubernetes_label_value(user: str) -> None:
    from hub.tenancy.names import label_value

    value = label_value(user)
    assert len(value) <= 63
    assert re.fullmatch(r"[a-z0-9]([-a-z0-9_.]*[a-z0-9])?", value), value


def test_label_values_of_different_users_differ() -> None:
    from hub.tenancy.names import label_value

    users = ["Alice", "alice", "-41lice", "x" * 200, "x" * 201]
    assert len({label_value(u) for u in users}) == len(users)


def test_a_hashed_label_value_never_equals_another_users_plain_one() -> None:
    from hub.tenancy.names import label_value, safe_slug

    hashed = label_value("Alice")  # "A" escapes, so the value is hashed
    assert "-z" in hashed
    # plain slugs never contain "-z": nobody can pick a name that lands on it
    for user in ("41lice-z0", "alice-zz", "-zed", "a-z"):
        assert "-z" not in safe_slug(user)
