"""Kubernetes manifests of a tenant and of a user's notebook pod (pure builders).

Like kubespawner's ``objects.py``: plain functions return plain dicts (the
JSON the API server receives), so they are tested by comparing whole
manifests and by schema validation, with no cluster and no client library.
Provisioning applies :func:`tenant_objects` in the order returned; the
spawner creates :func:`user_pod`.

Every object carries ``app.kubernetes.io/managed-by: tenanthub`` and
``tenanthub.io/tenant: <name>`` so reflectors and clean-up select by label,
never the whole cluster.
"""

from __future__ import annotations

from typing import Any

from hub.config.quantities import format_bytes, format_cpu, parse_bytes, parse_cpu_millis
from hub.config.schema import KubernetesBackendSettings, Profile, TenantStorage
from hub.tenancy.profiles import profiles_for_tenant
from hub.tenancy.quota import QuotaLimits
from hub.tenancy.seed import TenantSpec
from spawner.kubernetes import names
from spawner.plan import SpawnPlan

Manifest = dict[str, Any]

MANAGED_BY = {"app.kubernetes.io/managed-by": "tenanthub"}
PSS_LEVEL = "restricted"
#: Labels of notebook server pods (kubespawner's and z2jh's component label, too).
SERVER_COMPONENT = {
    "component": "singleuser-server",
    "app.kubernetes.io/component": "singleuser-server",
}
GPU_RESOURCE = "nvidia.com/gpu"
#: What a tenant admin may read in their namespace. Never secrets: a Role that
#: can read secrets can read every token stored in the namespace.
ADMIN_READABLE = (
    "pods",
    "pods/log",
    "events",
    "resourcequotas",
    "limitranges",
    "persistentvolumeclaims",
    "services",
    "configmaps",
)


def tenant_labels(tenant: str) -> dict[str, str]:
    return {**MANAGED_BY, "tenanthub.io/tenant": tenant}


def _meta(name: str, tenant: str, namespace: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if namespace is not None:
        meta["namespace"] = namespace
    meta["labels"] = tenant_labels(tenant)
    return meta


# ----------------------------------------------------------------------------- namespace


def namespace(spec: TenantSpec, settings: KubernetesBackendSettings) -> Manifest:
    """The tenant namespace, labelled for Pod Security Admission at ``restricted``.

    ``enforce`` refuses a non-conforming pod, ``warn`` tells whoever applied
    it, ``audit`` records it; ``latest`` follows the cluster's own version of
    the standard. Note that ``settings.host_network`` pods are refused by
    enforcing clusters (1.23+): that mode is for the v1.20 test cluster,
    which has no Pod Security Admission.
    """
    labels = tenant_labels(spec.name)
    for mode in ("enforce", "warn", "audit"):
        labels[f"pod-security.kubernetes.io/{mode}"] = PSS_LEVEL
        labels[f"pod-security.kubernetes.io/{mode}-version"] = "latest"
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": names.namespace(spec.name, settings.namespace_prefix),
            "labels": labels,
            "annotations": {"tenanthub.io/display-name": spec.display_name},
        },
    }


# ----------------------------------------------------------------------------- quota


def quota_hard(limits: QuotaLimits) -> dict[str, str]:
    """The ResourceQuota ``hard`` map of a tenant's limits; unlimited resources are left out.

    * cpu and memory set both ``requests.*`` and ``limits.*``: the hub's
      pre-check counts each server with its limit, so the limits must fit.
    * ``pods`` = servers + running_jobs, and only when both are limited:
      notebook servers and job pods share the namespace and Kubernetes
      counts pods, not kinds. The per-kind limits are the hub's pre-check;
      this is the backstop. With either unlimited there is no pod bound.
    * ``persistentvolumeclaims`` is always 1, the tenant PVC: users cannot
      create claims, and the hard map is never empty (a quota object with
      an empty map would be a no-op that still looks like a limit).
    """
    hard: dict[str, str] = {}
    if limits.cpu_millis is not None:
        hard["requests.cpu"] = hard["limits.cpu"] = format_cpu(limits.cpu_millis)
    if limits.memory_bytes is not None:
        hard["requests.memory"] = hard["limits.memory"] = format_bytes(limits.memory_bytes)
    if limits.gpu is not None:
        hard[f"requests.{GPU_RESOURCE}"] = str(limits.gpu)
    if limits.servers is not None and limits.running_jobs is not None:
        hard["pods"] = str(limits.servers + limits.running_jobs)
    hard["persistentvolumeclaims"] = "1"
    if limits.storage_bytes is not None:
        hard["requests.storage"] = format_bytes(limits.storage_bytes)
    return hard


def resource_quota(spec: TenantSpec, settings: KubernetesBackendSettings) -> Manifest:
    """The backend half of the tenant quota (the hub's pre-check is the other half).

    Always rendered, so reconciling a tenant whose quota was removed updates
    the object rather than leaving the old limits behind.
    """
    ns = names.namespace(spec.name, settings.namespace_prefix)
    return {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": _meta(names.RESOURCE_QUOTA, spec.name, ns),
        "spec": {"hard": quota_hard(spec.limits)},
    }


# ----------------------------------------------------------------------------- limit range


def _cpu_pair(guarantee: str | None, limit: str | None) -> tuple[int | None, int | None]:
    """(request, limit) in millicores: a missing side takes the other one's value."""
    req = parse_cpu_millis(guarantee) if guarantee else None
    lim = parse_cpu_millis(limit) if limit else None
    return (req if req is not None else lim), (lim if lim is not None else req)


def _memory_pair(guarantee: str | None, limit: str | None) -> tuple[int | None, int | None]:
    req = parse_bytes(guarantee) if guarantee else None
    lim = parse_bytes(limit) if limit else None
    return (req if req is not None else lim), (lim if lim is not None else req)


def _profile_size(profile: Profile) -> tuple[int, int, int]:
    cpu = profile.cpu.limit or profile.cpu.guarantee
    memory = profile.memory.limit or profile.memory.guarantee
    return (
        profile.gpu,
        parse_cpu_millis(cpu) if cpu else 0,
        parse_bytes(memory) if memory else 0,
    )


def offered_profiles(spec: TenantSpec, profiles: list[Profile]) -> list[Profile]:
    """Profiles a member of the tenant can start (the spawn form's list)."""
    allowed = None if spec.allowed_profiles is None else frozenset(spec.allowed_profiles)
    return profiles_for_tenant(profiles, spec.name, allowed, spec.limits)


def smallest_profile(profiles: list[Profile]) -> Profile | None:
    """The profile with the fewest GPUs, then CPU, then memory (config order breaks ties).

    Its sizes become the namespace defaults, so a pod that names no
    resources (a debug pod a tenant admin starts with kubectl, say) gets the
    cheapest server's and still passes the quota.
    """
    if not profiles:
        return None
    return min(enumerate(profiles), key=lambda item: (*_profile_size(item[1]), item[0]))[1]


def limit_range(
    spec: TenantSpec, profiles: list[Profile], settings: KubernetesBackendSettings
) -> Manifest:
    """Container defaults from the smallest offered profile.

    With ``requests.cpu``/``limits.memory``... in the ResourceQuota the API
    server refuses any pod that does not state them; these defaults fill
    them in. A missing guarantee defaults to the limit and vice versa, the
    same rule :func:`user_pod` follows. Always rendered (possibly without
    defaults) so a reconcile never leaves stale defaults behind.
    """
    item: dict[str, Any] = {"type": "Container"}
    profile = smallest_profile(offered_profiles(spec, profiles))
    if profile is not None:
        default: dict[str, str] = {}
        request: dict[str, str] = {}
        cpu_req, cpu_lim = _cpu_pair(profile.cpu.guarantee, profile.cpu.limit)
        mem_req, mem_lim = _memory_pair(profile.memory.guarantee, profile.memory.limit)
        if cpu_lim is not None and cpu_req is not None:
            default["cpu"], request["cpu"] = format_cpu(cpu_lim), format_cpu(cpu_req)
        if mem_lim is not None and mem_req is not None:
            default["memory"], request["memory"] = format_bytes(mem_lim), format_bytes(mem_req)
        if default:
            item["default"] = default
            item["defaultRequest"] = request
    ns = names.namespace(spec.name, settings.namespace_prefix)
    return {
        "apiVersion": "v1",
        "kind": "LimitRange",
        "metadata": _meta(names.LIMIT_RANGE, spec.name, ns),
        "spec": {"limits": [item]},
    }


# ----------------------------------------------------------------------------- network


def _in_namespace(namespace_name: str, pod_labels: dict[str, str]) -> dict[str, Any]:
    """A peer: pods with these labels in that namespace (by its automatic name label, 1.21+)."""
    return {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace_name}},
        "podSelector": {"matchLabels": dict(pod_labels)},
    }


def _netpol(name: str, spec: TenantSpec, ns: str, body: dict[str, Any]) -> Manifest:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": _meta(name, spec.name, ns),
        "spec": body,
    }


def network_policies(spec: TenantSpec, settings: KubernetesBackendSettings) -> list[Manifest]:
    """Deny everything, then allow: hub/proxy -> notebook port; pods -> DNS, hub, egress list.

    Policies are additive, so the default deny stays and each allow opens
    one path. Notebook servers must reach the hub's API (token checks,
    activity), hence egress to the hub pods. NetworkPolicies do not apply
    to ``hostNetwork`` pods (the test cluster's), and are only enforced by a
    network plugin that implements them.
    """
    ns = names.namespace(spec.name, settings.namespace_prefix)
    hub = _in_namespace(settings.hub_namespace, settings.hub_pod_labels)
    proxy = _in_namespace(settings.hub_namespace, settings.proxy_pod_labels)
    dns = _in_namespace(settings.dns_namespace, settings.dns_pod_labels)
    egress: list[dict[str, Any]] = [
        {
            "to": [dns],
            "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
        },
        {"to": [hub]},
    ]
    for rule in settings.egress:
        block: dict[str, Any] = {"cidr": rule.cidr}
        if rule.except_cidrs:
            block["except"] = list(rule.except_cidrs)
        out: dict[str, Any] = {"to": [{"ipBlock": block}]}
        if rule.ports:
            out["ports"] = [{"protocol": p.protocol, "port": p.port} for p in rule.ports]
        egress.append(out)
    return [
        _netpol(
            names.NETPOL_DEFAULT_DENY,
            spec,
            ns,
            {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
        ),
        _netpol(
            names.NETPOL_ALLOW_HUB,
            spec,
            ns,
            {
                "podSelector": {"matchLabels": {"component": "singleuser-server"}},
                "policyTypes": ["Ingress"],
                "ingress": [
                    {
                        "from": [hub, proxy],
                        "ports": [{"protocol": "TCP", "port": names.PORT_NAME}],
                    }
                ],
            },
        ),
        _netpol(
            names.NETPOL_ALLOW_EGRESS,
            spec,
            ns,
            {"podSelector": {}, "policyTypes": ["Egress"], "egress": egress},
        ),
    ]


# ----------------------------------------------------------------------------- identity


def service_account(spec: TenantSpec, settings: KubernetesBackendSettings) -> Manifest:
    """The notebook pods' identity; no token is mounted (notebooks never call the API)."""
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": _meta(
            names.SERVICE_ACCOUNT, spec.name, names.namespace(spec.name, settings.namespace_prefix)
        ),
        "automountServiceAccountToken": False,
    }


def tenant_admin_rbac(
    spec: TenantSpec, settings: KubernetesBackendSettings, admins: list[str]
) -> list[Manifest]:
    """Read-only Role + RoleBinding for the tenant's admins; none when off or nobody to bind.

    Subjects are Kubernetes *users* named ``<user_prefix><tenanthub user>``:
    what the API server calls the person when they authenticate with the same
    identity provider (e.g. ``oidc:`` with ``--oidc-username-prefix``).
    """
    access = settings.tenant_admin_access
    if not access.enabled or not admins:
        return []
    ns = names.namespace(spec.name, settings.namespace_prefix)
    rbac = "rbac.authorization.k8s.io"
    role = {
        "apiVersion": f"{rbac}/v1",
        "kind": "Role",
        "metadata": _meta(names.ADMIN_ROLE, spec.name, ns),
        "rules": [
            {
                "apiGroups": [""],
                "resources": list(ADMIN_READABLE),
                "verbs": ["get", "list", "watch"],
            }
        ],
    }
    binding = {
        "apiVersion": f"{rbac}/v1",
        "kind": "RoleBinding",
        "metadata": _meta(names.ADMIN_ROLE_BINDING, spec.name, ns),
        "roleRef": {"apiGroup": rbac, "kind": "Role", "name": names.ADMIN_ROLE},
        "subjects": [
            {"kind": "User", "apiGroup": rbac, "name": access.user_prefix + admin}
            for admin in sorted(set(admins))
        ],
    }
    return [role, binding]


# ----------------------------------------------------------------------------- storage


def tenant_storage(spec: TenantSpec) -> TenantStorage:
    """The tenant's storage spec (the DB keeps it as a dict; validated again here)."""
    return TenantStorage.model_validate(spec.storage)


def storage_objects(spec: TenantSpec, settings: KubernetesBackendSettings) -> list[Manifest]:
    """PV (NFS only) + the tenant PVC that every home and the shared folder live on.

    * ``nfs``: a static PV pre-bound both ways (``claimRef`` on the PV,
      ``volumeName`` on the claim) with ``storageClassName: ""`` so no
      provisioner or other claim can take it. ``Retain``: deleting a tenant
      never deletes its data.
    * ``storage_class``: a dynamically provisioned claim of that class.
    * neither: a claim of the cluster's default class.

    ReadWriteMany because a tenant's servers and jobs run on any node.
    """
    storage = tenant_storage(spec)
    ns = names.namespace(spec.name, settings.namespace_prefix)
    claim = names.pvc_name(spec.name)
    claim_spec: dict[str, Any] = {
        "accessModes": ["ReadWriteMany"],
        "resources": {"requests": {"storage": storage.size}},
    }
    objects: list[Manifest] = []
    if storage.nfs is not None:
        pv = names.pv_name(spec.name, settings.namespace_prefix)
        objects.append(
            {
                "apiVersion": "v1",
                "kind": "PersistentVolume",
                "metadata": _meta(pv, spec.name),
                "spec": {
                    "capacity": {"storage": storage.size},
                    "accessModes": ["ReadWriteMany"],
                    "persistentVolumeReclaimPolicy": "Retain",
                    "storageClassName": "",
                    "mountOptions": list(storage.nfs.mount_options),
                    "nfs": {
                        "server": storage.nfs.server,
                        "path": storage.nfs.path,
                        "readOnly": storage.nfs.read_only,
                    },
                    "claimRef": {"namespace": ns, "name": claim},
                },
            }
        )
        claim_spec["storageClassName"] = ""
        claim_spec["volumeName"] = pv
    elif storage.storage_class is not None:
        claim_spec["storageClassName"] = storage.storage_class
    objects.append(
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": _meta(claim, spec.name, ns),
            "spec": claim_spec,
        }
    )
    return objects


# ----------------------------------------------------------------------------- tenant


def tenant_objects(
    spec: TenantSpec,
    profiles: list[Profile],
    settings: KubernetesBackendSettings,
    admins: list[str],
) -> list[Manifest]:
    """Every object of a tenant, in apply order (the namespace first, the PV before its claim).

    ``admins`` are the tenant's admins from the DB (the runtime truth), not
    only the config's. Which objects appear depends on the tenant: the
    Role/RoleBinding only with admins and ``tenant_admin_access.enabled``,
    the PV only for NFS storage; provisioning should delete the optional
    ones it finds but this list lacks (:data:`OPTIONAL_OBJECTS`).
    """
    return [
        namespace(spec, settings),
        resource_quota(spec, settings),
        limit_range(spec, profiles, settings),
        *network_policies(spec, settings),
        service_account(spec, settings),
        *tenant_admin_rbac(spec, settings, admins),
        *storage_objects(spec, settings),
    ]


#: (apiVersion, kind, name) of the namespaced objects that come and go with a
#: tenant's settings; the PV (cluster-scoped) is named by ``names.pv_name``.
OPTIONAL_OBJECTS = (
    ("rbac.authorization.k8s.io/v1", "Role", names.ADMIN_ROLE),
    ("rbac.authorization.k8s.io/v1", "RoleBinding", names.ADMIN_ROLE_BINDING),
)


# ----------------------------------------------------------------------------- user pod


def _millis(cores: float) -> str:
    return f"{round(cores * 1000)}m"


def pod_resources(plan: SpawnPlan) -> dict[str, dict[str, str]]:
    """Requests and limits of the notebook container.

    A missing guarantee takes the limit and a missing limit takes the
    guarantee: quota admission needs both sides, the LimitRange default must
    not stand in (it could be below the request and be refused), and the
    hub's pre-check counts ``limit or guarantee``, the value set here.
    """
    requests: dict[str, str] = {}
    limits: dict[str, str] = {}
    cpu_req = plan.cpu_guarantee if plan.cpu_guarantee is not None else plan.cpu_limit
    cpu_lim = plan.cpu_limit if plan.cpu_limit is not None else plan.cpu_guarantee
    if cpu_req is not None and cpu_lim is not None:
        requests["cpu"], limits["cpu"] = _millis(cpu_req), _millis(cpu_lim)
    mem_req = plan.mem_guarantee if plan.mem_guarantee is not None else plan.mem_limit
    mem_lim = plan.mem_limit if plan.mem_limit is not None else plan.mem_guarantee
    if mem_req is not None and mem_lim is not None:
        requests["memory"], limits["memory"] = str(mem_req), str(mem_lim)
    if plan.gpu:
        limits[GPU_RESOURCE] = str(plan.gpu)
    out: dict[str, dict[str, str]] = {}
    if requests:
        out["requests"] = requests
    if limits:
        out["limits"] = limits
    return out


def _restricted_container_context() -> dict[str, Any]:
    return {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "runAsNonRoot": True,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def user_pod(
    plan: SpawnPlan,
    settings: KubernetesBackendSettings,
    *,
    pod_name: str,
    port: int,
    cmd: list[str],
    env: dict[str, str],
    extra_labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
) -> Manifest:
    """The notebook pod of a spawn plan, conforming to Pod Security Standards ``restricted``.

    ``cmd`` becomes the container's ``args``: the image's entrypoint (tini +
    ``tenanthub-start``, which renders pip.conf) stays in front, as with
    kubespawner. ``env`` is merged under the plan's ``TENANTHUB_*`` values,
    and ``extra_labels``/``annotations`` under TenantHub's own: the tenancy
    labels reflectors and quotas select by cannot be overridden.
    """
    labels = {
        **(extra_labels or {}),
        **plan.labels,
        **SERVER_COMPONENT,
        "tenanthub.io/checkpoint": "true" if plan.checkpoint else "false",
    }
    notes = {
        **(annotations or {}),
        "tenanthub.io/user": plan.username,
        # exact, unlike a label value (the checkpointer names the server by it)
        "tenanthub.io/server": plan.server_name,
        "tenanthub.io/tenant": plan.tenant,
        "tenanthub.io/profile": plan.profile,
        "tenanthub.io/checkpoint": "true" if plan.checkpoint else "false",
    }
    environment = {**env, **plan.env}
    home = settings.home_mount.rstrip("/") or "/"
    container: dict[str, Any] = {
        "name": names.CONTAINER,
        "image": plan.image,
        "imagePullPolicy": settings.image_pull_policy,
        "args": list(cmd),
        "env": [{"name": key, "value": environment[key]} for key in sorted(environment)],
        "ports": [{"name": names.PORT_NAME, "containerPort": port, "protocol": "TCP"}],
        "resources": pod_resources(plan),
        "securityContext": _restricted_container_context(),
        "volumeMounts": [
            {
                "name": names.TENANT_VOLUME,
                "mountPath": home,
                "subPath": names.home_subpath(plan.username),
            },
            {
                "name": names.TENANT_VOLUME,
                "mountPath": f"{home.rstrip('/')}/shared",
                "subPath": names.SHARED_SUBPATH,
            },
        ],
    }
    spec: dict[str, Any] = {
        "serviceAccountName": names.SERVICE_ACCOUNT,
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": settings.uid,
            "runAsGroup": settings.gid,
            "fsGroup": settings.fs_group,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [container],
        "volumes": [
            {
                "name": names.TENANT_VOLUME,
                "persistentVolumeClaim": {"claimName": names.pvc_name(plan.tenant)},
            }
        ],
    }
    if plan.node_selector:
        spec["nodeSelector"] = dict(plan.node_selector)
    if plan.tolerations:
        spec["tolerations"] = [dict(t) for t in plan.tolerations]
    if settings.host_network:
        spec["hostNetwork"] = True
        spec["dnsPolicy"] = "ClusterFirstWithHostNet"
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": pod_name,
            "namespace": names.namespace(plan.tenant, settings.namespace_prefix),
            "labels": labels,
            "annotations": notes,
        },
        "spec": spec,
    }
