"""The exact Kubernetes permissions the hub needs, as one pure builder.

The README prints it, the Helm chart renders it, and the real-cluster tests
run the hub with a ServiceAccount bound to nothing but this role, so a
missing or superfluous rule shows up as a failing test, not in production.

Why a ClusterRole: tenant namespaces are created at run time, so their
objects cannot be covered by Roles made in advance. Why each rule:

- namespaces: provision (create, read, relabel) and delete a tenant;
- persistentvolumes: the tenant's static NFS volume (create, read, clear a
  Released volume's old claim so a returning tenant binds it again);
- the tenant objects provisioning keeps in line (quota, limits, network
  policies, service account, claim, the tenant-admin Role and RoleBinding,
  which are deleted again when tenant-admin access is turned off);
- pods + events (list/watch): the label-selected reflectors in tenant
  namespaces; pods create/delete: servers; secrets: each server's API token;
- jobs (batch): notebook job runs, one Job per run in the tenant namespace,
  created, watched and deleted on cancel by the platform service (which uses
  the hub's identity); pods/log: their log tail;
- services, configmaps (read): only because Kubernetes lets a
  subject grant a Role only with permissions it holds itself, and the
  read-only tenant-admin Role includes them.
"""

from __future__ import annotations

from typing import Any

HUB_CLUSTER_ROLE = "tenanthub-hub"

READ = ["get", "list", "watch"]
KEEP_IN_LINE = ["get", "create", "update"]


def hub_cluster_role_rules() -> list[dict[str, Any]]:
    """Least privilege: no list of secrets, no pod exec, no update of claims or pods."""
    core = ""
    return [
        {"apiGroups": [core], "resources": ["namespaces"], "verbs": [*KEEP_IN_LINE, "delete"]},
        {
            "apiGroups": [core],
            "resources": ["persistentvolumes"],
            "verbs": ["get", "create", "patch"],
        },
        {"apiGroups": [core], "resources": ["pods"], "verbs": [*READ, "create", "delete"]},
        # the server's token is written and removed, never read back
        {"apiGroups": [core], "resources": ["secrets"], "verbs": ["create", "delete"]},
        {
            "apiGroups": [core],
            "resources": ["resourcequotas", "limitranges"],
            "verbs": [*READ, "create", "update"],
        },
        {"apiGroups": [core], "resources": ["persistentvolumeclaims"], "verbs": [*READ, "create"]},
        {"apiGroups": [core], "resources": ["serviceaccounts"], "verbs": [*KEEP_IN_LINE]},
        {
            "apiGroups": [core],
            "resources": ["events", "pods/log", "services", "configmaps"],
            "verbs": [*READ],
        },
        {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": [*READ, "create", "delete"]},
        {
            "apiGroups": ["networking.k8s.io"],
            "resources": ["networkpolicies"],
            "verbs": [*KEEP_IN_LINE],
        },
        {
            "apiGroups": ["rbac.authorization.k8s.io"],
            "resources": ["roles", "rolebindings"],
            "verbs": [*KEEP_IN_LINE, "delete"],
        },
    ]


def hub_cluster_role(name: str = HUB_CLUSTER_ROLE) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": name, "labels": {"app.kubernetes.io/managed-by": "tenanthub"}},
        "rules": hub_cluster_role_rules(),
    }


def hub_cluster_role_binding(
    service_account: str, namespace: str, name: str = HUB_CLUSTER_ROLE
) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": name, "labels": {"app.kubernetes.io/managed-by": "tenanthub"}},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
        "subjects": [{"kind": "ServiceAccount", "name": service_account, "namespace": namespace}],
    }


def hub_rbac_yaml(service_account: str = "hub", namespace: str = "tenanthub") -> str:
    """The ClusterRole and its binding as YAML, for the README, GitOps and the chart."""
    import yaml

    return yaml.safe_dump_all(
        [hub_cluster_role(), hub_cluster_role_binding(service_account, namespace)],
        sort_keys=False,
        explicit_start=True,
        default_flow_style=None,
        width=100,
    )
