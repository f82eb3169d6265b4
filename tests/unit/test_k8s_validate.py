"""Every manifest TenantHub renders is valid for the Kubernetes API (strict schemas).

``kubernetes-validate`` checks objects against the API's own OpenAPI schemas;
``strict`` also refuses fields a version does not know, which an API server
would silently drop (a dropped security field is the dangerous case).

Versions: the newest the installed package ships (production clusters) and
1.20, the version of the test cluster, whenever the package still ships it
(kubernetes-validate 1.37 ships 1.25 to 1.37; 1.28.x was the last with
1.20). Without 1.20 the oldest shipped version is checked instead, so a field
newer than every supported cluster is still caught; the k8s test tier
applies the same objects to the real v1.20.2 API server.
"""

from __future__ import annotations

import json
from typing import Any

import kubernetes_validate
import pytest
from kubernetes_validate.utils import all_versions, major_minor

from hub.config.schema import KubernetesBackendSettings, Profile, Tenant
from hub.tenancy.seed import spec_from_config
from spawner.kubernetes import names
from spawner.kubernetes.manifests import tenant_objects, user_pod
from spawner.plan import make_plan
from tests.unit.builders import profile

TEST_CLUSTER = "1.20"
SHIPPED = sorted(
    {major_minor(v) for v in all_versions()}, key=lambda v: tuple(map(int, v.split(".")))
)
LATEST = major_minor(kubernetes_validate.latest_version())
VERSIONS = sorted({LATEST, TEST_CLUSTER if TEST_CLUSTER in SHIPPED else SHIPPED[0]})

PROFILES: list[Profile] = [
    profile("small", cpu={"guarantee": "250m", "limit": "1"}, memory={"limit": "2Gi"}),
    profile(
        "gpu",
        image="tenanthub/notebook-gpu:latest",
        cpu={"limit": "8"},
        memory={"guarantee": "16Gi", "limit": "32Gi"},
        gpu=2,
        node_selector={"nvidia.com/gpu.present": "true"},
        tolerations=[
            {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
            {"key": "spot", "value": "1", "effect": "NoExecute", "toleration_seconds": 30},
        ],
        checkpoint=False,
    ),
    profile("bare"),
]

TENANTS = {
    "nfs": {
        "name": "vision",
        "display_name": "Computer Vision",
        "quota": {
            "cpu": "16",
            "memory": "64Gi",
            "gpu": 4,
            "servers": 8,
            "running_jobs": 4,
            "storage": "1Ti",
        },
        "storage": {
            "size": "500Gi",
            "nfs": {
                "server": "nfs.example.org",
                "path": "/exports/vision",
                "mount_options": ["nfsvers=4.2", "hard"],
                "read_only": False,
            },
        },
        "members": [{"user": "carol", "role": "admin"}],
    },
    "storage-class": {
        "name": "nlp",
        "quota": {"cpu": "2500m", "memory": "1536Mi", "gpu": 0, "servers": 3},
        "storage": {"size": "20Gi", "storage_class": "cephfs"},
        "profiles": ["small"],
    },
    "plain": {"name": "sandbox"},
}

SETTINGS = {
    "defaults": KubernetesBackendSettings(),
    "custom": KubernetesBackendSettings.model_validate(
        {
            "namespace_prefix": "tenant-",
            "hub_namespace": "jhub",
            "egress": [
                {"cidr": "0.0.0.0/0", "except_cidrs": ["10.0.0.0/8"], "ports": [{"port": 443}]},
                {"cidr": "10.20.0.0/16"},
                {"cidr": "fd00::/8", "ports": [{"port": 53, "protocol": "UDP"}]},
            ],
            "tenant_admin_access": {"user_prefix": "oidc:"},
            "host_network": True,
            "image_pull_policy": "Never",
        }
    ),
    "no-admin-access": KubernetesBackendSettings.model_validate(
        {"tenant_admin_access": {"enabled": False}}
    ),
}


def _objects() -> list[tuple[str, dict[str, Any]]]:
    """Every distinct object of every tenant x settings x admins case, and each profile's pod."""
    out = []
    for settings_id, settings in SETTINGS.items():
        for tenant_id, data in TENANTS.items():
            spec = spec_from_config(Tenant.model_validate(data))
            for admins in ([], ["carol", "dave@example.org"]):
                for obj in tenant_objects(spec, PROFILES, settings, admins):
                    ident = f"{settings_id}-{tenant_id}-{len(admins)}-{obj['kind']}"
                    out.append((f"{ident}/{obj['metadata']['name']}", obj))
            for p in PROFILES:
                plan = make_plan(spec.name, p, "Alice.Smith@example.org", spec.name)
                pod = user_pod(
                    plan,
                    settings,
                    pod_name=names.pod_name(plan.username, plan.server_name),
                    port=30001 if settings.host_network else 8888,
                    cmd=["jupyterhub-singleuser", "--ip=0.0.0.0"],
                    env={"JUPYTERHUB_API_URL": "http://hub:8081/hub/api"},
                    extra_labels={"hub.jupyter.org/servername": spec.name},
                    annotations={"hub.jupyter.org/username": plan.username},
                )
                out.append((f"{settings_id}-{tenant_id}-pod-{p.name}", pod))
    distinct: dict[str, tuple[str, dict[str, Any]]] = {}
    for ident, obj in out:
        distinct.setdefault(json.dumps(obj, sort_keys=True), (ident, obj))
    return list(distinct.values())


OBJECTS = _objects()


def test_the_versions_include_the_newest_kubernetes() -> None:
    assert LATEST in VERSIONS
    assert tuple(map(int, LATEST.split("."))) >= (1, 37)


def test_every_kind_is_covered() -> None:
    kinds = {obj["kind"] for _, obj in OBJECTS}
    assert kinds == {
        "Namespace",
        "ResourceQuota",
        "LimitRange",
        "NetworkPolicy",
        "ServiceAccount",
        "Role",
        "RoleBinding",
        "PersistentVolume",
        "PersistentVolumeClaim",
        "Pod",
    }


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("obj", [o for _, o in OBJECTS], ids=[i for i, _ in OBJECTS])
def test_manifest_is_valid_for_kubernetes(obj: dict[str, Any], version: str) -> None:
    # validate() falls back to an older schema when asked for an unknown version;
    # the version it answers with proves which schema was used
    assert kubernetes_validate.validate(obj, version, strict=True) == version


@pytest.mark.parametrize("version", VERSIONS)
def test_the_validator_does_refuse_unknown_fields(version: str) -> None:
    """Guard against a validator that accepts anything (strict mode really is strict)."""
    pod = dict(OBJECTS[-1][1])
    pod["spec"] = {**pod["spec"], "hostNetwrok": True}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(pod, version, strict=True)
