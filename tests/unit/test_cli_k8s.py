"""`tenanthub k8s manifests`, run as a platform admin runs it (a real subprocess)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from spawner.kubernetes.pss import restricted_violations

SCRIPT = Path(sys.executable).parent / "tenanthub"
COMMAND = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "hub.cli"]

CONFIG = """\
backend:
  kubernetes:
    namespace_prefix: team-
    host_network: true
profiles:
  - name: small
    cpu: {guarantee: 500m, limit: 1}
    memory: {limit: 2Gi}
    default: true
  - name: gpu
    image: tenanthub/notebook-gpu:latest
    gpu: 1
    tolerations: [{key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}]
tenants:
  - name: vision
    quota: {cpu: 8, memory: 32Gi, gpu: 2, servers: 4, running_jobs: 2}
    members: [{user: carol, role: admin}, {user: alice}]
    storage: {size: 100Gi, nfs: {server: nfs.example.org, path: /exports/vision}}
  - name: nlp
    profiles: [small]
"""


def tenanthub(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*COMMAND, *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "tenanthub.yaml"
    path.write_text(CONFIG)
    return path


def _docs(stdout: str) -> list[dict[str, Any]]:
    assert stdout.startswith("---")
    return [doc for doc in yaml.safe_load_all(stdout) if doc is not None]


def _ids(docs: list[dict[str, Any]]) -> list[str]:
    return [
        "/".join(filter(None, (d["kind"], d["metadata"].get("namespace"), d["metadata"]["name"])))
        for d in docs
    ]


def test_prints_every_tenants_objects_as_multi_document_yaml(config: Path) -> None:
    result = tenanthub("k8s", "manifests", "--config", str(config), cwd=config.parent)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    docs = _docs(result.stdout)
    assert _ids(docs) == [
        "Namespace/team-vision",
        "ResourceQuota/team-vision/tenanthub-quota",
        "LimitRange/team-vision/tenanthub-defaults",
        "NetworkPolicy/team-vision/tenanthub-default-deny",
        "NetworkPolicy/team-vision/tenanthub-allow-hub",
        "NetworkPolicy/team-vision/tenanthub-allow-egress",
        "ServiceAccount/team-vision/notebook",
        "Role/team-vision/tenanthub-tenant-admin-readonly",
        "RoleBinding/team-vision/tenanthub-tenant-admin-readonly",
        "PersistentVolume/tenanthub-team-vision",
        "PersistentVolumeClaim/team-vision/tenanthub-data",
        "Namespace/team-nlp",
        "ResourceQuota/team-nlp/tenanthub-quota",
        "LimitRange/team-nlp/tenanthub-defaults",
        "NetworkPolicy/team-nlp/tenanthub-default-deny",
        "NetworkPolicy/team-nlp/tenanthub-allow-hub",
        "NetworkPolicy/team-nlp/tenanthub-allow-egress",
        "ServiceAccount/team-nlp/notebook",
        "PersistentVolumeClaim/team-nlp/tenanthub-data",
    ]
    binding = docs[8]
    assert [s["name"] for s in binding["subjects"]] == ["carol"]  # admins only
    version = kubernetes_validate.latest_version()
    for doc in docs:
        kubernetes_validate.validate(doc, version, strict=True)


def test_one_tenant_with_a_users_pod(config: Path) -> None:
    result = tenanthub(
        "k8s",
        "manifests",
        "--config",
        str(config),
        "--tenant",
        "vision",
        "--user",
        "Alice.Smith",
        "--profile",
        "gpu",
        cwd=config.parent,
    )
    assert result.returncode == 0, result.stderr
    docs = _docs(result.stdout)
    assert {d["metadata"].get("namespace") for d in docs} == {None, "team-vision"}
    pod = docs[-1]
    assert _ids([pod]) == ["Pod/team-vision/jupyter--41lice-2e-53mith"]
    container = pod["spec"]["containers"][0]
    assert container["args"] == ["jupyterhub-singleuser"]
    assert container["ports"][0]["containerPort"] == 8888
    assert container["env"] == [
        {"name": "TENANTHUB_PROFILE", "value": "gpu"},
        {"name": "TENANTHUB_TENANT", "value": "vision"},
    ]
    assert container["resources"] == {"limits": {"nvidia.com/gpu": "1"}}
    assert pod["spec"]["hostNetwork"] is True
    assert restricted_violations(pod) == [
        "spec.hostNetwork: must be false or unset (shares the node's namespace)"
    ]
    assert "JUPYTERHUB_API_TOKEN" not in result.stdout and "JPY_API_TOKEN" not in result.stdout


def test_named_server_pod(config: Path) -> None:
    result = tenanthub(
        "k8s",
        "manifests",
        *("--config", str(config), "--tenant", "nlp", "--user", "bob", "--profile", "small"),
        *("--server", "nlp"),
        cwd=config.parent,
    )
    assert result.returncode == 0, result.stderr
    assert _docs(result.stdout)[-1]["metadata"]["name"] == "jupyter-bob--nlp"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("--tenant", "robotics"),
            "error: unknown tenant 'robotics' (tenants in {config}: vision, nlp)\n",
        ),
        (
            ("--tenant", "vision", "--user", "bob", "--profile", "huge"),
            "error: unknown profile 'huge' (profiles: small, gpu)\n",
        ),
        (
            ("--tenant", "nlp", "--user", "bob", "--profile", "gpu"),
            "error: profile 'gpu' is not offered in tenant 'nlp' (not allowed there, or larger "
            "than its quota); offered: small\n",
        ),
        (
            ("--tenant", "nlp", "--user", "", "--profile", "small"),
            "error: '' is not a valid user name\n",
        ),
    ],
)
def test_unknown_or_disallowed_names_are_errors(
    config: Path, args: tuple[str, ...], message: str
) -> None:
    result = tenanthub("k8s", "manifests", "--config", str(config), *args, cwd=config.parent)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == message.format(config=config)


def test_an_invalid_config_is_reported_with_key_paths(tmp_path: Path) -> None:
    path = tmp_path / "tenanthub.yaml"
    path.write_text("tenants:\n  - name: Vision\n    quota: {cpu: lots}\n")
    result = tenanthub("k8s", "manifests", "--config", str(path), cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.splitlines()[0] == f"{path}: invalid, 2 problem(s):"
    assert "tenants[0].quota.cpu" in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ("--user", "bob", "--profile", "small"),
        ("--tenant", "vision", "--user", "bob"),
        ("--tenant", "vision", "--profile", "small"),
    ],
)
def test_user_and_profile_need_each_other_and_a_tenant(config: Path, args: tuple[str, ...]) -> None:
    result = tenanthub("k8s", "manifests", "--config", str(config), *args, cwd=config.parent)
    assert result.returncode == 2
    assert "--user and --profile go together, and need --tenant" in result.stderr
    assert result.stdout == ""


def test_help_says_the_database_is_the_runtime_truth(tmp_path: Path) -> None:
    result = tenanthub("k8s", "manifests", "--help", cwd=tmp_path)
    assert result.returncode == 0
    text = " ".join(result.stdout.split())
    assert "the platform database is the runtime truth" in text
    assert "reconciles each namespace from the database" in text
