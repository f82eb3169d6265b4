"""Quota arithmetic: what fits, what does not, and what the user is told."""

from __future__ import annotations

import dataclasses

import pytest

from hub.config.schema import Quota
from hub.tenancy.quota import (
    QuotaLimits,
    QuotaShortfall,
    Resources,
    quota_message,
    server_request,
    shortfalls,
)
from tests.unit.builders import profile

GiB = 2**30


def test_resources_add_and_subtract_field_by_field() -> None:
    a = Resources(
        cpu_millis=500, memory_bytes=GiB, gpu=1, servers=1, storage_bytes=5, running_jobs=2
    )
    b = Resources(cpu_millis=250, memory_bytes=GiB, servers=1)
    assert a + b == Resources(750, 2 * GiB, 1, 2, 5, 2)
    assert (a + b) - b == a


def test_resources_arithmetic_covers_every_field() -> None:
    # + and - are spelled out field by field for speed: a field added to Resources
    # and forgotten there would silently stay 0
    names = [f.name for f in dataclasses.fields(Resources)]
    a = Resources(**{n: 10 ** (i + 1) for i, n in enumerate(names)})
    b = Resources(**{n: i + 1 for i, n in enumerate(names)})
    assert a + b == Resources(**{n: getattr(a, n) + getattr(b, n) for n in names})
    assert a - b == Resources(**{n: getattr(a, n) - getattr(b, n) for n in names})


def test_quota_limits_from_config_quota_are_exact_integers() -> None:
    quota = Quota.model_validate(
        {
            "cpu": "6",
            "memory": "16Gi",
            "gpu": 1,
            "servers": 3,
            "storage": "100Gi",
            "running_jobs": 4,
        }
    )
    assert QuotaLimits.from_quota(quota) == QuotaLimits(
        cpu_millis=6000,
        memory_bytes=16 * GiB,
        gpu=1,
        servers=3,
        storage_bytes=100 * GiB,
        running_jobs=4,
    )


def test_missing_quota_values_mean_unlimited() -> None:
    assert QuotaLimits.from_quota(Quota()) == QuotaLimits()
    huge = Resources(cpu_millis=10**9, memory_bytes=10**15, gpu=1000, servers=10**6)
    assert shortfalls(QuotaLimits(), huge, huge) == []


def test_zero_quota_is_a_limit_not_unlimited() -> None:
    limits = QuotaLimits.from_quota(Quota(gpu=0, servers=0))
    assert limits.gpu == 0 and limits.servers == 0
    assert [s.resource for s in shortfalls(limits, Resources(), Resources(gpu=1, servers=1))] == [
        "gpu",
        "servers",
    ]


def test_exact_fit_passes() -> None:
    limits = QuotaLimits(cpu_millis=2000, memory_bytes=4 * GiB, servers=2)
    used = Resources(cpu_millis=1000, memory_bytes=2 * GiB, servers=1)
    ask = Resources(cpu_millis=1000, memory_bytes=2 * GiB, servers=1)
    assert shortfalls(limits, used, ask) == []


def test_one_unit_over_fails_and_names_used_requested_and_limit() -> None:
    limits = QuotaLimits(cpu_millis=2000, memory_bytes=4 * GiB, servers=2)
    used = Resources(cpu_millis=1000, memory_bytes=2 * GiB, servers=1)
    ask = Resources(cpu_millis=1001, memory_bytes=2 * GiB, servers=1)
    assert shortfalls(limits, used, ask) == [
        QuotaShortfall(resource="cpu_millis", used=1000, requested=1001, limit=2000)
    ]
    one_byte_over = Resources(memory_bytes=2 * GiB + 1)
    assert shortfalls(limits, used, one_byte_over) == [
        QuotaShortfall("memory_bytes", 2 * GiB, 2 * GiB + 1, 4 * GiB)
    ]


def test_every_resource_that_does_not_fit_is_listed() -> None:
    limits = QuotaLimits(
        cpu_millis=1000, memory_bytes=GiB, gpu=0, servers=1, storage_bytes=GiB, running_jobs=1
    )
    ask = Resources(
        cpu_millis=2000,
        memory_bytes=2 * GiB,
        gpu=1,
        servers=2,
        storage_bytes=2 * GiB,
        running_jobs=2,
    )
    assert [s.resource for s in shortfalls(limits, Resources(), ask)] == [
        "cpu_millis",
        "memory_bytes",
        "gpu",
        "servers",
        "storage_bytes",
        "running_jobs",
    ]


def test_asking_for_nothing_of_a_resource_fits_even_when_it_is_over() -> None:
    # a tenant already over its memory (limit lowered by an admin) may still start a job
    limits = QuotaLimits(memory_bytes=GiB, running_jobs=5)
    used = Resources(memory_bytes=2 * GiB)
    assert shortfalls(limits, used, Resources(running_jobs=1)) == []


def test_quota_message_names_tenant_resource_used_and_limit_in_human_units() -> None:
    problems = [
        QuotaShortfall("cpu_millis", used=1500, requested=1000, limit=2000),
        QuotaShortfall("memory_bytes", used=3 * GiB, requested=2 * GiB, limit=4 * GiB),
        QuotaShortfall("gpu", used=1, requested=1, limit=1),
    ]
    message = quota_message("vision", problems)
    assert "'vision'" in message
    assert "cpu: 1.5 CPU of 2 CPU in use, this needs 1 CPU more" in message
    assert "memory: 3 GiB of 4 GiB in use, this needs 2 GiB more" in message
    assert "gpu: 1 of 1 in use, this needs 1 more" in message
    assert "ask a tenant admin" in message
    assert "3221225472" not in message  # never raw bytes


@pytest.mark.parametrize(
    ("resource", "label"),
    [("servers", "servers"), ("storage_bytes", "storage"), ("running_jobs", "running jobs")],
)
def test_shortfall_labels_are_words(resource: str, label: str) -> None:
    assert QuotaShortfall(resource, 0, 1, 0).label == label


def test_server_request_counts_the_limits() -> None:
    p = profile(
        "p",
        cpu={"guarantee": "250m", "limit": "1"},
        memory={"guarantee": "512Mi", "limit": "2Gi"},
        gpu=1,
    )
    assert server_request(p) == Resources(cpu_millis=1000, memory_bytes=2 * GiB, gpu=1, servers=1)


def test_server_request_falls_back_to_the_guarantee_without_a_limit() -> None:
    p = profile("p", cpu={"guarantee": "500m"}, memory={"guarantee": "1Gi"})
    assert server_request(p) == Resources(cpu_millis=500, memory_bytes=GiB, servers=1)


def test_server_request_of_an_unsized_profile_is_one_server() -> None:
    assert server_request(profile("p")) == Resources(servers=1)
