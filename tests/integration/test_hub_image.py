"""The platform's own image (``tenanthub/hub``, what the Helm chart runs): this checkout's
TenantHub with its dependencies, unprivileged, with the commands the chart's hub
Deployment and checkpointer DaemonSet start."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

import hub
from tests.conftest import need

pytestmark = [pytest.mark.integration, pytest.mark.docker_engine]
REPO = Path(__file__).resolve().parents[2]
IMAGE = f"tenanthub/hub:{hub.__version__}"


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["docker", "run", "--rm", "-i", "--network", "none", IMAGE, *args],
        input=stdin, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


@pytest.fixture(scope="module", autouse=True)
def image() -> None:
    probe = subprocess.run(["docker", "image", "inspect", IMAGE], capture_output=True, check=False)
    if probe.returncode != 0:
        need(f"{IMAGE} is missing: scripts/build-images.sh hub (make test builds it)")


def test_the_chart_uses_this_image_by_default() -> None:
    values = yaml.safe_load((REPO / "charts" / "tenanthub" / "values.yaml").read_text())
    hub_image = values["images"]["hub"]
    assert f"{hub_image['repository']}:{hub_image['tag']}" == IMAGE


def test_it_runs_unprivileged_with_this_checkouts_tenanthub() -> None:
    done = run("sh", "-c", "id -u; id -g; python3 -c 'import hub; print(hub.__version__)'")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["1000", "100", hub.__version__]
    imports = run("python3", "-c", "import hub.service, spawner.kubernetes.spawner, checkpointer, "
                  "kubespawner, docker, papermill, pyarrow, s3fs, cryptography")  # fmt: skip
    assert imports.returncode == 0, imports.stderr


def test_the_commands_of_the_chart_work() -> None:
    assert run("tenanthub", "--help").returncode == 0
    assert run("python3", "-m", "hub.chart", "--help").returncode == 0
    assert run("python3", "-m", "checkpointer", "manifests", "--help").returncode == 0
    config = yaml.safe_dump({"backend": {"kind": "kubernetes"}, "tenants": [{"name": "team-a"}]})
    checked = run("tenanthub", "config", "validate", "/dev/stdin", stdin=config)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    bad = run("tenanthub", "config", "validate", "/dev/stdin", stdin="tenants: [{name: Bad_Name}]")
    assert bad.returncode == 1 and "tenants[0].name" in bad.stdout + bad.stderr
