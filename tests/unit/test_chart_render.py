"""The Helm chart, rendered by the real helm (``make install`` puts it in the cache).

helm lint with the default and the lint values; every object of ``helm template`` passes
``kubernetes-validate --strict`` and the chart's own pods Pod Security ``restricted``
(the checkpointer excepted: it is the privileged one; with the single-node values, whose
hostNetwork is for clusters without a pod network, the hub and proxy break exactly the
host-network rule and nothing else); the hub's ClusterRole and the
checkpointer's objects are exactly the Python builders'; the generated files are current;
a config change changes the hub's checksum annotation (so it rolls).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from kubernetes_validate.utils import all_versions, major_minor

from checkpointer.daemonset import DaemonSetSettings, manifests
from hub.chart import CHART, RBAC_FILE, SCHEMA_FILE, rbac_rules_yaml, values_schema_json
from hub.config.schema import PlatformConfig
from spawner.kubernetes.pss import restricted_violations
from spawner.kubernetes.rbac import hub_cluster_role_rules

CACHE = Path(os.environ.get("TENANTHUB_CACHE") or Path.home() / ".cache" / "tenanthub")
HELM = CACHE / "helm" / "bin" / "helm"
LINT_VALUES = CHART / "values.lint.yaml"
#: the values of a single-node cluster without a pod network (the test cluster): hostNetwork
SINGLE_NODE_VALUES = CHART / "values.single-node.yaml"
HOST_NETWORK_VIOLATION = "spec.hostNetwork: must be false or unset (shares the node's namespace)"
NEW = "1.35.0"
OLD = "1.20.0"  # the test cluster's API server
GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
POD_KINDS = {"Deployment", "DaemonSet", "StatefulSet", "Job"}


@pytest.fixture(scope="module")
def helm() -> Path:
    if not HELM.exists():
        pytest.fail(
            f"helm is not installed at {HELM}: run `make install` (scripts/install-helm.sh)"
        )
    return HELM


def run_helm(helm: Path, *args: str) -> str:
    done = subprocess.run([str(helm), *args], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr + done.stdout
    return done.stdout


def render(
    helm: Path, *values: Path, kube: str = NEW, sets: tuple[str, ...] = ()
) -> list[dict[str, Any]]:
    args = ["template", "th", str(CHART), "--namespace", "tenanthub", "--kube-version", kube]
    for path in values:
        args += ["--values", str(path)]
    for item in sets:
        args += ["--set", item]
    return [doc for doc in yaml.safe_load_all(run_helm(helm, *args)) if doc]


def find(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    [obj] = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    return obj


@pytest.mark.parametrize(
    "values", [(), (LINT_VALUES,), (SINGLE_NODE_VALUES,)], ids=["default", "lint", "single-node"]
)
def test_helm_lint_passes(helm: Path, values: tuple[Path, ...]) -> None:
    args = ["lint", str(CHART), "--strict", "--kube-version", NEW]
    for path in values:
        args += ["--values", str(path)]
    run_helm(helm, *args)


def test_values_outside_the_schema_are_refused(helm: Path) -> None:
    for bad in ("tenanthub.hub.bogus=1", "proxy.bogus=1", "tenanthub.culling.idle_timeout=soon"):
        done = subprocess.run(
            [str(helm), "template", "th", str(CHART), "--set", bad],
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode != 0, bad
        assert "schema" in done.stderr, done.stderr


#: the newest and the oldest Kubernetes schemas kubernetes-validate ships
SCHEMAS = sorted(
    {major_minor(v) for v in all_versions()}, key=lambda v: tuple(map(int, v.split(".")))
)


@pytest.mark.parametrize("schema", [SCHEMAS[0], SCHEMAS[-1]])
@pytest.mark.parametrize(
    "values", [(), (LINT_VALUES,), (SINGLE_NODE_VALUES,)], ids=["default", "lint", "single-node"]
)
def test_every_object_is_valid_kubernetes(
    helm: Path, values: tuple[Path, ...], schema: str
) -> None:
    objects = render(helm, *values, kube=f"{schema}.0")
    kinds = {o["kind"] for o in objects}
    assert {"Deployment", "Service", "ClusterRole", "NetworkPolicy", "DaemonSet"} <= kinds
    for obj in objects:
        version = kubernetes_validate.validate(obj, schema, strict=True)
        assert version == schema, (obj["kind"], obj["metadata"]["name"])


def test_the_lint_values_reach_every_optional_object(helm: Path) -> None:
    objects = render(helm, LINT_VALUES)
    kinds = {o["kind"] for o in objects}
    assert {"Ingress", "PodDisruptionBudget", "DaemonSet", "NetworkPolicy"} <= kinds
    ingress = find(objects, "Ingress", "th-tenanthub")
    assert ingress["spec"]["tls"] == [
        {"secretName": "hub-example-org-tls", "hosts": ["hub.example.org"]}
    ]
    hub = find(objects, "Deployment", "th-tenanthub-hub")["spec"]["template"]["spec"]
    assert hub["imagePullSecrets"] == [{"name": "regcred"}]
    [prepare] = hub["initContainers"]
    assert prepare["env"][0]["valueFrom"]["secretKeyRef"] == {"name": "tenanthub-db", "key": "url"}
    assert {v["name"]: v for v in hub["volumes"]}["data"] == {"name": "data", "emptyDir": {}}


def test_the_chart_pods_are_restricted_except_the_checkpointer(helm: Path) -> None:
    for values in ((), (LINT_VALUES,)):
        for obj in render(helm, *values):
            if obj["kind"] not in POD_KINDS:
                continue
            problems = restricted_violations(obj["spec"]["template"])
            if obj["metadata"]["name"] == "tenanthub-checkpointer":
                assert problems, "the checkpointer is the privileged one (runtime socket)"
            else:
                assert problems == [], (obj["metadata"]["name"], problems)


def test_only_the_single_node_host_network_breaks_restricted(helm: Path) -> None:
    """hostNetwork (the single-node values: no pod network) is outside Pod Security baseline:
    accepted for the hub and proxy only with that value on, and nothing else is given up."""
    for values, sets in (
        ((SINGLE_NODE_VALUES,), ()),
        ((LINT_VALUES,), ("hostNetwork.enabled=true",)),
    ):
        pods = {
            obj["metadata"]["name"]: obj["spec"]["template"]
            for obj in render(helm, *values, sets=sets)
            if obj["kind"] in POD_KINDS
        }
        for name in ("th-tenanthub-hub", "th-tenanthub-proxy"):
            assert restricted_violations(pods[name]) == [HOST_NETWORK_VIOLATION], name
            assert pods[name]["spec"]["dnsPolicy"] == "ClusterFirstWithHostNet"
        assert pods["tenanthub-checkpointer"]["spec"]["hostNetwork"] is True
    off = render(helm, SINGLE_NODE_VALUES, sets=("hostNetwork.enabled=false",))
    for obj in off:
        if obj["kind"] in POD_KINDS and obj["metadata"]["name"] != "tenanthub-checkpointer":
            assert restricted_violations(obj["spec"]["template"]) == []


def test_single_node_pods_listen_on_the_node_address_and_use_the_kubeconfigs(
    helm: Path,
) -> None:
    objects = render(
        helm,
        SINGLE_NODE_VALUES,
        sets=("hub.port=18081", "hub.servicePort=18084", "proxy.port=18000",
              "proxy.apiPort=18001", "checkpointer.port=18085"),
    )  # fmt: skip
    secret = find(objects, "Secret", "th-tenanthub-hub-config")
    config = PlatformConfig.model_validate(yaml.safe_load(secret["stringData"]["tenanthub.yaml"]))
    assert config.hub.hub_bind_url == config.hub.hub_connect_url == "http://127.0.0.1:18081"
    assert config.hub.proxy.api_url == "http://127.0.0.1:18001"
    assert (config.service.bind, config.service.url) == ("127.0.0.1", "http://127.0.0.1:18084")
    assert config.checkpoint.daemon_port == 18085
    assert str(config.backend.kubernetes.kubeconfig) == "/etc/tenanthub-kube/kubeconfig"
    hub = find(objects, "Deployment", "th-tenanthub-hub")["spec"]["template"]["spec"]
    assert hub["hostNetwork"] is True and hub["automountServiceAccountToken"] is False
    [mount] = [m for m in hub["containers"][0]["volumeMounts"] if m["name"] == "kubeconfig"]
    assert mount["mountPath"] == "/etc/tenanthub-kube"
    [volume] = [v for v in hub["volumes"] if v["name"] == "kubeconfig"]
    assert volume["secret"]["secretName"] == "hub-kubeconfig"
    assert {p["name"]: p["containerPort"] for p in hub["containers"][0]["ports"]} == {
        "hub": 18081,
        "service": 18084,
    }
    proxy = find(objects, "Deployment", "th-tenanthub-proxy")["spec"]["template"]["spec"]
    args = proxy["containers"][0]["command"]
    assert proxy["containers"][0]["image"] == "tenanthub/proxy:0.1.0"
    for arg in ("--ip=127.0.0.1", "--api-ip=127.0.0.1", "--port=18000", "--api-port=18001",
                "--default-target=http://127.0.0.1:18081"):  # fmt: skip
        assert arg in args
    daemon = find(objects, "DaemonSet", "tenanthub-checkpointer")["spec"]["template"]["spec"]
    env = {e["name"]: e.get("value") for e in daemon["containers"][0]["env"]}
    assert env["TENANTHUB_HUB_URL"] == "http://127.0.0.1:18000/"
    assert env["KUBECONFIG"] == "/etc/tenanthub-kube/kubeconfig"
    assert daemon["automountServiceAccountToken"] is False
    [volume] = [v for v in daemon["volumes"] if v["name"] == "kubeconfig"]
    assert volume["secret"]["secretName"] == "checkpointer-kubeconfig"
    # its root is read-only: the client writes the kubeconfig's inline CA under /tmp
    mounts = {m["name"]: m["mountPath"] for m in daemon["containers"][0]["volumeMounts"]}
    assert mounts["tmp"] == "/tmp"


def test_the_config_is_the_values_with_the_in_cluster_networking(helm: Path) -> None:
    objects = render(helm, LINT_VALUES)
    secret = find(objects, "Secret", "th-tenanthub-hub-config")
    config = PlatformConfig.model_validate(yaml.safe_load(secret["stringData"]["tenanthub.yaml"]))
    assert config.backend.kind == "kubernetes"
    assert config.hub.proxy.external and config.hub.proxy.api_url == (
        "http://th-tenanthub-proxy-api.tenanthub.svc:8001"
    )
    assert config.hub.hub_connect_url == "http://th-tenanthub-hub.tenanthub.svc:8081"
    assert config.service.url == "http://th-tenanthub-hub.tenanthub.svc:8084"
    assert config.service.bind == "0.0.0.0"  # noqa: S104
    assert config.tenants[0].quota.cpu == "16"
    hub = find(objects, "Deployment", "th-tenanthub-hub")["spec"]["template"]
    assert config.backend.kubernetes.hub_pod_labels.items() <= hub["metadata"]["labels"].items()
    proxy = find(objects, "Deployment", "th-tenanthub-proxy")["spec"]["template"]
    assert config.backend.kubernetes.proxy_pod_labels.items() <= proxy["metadata"]["labels"].items()


def test_a_config_change_changes_the_hub_checksum(helm: Path) -> None:
    def checksum(*sets: str) -> str:
        hub = find(render(helm, LINT_VALUES, sets=sets), "Deployment", "th-tenanthub-hub")
        return str(hub["spec"]["template"]["metadata"]["annotations"]["checksum/config"])

    same = checksum()
    assert checksum() == same  # random tokens do not roll the hub
    assert (
        checksum("tenanthub.tenants[0].name=physics", "tenanthub.tenants[0].quota.cpu=32") != same
    )


def test_pdbs_use_policy_v1_where_served_else_v1beta1(helm: Path) -> None:
    for kube, api in ((NEW, "policy/v1"), (OLD, "policy/v1beta1")):
        pdbs = [o for o in render(helm, kube=kube) if o["kind"] == "PodDisruptionBudget"]
        assert len(pdbs) == 2 and {p["apiVersion"] for p in pdbs} == {api}


def test_the_hub_cluster_role_is_exactly_the_python_rules(helm: Path) -> None:
    role = find(render(helm), "ClusterRole", "th-tenanthub-hub")
    assert role["rules"] == hub_cluster_role_rules()
    binding = find(render(helm), "ClusterRoleBinding", "th-tenanthub-hub")
    assert binding["roleRef"]["name"] == "th-tenanthub-hub"
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "th-tenanthub-hub", "namespace": "tenanthub"}
    ]
    # nothing in the chart binds cluster-admin
    for values in ((), (LINT_VALUES,)):
        for obj in render(helm, *values):
            if obj["kind"] in ("ClusterRoleBinding", "RoleBinding"):
                assert obj["roleRef"]["name"] != "cluster-admin"


def test_the_generated_files_are_current() -> None:
    assert RBAC_FILE.read_text() == rbac_rules_yaml(), "run: python -m hub.chart rbac"
    assert SCHEMA_FILE.read_text() == values_schema_json(), "run: python -m hub.chart schema"


def _closed_everywhere(node: Any, path: str = "$") -> list[str]:
    found = []
    if isinstance(node, dict):
        if "properties" in node and node.get("additionalProperties") is not False:
            found.append(path)
        for key, value in node.items():
            found += _closed_everywhere(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += _closed_everywhere(value, f"{path}[{i}]")
    return found


def test_the_values_schema_is_closed_and_carries_the_platform_schema() -> None:
    import json

    schema = json.loads(SCHEMA_FILE.read_text())
    assert _closed_everywhere(schema) == []
    platform = schema["properties"]["tenanthub"]
    assert set(platform["properties"]) == set(PlatformConfig.model_fields)
    assert "hub_connect_url" in schema["$defs"]["HubSettings"]["properties"]
    for key, value in schema["properties"].items():
        assert value.get("description") or "$ref" in value, key


@pytest.mark.parametrize(
    ("values", "settings"),
    [
        (
            (),
            DaemonSetSettings(
                image="tenanthub/hub:0.1.0",
                hub_url="http://th-tenanthub-proxy-public.tenanthub.svc:80/",
            ),
        ),
        (
            (LINT_VALUES,),
            DaemonSetSettings(
                image="registry.example.org/tenanthub/hub:0.1.0",
                hub_url="http://proxy-public.tenanthub.svc/jupyter/",
                image_pull_policy="Always",
                runtime_socket="/run/docker.sock",
                node_selector={"tenanthub.io/notebooks": "true"},
                tolerations=(
                    {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
                ),
                port=8085,
                priority_class="system-node-critical",
            ),
        ),
    ],
    ids=["default", "lint"],
)
def test_the_checkpointer_objects_are_the_python_builders(
    helm: Path, values: tuple[Path, ...], settings: DaemonSetSettings
) -> None:
    objects = render(helm, *values)
    for expected in manifests(settings):
        got = find(objects, expected["kind"], expected["metadata"]["name"])
        got = yaml.safe_load(yaml.safe_dump(got))
        if expected["kind"] == "DaemonSet":
            # the chart adds what the builder leaves to it: the config checksum
            assert got["spec"]["template"]["metadata"].pop("annotations").keys() == {
                "checksum/config"
            }
        if expected["kind"] == "ServiceAccount":
            got.pop("imagePullSecrets", None)
        assert got == expected, expected["kind"]


def test_helm_comes_from_the_pinned_install_script() -> None:
    script = (CHART.parent.parent / "scripts" / "install-helm.sh").read_text()
    assert 'VERSION="2.2.2"' in script
    assert shutil.which("npm") or HELM.exists()


def test_the_checkpointer_token_is_one_value_and_the_hub_keys_are_32_bytes_hex(helm: Path) -> None:
    import base64

    objects = render(helm)
    tokens = find(objects, "Secret", "th-tenanthub-tokens")["data"]
    decoded = {key: base64.b64decode(value).decode() for key, value in tokens.items()}
    node = find(objects, "Secret", "tenanthub-checkpointer-token")
    assert node["metadata"]["namespace"] == "tenanthub-system"
    assert (
        base64.b64decode(node["data"]["token"]).decode()
        == (decoded["tenanthub-checkpointer.token"])
    )
    for key in ("cookie-secret", "crypt-key"):  # JPY_COOKIE_SECRET, JUPYTERHUB_CRYPT_KEY
        assert len(bytes.fromhex(decoded[key])) == 32
    assert len(set(decoded.values())) == len(decoded)
    hub = find(objects, "Deployment", "th-tenanthub-hub")["spec"]["template"]["spec"]
    env = {e["name"]: e for e in hub["containers"][0]["env"]}
    assert env["JPY_COOKIE_SECRET"]["valueFrom"]["secretKeyRef"]["key"] == "cookie-secret"
    assert env["CONFIGPROXY_AUTH_TOKEN"]["valueFrom"]["secretKeyRef"]["key"] == "proxy-token"


def test_the_hub_traits_from_the_chart_config_point_at_the_chart_services(
    helm: Path, tmp_path: Path
) -> None:
    from urllib.parse import urlsplit

    from hub.app.context import PlatformContext
    from hub.app.traits import PLATFORM_SERVICE, hub_traits

    objects = render(helm)
    data = yaml.safe_load(
        find(objects, "Secret", "th-tenanthub-hub-config")["stringData"]["tenanthub.yaml"]
    )
    data["hub"]["data_dir"] = str(tmp_path)  # /srv/tenanthub in the pod
    config = PlatformConfig.model_validate(data)
    traits = hub_traits(PlatformContext(config, tmp_path / "tenanthub.yaml"), "kubernetes")

    def service_port(name: str, port_name: str, url: str) -> None:
        parts = urlsplit(url)
        assert parts.hostname == f"{name}.tenanthub.svc"
        ports = {p["name"]: p["port"] for p in find(objects, "Service", name)["spec"]["ports"]}
        assert ports[port_name] == parts.port

    proxy = traits["ConfigurableHTTPProxy"]
    assert proxy["should_start"] is False
    service_port("th-tenanthub-proxy-api", "api", proxy["api_url"])
    service_port("th-tenanthub-hub", "hub", traits["JupyterHub"]["hub_connect_url"])
    [platform] = [s for s in traits["JupyterHub"]["services"] if s["name"] == PLATFORM_SERVICE]
    service_port("th-tenanthub-hub", "service", platform["url"])
    assert platform["environment"]["TENANTHUB_SERVICE_BIND"] == "0.0.0.0"  # noqa: S104
    # the container ports the Services target are the ones the hub binds
    hub = find(objects, "Deployment", "th-tenanthub-hub")["spec"]["template"]["spec"]
    ports = {p["name"]: p["containerPort"] for p in hub["containers"][0]["ports"]}
    assert traits["JupyterHub"]["hub_bind_url"] == f"http://0.0.0.0:{ports['hub']}"
    assert urlsplit(platform["url"]).port == ports["service"]
    proxy_pod = find(objects, "Deployment", "th-tenanthub-proxy")["spec"]["template"]["spec"]
    args = proxy_pod["containers"][0]["command"]
    assert f"--api-port={urlsplit(proxy['api_url']).port}" in args
    assert f"--default-target={traits['JupyterHub']['hub_connect_url']}" in args


@pytest.mark.parametrize(
    "sets", [("checkpointer.port=8085",), ("tenanthub.checkpoint.daemon_port=8085",)]
)
def test_hub_and_checkpointer_agree_on_the_node_endpoint_port(
    helm: Path, sets: tuple[str, ...]
) -> None:
    objects = render(helm, sets=sets)
    hub = yaml.safe_load(
        find(objects, "Secret", "th-tenanthub-hub-config")["stringData"]["tenanthub.yaml"]
    )
    node = yaml.safe_load(find(objects, "ConfigMap", "tenanthub-config")["data"]["tenanthub.yaml"])
    daemon = find(objects, "DaemonSet", "tenanthub-checkpointer")["spec"]["template"]["spec"]
    # the hub calls the pod's node address on checkpoint.port(); the daemon listens there
    for config in (hub, node):
        assert PlatformConfig.model_validate(config).checkpoint.daemon_port == 8085
    assert daemon["hostNetwork"] is True
    assert daemon["containers"][0]["ports"][0]["containerPort"] == 8085


def test_without_an_endpoint_port_the_checkpointer_stays_off_the_host_network(
    helm: Path,
) -> None:
    objects = render(helm)
    daemon = find(objects, "DaemonSet", "tenanthub-checkpointer")["spec"]["template"]["spec"]
    assert "hostNetwork" not in daemon
    hub = yaml.safe_load(
        find(objects, "Secret", "th-tenanthub-hub-config")["stringData"]["tenanthub.yaml"]
    )
    assert "daemon_port" not in (hub.get("checkpoint") or {})
