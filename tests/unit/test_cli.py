"""The tenanthub command, run as a user runs it (a real subprocess)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = Path(sys.executable).parent / "tenanthub"
COMMAND = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "hub.cli"]

BAD = """\
hub: {data_dir: state, port: 0}
tenants:
  - name: Vision
    quota: {cpu: abc, memory: 4Gb}
  - name: nlp
    quotas: {}
"""


def tenanthub(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*COMMAND, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )


def test_config_validate_accepts_the_demo_config(tmp_path: Path) -> None:
    result = tenanthub("config", "validate", str(REPO / "examples" / "demo.yaml"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "valid (2 tenant(s), 3 profile(s)" in result.stdout
    assert result.stderr == ""


def test_config_validate_prints_every_problem_with_its_key_path(tmp_path: Path) -> None:
    path = tmp_path / "tenanthub.yaml"
    path.write_text(BAD)
    result = tenanthub("config", "validate", str(path), cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[0] == f"{path}: invalid, 5 problem(s):"
    paths = {line.strip().split(":", 1)[0] for line in lines[1:]}
    assert paths == {
        "hub.port",
        "tenants[0].name",
        "tenants[0].quota.cpu",
        "tenants[0].quota.memory",
        "tenants[1].quotas",
    }


def test_config_validate_reports_a_yaml_error_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "tenanthub.yaml"
    path.write_text("hub:\n  port: [8000\n")
    result = tenanthub("config", "validate", str(path), cwd=tmp_path)
    assert result.returncode == 1
    assert "line 3, column 1: invalid YAML" in result.stderr


def _objects(node: Any) -> list[dict[str, Any]]:
    """Every JSON-schema object with properties, anywhere in the schema."""
    found = []
    if isinstance(node, dict):
        if "properties" in node:
            found.append(node)
        for value in node.values():
            found.extend(_objects(value))
    elif isinstance(node, list):
        for value in node:
            found.extend(_objects(value))
    return found


def test_config_schema_is_json_schema_forbidding_unknown_keys(tmp_path: Path) -> None:
    result = tenanthub("config", "schema", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    schema = json.loads(result.stdout)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert set(schema["properties"]) == {
        "hub",
        "auth",
        "backend",
        "profiles",
        "tenants",
        "culling",
        "service",
        "pip",
        "checkpoint",
        "datasets",
        "jobs",
        "logging",
    }
    sections = _objects(schema)
    assert len(sections) >= 15  # root + every nested section
    assert all(section.get("additionalProperties") is False for section in sections)
    assert {"Tenant", "Profile", "Quota", "HubSettings"} <= set(schema["$defs"])
    assert schema["$defs"]["HubSettings"]["properties"]["data_dir"]["description"]


def _assert_nothing_started(
    tmp_path: Path, config: Path, result: subprocess.CompletedProcess[str], elapsed: float
) -> None:
    assert result.returncode != 0
    assert elapsed < 20, f"a refused start took {elapsed:.1f} s"
    # nothing was created: no data dir, no pid files, no database, no proxy token
    assert sorted(p.name for p in tmp_path.iterdir()) == [config.name]


def test_run_with_a_bad_config_exits_without_starting_anything(tmp_path: Path) -> None:
    config = tmp_path / "tenanthub.yaml"
    config.write_text(BAD)
    started = time.monotonic()
    result = tenanthub("run", str(config), cwd=tmp_path)
    _assert_nothing_started(tmp_path, config, result, time.monotonic() - started)
    assert result.returncode == 1
    assert "tenants[0].quota.cpu" in result.stderr
    assert result.stdout == ""


def test_run_with_an_unavailable_backend_exits_without_starting_anything(tmp_path: Path) -> None:
    config = tmp_path / "tenanthub.yaml"
    config.write_text("hub: {data_dir: state}\nbackend: {kind: kubernetes}\n")
    cluster_vars = ("KUBECONFIG", "KUBERNETES_SERVICE_HOST")
    env = {k: v for k, v in os.environ.items() if k not in cluster_vars}
    env["HOME"] = str(tmp_path)  # no ~/.kube/config either
    started = time.monotonic()
    result = tenanthub("run", str(config), cwd=tmp_path, env=env)
    _assert_nothing_started(tmp_path, config, result, time.monotonic() - started)
    assert "cannot start" in result.stderr and "no cluster credentials" in result.stderr


@pytest.mark.parametrize("args", [(), ("config",), ("config", "validate")])
def test_incomplete_commands_exit_with_usage(tmp_path: Path, args: tuple[str, ...]) -> None:
    result = tenanthub(*args, cwd=tmp_path)
    assert result.returncode == 2
    assert "usage: tenanthub" in result.stderr
