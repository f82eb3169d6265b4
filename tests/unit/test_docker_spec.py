"""The hardened container of a spawn, compared as a whole (like kubespawner's make_pod tests)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.config.loader import ConfigError, parse_config
from hub.config.schema import DockerBackendSettings, PipSettings
from hub.tenancy.quota import QuotaLimits, Resources
from hub.tenancy.usage import Allocation, UsageLedger
from spawner.docker import allocations_from_containers
from spawner.docker.spec import VolumeSpec, container_spec
from spawner.plan import make_plan
from tests.unit.builders import profile

SMALL = profile(
    "cpu-small",
    image="tenanthub/notebook-cpu:latest",
    cpu={"guarantee": "250m", "limit": "1"},
    memory={"guarantee": "512Mi", "limit": "2Gi"},
)


def test_cpu_profile_container_is_hardened_limited_labelled_and_has_both_volumes() -> None:
    spec = container_spec(
        make_plan("vision", SMALL, "alice", ""), DockerBackendSettings(), PipSettings()
    )
    assert spec.image == "tenanthub/notebook-cpu:latest"
    assert spec.name == "tenanthub-vision-alice"
    assert spec.user == "1000:100"
    assert spec.network == "host"
    assert spec.host_config == {
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges"],
        "pids_limit": 1024,
        "privileged": False,
        "init": True,
        "auto_remove": False,
        "mem_limit": 2 * 2**30,
        "mem_reservation": 512 * 2**20,
        "cpu_period": 100_000,
        "cpu_quota": 100_000,
        "cpu_shares": 256,
    }
    assert spec.labels == {
        "app.kubernetes.io/managed-by": "tenanthub",
        "tenanthub.io/tenant": "vision",
        "tenanthub.io/profile": "cpu-small",
        "tenanthub.io/user": "alice",
        "tenanthub.io/username": "alice",
        "tenanthub.io/server": "",
        "tenanthub.io/cpu-millis": "1000",
        "tenanthub.io/memory-bytes": str(2 * 2**30),
        "tenanthub.io/gpu": "0",
    }
    assert spec.volumes == (
        VolumeSpec(
            "tenanthub-vision-home-alice",
            {
                "app.kubernetes.io/managed-by": "tenanthub",
                "tenanthub.io/tenant": "vision",
                "tenanthub.io/user": "alice",
                "tenanthub.io/volume": "home",
            },
            "/home/jovyan",
        ),
        VolumeSpec(
            "tenanthub-vision-shared",
            {
                "app.kubernetes.io/managed-by": "tenanthub",
                "tenanthub.io/tenant": "vision",
                "tenanthub.io/volume": "shared",
            },
            "/home/jovyan/shared",
        ),
    )
    assert spec.environment == {"TENANTHUB_TENANT": "vision", "TENANTHUB_PROFILE": "cpu-small"}
    assert spec.extra_binds == {}


def test_gpu_profile_requests_nvidia_devices() -> None:
    # There is no GPU on the test machines: this checks the rendered request only.
    gpu = profile("gpu", image="tenanthub/notebook-gpu:latest", gpu=2)
    spec = container_spec(
        make_plan("vision", gpu, "bob", "vision"), DockerBackendSettings(), PipSettings()
    )
    assert spec.host_config["device_requests"] == [
        {"Driver": "nvidia", "Count": 2, "Capabilities": [["gpu"]]}
    ]
    assert spec.labels["tenanthub.io/gpu"] == "2"


def test_pip_mirror_is_rendered_into_env_and_ca_mounted_read_only(tmp_path: Path) -> None:
    ca = tmp_path / "mirror-ca.pem"
    pip = PipSettings(
        index_url="https://pypi.mirror.example/simple",
        extra_index_urls=["https://extra.example/simple"],
        trusted_hosts=["pypi.mirror.example"],
        ca_file=ca,
    )
    spec = container_spec(make_plan("vision", SMALL, "alice", ""), DockerBackendSettings(), pip)
    assert spec.environment["TENANTHUB_PIP_INDEX_URL"] == "https://pypi.mirror.example/simple"
    assert spec.environment["TENANTHUB_PIP_EXTRA_INDEX_URL"] == "https://extra.example/simple"
    assert spec.environment["TENANTHUB_PIP_TRUSTED_HOST"] == "pypi.mirror.example"
    assert spec.environment["TENANTHUB_PIP_CERT"] == "/etc/tenanthub/pip-ca.crt"
    assert spec.extra_binds == {str(ca): {"bind": "/etc/tenanthub/pip-ca.crt", "mode": "ro"}}


def test_tenant_network_mode_uses_the_tenants_network() -> None:
    spec = container_spec(
        make_plan("nlp", SMALL, "bob", "nlp"),
        DockerBackendSettings(network="tenant"),
        PipSettings(),
    )
    assert spec.network == "tenanthub-nlp"
    assert spec.name == "tenanthub-nlp-bob--nlp"


@pytest.mark.parametrize(
    ("docker", "expected"),
    [
        ({"uid": 0}, "backend.docker.uid"),
        ({"gid": 0}, "backend.docker.gid"),
        ({"extra_host_config": {"privileged": True}}, "backend.docker.extra_host_config"),
        ({"extra_host_config": {"cap_add": ["SYS_ADMIN"]}}, "backend.docker.extra_host_config"),
        ({"extra_host_config": {"user": "0"}}, "backend.docker.extra_host_config"),
        (
            {"extra_host_config": {"security_opt": ["seccomp=unconfined"]}},
            "backend.docker.extra_host_config",
        ),
        ({"extra_host_config": {"pid_mode": "host"}}, "backend.docker.extra_host_config"),
        ({"extra_host_config": {"network_mode": "bridge"}}, "backend.docker.extra_host_config"),
        ({"privileged": True}, "backend.docker.privileged"),
    ],
)
def test_config_cannot_make_a_container_root_privileged_or_add_capabilities(
    docker: dict, expected: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config({"backend": {"kind": "docker", "docker": docker}})
    assert [i.path for i in caught.value.issues] == [expected]


def test_harmless_extra_host_config_is_kept_but_cannot_undo_hardening() -> None:
    settings = DockerBackendSettings(extra_host_config={"shm_size": "1g"})
    spec = container_spec(make_plan("vision", SMALL, "alice", ""), settings, PipSettings())
    assert spec.host_config["shm_size"] == "1g"
    assert spec.host_config["cap_drop"] == ["ALL"]


def test_quota_usage_is_read_back_from_container_labels() -> None:
    spec = container_spec(
        make_plan("vision", SMALL, "alice", ""), DockerBackendSettings(), PipSettings()
    )
    containers = [
        {"State": "running", "Labels": spec.labels},
        {"State": "exited", "Labels": {**spec.labels, "tenanthub.io/username": "gone"}},
        {"State": "running", "Labels": {"unrelated": "x"}},
    ]
    assert allocations_from_containers(containers) == [
        Allocation(
            "alice/",
            "vision",
            "alice",
            Resources(cpu_millis=1000, memory_bytes=2 * 2**30, servers=1),
        )
    ]


def test_containers_the_ledger_does_not_know_count_against_the_quota() -> None:
    ledger = UsageLedger()
    running = Allocation("carl/", "vision", "carl", Resources(servers=1))
    new = Allocation("dora/", "vision", "dora", Resources(servers=1))
    problems = ledger.reserve(new, QuotaLimits(servers=1), observed=[running])
    assert [p.resource for p in problems] == ["servers"]
    # the same server seen both in the ledger and in docker counts once
    ledger.record(running)
    assert ledger.used("vision", observed=[running]) == Resources(servers=1)
