"""Traits of the kubernetes backend: the spawner class and the provisioner service."""

from __future__ import annotations

import sys
from pathlib import Path

from hub.app.context import PlatformContext
from hub.app.traits import PROVISIONER_SERVICE, hub_traits
from hub.config.schema import PlatformConfig


def context(tmp_path: Path, **kubernetes: object) -> PlatformContext:
    config = PlatformConfig.model_validate(
        {"hub": {"data_dir": str(tmp_path)}, "backend": {"kubernetes": kubernetes}}
    )
    return PlatformContext(config, tmp_path / "tenanthub.yaml")


def test_kubernetes_backend_uses_the_tenant_kube_spawner(tmp_path: Path) -> None:
    traits = hub_traits(context(tmp_path, start_timeout="2m"), "kubernetes")
    assert traits["JupyterHub"]["spawner_class"] == "spawner.kubernetes.spawner.TenantKubeSpawner"
    spawner = traits["TenantKubeSpawner"]
    assert spawner["start_timeout"] == 120 and spawner["http_timeout"] == 120
    assert spawner["cmd"] == ["jupyterhub-singleuser"]


def test_the_provisioner_runs_as_a_hub_service_at_the_configured_interval(
    tmp_path: Path,
) -> None:
    traits = hub_traits(context(tmp_path, reconcile_every="10m"), "kubernetes")
    [service] = [s for s in traits["JupyterHub"]["services"] if s["name"] == PROVISIONER_SERVICE]
    assert service["command"] == [
        sys.executable,
        "-m",
        "hub.cli",
        "k8s",
        "provision",
        "--config",
        str(tmp_path / "tenanthub.yaml"),
        "--every",
        "600",
    ]
    # it needs no hub API scopes: no role mentions it
    assert not any(
        PROVISIONER_SERVICE in role.get("services", [])
        for role in traits["JupyterHub"]["load_roles"]
    )


def test_no_provisioner_when_disabled_or_on_other_backends(tmp_path: Path) -> None:
    off = hub_traits(context(tmp_path, reconcile_every=0), "kubernetes")
    docker = hub_traits(context(tmp_path), "docker")
    for traits in (off, docker):
        names = [s["name"] for s in traits["JupyterHub"]["services"]]
        assert PROVISIONER_SERVICE not in names
