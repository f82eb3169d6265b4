"""The served OpenAPI document, checked by schemathesis against the real service.

schemathesis reads ``/services/tenanthub/api/v1/openapi.json`` from a running
hub + service (the document is public), generates requests from it and sends them
as a platform admin (who passes every permission, so the operations themselves
run). Its coverage phase sends the boundary cases of each schema (missing body,
missing required fields, min/max of limit and offset, wrong types), its fuzzing
phase random valid and invalid ones. Every answer must be documented: no 5xx, a
status code the document lists for the operation, the documented content type,
a JSON body matching the documented schema; and a request the schema calls
invalid must be refused (``negative_data_rejection``).

Not checked: ``positive_data_acceptance`` (a schema-valid request must get a 2xx).
Some refusals are rules no JSON Schema states -- a delete's ``confirm`` must repeat
the tenant's name, an empty profile list would lock everyone out, a member or a
running server must exist -- so a schema-valid request may rightly get a 404/409/422.

Destructive operations run against a throwaway tenant: the path parameter
``tenant`` is pinned to ``sandbox``, created for this module, so DELETE/PUT/PATCH
act on it (a DELETE is refused unless ``confirm`` repeats its name), never on a
tenant another check reads. Bounded: 10 fuzzed examples per operation, a fixed
seed (a run is repeatable), one worker.

It runs the ``schemathesis`` command rather than its pytest plugin: the plugin's
fixture-based loader (``schemathesis.pytest.from_fixture``) fails under pytest 9
(it reads ``Function._nodeid``, which pytest 9 removed), and the command runs
the coverage phase, which found the missing-body case the fuzzing alone did not.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from hub.service.api.routes import ROUTES
from tests.conftest import need
from tests.integration.conftest import BASE_CONFIG, PASSWORDS, PROXY_MISSING
from tests.integration.hubrunner import Browser, RunningHub, write_hub

pytestmark = pytest.mark.integration

API = "services/tenanthub/api/v1"
SANDBOX = "sandbox"
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
CONFIG: dict[str, Any] = {**BASE_CONFIG, "backend": {"kind": "local"}}
CHECKS = [
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
]
#: the token reaches schemathesis through the environment, never its command line
SCHEMATHESIS_TOML = f"""\
headers = {{ Authorization = "token ${{TENANTHUB_SCHEMA_TOKEN}}" }}

[parameters]
"path.tenant" = "{SANDBOX}"
"""


@dataclass
class SchemaHub:
    hub: RunningHub
    token: str

    @property
    def base_url(self) -> str:
        return self.hub.url + API

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"token {self.token}"}


@pytest.fixture(scope="module")
def schema_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SchemaHub]:
    if PROXY_MISSING:
        need(PROXY_MISSING)
    if not SCHEMATHESIS.exists():
        need(f"schemathesis is not installed next to {sys.executable} (pip install -e .[dev])")
    hub = write_hub(tmp_path_factory.mktemp("schema"), CONFIG, PASSWORDS)
    try:
        hub.start()
        hub.wait_for_service()
        browser = Browser(hub, "admin")
        assert browser.login().status_code == 302
        made = browser.api("POST", "users/admin/tokens", json={"note": "schema test"})
        assert made.status_code == 201, made.text
        running = SchemaHub(hub, str(made.json()["token"]))
        created = requests.post(
            f"{running.base_url}/tenants",
            json={"name": SANDBOX},
            headers=running.headers(),
            timeout=30,
        )
        assert created.status_code == 201, created.text
        yield running
    finally:
        hub.shutdown()


def test_served_api_matches_its_openapi_document(schema_hub: SchemaHub, tmp_path: Path) -> None:
    config = tmp_path / "schemathesis.toml"
    config.write_text(SCHEMATHESIS_TOML)
    report = tmp_path / "report.json"
    command = [
        str(SCHEMATHESIS),
        "--config-file",
        str(config),
        "run",
        f"{schema_hub.base_url}/openapi.json",
        "--phases",
        "examples,coverage,fuzzing",
        "--checks",
        ",".join(CHECKS),
        "--max-examples",
        "10",
        "--seed",
        "1",
        "--workers",
        "1",
        "--request-timeout",
        "30",
        "--no-color",
        "--report",
        "json",
        "--report-json-path",
        str(report),
    ]
    env = {**os.environ, "TENANTHUB_SCHEMA_TOKEN": schema_hub.token}
    result = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=420, check=False
    )
    output = result.stdout + result.stderr
    assert schema_hub.token not in output
    assert result.returncode == 0, output[-12000:]
    summary = json.loads(report.read_text())
    assert summary["complete"] and not summary["errors"], output[-3000:]
    assert summary["operations"]["tested"] == len(ROUTES)
    labels = {tuple(label.split(" ", 1)) for label in summary["valid_rates"]}
    assert labels == {(r.method, r.path) for r in ROUTES}, output[-3000:]
