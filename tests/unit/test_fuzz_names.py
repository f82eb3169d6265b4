"""Fuzz: tenant and profile names are valid or refused with a reason, and the names
derived from them and from user names are valid Kubernetes/Docker names that never
collide for different inputs."""

from __future__ import annotations

import re

from hypothesis import example, given
from hypothesis import strategies as st

from hub.tenancy.names import (
    InvalidNameError,
    group_for,
    home_volume_for,
    label_value,
    namespace_for,
    profile_name_problem,
    safe_slug,
    shared_volume_for,
    tenant_name_problem,
    tenant_of_group,
    validate_tenant_name,
)
from tests.unit.fuzzing import fuzz, json_values

DNS1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
LABEL_VALUE = re.compile(r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?")
DOCKER_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]+")

name_like = st.from_regex(r"\A[a-z0-9][-a-z0-9]{0,45}\Z") | st.text(
    alphabet="abcxyz019-_.A ", max_size=45
)
user_names = st.text(max_size=70) | st.from_regex(r"\A[a-z][a-z0-9._@-]{0,20}\Z")


@fuzz(400)
@given(name_like | json_values)
@example("kube-system")
@example("a" * 41)
@example("-a")
def test_a_tenant_name_is_valid_or_refused_with_a_reason(name: object) -> None:
    problem = tenant_name_problem(name)
    try:
        valid = validate_tenant_name(name)
    except InvalidNameError as exc:
        assert problem and str(exc) == problem
        return
    assert problem is None and valid == name
    assert isinstance(name, str)
    namespace = namespace_for(name)
    assert len(namespace) <= 63 and DNS1123_LABEL.fullmatch(namespace)
    assert tenant_of_group(group_for(name)) == name
    assert DOCKER_NAME.fullmatch(shared_volume_for(name))


@fuzz(200)
@given(name_like | json_values)
def test_a_profile_name_is_a_dns_label_or_refused_with_a_reason(name: object) -> None:
    problem = profile_name_problem(name)
    if problem is None:
        assert isinstance(name, str) and len(name) <= 63 and DNS1123_LABEL.fullmatch(name)
    else:
        assert problem


@fuzz(300)
@given(st.text(max_size=40))
def test_a_group_is_a_tenants_or_none(group: str) -> None:
    tenant = tenant_of_group(group)
    assert tenant is None or (tenant_name_problem(tenant) is None and group_for(tenant) == group)


@fuzz(400)
@given(user_names, user_names)
@example("a.b", "a-b")
@example("a-2e", "a.")
@example("", "-")
def test_user_name_slugs_and_labels_are_valid_and_never_collide(a: str, b: str) -> None:
    for user in (a, b):
        slug = safe_slug(user)
        assert re.fullmatch(r"[a-z0-9-]*", slug)
        label = label_value(user)
        assert len(label) <= 63 and label and LABEL_VALUE.fullmatch(label), label
        assert DOCKER_NAME.fullmatch(home_volume_for("vision", user))
    if a != b:
        assert safe_slug(a) != safe_slug(b)
        assert label_value(a) != label_value(b)
        assert home_volume_for("vision", a) != home_volume_for("vision", b)
