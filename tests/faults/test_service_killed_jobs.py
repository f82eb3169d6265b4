"""Fault: the platform service (API + job scheduler) is SIGKILLed while jobs are queued,
running, and a cron schedule fires every minute (local backend: runs are processes).

Must survive: JupyterHub starts its managed service again by itself (no hub restart);
the queued jobs run exactly once; the running job is re-attached and finishes succeeded
with its log (or is failed with the clear "lost" reason, never run a second time); no
cron slot fires twice (one run per slot in the database, one execution per run), and
the schedule keeps firing after the restart.
"""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
import sqlalchemy

from hub.service.jobs.model import LOST_REASON
from spawner.plan import local_paths
from tests.conftest import need
from tests.faults.support import report_recovery, service_pids, wait_for
from tests.integration.conftest import BASE_CONFIG, PASSWORDS, PROXY_MISSING
from tests.integration.hubrunner import Browser, RunningHub, write_hub
from tests.integration.notebooks import write_notebook

pytestmark = pytest.mark.integration

CONFIG: dict[str, Any] = {
    **BASE_CONFIG,
    "backend": {"kind": "local"},
    "jobs": {"poll_every": 1},
    "tenants": [
        # one run at a time in vision: while A runs, B and C wait in the queue
        {**BASE_CONFIG["tenants"][0], "quota": {"servers": 3, "running_jobs": 1}},
        BASE_CONFIG["tenants"][1],
    ],
}
TERMINAL = ("succeeded", "failed", "cancelled")


@dataclass
class Platform:
    hub: RunningHub
    tokens: dict[str, str]

    def api(self, user: str, method: str, path: str, **kw: Any) -> requests.Response:
        url = self.hub.url + "services/tenanthub/api/v1/" + path.lstrip("/")
        headers = {"Authorization": f"token {self.tokens[user]}"}
        return requests.request(method, url, headers=headers, timeout=30, **kw)

    def run(self, user: str, tenant: str, run_id: int) -> dict[str, Any] | None:
        try:
            answer = self.api(user, "GET", f"tenants/{tenant}/runs/{run_id}")
        except requests.RequestException:
            return None  # the service is down
        return dict(answer.json()) if answer.status_code == 200 else None


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[Platform]:
    if PROXY_MISSING:
        need(PROXY_MISSING)
    hub = write_hub(tmp_path / "hub", CONFIG, PASSWORDS)
    try:
        hub.start()
        hub.wait_for_service()
        tokens = {}
        for user in ("bob", "dan"):
            browser = Browser(hub, user)
            assert browser.login().status_code == 302
            made = browser.api("POST", f"users/{user}/tokens", json={"note": "fault suite"})
            assert made.status_code == 201, made.text
            tokens[user] = str(made.json()["token"])
        yield Platform(hub, tokens)
    finally:
        hub.shutdown()
        for pid in service_pids(hub):  # a service started after the hub was stopped
            os.kill(pid, signal.SIGKILL)


def notebook(home: Path) -> str:
    """A notebook that sleeps ``seconds``, then appends ``tag`` to the file ``marks``:
    one line per execution, whoever started it."""
    write_notebook(
        home / "fault.ipynb",
        "marks = ''\ntag = ''\nseconds = 0",
        "import time\ntime.sleep(seconds)",
        "with open(marks, 'a') as f:\n    f.write(tag + '\\n')\nprint(f'done {tag}')",
    )
    return "fault.ipynb"


def cron_runs(hub: RunningHub, job_id: int) -> list[tuple[Any, int, str]]:
    """(slot, attempt, state) of every run of the job, from the platform's database."""
    engine = sqlalchemy.create_engine(f"sqlite:///{hub.data_dir / 'tenanthub.sqlite'}")
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sqlalchemy.text(
                    "SELECT slot, attempt, state FROM th_job_runs WHERE job_id = :j ORDER BY id"
                ),
                {"j": job_id},
            ).all()
    finally:
        engine.dispose()
    return [(r[0], int(r[1]), str(r[2])) for r in rows]


def test_service_sigkilled_with_jobs_queued_and_running_runs_each_once(
    platform: Platform, tmp_path: Path
) -> None:
    hub = platform.hub
    marks = tmp_path / "marks"
    marks.mkdir()
    for user, tenant in (("bob", "vision"), ("dan", "nlp")):
        paths = local_paths(hub.data_dir, tenant, user)
        paths.home.mkdir(parents=True, exist_ok=True)
        paths.shared.mkdir(parents=True, exist_ok=True)
        nb = notebook(paths.home)

    # a schedule firing every minute; wait for its first slot, so the kill follows it
    made = platform.api("dan", "POST", "tenants/nlp/jobs", json={
        "name": "every-minute", "notebook": nb, "schedule": {"cron": "* * * * *"},
        "parameters": {"marks": str(marks / "cron"), "tag": "cron"},
    })  # fmt: skip
    assert made.status_code == 201, made.text
    cron_id = int(made.json()["job"]["id"])
    wait_for("the schedule's first slot", lambda: cron_runs(hub, cron_id), 75)

    # A runs (a while), B and C wait behind it (vision runs one job at a time)
    runs = {}
    for tag, seconds in (("A", 12), ("B", 0), ("C", 0)):
        made = platform.api("bob", "POST", "tenants/vision/jobs", json={
            "name": f"job-{tag}", "notebook": nb,
            "parameters": {"marks": str(marks / tag), "tag": tag, "seconds": seconds},
        })  # fmt: skip
        assert made.status_code == 201, made.text
        runs[tag] = int(made.json()["run"]["id"])

    def states() -> dict[str, str]:
        got = {t: platform.run("bob", "vision", r) or {} for t, r in runs.items()}
        return {t: str(g.get("state", "?")) for t, g in got.items()}

    wait_for(
        "A running, B and C queued",
        lambda: states() == {"A": "running", "B": "queued", "C": "queued"}, 60,
    )  # fmt: skip
    before = service_pids(hub)
    assert len(before) == 1, before
    os.kill(before[0], signal.SIGKILL)
    killed = time.monotonic()

    # JupyterHub notices its managed service died and starts it again (no hub restart)
    def back() -> bool:
        now = service_pids(hub)
        if not now or set(now) & set(before):
            return False
        try:
            return requests.get(hub.url + "services/tenanthub/health", timeout=5).ok
        except requests.RequestException:
            return False

    wait_for("the service started again by JupyterHub", back, 90, every=0.5)
    service_back = time.monotonic() - killed
    assert hub.proc is not None and hub.proc.poll() is None, "the hub itself went down"

    def settled() -> dict[str, dict[str, Any]] | None:
        got = {t: platform.run("bob", "vision", r) for t, r in runs.items()}
        if all(g and g["state"] in TERMINAL for g in got.values()):
            return {t: g for t, g in got.items() if g}
        return None

    ended = wait_for("A, B and C finished", settled, 120, every=0.5)
    jobs_settled = time.monotonic() - killed
    report_recovery("platform service SIGKILL: service back (JupyterHub restarts it)", service_back)
    report_recovery("platform service SIGKILL: running and queued jobs finished", jobs_settled)

    # queued jobs ran, once each
    for tag in ("B", "C"):
        assert ended[tag]["state"] == "succeeded", ended[tag]
        assert (marks / tag).read_text() == f"{tag}\n", f"{tag} ran more than once"
    # the running job was re-attached (its one execution finished, with its log), or
    # failed with the clear reason: never started a second time
    a = ended["A"]
    if a["state"] == "succeeded":
        assert (marks / "A").read_text() == "A\n"
        log = platform.api("bob", "GET", f"tenants/vision/runs/{runs['A']}/log").json()
        assert "done A" in log["log"], log
    else:
        assert a["state"] == "failed" and a["reason"] == LOST_REASON, a
        assert (marks / "A").read_text(errors="replace").count("A\n") <= 1
    print(f"\nrun A after the kill: {a['state']} {a['reason']!r}")

    # the schedule fires after the restart too, each slot once, each run executed once
    fired = len(cron_runs(hub, cron_id))
    wait_for(
        "a slot after the restart, finished",
        lambda: len(cron_runs(hub, cron_id)) > fired
        and all(state in TERMINAL for _, _, state in cron_runs(hub, cron_id)),
        90, every=1,
    )  # fmt: skip
    slots = cron_runs(hub, cron_id)
    firsts = Counter(slot for slot, attempt, _ in slots if attempt == 1)
    assert all(n == 1 for n in firsts.values()), f"a slot fired twice: {firsts}"
    succeeded = sum(1 for _, _, state in slots if state == "succeeded")
    assert succeeded == len(slots), slots
    assert (marks / "cron").read_text().count("cron\n") == succeeded, "a cron run ran twice"
    print(f"cron slots: {sorted(str(s) for s in firsts)}")
