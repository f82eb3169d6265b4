"""The Pod Security Standards checker: each rule reported once, by field path.

The test cluster (1.20) has no Pod Security Admission, so this checker is
what proves notebook pods are ``restricted``; every bad spec below breaks
exactly one rule.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from hub.config.schema import KubernetesBackendSettings
from spawner.kubernetes.manifests import user_pod
from spawner.kubernetes.pss import baseline_violations, restricted_violations
from spawner.plan import make_plan
from tests.unit.builders import profile

Spec = dict[str, Any]

GOOD_CONTAINER: Spec = {
    "name": "c",
    "image": "x",
    "securityContext": {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "runAsNonRoot": True,
        "seccompProfile": {"type": "RuntimeDefault"},
    },
}
GOOD_SPEC: Spec = {
    "securityContext": {
        "runAsNonRoot": True,
        "runAsUser": 1000,
        "seccompProfile": {"type": "RuntimeDefault"},
    },
    "containers": [GOOD_CONTAINER],
    "initContainers": [copy.deepcopy(GOOD_CONTAINER) | {"name": "init"}],
    "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "tenanthub-data"}}],
}


def _pod(**fields: Any) -> Spec:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, **fields}


def mutate(change: Callable[[Spec], None]) -> Spec:
    spec = copy.deepcopy(GOOD_SPEC)
    change(spec)
    return spec


def c0(spec: Spec) -> Spec:
    ctx: Spec = spec["containers"][0]["securityContext"]
    return ctx


def test_a_hardened_spec_has_no_violations() -> None:
    assert restricted_violations(GOOD_SPEC) == []
    assert restricted_violations(_pod(spec=GOOD_SPEC)) == []


def _set(path: list[Any], value: Any) -> Callable[[Spec], None]:
    def change(spec: Spec) -> None:
        node = spec
        for key in path[:-1]:
            node = node.setdefault(key, {}) if isinstance(key, str) else node[key]
        node[path[-1]] = value

    return change


def _drop(path: list[Any]) -> Callable[[Spec], None]:
    def change(spec: Spec) -> None:
        node = spec
        for key in path[:-1]:
            node = node[key]
        del node[path[-1]]

    return change


C0 = ["containers", 0, "securityContext"]
I0 = ["initContainers", 0, "securityContext"]
POD = ["securityContext"]

BAD: list[tuple[str, Callable[[Spec], None], str]] = [
    (
        "hostNetwork",
        _set(["hostNetwork"], True),
        "spec.hostNetwork: must be false or unset (shares the node's namespace)",
    ),
    (
        "hostPID",
        _set(["hostPID"], True),
        "spec.hostPID: must be false or unset (shares the node's namespace)",
    ),
    (
        "hostIPC",
        _set(["hostIPC"], True),
        "spec.hostIPC: must be false or unset (shares the node's namespace)",
    ),
    (
        "hostProcess",
        _set([*C0, "windowsOptions"], {"hostProcess": True}),
        "spec.containers[0].securityContext.windowsOptions.hostProcess: must be false or unset",
    ),
    (
        "privileged",
        _set([*C0, "privileged"], True),
        "spec.containers[0].securityContext.privileged: must be false or unset",
    ),
    (
        "privileged init container",
        _set([*I0, "privileged"], True),
        "spec.initContainers[0].securityContext.privileged: must be false or unset",
    ),
    (
        "capability outside the default set",
        _set([*C0, "capabilities", "add"], ["SYS_ADMIN"]),
        "spec.containers[0].securityContext.capabilities.add[0]: SYS_ADMIN is not allowed",
    ),
    (
        "default capability other than NET_BIND_SERVICE",
        _set([*C0, "capabilities", "add"], ["NET_BIND_SERVICE", "CHOWN"]),
        "spec.containers[0].securityContext.capabilities.add[1]: CHOWN is not allowed "
        "(only NET_BIND_SERVICE)",
    ),
    (
        "drop without ALL",
        _set([*C0, "capabilities", "drop"], ["NET_RAW"]),
        "spec.containers[0].securityContext.capabilities.drop: must include ALL",
    ),
    (
        "no capabilities at all",
        _drop([*C0, "capabilities"]),
        "spec.containers[0].securityContext.capabilities.drop: must include ALL",
    ),
    (
        "hostPath volume",
        _set(["volumes", 0], {"name": "data", "hostPath": {"path": "/"}}),
        "spec.volumes[0].hostPath: hostPath volumes are forbidden",
    ),
    (
        "nfs volume",
        _set(["volumes", 0], {"name": "data", "nfs": {"server": "s", "path": "/"}}),
        "spec.volumes[0].nfs: volume type nfs is not allowed (allowed: configMap, csi, "
        "downwardAPI, emptyDir, ephemeral, persistentVolumeClaim, projected, secret)",
    ),
    (
        "gitRepo volume",
        _set(["volumes", 0], {"name": "data", "gitRepo": {"repository": "r"}}),
        "spec.volumes[0].gitRepo: volume type gitRepo is not allowed (allowed: configMap, csi, "
        "downwardAPI, emptyDir, ephemeral, persistentVolumeClaim, projected, secret)",
    ),
    (
        "hostPort",
        _set(
            ["containers", 0, "ports"],
            [{"containerPort": 80}, {"containerPort": 8888, "hostPort": 8888}],
        ),
        "spec.containers[0].ports[1].hostPort: must be 0 or unset",
    ),
    (
        "allowPrivilegeEscalation true",
        _set([*C0, "allowPrivilegeEscalation"], True),
        "spec.containers[0].securityContext.allowPrivilegeEscalation: must be false",
    ),
    (
        "allowPrivilegeEscalation unset",
        _drop([*C0, "allowPrivilegeEscalation"]),
        "spec.containers[0].securityContext.allowPrivilegeEscalation: must be false",
    ),
    (
        "allowPrivilegeEscalation unset in an init container",
        _drop([*I0, "allowPrivilegeEscalation"]),
        "spec.initContainers[0].securityContext.allowPrivilegeEscalation: must be false",
    ),
    (
        "container runAsNonRoot false",
        _set([*C0, "runAsNonRoot"], False),
        "spec.containers[0].securityContext.runAsNonRoot: must be true",
    ),
    (
        "pod runAsNonRoot false",
        lambda s: (_set([*POD, "runAsNonRoot"], False)(s), _drop([*C0, "runAsNonRoot"])(s)),
        "spec.securityContext.runAsNonRoot: must be true",
    ),
    (
        "runAsNonRoot nowhere",
        lambda s: (_drop([*POD, "runAsNonRoot"])(s), _drop([*C0, "runAsNonRoot"])(s)),
        "spec.containers[0].securityContext.runAsNonRoot: must be true "
        "(here or in spec.securityContext)",
    ),
    (
        "pod runAsUser 0",
        _set([*POD, "runAsUser"], 0),
        "spec.securityContext.runAsUser: must not be 0 (root)",
    ),
    (
        "container runAsUser 0",
        _set([*C0, "runAsUser"], 0),
        "spec.containers[0].securityContext.runAsUser: must not be 0 (root)",
    ),
    (
        "pod seccomp Unconfined",
        _set([*POD, "seccompProfile", "type"], "Unconfined"),
        "spec.securityContext.seccompProfile.type: must be RuntimeDefault or Localhost, "
        "not Unconfined",
    ),
    (
        "container seccomp Unconfined",
        _set([*C0, "seccompProfile", "type"], "Unconfined"),
        "spec.containers[0].securityContext.seccompProfile.type: must be RuntimeDefault or "
        "Localhost, not Unconfined",
    ),
    (
        "seccomp nowhere",
        lambda s: (_drop([*POD, "seccompProfile"])(s), _drop([*C0, "seccompProfile"])(s)),
        "spec.containers[0].securityContext.seccompProfile.type: must be RuntimeDefault or "
        "Localhost (here or in spec.securityContext)",
    ),
    (
        "procMount Unmasked",
        _set([*C0, "procMount"], "Unmasked"),
        "spec.containers[0].securityContext.procMount: must be Default or unset, not Unmasked",
    ),
    (
        "unsafe sysctl",
        _set(
            [*POD, "sysctls"],
            [
                {"name": "kernel.shm_rmid_forced", "value": "1"},
                {"name": "kernel.msgmax", "value": "1"},
            ],
        ),
        "spec.securityContext.sysctls[1].name: kernel.msgmax is not safe",
    ),
    (
        "AppArmor field unconfined",
        _set([*C0, "appArmorProfile"], {"type": "Unconfined"}),
        "spec.containers[0].securityContext.appArmorProfile.type: must be RuntimeDefault or "
        "Localhost, not Unconfined",
    ),
    (
        "pod AppArmor field unconfined",
        _set([*POD, "appArmorProfile"], {"type": "Unconfined"}),
        "spec.securityContext.appArmorProfile.type: must be RuntimeDefault or Localhost, "
        "not Unconfined",
    ),
    (
        "SELinux type",
        _set([*C0, "seLinuxOptions"], {"type": "spc_t"}),
        "spec.containers[0].securityContext.seLinuxOptions.type: spc_t is not allowed",
    ),
    (
        "SELinux user",
        _set([*POD, "seLinuxOptions"], {"user": "system_u", "type": "container_t"}),
        "spec.securityContext.seLinuxOptions.user: must be unset",
    ),
    (
        "SELinux role",
        _set([*C0, "seLinuxOptions"], {"role": "sysadm_r"}),
        "spec.containers[0].securityContext.seLinuxOptions.role: must be unset",
    ),
    (
        "probe host",
        _set(["containers", 0, "livenessProbe"], {"httpGet": {"host": "10.0.0.1", "port": 80}}),
        "spec.containers[0].livenessProbe.httpGet.host: must be unset (probes the pod only)",
    ),
    (
        "lifecycle hook host",
        _set(["containers", 0, "lifecycle"], {"preStop": {"tcpSocket": {"host": "h", "port": 1}}}),
        "spec.containers[0].lifecycle.preStop.tcpSocket.host: must be unset (probes the pod only)",
    ),
    (
        "privileged ephemeral container",
        _set(
            ["ephemeralContainers"],
            [
                copy.deepcopy(GOOD_CONTAINER)
                | {"securityContext": {**GOOD_CONTAINER["securityContext"], "privileged": True}}
            ],
        ),
        "spec.ephemeralContainers[0].securityContext.privileged: must be false or unset",
    ),
]


@pytest.mark.parametrize(
    ("change", "message"), [(c, m) for _, c, m in BAD], ids=[b[0] for b in BAD]
)
def test_each_bad_spec_is_reported_once_with_its_field_path(
    change: Callable[[Spec], None], message: str
) -> None:
    spec = mutate(change)
    assert restricted_violations(spec) == [message]
    assert restricted_violations(_pod(spec=spec)) == [message]


def test_baseline_alone_allows_what_only_restricted_forbids() -> None:
    lax = mutate(
        lambda s: (
            _drop([*POD, "runAsNonRoot"])(s),
            _drop([*C0, "runAsNonRoot"])(s),
            _drop([*C0, "allowPrivilegeEscalation"])(s),
            _set([*C0, "capabilities"], {"add": ["CHOWN"]})(s),
            _set(["volumes", 0], {"name": "d", "nfs": {"server": "s", "path": "/"}})(s),
        )
    )
    assert baseline_violations(lax) == []
    assert len(restricted_violations(lax)) == 5


def test_seccomp_may_be_set_per_container_instead_of_per_pod() -> None:
    spec = mutate(_drop([*POD, "seccompProfile"]))
    spec["initContainers"][0]["securityContext"]["seccompProfile"] = {
        "type": "Localhost",
        "localhostProfile": "p.json",
    }
    assert restricted_violations(spec) == []


def test_apparmor_annotations_of_a_pod_are_checked() -> None:
    pod = _pod(
        metadata={
            "name": "p",
            "annotations": {
                "container.apparmor.security.beta.kubernetes.io/c": "unconfined",
                "container.apparmor.security.beta.kubernetes.io/init": "localhost/prof",
                "other": "unconfined",
            },
        },
        spec=GOOD_SPEC,
    )
    assert restricted_violations(pod) == [
        "metadata.annotations[container.apparmor.security.beta.kubernetes.io/c]: "
        "must be runtime/default or localhost/*, not unconfined"
    ]


def test_windows_pods_skip_the_linux_only_rules() -> None:
    spec = mutate(
        lambda s: (
            _set(["os"], {"name": "windows"})(s),
            _drop([*POD, "seccompProfile"])(s),
            _drop([*C0, "seccompProfile"])(s),
            _drop([*C0, "allowPrivilegeEscalation"])(s),
            _drop([*C0, "capabilities"])(s),
        )
    )
    del spec["initContainers"]
    assert restricted_violations(spec) == []


def test_every_violation_of_a_bad_pod_is_listed() -> None:
    bad = {
        "hostNetwork": True,
        "containers": [{"name": "c", "image": "x", "securityContext": {"privileged": True}}],
    }
    assert restricted_violations(bad) == [
        "spec.hostNetwork: must be false or unset (shares the node's namespace)",
        "spec.containers[0].securityContext.privileged: must be false or unset",
        "spec.containers[0].securityContext.runAsNonRoot: must be true "
        "(here or in spec.securityContext)",
        "spec.containers[0].securityContext.allowPrivilegeEscalation: must be false",
        "spec.containers[0].securityContext.seccompProfile.type: must be RuntimeDefault or "
        "Localhost (here or in spec.securityContext)",
        "spec.containers[0].securityContext.capabilities.drop: must include ALL",
    ]


# ----------------------------------------------------------------------------- user pods


def _user_pod(settings: KubernetesBackendSettings, **sizes: Any) -> Spec:
    plan = make_plan("vision", profile("p", **sizes), "Alice.Smith", "vision")
    return user_pod(
        plan,
        settings,
        pod_name="jupyter-x",
        port=8888,
        cmd=["jupyterhub-singleuser"],
        env={"A": "b"},
    )


@pytest.mark.parametrize(
    "sizes",
    [
        {"cpu": {"limit": "1"}, "memory": {"limit": "1Gi"}},
        {
            "gpu": 1,
            "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists"}],
            "node_selector": {"gpu": "yes"},
        },
    ],
)
def test_notebook_pods_conform_to_restricted(sizes: dict[str, Any]) -> None:
    assert restricted_violations(_user_pod(KubernetesBackendSettings(), **sizes)) == []


def test_host_network_notebook_pods_are_reported() -> None:
    """The v1.20 test cluster has no pod network; everywhere else PSA would refuse this pod."""
    pod = _user_pod(KubernetesBackendSettings(host_network=True))
    assert restricted_violations(pod) == [
        "spec.hostNetwork: must be false or unset (shares the node's namespace)"
    ]
