"""Pod Security Standards checker: which ``baseline``/``restricted`` rules a pod breaks (pure).

The test cluster (Kubernetes 1.20) has no Pod Security Admission, so the
namespace labels are stored but not enforced; this checker enforces the
same rules in tests and before creating a pod anywhere. It follows the
controls of https://kubernetes.io/docs/concepts/security/pod-security-standards/
(current version, ``latest``): every message starts with the field path it
is about, so a failing test or a refused spawn says what to change.

Each problem is reported once: a control of ``baseline`` that also exists
in stricter form in ``restricted`` (capabilities, seccomp, volumes) reports
only the rule the value breaks first.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

#: Capabilities baseline lets a container add (Docker's default set).
BASELINE_CAPABILITIES = frozenset(
    {
        "AUDIT_WRITE",
        "CHOWN",
        "DAC_OVERRIDE",
        "FOWNER",
        "FSETID",
        "KILL",
        "MKNOD",
        "NET_BIND_SERVICE",
        "SETFCAP",
        "SETGID",
        "SETPCAP",
        "SETUID",
        "SYS_CHROOT",
    }
)
RESTRICTED_CAPABILITIES = frozenset({"NET_BIND_SERVICE"})
#: Namespaced, node-isolated sysctls (newest list of the standard).
SAFE_SYSCTLS = frozenset(
    {
        "kernel.shm_rmid_forced",
        "net.ipv4.ip_local_port_range",
        "net.ipv4.ip_unprivileged_port_start",
        "net.ipv4.tcp_syncookies",
        "net.ipv4.ping_group_range",
        "net.ipv4.ip_local_reserved_ports",
        "net.ipv4.tcp_keepalive_time",
        "net.ipv4.tcp_fin_timeout",
        "net.ipv4.tcp_keepalive_intvl",
        "net.ipv4.tcp_keepalive_probes",
    }
)
SELINUX_TYPES = frozenset(
    {"container_t", "container_init_t", "container_kvm_t", "container_engine_t"}
)
ALLOWED_PROFILES = frozenset({"RuntimeDefault", "Localhost"})  # seccomp and AppArmor
#: The only volume sources ``restricted`` allows.
RESTRICTED_VOLUMES = (
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
)
CONTAINER_LISTS = ("containers", "initContainers", "ephemeralContainers")
APPARMOR_ANNOTATION = "container.apparmor.security.beta.kubernetes.io/"
_PROBES = ("livenessProbe", "readinessProbe", "startupProbe")
_HOOKS = ("postStart", "preStop")


def _split(obj: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(metadata, pod spec) of a Pod, or ({}, spec) when given a bare pod spec."""
    if obj.get("kind") == "Pod" or ("spec" in obj and "containers" not in obj):
        return obj.get("metadata") or {}, obj.get("spec") or {}
    return {}, obj


def _containers(spec: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(path, container) of every container, init container and ephemeral container."""
    for field in CONTAINER_LISTS:
        for i, container in enumerate(spec.get(field) or []):
            yield f"spec.{field}[{i}]", container


def _sc(holder: dict[str, Any]) -> dict[str, Any]:
    return holder.get("securityContext") or {}


def _profile_type(context: dict[str, Any], field: str) -> Any:
    return (context.get(field) or {}).get("type")


# ----------------------------------------------------------------------------- baseline


def baseline_violations(pod_spec_or_pod: dict[str, Any]) -> list[str]:
    """What breaks the ``baseline`` profile (known privilege escalations)."""
    meta, spec = _split(pod_spec_or_pod)
    out: list[str] = []
    pod_sc = _sc(spec)
    contexts = [("spec.securityContext", pod_sc)] + [
        (f"{path}.securityContext", _sc(c)) for path, c in _containers(spec)
    ]
    # HostProcess
    for path, context in contexts:
        if (context.get("windowsOptions") or {}).get("hostProcess"):
            out.append(f"{path}.windowsOptions.hostProcess: must be false or unset")
    # Host namespaces
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(field):
            out.append(f"spec.{field}: must be false or unset (shares the node's namespace)")
    for path, context in contexts[1:]:
        # Privileged containers
        if context.get("privileged"):
            out.append(f"{path}.privileged: must be false or unset")
        # Capabilities beyond the default set
        for j, cap in enumerate((context.get("capabilities") or {}).get("add") or []):
            if cap not in BASELINE_CAPABILITIES:
                out.append(f"{path}.capabilities.add[{j}]: {cap} is not allowed")
        # /proc mount type
        proc = context.get("procMount")
        if proc not in (None, "Default"):
            out.append(f"{path}.procMount: must be Default or unset, not {proc}")
    for path, context in contexts:
        # Seccomp: never Unconfined (restricted below also requires it set)
        seccomp = _profile_type(context, "seccompProfile")
        if seccomp is not None and seccomp not in ALLOWED_PROFILES:
            out.append(
                f"{path}.seccompProfile.type: must be RuntimeDefault or Localhost, not {seccomp}"
            )
        # AppArmor (field, 1.30+)
        apparmor = _profile_type(context, "appArmorProfile")
        if apparmor is not None and apparmor not in ALLOWED_PROFILES:
            out.append(
                f"{path}.appArmorProfile.type: must be RuntimeDefault or Localhost, not {apparmor}"
            )
        # SELinux
        selinux = context.get("seLinuxOptions") or {}
        if selinux.get("type") and selinux["type"] not in SELINUX_TYPES:
            out.append(f"{path}.seLinuxOptions.type: {selinux['type']} is not allowed")
        for field in ("user", "role"):
            if selinux.get(field):
                out.append(f"{path}.seLinuxOptions.{field}: must be unset")
    # AppArmor (annotations, before 1.30)
    for key, value in sorted((meta.get("annotations") or {}).items()):
        if key.startswith(APPARMOR_ANNOTATION) and not (
            value == "runtime/default" or value.startswith("localhost/")
        ):
            out.append(
                f"metadata.annotations[{key}]: must be runtime/default or localhost/*, not {value}"
            )
    # HostPath volumes
    for i, volume in enumerate(spec.get("volumes") or []):
        if volume.get("hostPath") is not None:
            out.append(f"spec.volumes[{i}].hostPath: hostPath volumes are forbidden")
    for path, container in _containers(spec):
        # Host ports
        for j, port in enumerate(container.get("ports") or []):
            if port.get("hostPort"):
                out.append(f"{path}.ports[{j}].hostPort: must be 0 or unset")
        # Host field of probes and lifecycle hooks (1.34+)
        handlers = [(f"{path}.{probe}", container.get(probe)) for probe in _PROBES]
        lifecycle = container.get("lifecycle") or {}
        handlers += [(f"{path}.lifecycle.{hook}", lifecycle.get(hook)) for hook in _HOOKS]
        for hpath, handler in handlers:
            for kind in ("httpGet", "tcpSocket"):
                if ((handler or {}).get(kind) or {}).get("host"):
                    out.append(f"{hpath}.{kind}.host: must be unset (probes the pod only)")
    # Sysctls
    for i, sysctl in enumerate(pod_sc.get("sysctls") or []):
        if sysctl.get("name") not in SAFE_SYSCTLS:
            out.append(f"spec.securityContext.sysctls[{i}].name: {sysctl.get('name')} is not safe")
    return out


# ----------------------------------------------------------------------------- restricted


def _restricted_only(spec: dict[str, Any]) -> list[str]:
    out: list[str] = []
    linux = (spec.get("os") or {}).get("name") != "windows"
    pod_sc = _sc(spec)
    # Volume types (hostPath is already reported by baseline)
    for i, volume in enumerate(spec.get("volumes") or []):
        sources = [key for key, value in volume.items() if key != "name" and value is not None]
        for source in sources:
            if source not in RESTRICTED_VOLUMES and source != "hostPath":
                out.append(
                    f"spec.volumes[{i}].{source}: volume type {source} is not allowed "
                    f"(allowed: {', '.join(RESTRICTED_VOLUMES)})"
                )
    # Running as non-root
    pod_nonroot = pod_sc.get("runAsNonRoot")
    if pod_nonroot is not None and pod_nonroot is not True:
        out.append("spec.securityContext.runAsNonRoot: must be true")
    # Running as non-root user
    if pod_sc.get("runAsUser") == 0:
        out.append("spec.securityContext.runAsUser: must not be 0 (root)")
    pod_seccomp = _profile_type(pod_sc, "seccompProfile")
    for path, container in _containers(spec):
        context = _sc(container)
        nonroot = context.get("runAsNonRoot")
        if nonroot is None and pod_nonroot is None:
            out.append(
                f"{path}.securityContext.runAsNonRoot: must be true "
                "(here or in spec.securityContext)"
            )
        elif nonroot is not None and nonroot is not True:
            out.append(f"{path}.securityContext.runAsNonRoot: must be true")
        if context.get("runAsUser") == 0:
            out.append(f"{path}.securityContext.runAsUser: must not be 0 (root)")
        if not linux:
            continue
        if context.get("allowPrivilegeEscalation") is not False:
            out.append(f"{path}.securityContext.allowPrivilegeEscalation: must be false")
        if _profile_type(context, "seccompProfile") is None and pod_seccomp is None:
            out.append(
                f"{path}.securityContext.seccompProfile.type: must be RuntimeDefault or "
                "Localhost (here or in spec.securityContext)"
            )
        capabilities = context.get("capabilities") or {}
        if "ALL" not in (capabilities.get("drop") or []):
            out.append(f"{path}.securityContext.capabilities.drop: must include ALL")
        for j, cap in enumerate(capabilities.get("add") or []):
            if cap in BASELINE_CAPABILITIES and cap not in RESTRICTED_CAPABILITIES:
                out.append(
                    f"{path}.securityContext.capabilities.add[{j}]: {cap} is not allowed "
                    "(only NET_BIND_SERVICE)"
                )
    return out


def restricted_violations(pod_spec_or_pod: dict[str, Any]) -> list[str]:
    """Everything that breaks ``restricted`` (which includes ``baseline``); empty: conforms.

    Takes a whole Pod (then AppArmor annotations are checked too) or a pod
    spec. Windows pods (``spec.os.name: windows``) skip the Linux-only
    rules, as the standard says.
    """
    _meta, spec = _split(pod_spec_or_pod)
    return baseline_violations(pod_spec_or_pod) + _restricted_only(spec)
