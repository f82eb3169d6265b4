"""Kubernetes manifests of a tenant and a notebook pod, compared as whole objects.

Like kubespawner's ``test_objects.py``: each expected manifest is written out
literally, so any change to what reaches the API server shows up here.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from hub.config.schema import KubernetesBackendSettings, Profile, Tenant
from hub.tenancy.names import safe_slug
from hub.tenancy.quota import QuotaLimits
from hub.tenancy.seed import TenantSpec, spec_from_config
from spawner.kubernetes import manifests, names
from spawner.kubernetes.manifests import tenant_objects, user_pod
from spawner.plan import make_plan
from tests.unit.builders import profile

GiB = 2**30
LABELS = {"app.kubernetes.io/managed-by": "tenanthub", "tenanthub.io/tenant": "vision"}


def tenant(**fields: Any) -> TenantSpec:
    return spec_from_config(Tenant.model_validate({"name": "vision", **fields}))


def settings(**fields: Any) -> KubernetesBackendSettings:
    return KubernetesBackendSettings.model_validate(fields)


def meta(name: str, namespace: str | None = "th-vision") -> dict[str, Any]:
    out: dict[str, Any] = {"name": name}
    if namespace:
        out["namespace"] = namespace
    out["labels"] = LABELS
    return out


SMALL = profile(
    "small",
    image="tenanthub/notebook-cpu:1",
    cpu={"guarantee": "500m", "limit": "2"},
    memory={"guarantee": "1Gi", "limit": "4Gi"},
    default=True,
)
LARGE = profile("large", cpu={"limit": "8"}, memory={"limit": "32Gi"})
GPU = profile(
    "gpu",
    image="tenanthub/notebook-gpu:1",
    cpu={"limit": "4"},
    memory={"guarantee": "8Gi", "limit": "16Gi"},
    gpu=1,
    node_selector={"nvidia.com/gpu.present": "true"},
    tolerations=[
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
        {
            "key": "spot",
            "operator": "Equal",
            "value": "yes",
            "effect": "NoExecute",
            "toleration_seconds": 60,
        },
    ],
    checkpoint=False,
)
PROFILES = [LARGE, SMALL, GPU]

NFS_TENANT = {
    "display_name": "Computer Vision",
    "quota": {
        "cpu": "16",
        "memory": "64Gi",
        "gpu": 2,
        "servers": 10,
        "running_jobs": 4,
        "storage": "500Gi",
    },
    "storage": {
        "size": "200Gi",
        "nfs": {"server": "nfs.example.org", "path": "/exports/vision"},
    },
}


# ----------------------------------------------------------------------------- tenant objects


def test_namespace_is_labelled_for_tenancy_and_pod_security_restricted() -> None:
    assert manifests.namespace(tenant(**NFS_TENANT), settings()) == {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": "th-vision",
            "labels": {
                "app.kubernetes.io/managed-by": "tenanthub",
                "tenanthub.io/tenant": "vision",
                "pod-security.kubernetes.io/enforce": "restricted",
                "pod-security.kubernetes.io/enforce-version": "latest",
                "pod-security.kubernetes.io/warn": "restricted",
                "pod-security.kubernetes.io/warn-version": "latest",
                "pod-security.kubernetes.io/audit": "restricted",
                "pod-security.kubernetes.io/audit-version": "latest",
            },
            "annotations": {"tenanthub.io/display-name": "Computer Vision"},
        },
    }


def test_namespace_uses_the_configured_prefix() -> None:
    ns = manifests.namespace(tenant(), settings(namespace_prefix="team-"))
    assert ns["metadata"]["name"] == "team-vision"


def test_resource_quota_renders_every_limited_resource() -> None:
    assert manifests.resource_quota(tenant(**NFS_TENANT), settings()) == {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": meta("tenanthub-quota"),
        "spec": {
            "hard": {
                "requests.cpu": "16",
                "limits.cpu": "16",
                "requests.memory": "64Gi",
                "limits.memory": "64Gi",
                "requests.nvidia.com/gpu": "2",
                "pods": "14",
                "persistentvolumeclaims": "1",
                "requests.storage": "500Gi",
            }
        },
    }


@pytest.mark.parametrize(
    ("limits", "hard"),
    [
        (QuotaLimits(), {"persistentvolumeclaims": "1"}),
        (
            QuotaLimits(cpu_millis=1500),
            {"requests.cpu": "1500m", "limits.cpu": "1500m", "persistentvolumeclaims": "1"},
        ),
        (
            QuotaLimits(memory_bytes=3 * 2**29),
            {
                "requests.memory": "1536Mi",
                "limits.memory": "1536Mi",
                "persistentvolumeclaims": "1",
            },
        ),
        (
            QuotaLimits(gpu=0),
            {"requests.nvidia.com/gpu": "0", "persistentvolumeclaims": "1"},
        ),
        (QuotaLimits(servers=3), {"persistentvolumeclaims": "1"}),
        (QuotaLimits(running_jobs=3), {"persistentvolumeclaims": "1"}),
        (QuotaLimits(servers=3, running_jobs=2), {"pods": "5", "persistentvolumeclaims": "1"}),
        (QuotaLimits(servers=0, running_jobs=0), {"pods": "0", "persistentvolumeclaims": "1"}),
        (
            QuotaLimits(storage_bytes=10**12),
            {"persistentvolumeclaims": "1", "requests.storage": "976562500Ki"},
        ),
    ],
)
def test_quota_renders_only_the_resources_that_have_a_limit(
    limits: QuotaLimits, hard: dict[str, str]
) -> None:
    assert manifests.quota_hard(limits) == hard


def test_limit_range_defaults_come_from_the_smallest_offered_profile() -> None:
    assert manifests.limit_range(tenant(**NFS_TENANT), PROFILES, settings()) == {
        "apiVersion": "v1",
        "kind": "LimitRange",
        "metadata": meta("tenanthub-defaults"),
        "spec": {
            "limits": [
                {
                    "type": "Container",
                    "default": {"cpu": "2", "memory": "4Gi"},
                    "defaultRequest": {"cpu": "500m", "memory": "1Gi"},
                }
            ]
        },
    }


def test_smallest_profile_prefers_no_gpu_then_less_cpu_then_less_memory() -> None:
    tiny_gpu = profile("tiny-gpu", cpu={"limit": "100m"}, gpu=1)
    a = profile("a", cpu={"limit": "1"}, memory={"limit": "8Gi"})
    b = profile("b", cpu={"limit": "1"}, memory={"limit": "2Gi"})
    c = profile("c", cpu={"guarantee": "1"}, memory={"limit": "2Gi"})
    assert manifests.smallest_profile([tiny_gpu, a, b]) == b
    assert manifests.smallest_profile([tiny_gpu]) == tiny_gpu
    assert manifests.smallest_profile([b, c]) == b  # a tie keeps config order
    assert manifests.smallest_profile([]) is None


def test_limit_range_only_considers_profiles_the_tenant_may_use() -> None:
    only_large = tenant(profiles=["large"])
    item = manifests.limit_range(only_large, PROFILES, settings())["spec"]["limits"][0]
    assert item["default"] == {"cpu": "8", "memory": "32Gi"}
    # a profile restricted to other tenants is not this tenant's default either
    elsewhere = profile("elsewhere", cpu={"limit": "100m"}, allowed_tenants=["nlp"])
    item = manifests.limit_range(tenant(), [elsewhere, SMALL], settings())["spec"]["limits"][0]
    assert item["default"] == {"cpu": "2", "memory": "4Gi"}
    # nor is one that could never fit the tenant's quota
    capped = tenant(quota={"cpu": "1"})
    item = manifests.limit_range(capped, [SMALL, profile("mini", cpu={"limit": "1"})], settings())
    assert item["spec"]["limits"][0]["default"] == {"cpu": "1"}


def test_limit_range_without_usable_profile_has_no_defaults() -> None:
    lr = manifests.limit_range(tenant(profiles=["small"]), [LARGE], settings())
    assert lr["spec"] == {"limits": [{"type": "Container"}]}


def test_network_policies_deny_all_then_allow_hub_proxy_dns_and_egress_rules() -> None:
    hub_peer = {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "jhub"}},
        "podSelector": {"matchLabels": {"app": "jupyterhub", "component": "hub"}},
    }
    proxy_peer = {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "jhub"}},
        "podSelector": {"matchLabels": {"app": "jupyterhub", "component": "proxy"}},
    }
    custom = settings(
        hub_namespace="jhub",
        hub_pod_labels={"app": "jupyterhub", "component": "hub"},
        proxy_pod_labels={"app": "jupyterhub", "component": "proxy"},
        dns_namespace="dns",
        dns_pod_labels={"app": "coredns"},
        egress=[
            {
                "cidr": "0.0.0.0/0",
                "except_cidrs": ["10.0.0.0/8", "169.254.169.254/32"],
                "ports": [{"port": 443}, {"port": 8443, "protocol": "TCP"}],
            },
            {"cidr": "10.20.0.0/16"},
            {"cidr": "10.30.0.0/16", "ports": [{"port": 5432}, {"port": 9999, "protocol": "UDP"}]},
        ],
    )
    assert manifests.network_policies(tenant(), custom) == [
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": meta("tenanthub-default-deny"),
            "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
        },
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": meta("tenanthub-allow-hub"),
            "spec": {
                "podSelector": {"matchLabels": {"component": "singleuser-server"}},
                "policyTypes": ["Ingress"],
                "ingress": [
                    {
                        "from": [hub_peer, proxy_peer],
                        "ports": [{"protocol": "TCP", "port": "notebook-port"}],
                    }
                ],
            },
        },
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": meta("tenanthub-allow-egress"),
            "spec": {
                "podSelector": {},
                "policyTypes": ["Egress"],
                "egress": [
                    {
                        "to": [
                            {
                                "namespaceSelector": {
                                    "matchLabels": {"kubernetes.io/metadata.name": "dns"}
                                },
                                "podSelector": {"matchLabels": {"app": "coredns"}},
                            }
                        ],
                        "ports": [
                            {"protocol": "UDP", "port": 53},
                            {"protocol": "TCP", "port": 53},
                        ],
                    },
                    {"to": [hub_peer]},
                    {
                        "to": [
                            {
                                "ipBlock": {
                                    "cidr": "0.0.0.0/0",
                                    "except": ["10.0.0.0/8", "169.254.169.254/32"],
                                }
                            }
                        ],
                        "ports": [
                            {"protocol": "TCP", "port": 443},
                            {"protocol": "TCP", "port": 8443},
                        ],
                    },
                    {"to": [{"ipBlock": {"cidr": "10.20.0.0/16"}}]},
                    {
                        "to": [{"ipBlock": {"cidr": "10.30.0.0/16"}}],
                        "ports": [
                            {"protocol": "TCP", "port": 5432},
                            {"protocol": "UDP", "port": 9999},
                        ],
                    },
                ],
            },
        },
    ]


def test_without_egress_rules_pods_reach_only_dns_and_the_hub() -> None:
    egress = manifests.network_policies(tenant(), settings())[2]["spec"]["egress"]
    assert [rule["to"][0]["podSelector"]["matchLabels"] for rule in egress] == [
        {"k8s-app": "kube-dns"},
        {"app.kubernetes.io/name": "tenanthub", "component": "hub"},
    ]


def test_service_account_mounts_no_token() -> None:
    assert manifests.service_account(tenant(), settings()) == {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": meta("notebook"),
        "automountServiceAccountToken": False,
    }


def test_tenant_admins_get_a_read_only_role_without_secrets() -> None:
    custom = settings(tenant_admin_access={"user_prefix": "oidc:"})
    assert manifests.tenant_admin_rbac(tenant(), custom, ["zoe", "carol", "zoe"]) == [
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": meta("tenanthub-tenant-admin-readonly"),
            "rules": [
                {
                    "apiGroups": [""],
                    "resources": [
                        "pods",
                        "pods/log",
                        "events",
                        "resourcequotas",
                        "limitranges",
                        "persistentvolumeclaims",
                        "services",
                        "configmaps",
                    ],
                    "verbs": ["get", "list", "watch"],
                }
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": meta("tenanthub-tenant-admin-readonly"),
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Role",
                "name": "tenanthub-tenant-admin-readonly",
            },
            "subjects": [
                {"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "oidc:carol"},
                {"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "oidc:zoe"},
            ],
        },
    ]


def test_no_admin_role_when_disabled_or_nobody_to_bind() -> None:
    off = settings(tenant_admin_access={"enabled": False})
    assert manifests.tenant_admin_rbac(tenant(), off, ["carol"]) == []
    assert manifests.tenant_admin_rbac(tenant(), settings(), []) == []


def test_nfs_storage_is_a_static_pv_prebound_to_the_tenant_claim() -> None:
    spec = tenant(
        storage={
            "size": "200Gi",
            "nfs": {
                "server": "10.1.2.3",
                "path": "/exports/vision",
                "mount_options": ["nfsvers=4.2", "hard", "noatime"],
                "read_only": True,
            },
        }
    )
    assert manifests.storage_objects(spec, settings()) == [
        {
            "apiVersion": "v1",
            "kind": "PersistentVolume",
            "metadata": meta("tenanthub-th-vision", namespace=None),
            "spec": {
                "capacity": {"storage": "200Gi"},
                "accessModes": ["ReadWriteMany"],
                "persistentVolumeReclaimPolicy": "Retain",
                "storageClassName": "",
                "mountOptions": ["nfsvers=4.2", "hard", "noatime"],
                "nfs": {"server": "10.1.2.3", "path": "/exports/vision", "readOnly": True},
                "claimRef": {"namespace": "th-vision", "name": "tenanthub-data"},
            },
        },
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": meta("tenanthub-data"),
            "spec": {
                "accessModes": ["ReadWriteMany"],
                "resources": {"requests": {"storage": "200Gi"}},
                "storageClassName": "",
                "volumeName": "tenanthub-th-vision",
            },
        },
    ]


def test_storage_class_storage_is_one_claim_of_that_class() -> None:
    spec = tenant(storage={"size": "20Gi", "storage_class": "cephfs"})
    assert manifests.storage_objects(spec, settings()) == [
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": meta("tenanthub-data"),
            "spec": {
                "accessModes": ["ReadWriteMany"],
                "resources": {"requests": {"storage": "20Gi"}},
                "storageClassName": "cephfs",
            },
        }
    ]


def test_default_storage_is_a_claim_of_the_cluster_default_class() -> None:
    assert manifests.storage_objects(tenant(), settings()) == [
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": meta("tenanthub-data"),
            "spec": {
                "accessModes": ["ReadWriteMany"],
                "resources": {"requests": {"storage": "10Gi"}},
            },
        }
    ]


def test_pv_names_differ_between_installations_with_different_prefixes() -> None:
    spec = tenant(storage={"nfs": {"server": "nfs", "path": "/x"}})
    a = manifests.storage_objects(spec, settings())[0]
    b = manifests.storage_objects(spec, settings(namespace_prefix="dev-"))[0]
    assert (a["metadata"]["name"], b["metadata"]["name"]) == (
        "tenanthub-th-vision",
        "tenanthub-dev-vision",
    )
    assert b["spec"]["claimRef"] == {"namespace": "dev-vision", "name": "tenanthub-data"}


def _kinds(objects: list[dict[str, Any]]) -> list[str]:
    return [f"{o['kind']}/{o['metadata']['name']}" for o in objects]


def test_tenant_objects_come_in_apply_order() -> None:
    objects = tenant_objects(tenant(**NFS_TENANT), PROFILES, settings(), ["carol"])
    assert _kinds(objects) == [
        "Namespace/th-vision",
        "ResourceQuota/tenanthub-quota",
        "LimitRange/tenanthub-defaults",
        "NetworkPolicy/tenanthub-default-deny",
        "NetworkPolicy/tenanthub-allow-hub",
        "NetworkPolicy/tenanthub-allow-egress",
        "ServiceAccount/notebook",
        "Role/tenanthub-tenant-admin-readonly",
        "RoleBinding/tenanthub-tenant-admin-readonly",
        "PersistentVolume/tenanthub-th-vision",
        "PersistentVolumeClaim/tenanthub-data",
    ]
    assert all(o["metadata"]["labels"].items() >= LABELS.items() for o in objects)
    namespaced = [o for o in objects if o["kind"] not in ("Namespace", "PersistentVolume")]
    assert {o["metadata"]["namespace"] for o in namespaced} == {"th-vision"}


def test_a_plain_tenant_has_no_pv_and_no_admin_role() -> None:
    assert _kinds(tenant_objects(tenant(), PROFILES, settings(), [])) == [
        "Namespace/th-vision",
        "ResourceQuota/tenanthub-quota",
        "LimitRange/tenanthub-defaults",
        "NetworkPolicy/tenanthub-default-deny",
        "NetworkPolicy/tenanthub-allow-hub",
        "NetworkPolicy/tenanthub-allow-egress",
        "ServiceAccount/notebook",
        "PersistentVolumeClaim/tenanthub-data",
    ]


def test_the_optional_objects_are_the_ones_provisioning_may_need_to_delete() -> None:
    full = tenant_objects(tenant(), PROFILES, settings(), ["carol"])
    bare = tenant_objects(tenant(), PROFILES, settings(), [])
    missing = [o for o in full if o not in bare]
    assert [(o["apiVersion"], o["kind"], o["metadata"]["name"]) for o in missing] == list(
        manifests.OPTIONAL_OBJECTS
    )


def test_builders_do_not_change_their_inputs() -> None:
    spec = tenant(**NFS_TENANT)
    before = (repr(spec), [p.model_dump() for p in PROFILES])
    objects = tenant_objects(spec, PROFILES, settings(), ["carol"])
    objects[0]["metadata"]["labels"]["x"] = "y"
    assert (repr(spec), [p.model_dump() for p in PROFILES]) == before
    assert "x" not in tenant_objects(spec, PROFILES, settings(), [])[0]["metadata"]["labels"]


# ----------------------------------------------------------------------------- user pod


def _pod(plan_profile: Profile, username: str = "Alice.Smith", **kw: Any) -> dict[str, Any]:
    plan = make_plan("vision", plan_profile, username, kw.pop("server", ""))
    return user_pod(
        plan,
        kw.pop("k8s", settings()),
        pod_name=names.pod_name(username, plan.server_name),
        port=kw.pop("port", 8888),
        cmd=kw.pop("cmd", ["jupyterhub-singleuser", "--debug"]),
        env=kw.pop("env", {"JUPYTERHUB_SERVICE_PREFIX": "/user/Alice.Smith/", "LANG": "C.UTF-8"}),
        **kw,
    )


RESTRICTED_CONTAINER = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "runAsNonRoot": True,
    "seccompProfile": {"type": "RuntimeDefault"},
}
POD_SECURITY = {
    "runAsNonRoot": True,
    "runAsUser": 1000,
    "runAsGroup": 1000,
    "fsGroup": 1000,
    "seccompProfile": {"type": "RuntimeDefault"},
}


def test_cpu_pod_is_the_whole_restricted_manifest() -> None:
    pod = _pod(
        SMALL,
        server="vision",
        extra_labels={"hub.jupyter.org/servername": "vision"},
        annotations={"hub.jupyter.org/username": "Alice.Smith"},
    )
    assert pod == {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "jupyter--41lice-2e-53mith--vision",
            "namespace": "th-vision",
            "labels": {
                "hub.jupyter.org/servername": "vision",
                "app.kubernetes.io/managed-by": "tenanthub",
                "tenanthub.io/tenant": "vision",
                "tenanthub.io/profile": "small",
                "tenanthub.io/user": "41lice-2e-53mith-z2ece82500f",
                "component": "singleuser-server",
                "app.kubernetes.io/component": "singleuser-server",
                "tenanthub.io/checkpoint": "true",
            },
            "annotations": {
                "hub.jupyter.org/username": "Alice.Smith",
                "tenanthub.io/user": "Alice.Smith",
                "tenanthub.io/server": "vision",
                "tenanthub.io/tenant": "vision",
                "tenanthub.io/profile": "small",
                "tenanthub.io/checkpoint": "true",
            },
        },
        "spec": {
            "serviceAccountName": "notebook",
            "automountServiceAccountToken": False,
            "enableServiceLinks": False,
            "securityContext": POD_SECURITY,
            "containers": [
                {
                    "name": "notebook",
                    "image": "tenanthub/notebook-cpu:1",
                    "imagePullPolicy": "IfNotPresent",
                    "args": ["jupyterhub-singleuser", "--debug"],
                    "env": [
                        {"name": "JUPYTERHUB_SERVICE_PREFIX", "value": "/user/Alice.Smith/"},
                        {"name": "LANG", "value": "C.UTF-8"},
                        {"name": "TENANTHUB_PROFILE", "value": "small"},
                        {"name": "TENANTHUB_TENANT", "value": "vision"},
                    ],
                    "ports": [{"name": "notebook-port", "containerPort": 8888, "protocol": "TCP"}],
                    "resources": {
                        "requests": {"cpu": "500m", "memory": str(1 * GiB)},
                        "limits": {"cpu": "2000m", "memory": str(4 * GiB)},
                    },
                    "securityContext": RESTRICTED_CONTAINER,
                    "volumeMounts": [
                        {
                            "name": "tenant-data",
                            "mountPath": "/home/jovyan",
                            "subPath": "home/-41lice-2e-53mith",
                        },
                        {
                            "name": "tenant-data",
                            "mountPath": "/home/jovyan/shared",
                            "subPath": "shared",
                        },
                    ],
                }
            ],
            "volumes": [
                {"name": "tenant-data", "persistentVolumeClaim": {"claimName": "tenanthub-data"}}
            ],
        },
    }


def test_gpu_pod_adds_gpu_limit_tolerations_and_node_selector() -> None:
    custom = settings(
        uid=1001,
        gid=100,
        fs_group=100,
        home_mount="/home/user/",
        image_pull_policy="Always",
        namespace_prefix="t-",
    )
    pod = _pod(GPU, username="bob", k8s=custom, port=8890, cmd=["start.sh"], env={})
    assert pod == {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "jupyter-bob",
            "namespace": "t-vision",
            "labels": {
                "app.kubernetes.io/managed-by": "tenanthub",
                "tenanthub.io/tenant": "vision",
                "tenanthub.io/profile": "gpu",
                "tenanthub.io/user": "bob",
                "component": "singleuser-server",
                "app.kubernetes.io/component": "singleuser-server",
                "tenanthub.io/checkpoint": "false",
            },
            "annotations": {
                "tenanthub.io/user": "bob",
                "tenanthub.io/server": "",
                "tenanthub.io/tenant": "vision",
                "tenanthub.io/profile": "gpu",
                "tenanthub.io/checkpoint": "false",
            },
        },
        "spec": {
            "serviceAccountName": "notebook",
            "automountServiceAccountToken": False,
            "enableServiceLinks": False,
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": 1001,
                "runAsGroup": 100,
                "fsGroup": 100,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "containers": [
                {
                    "name": "notebook",
                    "image": "tenanthub/notebook-gpu:1",
                    "imagePullPolicy": "Always",
                    "args": ["start.sh"],
                    "env": [
                        {"name": "TENANTHUB_PROFILE", "value": "gpu"},
                        {"name": "TENANTHUB_TENANT", "value": "vision"},
                    ],
                    "ports": [{"name": "notebook-port", "containerPort": 8890, "protocol": "TCP"}],
                    "resources": {
                        "requests": {"cpu": "4000m", "memory": str(8 * GiB)},
                        "limits": {
                            "cpu": "4000m",
                            "memory": str(16 * GiB),
                            "nvidia.com/gpu": "1",
                        },
                    },
                    "securityContext": RESTRICTED_CONTAINER,
                    "volumeMounts": [
                        {"name": "tenant-data", "mountPath": "/home/user", "subPath": "home/bob"},
                        {
                            "name": "tenant-data",
                            "mountPath": "/home/user/shared",
                            "subPath": "shared",
                        },
                    ],
                }
            ],
            "volumes": [
                {"name": "tenant-data", "persistentVolumeClaim": {"claimName": "tenanthub-data"}}
            ],
            "nodeSelector": {"nvidia.com/gpu.present": "true"},
            "tolerations": [
                {"operator": "Exists", "key": "nvidia.com/gpu", "effect": "NoSchedule"},
                {
                    "operator": "Equal",
                    "key": "spot",
                    "value": "yes",
                    "effect": "NoExecute",
                    "tolerationSeconds": 60,
                },
            ],
        },
    }


def test_host_network_mode_puts_the_pod_on_the_node_network() -> None:
    spec = _pod(SMALL, k8s=settings(host_network=True), port=30123)["spec"]
    assert (spec["hostNetwork"], spec["dnsPolicy"]) == (True, "ClusterFirstWithHostNet")
    assert spec["containers"][0]["ports"] == [
        {"name": "notebook-port", "containerPort": 30123, "protocol": "TCP"}
    ]
    assert "hostNetwork" not in _pod(SMALL)["spec"]


@pytest.mark.parametrize(
    ("sizes", "resources"),
    [
        (
            {"cpu": {"limit": "1"}, "memory": {"limit": "512Mi"}},
            {
                "requests": {"cpu": "1000m", "memory": str(512 * 2**20)},
                "limits": {"cpu": "1000m", "memory": str(512 * 2**20)},
            },
        ),
        (
            {"cpu": {"guarantee": "250m"}, "memory": {"guarantee": "1G"}},
            {
                "requests": {"cpu": "250m", "memory": "1000000000"},
                "limits": {"cpu": "250m", "memory": "1000000000"},
            },
        ),
        ({}, {}),
        ({"gpu": 2}, {"limits": {"nvidia.com/gpu": "2"}}),
    ],
)
def test_a_missing_guarantee_or_limit_takes_the_other_so_quota_admission_accepts_the_pod(
    sizes: dict[str, Any], resources: dict[str, Any]
) -> None:
    assert manifests.pod_resources(make_plan("vision", profile("p", **sizes), "bob", "")) == (
        resources
    )


def test_callers_cannot_override_tenancy_labels_annotations_or_env() -> None:
    pod = _pod(
        SMALL,
        env={"TENANTHUB_TENANT": "other", "X": "1"},
        extra_labels={"tenanthub.io/tenant": "other", "team": "a"},
        annotations={"tenanthub.io/user": "mallory"},
    )
    meta_ = pod["metadata"]
    assert (meta_["labels"]["tenanthub.io/tenant"], meta_["labels"]["team"]) == ("vision", "a")
    assert meta_["annotations"]["tenanthub.io/user"] == "Alice.Smith"
    env = {e["name"]: e["value"] for e in pod["spec"]["containers"][0]["env"]}
    assert (env["TENANTHUB_TENANT"], env["X"]) == ("vision", "1")


def test_home_subpaths_of_lookalike_usernames_differ() -> None:
    subpaths = {
        user: _pod(SMALL, username=user)["spec"]["containers"][0]["volumeMounts"][0]["subPath"]
        for user in ("a.b", "a-2eb", "A.b", "a-b", "a_b")
    }
    assert subpaths == {
        "a.b": "home/a-2eb",
        "a-2eb": "home/a-2d2eb",
        "A.b": "home/-41-2eb",
        "a-b": "home/a-2db",
        "a_b": "home/a-5fb",
    }


@pytest.mark.parametrize("username", ["..", "../..", "a/../../b", "/root", ".", "~", "a/b"])
def test_no_username_climbs_out_of_the_home_folder(username: str) -> None:
    subpath = names.home_subpath(username)
    assert subpath.startswith("home/")
    assert "/" not in subpath[len("home/") :] and ".." not in subpath
    assert subpath == "home/" + safe_slug(username)


# ----------------------------------------------------------------------------- names


def test_pod_names_of_lookalike_usernames_differ() -> None:
    """CVE-2020-15110: escaping must not map two users to one pod (and one home)."""
    assert {u: names.pod_name(u) for u in ("a.b", "a-2eb", "A.b", "a-b")} == {
        "a.b": "jupyter-a-2eb",
        "a-2eb": "jupyter-a-2d2eb",
        "A.b": "jupyter--41-2eb",
        "a-b": "jupyter-a-2db",
    }


def test_server_name_cannot_be_confused_with_the_username() -> None:
    pairs = [("a", "b--c"), ("a--b", "c"), ("a-", "b"), ("a", "-b"), ("a", ""), ("a--", "")]
    pods = {names.pod_name(user, server) for user, server in pairs}
    assert len(pods) == len(pairs)
    assert names.pod_name("alice", "vision") == "jupyter-alice--vision"


def test_long_names_are_shortened_to_a_valid_label_with_a_hash() -> None:
    long_user = "very.long.user.name." * 10
    name = names.pod_name(long_user, "vision")
    assert len(name) <= 63
    assert name.startswith("jupyter-very-2elong-2euser-2ename-2e")
    assert name[-1].isalnum() and name == name.lower()
    assert names.pod_name(long_user, "vision") == name  # stable
    assert names.pod_name(long_user + "x", "vision") != name
    assert names.pod_name(long_user, "nlp") != name


def test_no_username_can_take_a_shortened_name() -> None:
    """A shortened name carries '-z', which escaping never writes after a letter or digit."""
    long_user = "x" * 80
    short = names.pod_name(long_user)
    stem, digest = short.rsplit("-z", 1)
    assert stem[-1].isalnum() and len(digest) == 20
    # the closest a user can get: write the shortened tail literally
    for attempt in (short[len("jupyter-") :], "x" * 33 + "-z" + digest, "x" * 33 + "-Z" + digest):
        assert names.pod_name(attempt) != short
    # and no unshortened name has the mark after a letter or digit, whatever the input
    sample = ["a", "A", "-", "z", ".", "-z", "é", "😀", "Z", "0"]
    for user in (a + b for a in sample for b in sample):
        for server in ("", "z", "-z", "Z.z"):
            plain = names.pod_name(user, server)
            assert not re.search(r"[a-z0-9]-z", plain[len("jupyter-") :]), (user, server)


def test_every_pod_name_is_a_dns_label() -> None:
    label = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
    for user in ("a", "Alice", "a.b", "😀" * 40, "x" * 255, "-", "A" * 63):
        for server in ("", "vision", "Named.Server"):
            assert label.fullmatch(names.pod_name(user, server)), (user, server)


def test_long_home_subpaths_stay_valid_file_names() -> None:
    subpath = names.home_subpath("😀" * 255)
    assert len(subpath) <= len("home/") + 200
    assert subpath != names.home_subpath("😀" * 254)
    assert names.home_subpath("alice") == "home/alice"


def test_empty_usernames_are_refused() -> None:
    with pytest.raises(ValueError):
        names.pod_name("")
    with pytest.raises(ValueError):
        names.home_subpath("")
