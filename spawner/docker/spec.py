"""The hardened container for a spawn plan, as plain data (pure; no Docker calls).

What TenantDockerSpawner hands to docker-py: create kwargs, host config and
the volumes to create first. Built in one place and tested as whole objects,
the way kubespawner's ``make_pod`` output is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hub.config.schema import DockerBackendSettings, PipSettings
from hub.tenancy.names import home_volume_for, label_value, shared_volume_for
from spawner.plan import SpawnPlan

PIP_CA_MOUNT = "/etc/tenanthub/pip-ca.crt"
CPU_PERIOD = 100_000


@dataclass(frozen=True)
class VolumeSpec:
    name: str
    labels: dict[str, str]
    mount: str


@dataclass(frozen=True)
class ContainerSpec:
    name: str
    image: str
    user: str
    labels: dict[str, str]
    environment: dict[str, str]
    volumes: tuple[VolumeSpec, ...]
    host_config: dict[str, Any]
    network: str  # "host" or the tenant network's name
    extra_binds: dict[str, dict[str, str]] = field(default_factory=dict)


def tenant_network(tenant: str) -> str:
    return f"tenanthub-{tenant}"


def container_name(plan: SpawnPlan) -> str:
    """Unique per tenant, user and server on one engine (two hubs or tenants never clash)."""
    name = f"tenanthub-{plan.tenant}-{label_value(plan.username)}"
    return f"{name}--{label_value(plan.server_name)}" if plan.server_name else name


def quota_labels(plan: SpawnPlan) -> dict[str, str]:
    """What the server counts against its tenant's quota, readable back from `docker ps`."""
    return {
        "tenanthub.io/cpu-millis": str(plan.resources.cpu_millis),
        "tenanthub.io/memory-bytes": str(plan.resources.memory_bytes),
        "tenanthub.io/gpu": str(plan.resources.gpu),
    }


def pip_environment(pip: PipSettings) -> dict[str, str]:
    """Env the image's entrypoint renders into pip.conf (no secrets: URLs and hosts only)."""
    env = {}
    if pip.index_url:
        env["TENANTHUB_PIP_INDEX_URL"] = pip.index_url
    if pip.extra_index_urls:
        env["TENANTHUB_PIP_EXTRA_INDEX_URL"] = " ".join(pip.extra_index_urls)
    if pip.trusted_hosts:
        env["TENANTHUB_PIP_TRUSTED_HOST"] = " ".join(pip.trusted_hosts)
    if pip.ca_file:
        env["TENANTHUB_PIP_CERT"] = PIP_CA_MOUNT
    return env


def container_spec(
    plan: SpawnPlan, settings: DockerBackendSettings, pip: PipSettings
) -> ContainerSpec:
    """Tenant + profile + user (the plan) -> the container, with nothing left to chance."""
    common = {
        "app.kubernetes.io/managed-by": "tenanthub",
        "tenanthub.io/tenant": plan.tenant,
        "tenanthub.io/user": label_value(plan.username),
    }
    labels = {
        **plan.labels,
        **quota_labels(plan),
        "tenanthub.io/username": plan.username,
        "tenanthub.io/server": plan.server_name,
    }
    home = settings.home_mount.rstrip("/") or "/"
    volumes = (
        VolumeSpec(
            home_volume_for(plan.tenant, plan.username),
            {**common, "tenanthub.io/volume": "home"},
            home,
        ),
        VolumeSpec(
            shared_volume_for(plan.tenant),
            {k: v for k, v in common.items() if k != "tenanthub.io/user"}
            | {"tenanthub.io/volume": "shared"},
            f"{home}/shared",
        ),
    )
    host_config: dict[str, Any] = {
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges"],
        "pids_limit": settings.pids_limit,
        "privileged": False,
        "init": True,
        # DockerSpawner asks the engine to remove the container when it exits (its
        # ``remove``); an engine with --live-restore before Docker 24.0.8 (Debian 12 has
        # 20.10) then kills and removes every such container when it restarts
        # (moby/moby#46308), losing every running server. The spawner removes the
        # container itself when the server stops, and its poll finds one that exited.
        "auto_remove": False,
    }
    if plan.mem_limit:
        host_config["mem_limit"] = plan.mem_limit
    if plan.mem_guarantee:
        host_config["mem_reservation"] = plan.mem_guarantee
    if plan.cpu_limit:
        host_config["cpu_period"] = CPU_PERIOD
        host_config["cpu_quota"] = int(plan.cpu_limit * CPU_PERIOD)
    if plan.cpu_guarantee:
        host_config["cpu_shares"] = max(2, int(plan.cpu_guarantee * 1024))
    if plan.gpu:
        host_config["device_requests"] = [
            {"Driver": "nvidia", "Count": plan.gpu, "Capabilities": [["gpu"]]}
        ]
    host_config.update(settings.extra_host_config)
    environment = {**plan.env, **pip_environment(pip)}
    extra_binds = {}
    if pip.ca_file:
        extra_binds[str(pip.ca_file)] = {"bind": PIP_CA_MOUNT, "mode": "ro"}
    return ContainerSpec(
        name=container_name(plan),
        image=plan.image,
        user=f"{settings.uid}:{settings.gid}",
        labels=labels,
        environment=environment,
        volumes=volumes,
        host_config=host_config,
        network="host" if settings.network == "host" else tenant_network(plan.tenant),
        extra_binds=extra_binds,
    )
