"""The checkpointer's DaemonSet and RBAC: the one privileged component, kept to what it needs.

Whole manifests are compared (a new field is a reviewed change), the API server's own
schemas check them (``kubernetes-validate --strict``), and the permissions are pinned
to exactly get/list/watch on pods.
"""

from __future__ import annotations

from typing import Any

import kubernetes_validate
import pytest
import yaml
from kubernetes_validate.utils import all_versions, major_minor

from checkpointer.__main__ import main
from checkpointer.daemonset import (
    NAME,
    NAMESPACE,
    DaemonSetSettings,
    cluster_role,
    daemon_set,
    host_paths,
    manifests,
)
from spawner.kubernetes.pss import baseline_violations

SHIPPED = sorted(
    {major_minor(v) for v in all_versions()}, key=lambda v: tuple(map(int, v.split(".")))
)
#: the newest schemas shipped and the oldest (the test cluster's 1.20 is older than any)
VERSIONS = sorted({SHIPPED[0], major_minor(kubernetes_validate.latest_version())})

BASIC = DaemonSetSettings(image="tenanthub/tenanthub:1.0", hub_url="http://proxy-public.tenanthub/")
FULL = DaemonSetSettings(
    image="registry.example.org/tenanthub:1.0",
    hub_url="http://proxy-public.tenanthub/",
    image_pull_policy="Always",
    runtime_socket="/run/docker.sock",
    node_selector={"tenanthub.io/notebooks": "true"},
    tolerations=({"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},),
    port=8085,
    priority_class="system-node-critical",
)
LABELS = {
    "app.kubernetes.io/name": "tenanthub-checkpointer",
    "app.kubernetes.io/component": "checkpointer",
    "app.kubernetes.io/part-of": "tenanthub",
}


def test_the_cluster_role_is_exactly_get_list_watch_pods() -> None:
    role = cluster_role()
    assert role["rules"] == [
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]}
    ]
    binding = manifests(BASIC)[3]
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": NAME,
    }
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": NAME, "namespace": NAMESPACE}]


def test_the_namespace_is_the_privileged_one_and_says_why() -> None:
    ns = manifests(BASIC)[0]
    assert ns["metadata"]["name"] == "tenanthub-system"
    assert {k: v for k, v in ns["metadata"]["labels"].items() if k.startswith("pod-security")} == {
        "pod-security.kubernetes.io/enforce": "privileged",
        "pod-security.kubernetes.io/enforce-version": "latest",
        "pod-security.kubernetes.io/audit": "privileged",
        "pod-security.kubernetes.io/audit-version": "latest",
        "pod-security.kubernetes.io/warn": "privileged",
        "pod-security.kubernetes.io/warn-version": "latest",
    }
    why = ns["metadata"]["annotations"]["tenanthub.io/why-privileged"]
    assert "container runtime socket" in why and "one privileged component" in why


def test_the_daemon_set_whole() -> None:
    assert daemon_set(BASIC) == {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": NAME, "namespace": NAMESPACE, "labels": LABELS},
        "spec": {
            "selector": {
                "matchLabels": {
                    "app.kubernetes.io/name": "tenanthub-checkpointer",
                    "app.kubernetes.io/component": "checkpointer",
                }
            },
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}},
            "template": {
                "metadata": {"labels": LABELS},
                "spec": {
                    "serviceAccountName": NAME,
                    "enableServiceLinks": False,
                    "terminationGracePeriodSeconds": 30,
                    "containers": [
                        {
                            "name": "checkpointer",
                            "image": "tenanthub/tenanthub:1.0",
                            "imagePullPolicy": "IfNotPresent",
                            "command": ["python3", "-m", "checkpointer"],
                            "env": [
                                {"name": "TENANTHUB_CHECKPOINTER_MODE", "value": "kubernetes"},
                                {
                                    "name": "TENANTHUB_NODE",
                                    "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}},
                                },
                                {
                                    "name": "TENANTHUB_CONFIG",
                                    "value": "/etc/tenanthub/tenanthub.yaml",
                                },
                                {
                                    "name": "TENANTHUB_HUB_URL",
                                    "value": "http://proxy-public.tenanthub/",
                                },
                                {
                                    "name": "TENANTHUB_CHECKPOINTER_TOKEN",
                                    "valueFrom": {
                                        "secretKeyRef": {
                                            "name": "tenanthub-checkpointer-token",
                                            "key": "token",
                                        }
                                    },
                                },
                                {"name": "DOCKER_HOST", "value": "unix:///var/run/docker.sock"},
                            ],
                            "resources": {
                                "requests": {"cpu": "50m", "memory": "128Mi"},
                                "limits": {"memory": "512Mi"},
                            },
                            "securityContext": {
                                "runAsUser": 0,
                                "runAsNonRoot": False,
                                "privileged": False,
                                "allowPrivilegeEscalation": False,
                                "readOnlyRootFilesystem": True,
                                "capabilities": {"drop": ["ALL"]},
                                "seccompProfile": {"type": "RuntimeDefault"},
                            },
                            "volumeMounts": [
                                {"name": "runtime-socket", "mountPath": "/var/run/docker.sock"},
                                {"name": "config", "mountPath": "/etc/tenanthub", "readOnly": True},
                            ],
                        }
                    ],
                    "volumes": [
                        {
                            "name": "runtime-socket",
                            "hostPath": {"path": "/var/run/docker.sock", "type": "Socket"},
                        },
                        {
                            "name": "config",
                            "configMap": {
                                "name": "tenanthub-config",
                                "items": [{"key": "tenanthub.yaml", "path": "tenanthub.yaml"}],
                            },
                        },
                    ],
                },
            },
        },
    }


def test_parameters_set_placement_socket_and_the_endpoint_with_its_liveness_probe() -> None:
    spec = daemon_set(FULL)["spec"]["template"]["spec"]
    assert spec["nodeSelector"] == {"tenanthub.io/notebooks": "true"}
    assert spec["tolerations"] == [
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
    ]
    assert spec["priorityClassName"] == "system-node-critical"
    # the spawner calls status.hostIP:port, so the endpoint lives on the node's network
    assert spec["hostNetwork"] is True
    container = spec["containers"][0]
    assert container["imagePullPolicy"] == "Always"
    assert container["ports"] == [{"name": "endpoint", "containerPort": 8085, "protocol": "TCP"}]
    assert container["livenessProbe"]["httpGet"] == {"path": "/health", "port": 8085}
    env = {e["name"]: e for e in container["env"]}
    assert env["TENANTHUB_CHECKPOINTER_BIND"]["valueFrom"] == {
        "fieldRef": {"fieldPath": "status.hostIP"}
    }
    assert env["DOCKER_HOST"]["value"] == "unix:///run/docker.sock"
    assert host_paths(daemon_set(FULL)) == ["/run/docker.sock"]
    # without a port: no host network, no probe
    basic = daemon_set(BASIC)["spec"]["template"]["spec"]
    assert "hostNetwork" not in basic and "livenessProbe" not in basic["containers"][0]


@pytest.mark.parametrize("settings", [BASIC, FULL], ids=["basic", "full"])
def test_the_runtime_socket_is_the_only_host_access(settings: DaemonSetSettings) -> None:
    ds = daemon_set(settings)
    spec = ds["spec"]["template"]["spec"]
    assert host_paths(ds) == [settings.runtime_socket]
    assert [v["hostPath"]["type"] for v in spec["volumes"] if "hostPath" in v] == ["Socket"]
    assert not any(spec.get(k) for k in ("hostPID", "hostIPC"))
    # what Pod Security baseline refuses is the socket (and the host network for the
    # endpoint), nothing else: no privileged mode, no added capability
    problems = baseline_violations(spec)
    expected = ["hostPath"] + (["hostNetwork"] if settings.port else [])
    assert len(problems) == len(expected), problems
    for word, problem in zip(
        expected, sorted(problems, key=lambda p: "hostNetwork" in p), strict=True
    ):
        assert word in problem, problems
    container = spec["containers"][0]
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert container["securityContext"]["readOnlyRootFilesystem"] is True


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("settings", [BASIC, FULL], ids=["basic", "full"])
def test_every_object_is_valid_for_kubernetes(settings: DaemonSetSettings, version: str) -> None:
    for obj in manifests(settings):
        assert kubernetes_validate.validate(obj, version, strict=True) == version, obj["kind"]


def test_the_cli_prints_the_manifests_as_yaml(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(
            [
                "manifests",
                "--image", "registry.example.org/tenanthub:1.0",
                "--hub-url", "http://proxy-public.tenanthub/",
                "--node-selector", "tenanthub.io/notebooks=true",
                "--toleration", "nvidia.com/gpu:NoSchedule",
                "--toleration", "spot=1:NoExecute",
                "--port", "8085",
            ]
        )  # fmt: skip
    assert done.value.code == 0
    docs: list[dict[str, Any]] = list(yaml.safe_load_all(capsys.readouterr().out))
    assert [d["kind"] for d in docs] == [
        "Namespace",
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "DaemonSet",
    ]
    spec = docs[-1]["spec"]["template"]["spec"]
    assert spec["tolerations"] == [
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
        {"key": "spot", "operator": "Equal", "value": "1", "effect": "NoExecute"},
    ]
    assert spec["nodeSelector"] == {"tenanthub.io/notebooks": "true"}
    assert docs[-1] == daemon_set(
        DaemonSetSettings(
            image="registry.example.org/tenanthub:1.0",
            hub_url="http://proxy-public.tenanthub/",
            node_selector={"tenanthub.io/notebooks": "true"},
            tolerations=tuple(spec["tolerations"]),
            port=8085,
        )
    )


def test_the_cli_refuses_an_unknown_command() -> None:
    with pytest.raises(SystemExit) as done:
        main(["manifest"])
    assert "python -m checkpointer manifests" in str(done.value.code)
