"""The JupyterLab extension's server side (``jupyterlab_tenanthub``) against a real hub
and platform service: a real Jupyter server runs with the extension and exactly the
environment the spawner gives a notebook server (its API address, tenant and the
server's own hub token); the frontend's calls to ``/tenanthub/...`` reach the platform
API as the server's user: sources, connection test, paged listing, sample, schema, a
notebook's parameters cell, a job submitted with a parameter that runs; the platform's
refusals come back with their status and message; the token never shows in an answer
or the server's log; the handlers need the Jupyter server's own authentication (and
XSRF for a browser's POST)."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from spawner.plan import local_paths
from tests.conftest import need
from tests.integration.conftest import BASE_CONFIG, PASSWORDS, PROXY_MISSING
from tests.integration.hubrunner import (
    Browser,
    RunningHub,
    free_port,
    server_environment,
    write_hub,
)
from tests.integration.notebooks import write_notebook

pytestmark = pytest.mark.integration

CONFIG: dict[str, Any] = {
    **BASE_CONFIG,
    "backend": {"kind": "local"},
    "jobs": {"poll_every": 1},
    "datasets": {"page_size": 50},
}
PAGE_FILES = 7  # files in team/many, listed 3 per page


@dataclass
class Lab:
    """A real Jupyter server with the extension and a notebook server's environment."""

    hub: RunningHub
    url: str  # the Jupyter server's base URL, ending in /
    token: str  # the Jupyter server's own token (what the browser's login stands for)
    hub_token: str  # the notebook server's hub token the extension calls the platform with
    admin_token: str  # alice's (tenant admin) API token, to compare with the platform
    home: Path  # the Jupyter server's root: bob's home in the tenant
    log_path: Path
    bob: Browser

    def get(self, route: str, **params: Any) -> requests.Response:
        return requests.get(
            self.url + "tenanthub/" + route, params=params, timeout=60,
            headers={"Authorization": f"token {self.token}"},
        )  # fmt: skip

    def post(self, route: str, body: Any = None) -> requests.Response:
        return requests.post(
            self.url + "tenanthub/" + route, json=body, timeout=60,
            headers={"Authorization": f"token {self.token}"},
        )  # fmt: skip

    def patch(self, route: str, body: Any = None, **kw: Any) -> requests.Response:
        return requests.patch(
            self.url + "tenanthub/" + route, timeout=60,
            headers={"Authorization": f"token {self.token}"}, **({"json": body} | kw),
        )  # fmt: skip

    def platform(self, route: str, token: str | None = None, **params: Any) -> requests.Response:
        """The platform API itself, with the notebook server's token (or another)."""
        return requests.get(
            self.hub.url + "services/tenanthub/api/v1/" + route, params=params, timeout=60,
            headers={"Authorization": f"token {token or self.hub_token}"},
        )  # fmt: skip


def wait_http(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"jupyter server exited: {log.read_text()[-3000:]}")
        with contextlib.suppress(requests.RequestException):
            if requests.get(url + "api", timeout=2).status_code == 200:
                return
        time.sleep(0.3)
    raise AssertionError(f"jupyter server not up at {url}: {log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    if PROXY_MISSING:
        need(PROXY_MISSING)
    try:
        import jupyterlab_tenanthub  # noqa: F401
    except ImportError:
        need("jupyterlab_tenanthub is not installed (scripts/install-python.sh installs it)")
    root = tmp_path_factory.mktemp("labext")
    hub = write_hub(root / "hub", CONFIG, PASSWORDS)
    proc: subprocess.Popen[bytes] | None = None
    try:
        hub.start()
        hub.wait_for_service()
        # alice (vision's admin) registers a files source in the tenant's shared folder
        shared = local_paths(hub.data_dir, "vision", "-").shared
        team = shared / "team"
        (team / "many").mkdir(parents=True)
        (team / "cities.csv").write_text("city,people\nLyon,522\nOslo,709\n")
        for i in range(PAGE_FILES):
            (team / "many" / f"f{i}.csv").write_text("a\n1\n")
        alice = Browser(hub, "alice")
        assert alice.login().status_code == 302
        made = alice.api("POST", "users/alice/tokens", json={"note": "labext test"})
        admin_token = str(made.json()["token"])
        made = requests.post(
            hub.url + "services/tenanthub/api/v1/tenants/vision/datasets",
            headers={"Authorization": f"token {admin_token}"}, timeout=30,
            json={"name": "team", "kind": "files", "settings": {"root": str(team)}},
        )  # fmt: skip
        assert made.status_code == 201, made.text
        # bob's real notebook server gives the environment (its own hub token)
        bob = Browser(hub, "bob")
        assert bob.login().status_code == 302
        assert bob.spawn({"tenant": "vision", "profile-vision": "small"}).status_code == 200
        bob.wait_ready(timeout=120)
        served = server_environment(hub)
        home = local_paths(hub.data_dir, "vision", "bob").home
        # a plain Jupyter server with the extension, with the notebook server's platform env
        env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "TENANTHUB"))}
        for name in ("TENANTHUB_API_URL", "JUPYTERHUB_API_TOKEN", "TENANTHUB_TENANT"):
            env[name] = served[name]
        env["JUPYTER_CONFIG_DIR"] = str(root / "jupyter-config")
        env["JUPYTER_RUNTIME_DIR"] = str(root / "jupyter-runtime")
        port = free_port()
        token = secrets.token_hex(16)
        log_path = root / "jupyter-server.log"
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "jupyter_server", "--no-browser", "--allow-root",
                 "--ip=127.0.0.1", f"--port={port}", f"--ServerApp.root_dir={home}",
                 f"--IdentityProvider.token={token}", "--ServerApp.base_url=/lab-test/",
                 "--ServerApp.jpserver_extensions={'jupyterlab_tenanthub': True}",
                 "--ServerApp.log_level=DEBUG"],
                env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        url = f"http://127.0.0.1:{port}/lab-test/"
        wait_http(url, proc, log_path)
        yield Lab(hub, url, token, served["JUPYTERHUB_API_TOKEN"], admin_token, home,
                  log_path, bob)  # fmt: skip
    finally:
        if proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=20)
        hub.shutdown()


def test_sources_and_connection_test_come_from_the_platform_as_the_servers_user(
    lab: Lab,
) -> None:
    sources = lab.get("sources")
    assert sources.status_code == 200, sources.text
    assert sources.json() == lab.platform("tenants/vision/datasets").json()
    assert [s["name"] for s in sources.json()["items"]] == ["team"]
    health = lab.get("sources/team/test")
    assert health.status_code == 200, health.text
    assert health.json()["ok"] is True
    context = lab.get("context").json()
    assert context["tenant"] == "vision" and context["user"]["name"] == "bob"


def test_a_folder_is_listed_page_by_page_with_the_cursor(lab: Lab) -> None:
    names: list[str] = []
    cursor = None
    pages = 0
    while True:
        answer = lab.get("sources/team/list", path="many", limit=3, cursor=cursor)
        assert answer.status_code == 200, answer.text
        page = answer.json()
        assert len(page["entries"]) <= 3
        names += [e["name"] for e in page["entries"]]
        pages += 1
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert pages == 3
    assert sorted(names) == sorted(f"f{i}.csv" for i in range(PAGE_FILES))
    top = lab.get("sources/team/list").json()
    assert {(e["name"], e["kind"]) for e in top["entries"]} == {
        ("cities.csv", "file"), ("many", "folder")
    }  # fmt: skip


def test_sample_and_schema_of_a_file(lab: Lab) -> None:
    sample = lab.get("sources/team/sample", path="cities.csv", n=1)
    assert sample.status_code == 200, sample.text
    assert sample.json()["columns"] == ["city", "people"]
    assert sample.json()["rows"] == [["Lyon", 522]]
    schema = lab.get("sources/team/schema", path="cities.csv")
    assert schema.status_code == 200, schema.text
    assert [c["name"] for c in schema.json()["columns"]] == ["city", "people"]


def test_platform_refusals_keep_their_status_and_message(lab: Lab) -> None:
    for route, params in (
        ("sources/team/sample", {"path": "missing.csv"}),  # not found
        ("sources/team/list", {"path": "../../etc"}),  # out of the source
        ("sources/nothing/test", {}),  # no such source
    ):
        ours = lab.get(route, **params)
        theirs = lab.platform("tenants/vision/datasets/" + route.removeprefix("sources/"),
                              **params)  # fmt: skip
        assert ours.status_code == theirs.status_code >= 400, (route, ours.text)
        assert ours.json()["message"] == theirs.json()["message"], route
        assert ours.json()["status"] == theirs.status_code


def test_the_parameters_cell_is_read_as_papermill_reads_it(lab: Lab) -> None:
    write_notebook(lab.home / "reports" / "daily.ipynb",
                   "region = 'none'  # where\nrows: int = 1", "print(region)")  # fmt: skip
    answer = lab.get("parameters", path="reports/daily.ipynb")
    assert answer.status_code == 200, answer.text
    found = {p["name"]: p for p in answer.json()["parameters"]}
    assert list(found) == ["region", "rows"]
    assert found["region"]["default"] == "'none'" and found["region"]["help"] == "where"
    assert found["rows"]["type"] == "int"
    missing = lab.get("parameters", path="reports/nope.ipynb")
    assert missing.status_code == 404 and "nope.ipynb" in missing.json()["message"]


def test_a_job_submitted_with_a_parameter_runs_with_it(lab: Lab) -> None:
    write_notebook(
        lab.home / "reports" / "job.ipynb",
        "region = 'none'",
        "print(f'report for {region}')",
    )
    refused = lab.post("jobs", {"name": "bad", "notebook": "reports/job.ipynb",
                                "parameters": {"nope": 1}})  # fmt: skip
    assert refused.status_code == 422, refused.text
    assert "nope not defined in the notebook's parameters cell" in refused.json()["message"]
    made = lab.post("jobs", {"name": "report", "notebook": "reports/job.ipynb",
                             "parameters": {"region": "north"}})  # fmt: skip
    assert made.status_code == 201, made.text
    job, run = made.json()["job"], made.json()["run"]
    assert (job["owner"], job["tenant"], job["parameters"]) == ("bob", "vision",
                                                                {"region": "north"})  # fmt: skip
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        run = lab.get(f"runs/{run['id']}").json()
        if run["state"] in ("succeeded", "failed", "cancelled", "timed_out"):
            break
        time.sleep(0.5)
    assert run["state"] == "succeeded", run
    log = lab.get(f"runs/{run['id']}/log").json()
    assert "report for north" in log["log"]
    listed = lab.get("jobs").json()
    assert job["id"] in [j["id"] for j in listed["items"]]
    assert lab.get(f"jobs/{job['id']}").json()["name"] == "report"


def test_a_schedule_is_paused_and_resumed_through_the_extension(lab: Lab) -> None:
    """The Jobs panel's Disable/Enable: PATCH jobs/<id> relayed as the server's user; the
    platform's refusals (bad body, a one-off job) keep their status and message."""
    write_notebook(lab.home / "nightly.ipynb", "n = 0", "print(n)")
    made = lab.post("jobs", {"name": "nightly", "notebook": "nightly.ipynb",
                             "schedule": {"cron": "0 3 * * *"}})  # fmt: skip
    assert made.status_code == 201, made.text
    job_id = made.json()["job"]["id"]
    assert made.json()["job"]["paused"] is False
    paused = lab.patch(f"jobs/{job_id}", {"paused": True})
    assert paused.status_code == 200, paused.text
    assert (paused.json()["paused"], paused.json()["next_run_at"]) == (True, None)
    assert paused.json() == lab.platform(f"tenants/vision/jobs/{job_id}").json()
    listed = {j["id"]: j for j in lab.get("jobs").json()["items"]}
    assert listed[job_id]["paused"] is True
    for body in ({"paused": "no"}, {"paused": False, "cron": "* * * * *"}, {}):
        refused = lab.patch(f"jobs/{job_id}", body)
        assert refused.status_code == 422, refused.text
        theirs = requests.patch(
            lab.hub.url + f"services/tenanthub/api/v1/tenants/vision/jobs/{job_id}", json=body,
            headers={"Authorization": f"token {lab.hub_token}"}, timeout=60,
        )  # fmt: skip
        assert refused.json()["message"] == theirs.json()["message"]
    not_json = lab.patch(f"jobs/{job_id}", data="paused", json=None)
    assert not_json.status_code == 400
    assert lab.get(f"jobs/{job_id}").json()["paused"] is True  # nothing changed
    resumed = lab.patch(f"jobs/{job_id}", {"paused": False})
    assert resumed.status_code == 200, resumed.text
    assert resumed.json()["paused"] is False and resumed.json()["next_run_at"]
    once = lab.post("jobs", {"name": "once", "notebook": "nightly.ipynb"})
    assert once.status_code == 201, once.text
    refused = lab.patch(f"jobs/{once.json()['job']['id']}", {"paused": True})
    assert refused.status_code == 409, refused.text
    assert "no schedule to pause" in refused.json()["message"]
    anonymous = requests.patch(lab.url + f"tenanthub/jobs/{job_id}", json={"paused": True},
                               timeout=30)  # fmt: skip
    assert anonymous.status_code == 403
    assert lab.get(f"jobs/{job_id}").json()["paused"] is False
    lab.post(f"runs/{once.json()['run']['id']}/cancel")


def test_the_handlers_need_the_servers_own_authentication(lab: Lab) -> None:
    anonymous = requests.get(lab.url + "tenanthub/sources", timeout=30)
    assert anonymous.status_code == 403
    wrong = requests.get(lab.url + "tenanthub/sources", timeout=30,
                         headers={"Authorization": "token not-the-token"})  # fmt: skip
    assert wrong.status_code == 403
    # a browser (cookie login) must send the XSRF token with a POST
    session = requests.Session()
    session.get(lab.url + f"login?token={lab.token}", timeout=30)
    assert session.get(lab.url + "tenanthub/sources", timeout=30).status_code == 200
    no_xsrf = session.post(lab.url + "tenanthub/jobs", json={"name": "x"}, timeout=30)
    assert no_xsrf.status_code == 403
    xsrf = session.cookies.get("_xsrf") or ""
    with_xsrf = session.post(lab.url + "tenanthub/jobs", json={"name": "x"}, timeout=30,
                             headers={"X-XSRFToken": xsrf})  # fmt: skip
    assert with_xsrf.status_code == 422  # through to the platform, which names the field


def test_the_extension_answers_in_the_users_real_notebook_server(lab: Lab) -> None:
    """The spawned server (jupyterhub-singleuser from the same environment) has the
    extension enabled: through the hub's proxy, with the browser's login."""
    assert lab.bob.open_lab().status_code == 200
    answer = lab.bob.session.get(lab.bob.server_url() + "tenanthub/sources", timeout=60)
    assert answer.status_code == 200, answer.text
    assert [s["name"] for s in answer.json()["items"]] == ["team"]


def test_the_servers_hub_token_is_never_in_an_answer_or_the_log(lab: Lab) -> None:
    answers = [
        lab.get("sources"), lab.get("context"), lab.get("sources/team/sample", path="x.csv"),
        lab.post("jobs", {"name": "bad", "notebook": "/etc/passwd.ipynb"}),
    ]  # fmt: skip
    for answer in answers:
        assert lab.hub_token not in answer.text
    assert lab.hub_token not in lab.log_path.read_text()
    assert json.dumps(lab.hub_token)[1:-1] not in lab.log_path.read_text()
