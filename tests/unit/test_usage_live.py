"""Live usage arithmetic: what each tenant's servers and storage count against its quota,
and how a window of samples becomes at most a few hundred chart points."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hub.config.schema import Profile
from hub.service.hub_client import ServerInfo
from hub.service.usage import (
    MAX_POINTS,
    downsample,
    fraction,
    resource_usage,
    samples_for,
    storage_request_bytes,
    tenant_resources,
    used_by_tenant,
)
from hub.tenancy.quota import QuotaLimits, Resources
from hub.tenancy.usage_store import TenantBasis, UsageSample

GiB = 2**30
PROFILES = [
    Profile.model_validate({"name": "small", "cpu": {"limit": "1"}, "memory": {"limit": "1Gi"}}),
    Profile.model_validate(
        # no limits: the guarantees count
        {"name": "lean", "cpu": {"guarantee": "500m"}, "memory": {"guarantee": "512Mi"}}
    ),
    Profile.model_validate(
        {"name": "gpu", "cpu": {"limit": "4"}, "memory": {"limit": "16Gi"}, "gpu": 2}
    ),
]
T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def server(user: str, tenant: str | None, profile: str | None, name: str = "") -> ServerInfo:
    return ServerInfo(
        user=user,
        name=name,
        tenant=tenant,
        profile=profile,
        ready=True,
        pending=None,
        started=None,
        last_activity=None,
        url=f"/user/{user}/",
    )


def basis(name: str, limits: QuotaLimits | None = None, storage: dict | None = None) -> TenantBasis:
    return TenantBasis(name, limits or QuotaLimits(), storage if storage is not None else {})


def by_resource(items):  # type: ignore[no-untyped-def]
    return {u.resource: u for u in items}


# ----------------------------------------------------------------------------- servers


def test_servers_sum_their_profiles_per_tenant() -> None:
    used = used_by_tenant(
        [
            server("alice", "vision", "small"),
            server("bob", "vision", "gpu"),
            server("bob", "nlp", "lean", name="nlp"),
        ],
        PROFILES,
    )
    assert used == {
        "vision": Resources(cpu_millis=5000, memory_bytes=17 * GiB, gpu=2, servers=2),
        "nlp": Resources(cpu_millis=500, memory_bytes=GiB // 2, servers=1),
    }


def test_servers_without_a_tenant_count_for_nobody() -> None:
    assert used_by_tenant([server("old", None, "small")], PROFILES) == {}


def test_a_server_of_a_removed_profile_still_counts_as_a_server() -> None:
    assert used_by_tenant([server("alice", "vision", "gone")], PROFILES) == {
        "vision": Resources(servers=1)
    }


# ----------------------------------------------------------------------------- storage


def test_storage_used_is_the_size_the_tenant_storage_spec_requests() -> None:
    assert storage_request_bytes({"size": "500Gi"}) == 500 * GiB
    assert storage_request_bytes({"size": "1Ti", "storage_class": "fast"}) == 1024 * GiB


def test_a_tenant_without_a_storage_spec_requests_the_default_claim_size() -> None:
    assert storage_request_bytes({}) == 10 * GiB  # TenantStorage.size default


def test_an_invalid_stored_storage_spec_counts_zero_instead_of_failing() -> None:
    assert storage_request_bytes({"size": "lots"}) == 0
    assert storage_request_bytes({"unknown": 1}) == 0


def test_tenant_resources_add_storage_and_zero_jobs_to_the_servers() -> None:
    got = tenant_resources(
        basis("vision", storage={"size": "20Gi"}), Resources(cpu_millis=1000, servers=1)
    )
    assert got == Resources(cpu_millis=1000, servers=1, storage_bytes=20 * GiB, running_jobs=0)
    assert tenant_resources(basis("idle", storage={"size": "1Gi"}), None) == Resources(
        storage_bytes=GiB
    )


# ----------------------------------------------------------------------------- against quota


def test_resource_usage_reports_used_limit_displays_and_fraction() -> None:
    limits = QuotaLimits(cpu_millis=4000, memory_bytes=8 * GiB, servers=3, storage_bytes=40 * GiB)
    used = Resources(
        cpu_millis=1500, memory_bytes=GiB + GiB // 2, servers=2, storage_bytes=10 * GiB
    )
    got = by_resource(resource_usage(used, limits))
    assert list(got) == ["cpu", "memory", "gpu", "servers", "storage", "running_jobs"]
    cpu = got["cpu"]
    assert (cpu.used, cpu.limit, cpu.used_display, cpu.limit_display, cpu.fraction) == (
        1500,
        4000,
        "1.5 CPU",
        "4 CPU",
        0.375,
    )
    memory = got["memory"]
    assert (memory.used_display, memory.limit_display, memory.fraction) == (
        "1.5 GiB",
        "8 GiB",
        0.1875,
    )
    assert got["servers"].fraction == 0.6667
    assert got["storage"].fraction == 0.25
    gpu = got["gpu"]  # no limit
    assert (gpu.used, gpu.limit, gpu.limit_display, gpu.fraction) == (0, None, None, None)


def test_over_quota_shows_a_fraction_above_one() -> None:
    got = by_resource(resource_usage(Resources(servers=3), QuotaLimits(servers=2)))
    assert got["servers"].fraction == 1.5


def test_a_zero_limit_reads_as_full() -> None:
    assert fraction(0, 0) == 1.0
    assert fraction(0, None) is None
    assert fraction(1, 4) == 0.25


# ----------------------------------------------------------------------------- samples


def test_every_tenant_gets_a_sample_each_tick_even_without_servers() -> None:
    samples = samples_for(
        [basis("nlp", storage={"size": "1Gi"}), basis("vision", storage={"size": "2Gi"})],
        {"vision": Resources(cpu_millis=1000, memory_bytes=GiB, servers=1)},
        T0,
    )
    assert samples == [
        UsageSample("nlp", T0, 0, 0, 0, 0, GiB, 0),
        UsageSample("vision", T0, 1, 1000, GiB, 0, 2 * GiB, 0),
    ]


def sample(at: datetime, servers: int = 0, cpu: int = 0) -> UsageSample:
    return UsageSample("vision", at, servers, cpu, 0, 0, 0, 0)


def test_few_samples_come_back_as_they_are() -> None:
    samples = [sample(T0 + timedelta(minutes=i), servers=i) for i in range(MAX_POINTS)]
    assert downsample(samples, T0, T0 + timedelta(days=1)) == samples


def test_a_week_of_minute_samples_becomes_at_most_300_points_in_order() -> None:
    start = T0 - timedelta(days=7)
    samples = [sample(start + timedelta(minutes=i), servers=i % 5) for i in range(7 * 24 * 60)]
    points = downsample(samples, start, T0)
    assert len(points) == MAX_POINTS
    assert [p.at for p in points] == sorted(p.at for p in points)
    assert points[-1].at == samples[-1].at


def test_a_short_peak_survives_downsampling() -> None:
    start = T0 - timedelta(days=7)
    samples = [sample(start + timedelta(minutes=i)) for i in range(7 * 24 * 60)]
    samples[5000] = sample(samples[5000].at, servers=9, cpu=9000)  # one minute at the limit
    points = downsample(samples, start, T0)
    assert max(p.servers for p in points) == 9
    assert max(p.cpu_millis for p in points) == 9000
    assert sum(p.servers for p in points) == 9  # in exactly one point


def test_buckets_follow_the_window_not_the_sample_count() -> None:
    # samples only in the last hour of a 24h window: they fill the last buckets only
    start = T0 - timedelta(hours=24)
    samples = [sample(T0 - timedelta(seconds=3600 - 5 * i), servers=1) for i in range(720)]
    points = downsample(samples, start, T0)
    bucket = timedelta(hours=24) / MAX_POINTS
    assert len(points) <= int(timedelta(hours=1) / bucket) + 1
    assert all(p.at >= T0 - timedelta(hours=1) for p in points)
