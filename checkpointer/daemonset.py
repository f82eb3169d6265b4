"""The checkpointer's Kubernetes objects, as one pure builder (for the chart and the CLI).

``tenanthub-checkpointer`` runs once per node (a DaemonSet) in its own namespace,
``tenanthub-system``. It is TenantHub's one privileged component: to commit a
notebook container to an image it must talk to the node's container runtime, and
whoever holds the runtime socket can start a privileged container, so it is as
powerful as root on that node. Everything else is kept as small as it goes:

- the runtime socket is its only host mount (a ``hostPath`` of type ``Socket``);
  no other ``hostPath``, no host PID/IPC, no added capabilities, not ``privileged``,
  a read-only root filesystem;
- its ServiceAccount may only ``get``, ``list`` and ``watch`` pods (it watches the
  TenantHub pods of its own node); it reads no secrets and changes nothing in the
  API: checkpoint records go through the platform's HTTP API with the
  checkpointer's service token (from a Secret the chart shares with the hub);
- its namespace is labelled Pod Security ``privileged`` (a ``hostPath`` is beyond
  ``baseline``), with an annotation saying why; every tenant namespace stays
  ``restricted``.

It runs as uid 0 only to open the socket (owned by root, mode 0660); with every
capability dropped, root gains nothing else inside the container.

The node-local endpoint (the spawner's "checkpoint before stop") is optional here:
with ``port`` set the pod uses the host network (the spawner calls the pod's node
address, ``status.hostIP``), binds that address, and the kubelet probes ``/health``
(liveness) and ``/health/ready`` (readiness: the platform API answers).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

Manifest = dict[str, Any]

NAMESPACE = "tenanthub-system"
NAME = "tenanthub-checkpointer"
#: Why the namespace is not ``restricted`` (kept on the namespace for whoever audits it).
PRIVILEGED_REASON = (
    "tenanthub-checkpointer mounts the node's container runtime socket to commit idle "
    "notebook containers to images; it is TenantHub's one privileged component. Nothing "
    "else may run in this namespace."
)
#: The only permissions the checkpointer has in the Kubernetes API.
POD_READ_RULES: tuple[Mapping[str, Any], ...] = (
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]},
)
CONFIG_DIR = "/etc/tenanthub"
SOCKET_VOLUME = "runtime-socket"
CONFIG_VOLUME = "config"


@dataclass(frozen=True)
class DaemonSetSettings:
    """What a platform admin chooses (Helm values); everything else is fixed above."""

    #: an image with TenantHub installed (runs ``python -m checkpointer``)
    image: str
    #: the hub (proxy) URL as seen from a node, e.g. ``http://proxy-public.tenanthub/``
    hub_url: str
    image_pull_policy: str = "IfNotPresent"
    #: the Secret holding the checkpointer's service token (the hub reads the same one)
    token_secret: str = "tenanthub-checkpointer-token"  # noqa: S105 - a Secret's name
    token_key: str = "token"  # noqa: S105 - the key in that Secret
    #: the ConfigMap holding tenanthub.yaml (its ``checkpoint:`` and ``profiles:``)
    config_map: str = "tenanthub-config"
    config_key: str = "tenanthub.yaml"
    #: the container runtime's socket on the node (dockershim / cri-dockerd: Docker's)
    runtime_socket: str = "/var/run/docker.sock"
    node_selector: Mapping[str, str] = field(default_factory=dict)
    tolerations: Sequence[Mapping[str, Any]] = ()
    requests: Mapping[str, str] = field(default_factory=lambda: {"cpu": "50m", "memory": "128Mi"})
    limits: Mapping[str, str] = field(default_factory=lambda: {"memory": "512Mi"})
    #: the node-local endpoint's port (``checkpoint.daemon_port``); None: no endpoint
    port: int | None = None
    priority_class: str | None = None


def labels() -> dict[str, str]:
    return {
        "app.kubernetes.io/name": NAME,
        "app.kubernetes.io/component": "checkpointer",
        "app.kubernetes.io/part-of": "tenanthub",
    }


def selector_labels() -> dict[str, str]:
    return {"app.kubernetes.io/name": NAME, "app.kubernetes.io/component": "checkpointer"}


def namespace() -> Manifest:
    """``tenanthub-system``: Pod Security ``privileged``, and why."""
    pss = {
        f"pod-security.kubernetes.io/{mode}{suffix}": value
        for mode in ("enforce", "audit", "warn")
        for suffix, value in (("", "privileged"), ("-version", "latest"))
    }
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": NAMESPACE,
            "labels": {**labels(), **pss},
            "annotations": {"tenanthub.io/why-privileged": PRIVILEGED_REASON},
        },
    }


def service_account() -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": NAME, "namespace": NAMESPACE, "labels": labels()},
    }


def cluster_role() -> Manifest:
    """Read pods, nothing else: the field selector keeps it to this node's, but RBAC
    cannot say "this node only", so the role reads pods cluster-wide."""
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": NAME, "labels": labels()},
        "rules": [{key: list(value) for key, value in rule.items()} for rule in POD_READ_RULES],
    }


def cluster_role_binding() -> Manifest:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": NAME, "labels": labels()},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": NAME},
        "subjects": [{"kind": "ServiceAccount", "name": NAME, "namespace": NAMESPACE}],
    }


def _env(settings: DaemonSetSettings) -> list[dict[str, Any]]:
    env: list[dict[str, Any]] = [
        {"name": "TENANTHUB_CHECKPOINTER_MODE", "value": "kubernetes"},
        {"name": "TENANTHUB_NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
        {"name": "TENANTHUB_CONFIG", "value": f"{CONFIG_DIR}/{settings.config_key}"},
        {"name": "TENANTHUB_HUB_URL", "value": settings.hub_url},
        {
            "name": "TENANTHUB_CHECKPOINTER_TOKEN",
            "valueFrom": {
                "secretKeyRef": {"name": settings.token_secret, "key": settings.token_key}
            },
        },
        {"name": "DOCKER_HOST", "value": f"unix://{settings.runtime_socket}"},
    ]
    if settings.port is not None:
        env.append(
            {
                "name": "TENANTHUB_CHECKPOINTER_BIND",
                "valueFrom": {"fieldRef": {"fieldPath": "status.hostIP"}},
            }
        )
    return env


def _container(settings: DaemonSetSettings) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": "checkpointer",
        "image": settings.image,
        "imagePullPolicy": settings.image_pull_policy,
        "command": ["python3", "-m", "checkpointer"],
        "env": _env(settings),
        "resources": {"requests": dict(settings.requests), "limits": dict(settings.limits)},
        "securityContext": {
            # uid 0 only to open the root-owned socket; no capability, no escalation
            "runAsUser": 0,
            "runAsNonRoot": False,
            "privileged": False,
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "volumeMounts": [
            {"name": SOCKET_VOLUME, "mountPath": settings.runtime_socket},
            {"name": CONFIG_VOLUME, "mountPath": CONFIG_DIR, "readOnly": True},
        ],
    }
    if settings.port is not None:
        container["ports"] = [
            {"name": "endpoint", "containerPort": settings.port, "protocol": "TCP"}
        ]
        container["livenessProbe"] = {
            "httpGet": {"path": "/health", "port": settings.port},
            "periodSeconds": 30,
            "timeoutSeconds": 5,
            "failureThreshold": 3,
        }
        # ready: the platform API answers (it records every checkpoint)
        container["readinessProbe"] = {
            "httpGet": {"path": "/health/ready", "port": settings.port},
            "periodSeconds": 15,
            "timeoutSeconds": 5,
            "failureThreshold": 2,
        }
    return container


def daemon_set(settings: DaemonSetSettings) -> Manifest:
    """One checkpointer per (selected) node; the runtime socket its only host mount."""
    spec: dict[str, Any] = {
        "serviceAccountName": NAME,
        "enableServiceLinks": False,
        "terminationGracePeriodSeconds": 30,
        "containers": [_container(settings)],
        "volumes": [
            {
                "name": SOCKET_VOLUME,
                "hostPath": {"path": settings.runtime_socket, "type": "Socket"},
            },
            {
                "name": CONFIG_VOLUME,
                "configMap": {
                    "name": settings.config_map,
                    "items": [{"key": settings.config_key, "path": settings.config_key}],
                },
            },
        ],
    }
    if settings.port is not None:
        spec["hostNetwork"] = True
        spec["dnsPolicy"] = "ClusterFirstWithHostNet"
    if settings.node_selector:
        spec["nodeSelector"] = dict(settings.node_selector)
    if settings.tolerations:
        spec["tolerations"] = [dict(t) for t in settings.tolerations]
    if settings.priority_class:
        spec["priorityClassName"] = settings.priority_class
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": NAME, "namespace": NAMESPACE, "labels": labels()},
        "spec": {
            "selector": {"matchLabels": selector_labels()},
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}},
            "template": {"metadata": {"labels": labels()}, "spec": spec},
        },
    }


def manifests(settings: DaemonSetSettings) -> list[Manifest]:
    """Everything the chart installs for the checkpointer, in the order to apply it.

    Not included: the token Secret (the hub generates the token; the chart keeps it in
    ``token_secret`` for both) and the ConfigMap with tenanthub.yaml (the hub's own).
    """
    return [
        namespace(),
        service_account(),
        cluster_role(),
        cluster_role_binding(),
        daemon_set(settings),
    ]


def host_paths(manifest: Mapping[str, Any]) -> list[str]:
    """The host paths a DaemonSet's pods mount (for checks: the socket and nothing else)."""
    volumes = manifest["spec"]["template"]["spec"].get("volumes") or []
    return [v["hostPath"]["path"] for v in volumes if "hostPath" in v]


__all__ = [
    "NAME",
    "NAMESPACE",
    "POD_READ_RULES",
    "DaemonSetSettings",
    "cluster_role",
    "cluster_role_binding",
    "daemon_set",
    "host_paths",
    "manifests",
    "namespace",
    "service_account",
]
