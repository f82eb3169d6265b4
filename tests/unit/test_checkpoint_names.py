"""Checkpoint repository and tag names: valid Docker references, one-to-one, bounded."""

from __future__ import annotations

import itertools
import re
from datetime import UTC, datetime, timedelta, timezone

import pytest

from checkpointer.names import (
    COMPONENT,
    LABEL_BASE_IMAGE,
    LABEL_CHECKPOINT_ID,
    LABEL_USER,
    LABEL_USERNAME,
    MAX_NAME,
    MAX_TAG,
    TAG,
    CheckpointNameError,
    base_image_of,
    checkpoint_labels,
    repository_for,
    server_slug,
    tag_for,
    user_slug,
)

# Docker's reference grammar, written out independently of the module under test
DOMAIN = r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9-]+)*)(?::[0-9]+)?"
PATH = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
REFERENCE = re.compile(rf"{DOMAIN}/{PATH}(?:/{PATH})*:[\w][\w.-]{{0,127}}")

AT = datetime(2025, 3, 4, 5, 6, 7, 890000, tzinfo=UTC)

ODD_USERS = [
    "alice",
    "Alice",
    "ALICE",
    "a.b",
    "a_b",
    "a-b",
    "a__b",
    "a..b",
    "a---b",
    "jean-luc.picard",
    "user@example.org",
    "first last",
    "émilie",
    "李雷",
    "+",
    "-",
    ".hidden",
    "trailing.",
    "_",
    "0",
    "x" * 64,
    "x" * 65,
    "x" * 300,
    "ünïcödé" * 30,
    "a/b",
    "a:b",
    "default",
    "alice-h0123456789",
    "alice-h0123456789x",
]


@pytest.mark.parametrize("username", ODD_USERS)
def test_every_username_gives_a_valid_bounded_repository(username: str) -> None:
    repo = repository_for("127.0.0.1:5000", "tenanthub", "team", username)
    ref = f"{repo}:{tag_for('', AT)}"
    assert REFERENCE.fullmatch(ref), ref
    assert len(repo) <= MAX_NAME
    assert COMPONENT.fullmatch(user_slug(username))
    assert len(user_slug(username)) <= 64 + 12


def test_plain_names_stay_readable() -> None:
    assert user_slug("alice") == "alice"
    assert user_slug("jean-luc.picard") == "jean-luc.picard"
    assert repository_for("127.0.0.1:5000", "tenanthub", "vision", "alice") == (
        "127.0.0.1:5000/tenanthub/ckpt-vision-alice"
    )
    assert tag_for("", AT) == "default-20250304T050607Z"
    assert tag_for("lab", AT) == "lab-20250304T050607Z"


def test_replaced_characters_keep_a_readable_stem_and_add_a_hash() -> None:
    slug = user_slug("User@Example.org")
    assert slug.startswith("user-example.org-h")
    assert re.fullmatch(r"user-example\.org-h[0-9a-f]{10}", slug)


def test_usernames_differing_only_in_unrepresentable_characters_never_collide() -> None:
    slugs = {name: user_slug(name) for name in ODD_USERS}
    assert len(set(slugs.values())) == len(ODD_USERS), slugs


def test_a_user_cannot_pick_a_name_equal_to_another_users_hashed_slug() -> None:
    # "Alice" hashes to "alice-h<hex>"; a user who signs up with exactly that name is
    # hashed too (names that look hashed never stay plain)
    taken = user_slug("Alice")
    assert user_slug(taken) != taken


def test_tenant_and_user_split_cannot_collide() -> None:
    # tenant "a-b" + user "c" versus tenant "a" + user "b-c" (and more splits)
    pairs = [("a-b", "c"), ("a", "b-c"), ("a-b-c", "d"), ("a", "b-c-d"), ("a-b", "c-d")]
    repos = [repository_for("r:5000", "p", t, u) for t, u in pairs]
    assert len(set(repos)) == len(repos), repos
    # a user on a hyphen-free tenant copying the other repository's suffix gets a hashed slug
    other = repository_for("r:5000", "p", "a-b", "c").rsplit("/", 1)[1]
    forged_user = other.removeprefix("ckpt-a-")
    assert repository_for("r:5000", "p", "a", forged_user) != repository_for(
        "r:5000", "p", "a-b", "c"
    )


def test_many_generated_pairs_are_one_to_one() -> None:
    tenants = ["a", "a-b", "b", "ab", "a-b-c"]
    users = ["b", "c", "b-c", "B", "b.c", "b_c", "c-d", "ab", "-b", "b-"]
    seen: dict[str, tuple[str, str]] = {}
    for tenant, user in itertools.product(tenants, users):
        repo = repository_for("127.0.0.1:5000", "tenanthub", tenant, user)
        assert repo not in seen, (repo, seen.get(repo), (tenant, user))
        seen[repo] = (tenant, user)


def test_default_server_and_a_server_named_default_get_different_tags() -> None:
    assert server_slug("") == "default"
    assert server_slug("default") != "default"
    assert tag_for("", AT) != tag_for("default", AT)


@pytest.mark.parametrize("server", ["", "lab", "Lab", "my server", "x" * 255, "gpu.1", "a_b"])
def test_tags_are_valid_and_bounded(server: str) -> None:
    tag = tag_for(server, AT)
    assert TAG.fullmatch(tag) and len(tag) <= MAX_TAG
    assert tag.endswith("-20250304T050607Z")


def test_tag_time_is_utc_and_naive_times_are_refused() -> None:
    local = AT.astimezone(timezone(timedelta(hours=-7)))
    assert tag_for("", local) == tag_for("", AT)
    with pytest.raises(CheckpointNameError, match="timezone-aware"):
        tag_for("", AT.replace(tzinfo=None))


def test_tags_differ_per_second() -> None:
    assert tag_for("", AT) != tag_for("", AT + timedelta(seconds=1))
    # within one second, the record id keeps them apart
    assert tag_for("", AT, 41) == "default-20250304T050607Z-41" != tag_for("", AT, 42)


def test_too_long_registry_and_prefix_are_refused_with_the_key_to_change() -> None:
    with pytest.raises(CheckpointNameError, match="at most 255"):
        repository_for("127.0.0.1:5000", "p" * 200, "team", "x" * 64)


@pytest.mark.parametrize("prefix", ["Tenant", "a//b", "-x", "a b"])
def test_invalid_repository_prefix_is_refused(prefix: str) -> None:
    with pytest.raises(CheckpointNameError, match="repository_prefix"):
        repository_for("127.0.0.1:5000", prefix, "team", "alice")


def test_multi_component_prefix_and_empty_prefix() -> None:
    assert repository_for("reg:5000", "org/th", "t", "u") == "reg:5000/org/th/ckpt-t-u"
    assert repository_for("reg:5000", "", "t", "u") == "reg:5000/ckpt-t-u"


@pytest.mark.parametrize("registry", ["", "a/b", "has space:5000"])
def test_bad_registry_is_refused(registry: str) -> None:
    with pytest.raises(CheckpointNameError, match=r"checkpoint\.registry"):
        repository_for(registry, "tenanthub", "team", "alice")


def test_invalid_tenant_and_empty_user_are_refused() -> None:
    with pytest.raises(ValueError, match="DNS-1123"):
        repository_for("127.0.0.1:5000", "tenanthub", "Team", "alice")
    with pytest.raises(CheckpointNameError, match="user name"):
        user_slug("")


def test_labels_carry_exact_names_and_the_container_style_user_slug() -> None:
    labels = checkpoint_labels(
        username="User@Example.org",
        server="",
        tenant="vision",
        profile="cpu",
        base_image="tenanthub/notebook-cpu:0.1.0",
        checkpoint_id=42,
    )
    assert labels[LABEL_USERNAME] == "User@Example.org"
    assert labels[LABEL_USER] != "User@Example.org"
    assert labels[LABEL_CHECKPOINT_ID] == "42"
    assert labels["tenanthub.io/server"] == ""
    assert labels["tenanthub.io/tenant"] == "vision"
    assert labels["tenanthub.io/profile"] == "cpu"
    assert labels[LABEL_BASE_IMAGE] == "tenanthub/notebook-cpu:0.1.0"
    with pytest.raises(CheckpointNameError, match="base image"):
        checkpoint_labels(
            username="a", server="", tenant="t", profile="p", base_image="", checkpoint_id=1
        )


def test_base_image_is_the_profile_image_even_through_a_chain_of_checkpoints() -> None:
    assert base_image_of("tenanthub/notebook-cpu:0.1.0", {}) == "tenanthub/notebook-cpu:0.1.0"
    assert base_image_of("tenanthub/notebook-cpu:0.1.0", None) == "tenanthub/notebook-cpu:0.1.0"
    restored = "127.0.0.1:5000/tenanthub/ckpt-t-a:default-20250304T050607Z"
    assert (
        base_image_of(restored, {LABEL_BASE_IMAGE: "tenanthub/notebook-cpu:0.1.0"})
        == "tenanthub/notebook-cpu:0.1.0"
    )
