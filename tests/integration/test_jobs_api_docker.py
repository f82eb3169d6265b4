"""Jobs through the API on the Docker backend: the service checks the notebook in the
user's home volume (its mount point on this host), the run is a container of the
user's environment, and the output notebook is served from the volume."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.integration.hubrunner import Browser
from tests.integration.notebooks import write_notebook
from tests.integration.test_hub_docker import (  # noqa: F401 - fixtures
    docker,
    docker_config,
    engine,
    tenant,
)

pytestmark = [pytest.mark.integration, pytest.mark.docker_engine]


def home_volume(tenant_name: str, user: str) -> Path:
    """The user's home volume, made and owned by uid 1000 as a first spawn would leave it."""
    name = f"tenanthub-{tenant_name}-home-{user}"
    docker("volume", "create", "--label", f"tenanthub.io/tenant={tenant_name}", name)
    mountpoint = Path(docker("volume", "inspect", "-f", "{{.Mountpoint}}", name).stdout.strip())
    os.chown(mountpoint, 1000, 100)
    return mountpoint


def test_a_job_submitted_through_the_api_runs_in_a_container_with_the_users_home(
    hub_factory: Any,
    tenant: str,  # noqa: F811 - the fixture
) -> None:
    home = home_volume(tenant, "bob")
    notebook = write_notebook(home / "daily.ipynb", "city = 'none'", "print('daily for', city)")
    os.chown(notebook, 1000, 100)
    hub = hub_factory(config={**docker_config(tenant), "jobs": {"poll_every": 1}})
    hub.wait_for_service()
    bob = Browser(hub, "bob")
    assert bob.login().status_code == 302
    token = bob.api("POST", "users/bob/tokens", json={"note": "t"}).json()["token"]
    api = hub.url + f"services/tenanthub/api/v1/tenants/{tenant}/"
    headers = {"Authorization": f"token {token}"}

    missing = requests.post(api + "jobs", headers=headers, timeout=30,
                            json={"name": "x", "notebook": "nope.ipynb"})  # fmt: skip
    assert missing.status_code == 422
    assert "nope.ipynb does not exist in your home" in missing.json()["message"]
    wrong = requests.post(api + "jobs", headers=headers, timeout=30,
                          json={"name": "x", "notebook": "daily.ipynb",
                                "parameters": {"town": "x"}})  # fmt: skip
    assert wrong.status_code == 422 and "town not defined" in wrong.json()["message"]

    made = requests.post(api + "jobs", headers=headers, timeout=30,
                         json={"name": "daily", "notebook": "daily.ipynb",
                               "parameters": {"city": "Porto"}})  # fmt: skip
    assert made.status_code == 201, made.text
    run_id = made.json()["run"]["id"]
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        run = requests.get(api + f"runs/{run_id}", headers=headers, timeout=30).json()
        if run["finished_at"]:
            break
        time.sleep(1)
    assert run["state"] == "succeeded", run
    assert run["runner"] == "docker"
    output = requests.get(api + f"runs/{run_id}/output", headers=headers, timeout=30)
    assert output.status_code == 200, output.text
    texts = [
        "".join(o.get("text", ""))
        for cell in output.json()["notebook"]["cells"]
        for o in cell.get("outputs", [])
    ]
    assert "daily for Porto\n" in texts
    log = requests.get(api + f"runs/{run_id}/log", headers=headers, timeout=30).json()
    assert "daily for Porto" in log["log"]
