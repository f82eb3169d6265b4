"""Which servers a tenant admin's group-filtered scope reaches."""

from __future__ import annotations

import pytest

from hub.auth.server_reach import filter_reaches_server, server_tenant
from hub.tenancy.names import tenant_of_group

BOB_GROUPS = {"tenant-vision", "tenant-nlp"}


def test_a_tenant_group_reaches_only_that_tenants_server_of_a_user_in_two_tenants():
    vision_admin = {"group": {"tenant-vision"}}
    assert filter_reaches_server(vision_admin, "bob", "vision", BOB_GROUPS, "vision")
    assert not filter_reaches_server(vision_admin, "bob", "nlp", BOB_GROUPS, "nlp")


def test_a_server_whose_tenant_is_not_decided_is_not_reached_through_a_tenant_group():
    assert not filter_reaches_server({"group": {"tenant-vision"}}, "bob", "", BOB_GROUPS, None)


def test_a_tenant_group_the_owner_is_not_in_reaches_nothing():
    assert not filter_reaches_server(
        {"group": {"tenant-vision"}}, "dan", "", {"tenant-nlp"}, "vision"
    )


@pytest.mark.parametrize(
    "filters",
    [
        {"user": {"bob"}},
        {"server": {"bob/nlp"}},
        {"group": {"data-team"}},  # not a tenant group: JupyterHub's meaning
        {"group": {"tenant-vision", "tenant-nlp"}},  # admin of both tenants
    ],
)
def test_user_server_and_other_group_filters_keep_jupyterhubs_meaning(filters):
    groups = BOB_GROUPS | {"data-team"}
    assert filter_reaches_server(filters, "bob", "nlp", groups, "nlp")


def test_a_server_filter_names_one_server_only():
    assert not filter_reaches_server({"server": {"bob/nlp"}}, "bob", "vision", BOB_GROUPS, "vision")


def test_the_admitted_tenant_in_the_state_wins_over_the_requested_one():
    state = {"tenanthub": {"tenant": "nlp", "profile": "small"}}
    assert server_tenant(state, {"tenant": "vision"}) == "nlp"
    assert server_tenant({}, {"tenant": "vision"}) == "vision"
    assert server_tenant(None, None) is None
    assert server_tenant({"tenanthub": "odd"}, {"tenant": ""}) is None


@pytest.mark.parametrize(
    ("group", "tenant"),
    [("tenant-vision", "vision"), ("tenant-", None), ("admins", None), ("tenant-Bad_Name", None)],
)
def test_tenant_of_group(group, tenant):
    assert tenant_of_group(group) == tenant
