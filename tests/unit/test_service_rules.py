"""The API's pure decisions: quota validation, allowed-profile checks, where a deleted
tenant's data stays, the messages for memberships the API does not own, and which
servers are a tenant's."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from hub.config.loader import parse_config
from hub.service.api.data_kept import data_kept_sentence, kept_locations, reseed_warning
from hub.service.api.members import member_out, not_manual_message
from hub.service.api.models import QuotaIn
from hub.service.api.profiles import allowed_profiles_problem, profile_rows
from hub.service.api.servers import running_in
from hub.service.hub_client import ServerInfo
from hub.tenancy.quota import QuotaLimits
from hub.tenancy.store import MemberView, TenantView

PROFILES = parse_config(
    {
        "profiles": [
            {"name": "small", "display_name": "Small"},
            {"name": "big"},
            {"name": "gpu", "gpu": 1, "allowed_tenants": ["vision"]},
        ],
        "tenants": [{"name": "vision"}, {"name": "nlp"}],
    }
).profiles


# ----------------------------------------------------------------------------- quota


def quota_errors(**values: object) -> dict[str, str]:
    with pytest.raises(ValidationError) as raised:
        QuotaIn.model_validate(values)
    return {".".join(map(str, e["loc"])): e["msg"] for e in raised.value.errors()}


def test_a_quota_in_kubernetes_units_is_accepted_and_null_means_no_limit() -> None:
    quota = QuotaIn.model_validate(
        {"cpu": "500m", "memory": "16Gi", "gpu": 0, "servers": 3, "storage": "1Ti"}
    )
    assert (quota.cpu, quota.memory, quota.storage, quota.running_jobs) == (
        "500m",
        "16Gi",
        "1Ti",
        None,
    )
    assert QuotaIn.model_validate({"cpu": 8, "memory": "0"}).cpu == "8"


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("cpu", "-1", "not a Kubernetes quantity"),
        ("cpu", "2Gi", "byte unit"),
        ("cpu", "200000", "more than any tenant"),
        ("cpu", "0.0001", "finer than 1m"),
        ("memory", "4GB", "not a Kubernetes quantity"),
        ("memory", "512m", "milli"),
        ("memory", "16", "write the unit"),
        ("memory", "2Ei", "more than any tenant"),
        ("storage", "100", "write the unit"),
        ("gpu", -1, "greater than or equal to 0"),
        ("servers", 10**9, "less than or equal to 100000"),
        ("servers", True, "not true/false"),
        ("running_jobs", 1.5, "integer"),
    ],
)
def test_wrong_quota_values_are_refused_with_their_key(
    field: str, value: object, says: str
) -> None:
    errors = quota_errors(**{field: value})
    assert list(errors) == [field]
    assert says in errors[field]


def test_unknown_quota_keys_are_refused_not_dropped() -> None:
    assert "cpus" in quota_errors(cpus="2")


# ----------------------------------------------------------------------------- profiles


def test_allowed_profiles_must_be_known_meant_for_the_tenant_and_not_empty() -> None:
    assert allowed_profiles_problem(PROFILES, "nlp", None) is None
    assert allowed_profiles_problem(PROFILES, "nlp", ["small", "big"]) is None
    assert allowed_profiles_problem(PROFILES, "vision", ["gpu"]) is None
    unknown = allowed_profiles_problem(PROFILES, "nlp", ["small", "huge"])
    assert unknown == "Unknown profiles ['huge']; the platform has ['small', 'big', 'gpu']."
    elsewhere = allowed_profiles_problem(PROFILES, "nlp", ["gpu"])
    assert elsewhere is not None and "'gpu' is only for tenants ['vision']" in elsewhere
    empty = allowed_profiles_problem(PROFILES, "nlp", [])
    assert empty is not None and "send null" in empty


def test_every_profile_is_listed_with_whether_the_tenant_may_use_it() -> None:
    view = TenantView("nlp", "NLP", QuotaLimits(), frozenset({"small", "gpu"}))
    rows = profile_rows(PROFILES, view)
    assert [(r.name, r.display_name, r.allowed) for r in rows] == [
        ("small", "Small", True),
        ("big", "big", False),
        ("gpu", "gpu", False),  # allowed by the tenant, but the profile is vision's only
    ]
    every = profile_rows(PROFILES, TenantView("vision", "V", QuotaLimits(), None))
    assert all(r.allowed for r in every)


# ----------------------------------------------------------------------------- deleted tenants


def test_kept_data_names_the_places_of_the_backend() -> None:
    data = Path("/srv/th")
    assert kept_locations("vision", {}, "local", data, "th-") == [
        "local folder /srv/th/tenants/vision (home/<user> and shared)"
    ]
    docker = kept_locations("vision", {}, "docker", data, "th-")
    assert docker == [
        "Docker volumes tenanthub-vision-shared and tenanthub-vision-home-<user> (one per user)"
    ]
    nfs = {"size": "100Gi", "nfs": {"server": "nfs.example", "path": "/export/vision"}}
    (k8s,) = kept_locations("vision", nfs, "kubernetes", data, "team-")
    assert "namespace team-vision" in k8s and "claim tenanthub-data" in k8s
    assert (
        "PersistentVolume tenanthub-team-vision (Retain) on NFS nfs.example:/export/vision" in k8s
    )
    (by_class,) = kept_locations("vision", {"storage_class": "fast"}, "kubernetes", data, "th-")
    assert "storage class fast" in by_class
    assert len(kept_locations("vision", nfs, "auto", data, "th-")) == 3


def test_the_delete_answer_says_nothing_was_deleted_and_what_the_config_does() -> None:
    sentence = data_kept_sentence("vision", ["local folder /x"])
    assert "nothing on disk or in Kubernetes" in sentence and "local folder /x" in sentence
    warning = reseed_warning("vision", "/etc/tenanthub.yaml")
    assert warning.startswith("/etc/tenanthub.yaml still lists tenant 'vision'")
    assert "next hub start creates it again" in warning and "Remove it" in warning


# ----------------------------------------------------------------------------- members


def test_a_membership_the_api_does_not_own_says_where_to_change_it() -> None:
    config_only = MemberView("bob", "member", (("config", "member"),))
    change = not_manual_message("vision", config_only, "change")
    assert "only through config" in change and "the config file" in change
    assert 'POST /tenants/vision/members {"user": "bob", "role": "admin"}' in change
    both = MemberView("dan", "admin", (("config", "member"), ("ldap", "admin")))
    remove = not_manual_message("vision", both, "remove")
    assert "config, ldap" in remove and "LDAP directory" in remove and "POST" not in remove
    oauth = not_manual_message("vision", MemberView("e", "member", (("oauth", "member"),)), "x")
    assert "identity provider" in oauth


def test_member_out_lists_each_source_with_its_role() -> None:
    out = member_out(MemberView("dan", "admin", (("config", "member"), ("ldap", "admin"))))
    assert out.model_dump() == {
        "user": "dan",
        "role": "admin",
        "sources": ["config", "ldap"],
        "source_roles": {"config": "member", "ldap": "admin"},
    }


# ----------------------------------------------------------------------------- servers


def server(user: str, name: str, tenant: str | None) -> ServerInfo:
    return ServerInfo(user, name, tenant, "small", True, None, None, None, "")


def test_a_tenants_servers_are_those_started_in_it_by_user() -> None:
    servers = [
        server("zed", "", "vision"),
        server("bob", "nlp", "nlp"),
        server("bob", "", "vision"),
        server("amy", "", None),
    ]
    assert [(s.user, s.name) for s in running_in(servers, "vision")] == [("bob", ""), ("zed", "")]
    assert running_in(servers, "other") == []
