"""Jobs through the platform API and the ``tenanthub job`` command, on a real hub whose
service runs the scheduler with the local runner: a submitted notebook runs with its
parameters, its log and output notebook are served; bad submissions (missing notebook,
``..``, a symbolic link out of the home, an unknown parameter, bad cron, a profile the
tenant does not offer, oversized parameters) are refused with the reason and queue
nothing; members see only their own jobs, the tenant's admins everyone's; cancel stops
a running run; the CLI submits, waits, lists, tails and cancels."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from spawner.plan import LocalPaths, local_paths
from tests.conftest import need
from tests.integration.conftest import BASE_CONFIG, PASSWORDS, PROXY_MISSING
from tests.integration.hubrunner import Browser, RunningHub, api_tokens, write_hub
from tests.integration.notebooks import outputs_text, write_notebook

pytestmark = pytest.mark.integration

TENANTHUB = Path(sys.executable).with_name("tenanthub")
USERS = ("alice", "bob", "erin", "dan")  # alice admins vision; bob, erin members; dan: nlp
CONFIG: dict[str, Any] = {
    **BASE_CONFIG,
    "backend": {"kind": "local"},
    # parameters above this are refused by the jobs' own limit, below the API's body limit
    "jobs": {"poll_every": 1, "max_parameters_bytes": 4096},
    "tenants": [
        {
            **BASE_CONFIG["tenants"][0],
            "members": [*BASE_CONFIG["tenants"][0]["members"], {"user": "erin"}],
        },
        BASE_CONFIG["tenants"][1],
    ],
}


@dataclass
class Platform:
    hub: RunningHub
    tokens: dict[str, str]
    cli_home: Path

    def api(self, user: str, method: str, path: str, **kw: Any) -> requests.Response:
        url = self.hub.url + "services/tenanthub/api/v1/" + path.lstrip("/")
        headers = {"Authorization": f"token {self.tokens[user]}"}
        return requests.request(method, url, headers=headers, timeout=60, **kw)

    def home(self, user: str, tenant: str = "vision") -> LocalPaths:
        paths = local_paths(self.hub.data_dir, tenant, user)
        paths.home.mkdir(parents=True, exist_ok=True)
        paths.shared.mkdir(parents=True, exist_ok=True)
        return paths

    def submit(self, user: str, body: dict[str, Any], tenant: str = "vision") -> requests.Response:
        return self.api(user, "POST", f"tenants/{tenant}/jobs", json=body)

    def wait_run(self, user: str, run_id: int, states: tuple[str, ...], limit: float = 120):
        return self.wait_run_in("vision", user, run_id, states, limit)

    def wait_run_in(
        self, tenant: str, user: str, run_id: int, states: tuple[str, ...], limit: float = 120
    ) -> Any:
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            run = self.api(user, "GET", f"tenants/{tenant}/runs/{run_id}").json()
            if run["state"] in states:
                return run
            time.sleep(0.3)
        raise AssertionError(f"run {run_id} not {states} within {limit} s: {run}")

    def cli(self, user: str, *args: str) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TENANTHUB_")}
        env.update(HOME=str(self.cli_home), TENANTHUB_URL=self.hub.url)
        env["TENANTHUB_TOKEN"] = self.tokens[user]
        done = subprocess.run(
            [str(TENANTHUB), *args], env=env, capture_output=True, text=True, timeout=180,
            check=False,
        )  # fmt: skip
        for token in self.tokens.values():
            assert token not in done.stdout + done.stderr, "a token was printed"
        return done


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    if PROXY_MISSING:
        need(PROXY_MISSING)
    root = tmp_path_factory.mktemp("jobs-api")
    passwords = {**PASSWORDS, "erin": "erin-password-1"}
    hub = write_hub(root / "hub", CONFIG, passwords)
    try:
        hub.start()
        hub.wait_for_service()
        tokens = api_tokens(hub, USERS, "jobs test")
        (root / "cli-home").mkdir()
        yield Platform(hub, tokens, root / "cli-home")
    finally:
        hub.shutdown()


def job_count(platform: Platform, user: str = "alice") -> int:
    return int(platform.api(user, "GET", "tenants/vision/jobs").json()["total"])


def test_a_submitted_notebook_runs_with_its_parameters_and_serves_log_and_output(
    platform: Platform,
) -> None:
    bob = platform.home("bob")
    write_notebook(
        bob.home / "reports" / "daily.ipynb",
        "region = 'none'\nrows = 1",
        "print(f'report for {region}: {rows * 10} rows')",
    )
    made = platform.submit(
        "bob",
        {"name": "daily", "notebook": "reports/daily.ipynb",
         "parameters": {"region": "north", "rows": 7}},
    )  # fmt: skip
    assert made.status_code == 201, made.text
    job, run = made.json()["job"], made.json()["run"]
    assert (job["owner"], job["tenant"], job["profile"]) == ("bob", "vision", "small")
    assert run["state"] == "queued"
    run = platform.wait_run("bob", run["id"], ("succeeded", "failed"))
    assert run["state"] == "succeeded", run["reason"]
    assert run["runner"] == "local"
    log = platform.api("bob", "GET", f"tenants/vision/runs/{run['id']}/log").json()
    assert log["live"] is False and "report for north: 70 rows" in log["log"]
    output = platform.api("bob", "GET", f"tenants/vision/runs/{run['id']}/output")
    assert output.status_code == 200, output.text
    assert output.json()["path"] == f".tenanthub/jobs/{job['id']}/{run['id']}/output.ipynb"
    cells = output.json()["notebook"]["cells"]
    assert any("report for north: 70 rows" in "".join(o.get("text", "")) for c in cells
               for o in c.get("outputs", []))  # fmt: skip
    on_disk = bob.home.joinpath(*run["output"].split("/"))
    assert "report for north" in outputs_text(on_disk)

    # bob's own and his tenant admin see it; another member and another tenant do not
    assert platform.api("alice", "GET", f"tenants/vision/jobs/{job['id']}").status_code == 200
    assert platform.api("erin", "GET", f"tenants/vision/jobs/{job['id']}").status_code == 404
    assert platform.api("erin", "GET", f"tenants/vision/runs/{run['id']}/output").status_code == 404
    erin_runs = platform.api("erin", "GET", "tenants/vision/runs").json()["items"]
    assert run["id"] not in [r["id"] for r in erin_runs]
    assert platform.api("dan", "GET", f"tenants/vision/jobs/{job['id']}").status_code == 404
    assert platform.api("dan", "GET", f"tenants/nlp/jobs/{job['id']}").status_code == 404
    mine = platform.api("erin", "GET", "tenants/vision/jobs", params={"owner": "bob"})
    assert mine.status_code == 403
    everyone = platform.api("alice", "GET", "tenants/vision/runs", params={"owner": "bob"})
    assert run["id"] in [r["id"] for r in everyone.json()["items"]]


BAD = [
    ({"notebook": "missing.ipynb"}, "notebook: missing.ipynb does not exist in your home"),
    ({"notebook": "../alice/secret.ipynb"}, "'..' is not allowed"),
    ({"notebook": "/etc/passwd.ipynb"}, "not an absolute path"),
    ({"notebook": "escape.ipynb"}, "leads outside your home"),
    ({"notebook": "ok.ipynb", "parameters": {"nope": 1}}, "parameters: nope not defined"),
    ({"notebook": "ok.ipynb", "schedule": {"cron": "61 * * * *"}}, "schedule"),
    ({"notebook": "ok.ipynb", "schedule": {"cron": "0 6 * * *", "timezone": "Mars/Base"}},
     "Mars/Base"),
    ({"notebook": "ok.ipynb", "profile": "gpu-huge"}, "profile: 'gpu-huge' is not offered"),
    ({"notebook": "ok.ipynb", "parameters": {"x": "y" * 5000}},
     "over this platform's limit of 4096 (jobs.max_parameters_bytes)"),
    ({"notebook": "ok.ipynb", "timeout": 0}, "timeout"),
    ({"notebook": "ok.ipynb", "surprise": True}, "surprise"),
    ({"notebook": "notes.txt"}, "runs a .ipynb file"),
]  # fmt: skip


@pytest.mark.parametrize(("body", "message"), BAD, ids=[m for _, m in BAD])
def test_a_bad_submission_is_refused_with_the_reason_and_queues_nothing(
    platform: Platform, tmp_path: Path, body: dict[str, Any], message: str
) -> None:
    bob = platform.home("bob")
    write_notebook(bob.home / "ok.ipynb", "x = 1", "print(x)")
    outside = write_notebook(tmp_path / "outside.ipynb", "x = 1", "print(x)")
    if not (bob.home / "escape.ipynb").is_symlink():
        (bob.home / "escape.ipynb").symlink_to(outside)
    before = job_count(platform)
    answer = platform.submit("bob", {"name": "bad", **body})
    assert answer.status_code == 422, answer.text
    assert message in answer.json()["message"], answer.json()["message"]
    assert job_count(platform) == before


def test_a_profile_the_tenant_does_not_offer_is_refused(platform: Platform) -> None:
    dan = platform.home("dan", "nlp")
    write_notebook(dan.home / "ok.ipynb", "x = 1", "print(x)")
    answer = platform.submit(
        "dan", {"name": "big", "notebook": "ok.ipynb", "profile": "big"}, "nlp"
    )
    assert answer.status_code == 422
    assert "'big' is not offered in 'nlp' (small)" in answer.json()["message"]


def test_cancel_stops_a_running_run_and_a_cancelled_schedule_fires_no_more(
    platform: Platform,
) -> None:
    erin = platform.home("erin")
    write_notebook(erin.home / "slow.ipynb", "x = 1", "import time\ntime.sleep(600)")
    made = platform.submit("erin", {"name": "slow", "notebook": "slow.ipynb"}).json()
    run = platform.wait_run("erin", made["run"]["id"], ("running",))
    # bob (another member) may not cancel it; erin may
    other = platform.api("bob", "POST", f"tenants/vision/runs/{run['id']}/cancel")
    assert other.status_code == 404
    asked = platform.api("erin", "POST", f"tenants/vision/runs/{run['id']}/cancel")
    assert asked.status_code == 200 and asked.json()["cancel_requested"] is True
    run = platform.wait_run("erin", run["id"], ("cancelled", "failed", "succeeded"), limit=30)
    assert run["state"] == "cancelled" and run["reason"] == "cancelled by erin"
    again = platform.api("erin", "POST", f"tenants/vision/runs/{run['id']}/cancel")
    assert again.status_code == 409 and "cancelled already" in again.json()["message"]

    scheduled = platform.submit(
        "erin", {"name": "nightly", "notebook": "slow.ipynb",
                 "schedule": {"cron": "0 3 * * *", "timezone": "Europe/Berlin"}},
    )  # fmt: skip
    assert scheduled.status_code == 201, scheduled.text
    job = scheduled.json()["job"]
    assert scheduled.json()["run"] is None and job["next_run_at"]
    gone = platform.api("alice", "DELETE", f"tenants/vision/jobs/{job['id']}")  # her admin
    assert gone.status_code == 200
    assert gone.json()["cancelled_by"] == "alice" and gone.json()["next_run_at"] is None
    refused = platform.api("erin", "POST", f"tenants/vision/jobs/{job['id']}/runs")
    assert refused.status_code == 409 and "was cancelled" in refused.json()["message"]


def test_a_job_keeps_running_when_its_owners_server_is_stopped(platform: Platform) -> None:
    erin = platform.home("erin")
    write_notebook(
        erin.home / "after-stop.ipynb",
        "marker = 'release'",
        "import os, time\nwhile not os.path.exists(marker): time.sleep(0.1)\nprint('outlived')",
    )
    browser = Browser(platform.hub, "erin")
    assert browser.login(password="erin-password-1").status_code == 302
    assert browser.spawn({"tenant": "vision", "profile-vision": "small"}).status_code == 200
    browser.wait_ready(timeout=120)
    made = platform.submit("erin", {"name": "outlive", "notebook": "after-stop.ipynb"})
    run = platform.wait_run("erin", made.json()["run"]["id"], ("running",))
    assert browser.api("DELETE", "users/erin/server").status_code in (202, 204)
    browser.wait_stopped(timeout=60)
    time.sleep(2)  # a run killed with the server would be seen failed within a tick
    assert platform.api("erin", "GET", f"tenants/vision/runs/{run['id']}").json()["state"] == (
        "running"
    )
    (erin.home / "release").touch()
    run = platform.wait_run("erin", run["id"], ("succeeded", "failed", "cancelled"))
    assert run["state"] == "succeeded", run["reason"]
    log = platform.api("erin", "GET", f"tenants/vision/runs/{run['id']}/log").json()["log"]
    assert "outlived" in log


def test_the_cli_submits_waits_lists_tails_and_cancels(platform: Platform) -> None:
    bob = platform.home("bob")
    write_notebook(bob.home / "cli.ipynb", "n = 1\nname = 'x'", "print('cli says', n + 1, name)")
    done = platform.cli("bob", "job", "submit", "vision", "cli.ipynb", "-p", "n", "41",
                        "-p", "name", "north", "--wait")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "run" in done.stderr and "succeeded" in done.stderr
    first_line = done.stdout.splitlines()[0]
    assert first_line.startswith("job ") and "submitted: run" in first_line
    run_id = first_line.split("run ")[1].split()[0]
    logs = platform.cli("bob", "job", "logs", "vision", run_id)
    assert logs.returncode == 0 and "cli says 42 north" in logs.stdout

    listed = platform.cli("bob", "job", "list", "vision", "--json")
    assert listed.returncode == 0
    assert int(run_id) in [r["id"] for r in json.loads(listed.stdout)]
    table = platform.cli("bob", "job", "list", "vision")
    assert table.stdout.splitlines()[0].split()[:4] == ["RUN", "JOB", "OWNER", "STATE"]

    bad = platform.cli("bob", "job", "submit", "vision", "cli.ipynb", "-p", "missing", "1")
    assert bad.returncode == 1 and bad.stdout == ""
    assert "parameters: missing not defined in the notebook's parameters cell" in bad.stderr

    write_notebook(bob.home / "long.ipynb", "x = 1", "import time\ntime.sleep(600)")
    started = platform.cli("bob", "job", "submit", "vision", "long.ipynb", "--json")
    long_run = json.loads(started.stdout)["run"]["id"]
    platform.wait_run("bob", long_run, ("running",))
    cancelled = platform.cli("bob", "job", "cancel", "vision", str(long_run))
    assert cancelled.returncode == 0 and f"run {long_run}" in cancelled.stdout
    final = platform.wait_run("bob", long_run, ("cancelled",), limit=30)
    assert final["reason"] == "cancelled by bob"
    schedules = platform.cli("bob", "job", "list", "vision", "--schedules")
    assert "long.ipynb" in schedules.stdout and "once" in schedules.stdout
