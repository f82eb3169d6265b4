"""The spawn plan: tenant + profile + user -> what to run (pure, no backend imports).

Every backend renders the same plan: the local backend into directories and
an environment, the Docker backend into a container, the Kubernetes backend
into a pod. Deciding it in one pure place keeps the backends thin and the
rules testable without any of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hub.config.quantities import parse_bytes, parse_cpu_millis
from hub.config.schema import Profile, Toleration
from hub.tenancy.names import InvalidNameError, label_value, safe_slug, validate_tenant_name
from hub.tenancy.quota import Resources, server_request


@dataclass(frozen=True)
class SpawnPlan:
    tenant: str
    profile: str
    username: str
    server_name: str
    image: str
    resources: Resources
    cpu_guarantee: float | None
    cpu_limit: float | None
    mem_guarantee: int | None
    mem_limit: int | None
    gpu: int
    checkpoint: bool = True
    node_selector: dict[str, str] = field(default_factory=dict)
    #: Kubernetes form (``tolerationSeconds``...), unset keys left out; only the
    #: Kubernetes backend uses them.
    tolerations: tuple[dict[str, Any], ...] = ()
    labels: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)


def make_plan(tenant: str, profile: Profile, username: str, server_name: str) -> SpawnPlan:
    validate_tenant_name(tenant)
    cpu, mem = profile.cpu, profile.memory
    return SpawnPlan(
        tenant=tenant,
        profile=profile.name,
        username=username,
        server_name=server_name,
        image=profile.image,
        resources=server_request(profile),
        cpu_guarantee=parse_cpu_millis(cpu.guarantee) / 1000 if cpu.guarantee else None,
        cpu_limit=parse_cpu_millis(cpu.limit) / 1000 if cpu.limit else None,
        mem_guarantee=parse_bytes(memory_guarantee)
        if (memory_guarantee := mem.guarantee)
        else None,
        mem_limit=parse_bytes(mem.limit) if mem.limit else None,
        gpu=profile.gpu,
        checkpoint=profile.checkpoint,
        node_selector=dict(profile.node_selector),
        tolerations=tuple(kubernetes_toleration(t) for t in profile.tolerations),
        labels={
            "app.kubernetes.io/managed-by": "tenanthub",
            "tenanthub.io/tenant": tenant,
            "tenanthub.io/profile": profile.name,
            "tenanthub.io/user": label_value(username),
        },
        env={"TENANTHUB_TENANT": tenant, "TENANTHUB_PROFILE": profile.name},
    )


def kubernetes_toleration(toleration: Toleration) -> dict[str, Any]:
    """A profile toleration in the pod spec's form; unset fields are left out, not null."""
    out: dict[str, Any] = {"operator": toleration.operator}
    for key, value in (
        ("key", toleration.key),
        ("value", toleration.value),
        ("effect", toleration.effect),
        ("tolerationSeconds", toleration.toleration_seconds),
    ):
        if value is not None:
            out[key] = value
    return out


@dataclass(frozen=True)
class LocalPaths:
    home: Path
    shared: Path


def local_paths(data_dir: Path, tenant: str, username: str) -> LocalPaths:
    """``<data_dir>/tenants/<tenant>/home/<user>`` and ``.../<tenant>/shared``.

    The user part is slugged so a username can never climb out of the
    tenant folder (``..``, ``/``).
    """
    root = data_dir / "tenants" / validate_tenant_name(tenant)
    if not username:  # "" would make the home the folder holding every user's home
        raise InvalidNameError("username must not be empty")
    return LocalPaths(home=root / "home" / safe_slug(username), shared=root / "shared")
