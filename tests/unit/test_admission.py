"""admit: which tenant and profile a spawn runs with, or a refusal the user can act on."""

from __future__ import annotations

import pytest

from hub.tenancy.quota import QuotaLimits
from spawner.admission import NO_TENANT, AdmissionRefused, admit
from tests.unit.builders import membership, profile

SMALL = profile("small", cpu={"limit": "1"})
LARGE = profile("large", cpu={"limit": "4"}, default=True)
GPU = profile("gpu", gpu=1)
PROFILES = [SMALL, LARGE, GPU]

VISION = membership("vision", "admin")
NLP = membership("nlp", limits=QuotaLimits(gpu=0), allowed_profiles=frozenset({"small", "gpu"}))


def refusal(*args, **kwargs) -> str:  # type: ignore[no-untyped-def]
    with pytest.raises(AdmissionRefused) as caught:
        admit(*args, **kwargs)
    return str(caught.value)


def test_user_without_a_tenant_is_told_to_ask_an_admin() -> None:
    message = refusal([], PROFILES, None, None, "")
    assert message == NO_TENANT
    assert "not a member of any tenant" in message and "admin" in message


def test_only_tenant_is_used_when_none_is_named() -> None:
    admission = admit([VISION], PROFILES, None, None, "")
    assert admission.membership is VISION
    assert admission.profile is LARGE  # the default profile


def test_user_in_several_tenants_naming_none_is_asked_to_choose() -> None:
    message = refusal([VISION, NLP], PROFILES, None, None, "")
    assert "several tenants" in message and "choose" in message
    assert "nlp, vision" in message


def test_empty_requested_tenant_counts_as_none() -> None:
    assert "choose" in refusal([VISION, NLP], PROFILES, "", None, "")


def test_requested_tenant_is_used() -> None:
    assert admit([VISION, NLP], PROFILES, "nlp", None, "").membership is NLP


def test_named_server_equal_to_a_tenant_runs_in_that_tenant() -> None:
    assert admit([VISION, NLP], PROFILES, None, None, "nlp").membership is NLP
    assert admit([VISION, NLP], PROFILES, "nlp", None, "nlp").membership is NLP


def test_server_named_after_one_tenant_cannot_run_in_another() -> None:
    message = refusal([VISION, NLP], PROFILES, "vision", None, "nlp")
    assert "belongs to tenant 'nlp'" in message and "'vision'" in message


def test_server_with_another_name_runs_in_the_requested_tenant() -> None:
    assert admit([VISION, NLP], PROFILES, "vision", None, "scratch").membership is VISION


def test_not_a_member_of_the_requested_tenant_is_refused() -> None:
    message = refusal([VISION], PROFILES, "finance", None, "")
    assert "not a member of tenant 'finance'" in message
    assert "Your tenants: vision" in message


def test_unknown_profile_is_refused_listing_the_available_ones() -> None:
    message = refusal([VISION], PROFILES, "vision", "huge", "")
    assert "'huge' is not available in tenant 'vision'" in message
    assert "Available: large, small, gpu." in message


def test_profile_not_allowed_in_the_tenant_is_refused() -> None:
    # nlp allows small and gpu, and gpu is hidden by its zero GPU quota
    message = refusal([NLP], PROFILES, "nlp", "large", "")
    assert "Available: small." in message
    assert "Available" in refusal([NLP], PROFILES, "nlp", "gpu", "")


def test_requested_profile_is_used() -> None:
    admission = admit([VISION], PROFILES, "vision", "gpu", "")
    assert admission.profile is GPU
    assert [p.name for p in admission.offered] == ["large", "small", "gpu"]


def test_tenant_without_any_usable_profile_is_refused() -> None:
    empty = membership("empty", allowed_profiles=frozenset({"gpu"}), limits=QuotaLimits(gpu=0))
    message = refusal([empty], PROFILES, None, None, "")
    assert "no profile you can start" in message
