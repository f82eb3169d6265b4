"""Which profiles a tenant offers, in which order, and which one a request gets."""

from __future__ import annotations

from hub.tenancy.profiles import (
    could_ever_fit,
    pick_profile,
    profile_allowed,
    profiles_for_tenant,
)
from hub.tenancy.quota import QuotaLimits
from tests.unit.builders import profile

SMALL = profile("small", cpu={"limit": "1"}, memory={"limit": "2Gi"})
LARGE = profile("large", cpu={"limit": "4"}, memory={"limit": "8Gi"}, default=True)
GPU = profile("gpu", cpu={"limit": "8"}, gpu=1)
VISION_ONLY = profile("vision-only", allowed_tenants=["vision"])
ALL = [SMALL, LARGE, GPU, VISION_ONLY]


def names(profiles: list) -> list[str]:  # type: ignore[type-arg]
    return [p.name for p in profiles]


def test_profile_restricted_to_tenants_is_only_offered_there() -> None:
    assert profile_allowed(VISION_ONLY, "vision", None)
    assert not profile_allowed(VISION_ONLY, "nlp", None)
    assert "vision-only" in names(profiles_for_tenant(ALL, "vision", None, QuotaLimits()))
    assert "vision-only" not in names(profiles_for_tenant(ALL, "nlp", None, QuotaLimits()))


def test_tenant_allow_list_limits_the_profiles() -> None:
    offered = profiles_for_tenant(ALL, "nlp", frozenset({"small", "gpu"}), QuotaLimits())
    assert names(offered) == ["small", "gpu"]


def test_both_restrictions_must_agree() -> None:
    # the tenant allows vision-only, but vision-only does not allow the tenant
    assert profiles_for_tenant(ALL, "nlp", frozenset({"vision-only"}), QuotaLimits()) == []


def test_no_allow_list_means_every_profile() -> None:
    assert set(names(profiles_for_tenant(ALL, "vision", None, QuotaLimits()))) == {
        "small",
        "large",
        "gpu",
        "vision-only",
    }


def test_gpu_profile_is_hidden_when_the_tenant_has_no_gpu_quota() -> None:
    assert not could_ever_fit(GPU, QuotaLimits(gpu=0))
    assert "gpu" not in names(profiles_for_tenant(ALL, "nlp", None, QuotaLimits(gpu=0)))
    assert "gpu" in names(profiles_for_tenant(ALL, "nlp", None, QuotaLimits(gpu=1)))
    assert "gpu" in names(profiles_for_tenant(ALL, "nlp", None, QuotaLimits(gpu=None)))


def test_profile_bigger_than_the_whole_quota_is_hidden() -> None:
    offered = profiles_for_tenant(ALL, "nlp", None, QuotaLimits(cpu_millis=2000))
    assert names(offered) == ["small"]  # large (4 CPU) and gpu (8 CPU) never fit in 2 CPU


def test_profile_that_fits_the_quota_exactly_is_offered() -> None:
    assert could_ever_fit(LARGE, QuotaLimits(cpu_millis=4000, memory_bytes=8 * 2**30, servers=1))


def test_default_profile_comes_first_then_config_order() -> None:
    offered = profiles_for_tenant(ALL, "vision", None, QuotaLimits())
    assert names(offered) == ["large", "small", "gpu", "vision-only"]


def test_pick_profile_without_a_request_takes_the_first_offered() -> None:
    offered = profiles_for_tenant(ALL, "vision", None, QuotaLimits())
    assert pick_profile(offered, None) is LARGE
    assert pick_profile(offered, "") is LARGE


def test_pick_profile_by_name() -> None:
    assert pick_profile([SMALL, LARGE], "small") is SMALL


def test_pick_profile_refuses_a_profile_not_offered() -> None:
    assert pick_profile([SMALL], "large") is None
    assert pick_profile([], None) is None
