"""Concurrency correctness of quotas: a burst of requests never gets past a quota.

* Servers: 100 spawn requests at once (100 members of one tenant, one server each, as
  the ``servers`` quota counts them) against a tenant whose quota is 10 servers start
  exactly 10; the other 90 get the quota refusal; the hub's database and the platform's
  usage agree (10 running); stopping one lets exactly one of another burst start, and
  after a hub restart (the ledger rebuilt from the database) one free place takes exactly
  one of a burst. The
  hub is real (``tenanthub run``, real proxy, real REST API) on the local backend, with
  the real ``TenantLocalSpawner``: admission, the quota pre-check against the hub's
  ledger, launch of a process and readiness all run as in production. Only the
  server's command is a trivial long-running HTTP process (``tiny_server.py``) in place
  of a Jupyter server: the quota check happens before the backend launches anything, so
  what the server is does not matter to it, and 10 of them start in a moment.
* Job runs: runs submitted at once against a tenant whose ``running_jobs`` is k, with
  two scheduler processes on the same database, each running its real loop: never more
  than k runs of the tenant are active in the database (sampled while they run), and
  never more than k run processes overlap in time (each process records its own start
  and end).

Both on SQLite and on PostgreSQL (the hub's and the platform's database).
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests
import sqlalchemy
from sqlalchemy import Engine

from hub.service.jobs.model import JobSpec
from hub.service.jobs.store import JobStore
from hub.tenancy import db
from hub.tenancy.quota import QuotaLimits
from hub.tenancy.seed import TenantSpec
from hub.tenancy.store import TenantStore
from tests.integration.hubrunner import Browser, RunningHub

pytestmark = pytest.mark.integration

HERE = Path(__file__).resolve().parent
USERS = [f"u{i:03d}" for i in range(100)]
QUOTA = 10

SPAWN_CONFIG: dict[str, Any] = {
    "auth": {"admin_users": ["admin"]},
    "profiles": [
        {"name": "small", "cpu": {"limit": "1"}, "memory": {"limit": "1Gi"}, "default": True},
    ],
    "tenants": [
        {
            "name": "crowd",
            "quota": {"servers": QUOTA},
            "members": [{"user": u} for u in USERS],
        },
    ],
    "backend": {
        "kind": "local",
        "local": {"cmd": [sys.executable, str(HERE / "tiny_server.py")], "start_timeout": 60},
    },
    "culling": {"enabled": False},
    "checkpoint": {"run_daemon": False},
}


def admin_token(hub: RunningHub) -> str:
    admin = Browser(hub, "admin")
    assert admin.login().status_code == 302
    made = admin.api("POST", "users/admin/tokens", json={"note": "quota races"})
    assert made.status_code == 201, made.text
    return str(made.json()["token"])


def hub_api(hub: RunningHub, token: str) -> requests.Session:
    session = requests.Session()
    session.headers["Authorization"] = f"token {token}"
    adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=128)
    session.mount("http://", adapter)
    return session


def burst(hub: RunningHub, token: str, users: list[str]) -> dict[str, requests.Response]:
    """One spawn request per user, all sent at the same moment (a barrier releases them)."""
    gate = threading.Barrier(len(users), timeout=60)

    def spawn(user: str) -> requests.Response:
        session = hub_api(hub, token)
        gate.wait()
        return session.post(
            f"{hub.url}hub/api/users/{user}/server",
            json={"tenant": "crowd", "profile": "small"},
            timeout=120,
        )

    with ThreadPoolExecutor(max_workers=len(users)) as pool:
        return dict(zip(users, pool.map(spawn, users), strict=True))


def ready_servers(hub: RunningHub, session: requests.Session, timeout: float = 90) -> set[str]:
    """Users with a server, once none is pending any more (all ready or gone)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        listed = session.get(f"{hub.url}hub/api/users", timeout=30)
        assert listed.status_code == 200, listed.text
        servers = {u["name"]: u["servers"].get("") for u in listed.json()}
        present = {name: s for name, s in servers.items() if s}
        if all(s["ready"] and not s["pending"] for s in present.values()):
            return set(present)
        time.sleep(0.5)
    raise AssertionError(f"servers still pending after {timeout}s:\n{hub.log()[-3000:]}")


def running_in_database(db_url: str) -> set[str]:
    """The users whose server JupyterHub's database records as running."""
    url = db.normalize_db_url(db_url)
    engine = sqlalchemy.create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sqlalchemy.text(
                    "SELECT u.name FROM spawners s JOIN users u ON s.user_id = u.id "
                    "WHERE s.server_id IS NOT NULL"
                )
            ).all()
    finally:
        engine.dispose()
    return {r[0] for r in rows}


def platform_servers_used(hub: RunningHub, token: str) -> int:
    response = requests.get(
        f"{hub.url}services/tenanthub/api/v1/tenants/crowd/usage",
        headers={"Authorization": f"token {token}"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return {r["resource"]: r["used"] for r in response.json()["resources"]}["servers"]


def split(responses: dict[str, requests.Response]) -> tuple[set[str], set[str]]:
    """(started, refused by the quota); any other answer fails the test."""
    started = {u for u, r in responses.items() if r.status_code in (201, 202)}
    refused = {u for u, r in responses.items() if r.status_code == 403}
    others = {
        u: (r.status_code, r.text[:300])
        for u, r in responses.items()
        if u not in started and u not in refused
    }
    assert not others, f"unexpected answers: {others}"
    for user in refused:
        message = responses[user].json()["message"]
        assert "over quota" in message and f"servers: {QUOTA} of {QUOTA} in use" in message, message
    return started, refused


def test_100_concurrent_spawns_against_a_quota_of_10_start_exactly_10(hub_factory, db_url):
    hub = hub_factory(config=SPAWN_CONFIG, db_url=db_url)
    hub.wait_for_service()
    token = admin_token(hub)
    session = hub_api(hub, token)
    created = session.post(f"{hub.url}hub/api/users", json={"usernames": USERS}, timeout=60)
    assert created.status_code == 201, created.text

    started, refused = split(burst(hub, token, USERS))
    assert len(started) == QUOTA, (len(started), len(refused))
    assert len(refused) == len(USERS) - QUOTA

    # every started server is up, and only those: the hub, its database and the
    # platform's usage agree
    assert ready_servers(hub, session) == started
    assert running_in_database(db_url) == started
    assert platform_servers_used(hub, token) == QUOTA
    for user in refused:
        home = hub.data_dir / "tenants" / "crowd" / "home" / user
        assert not home.exists(), f"{user} was refused but its folder was made"

    # one stops: of another burst of the 90 refused, exactly one starts
    leaving = sorted(started)[0]
    stopped = session.delete(f"{hub.url}hub/api/users/{leaving}/server", timeout=60)
    assert stopped.status_code in (202, 204), stopped.text
    deadline = time.monotonic() + 60
    while leaving in ready_servers(hub, session) and time.monotonic() < deadline:
        time.sleep(0.3)
    assert running_in_database(db_url) == started - {leaving}

    again_started, again_refused = split(burst(hub, token, sorted(refused)))
    assert len(again_started) == 1, again_started
    assert len(again_refused) == len(refused) - 1
    now_running = (started - {leaving}) | again_started
    assert ready_servers(hub, session) == now_running
    assert running_in_database(db_url) == now_running
    assert platform_servers_used(hub, token) == QUOTA

    # one more stops, the hub restarts: the ledger is rebuilt from the database by the
    # first of a burst of spawns, and exactly one of the burst takes the free place
    leaving = sorted(now_running)[0]
    stopped = session.delete(f"{hub.url}hub/api/users/{leaving}/server", timeout=60)
    assert stopped.status_code in (202, 204), stopped.text
    deadline = time.monotonic() + 60
    while leaving in ready_servers(hub, session) and time.monotonic() < deadline:
        time.sleep(0.3)
    hub.restart()
    still_refused = sorted(refused - again_started)
    after_restart, refused_after_restart = split(burst(hub, token, still_refused))
    assert len(after_restart) == 1, after_restart
    assert refused_after_restart == set(still_refused) - after_restart
    now_running = (now_running - {leaving}) | after_restart
    assert ready_servers(hub, session) == now_running
    assert running_in_database(db_url) == now_running
    assert "Traceback" not in hub.log(), hub.log()[-5000:]


# ----------------------------------------------------------------------------- job runs

RUNS = 24
MAX_RUNNING = 3

#: one scheduler instance in its own process, running the service's real loop
#: (``Scheduler.run``) with the real clock from when the file ``go`` appears (both
#: instances start together, racing for the first claims) until ``stop`` appears. Its runner is
#: the tests' process runner that also writes, before each run's process starts, the time
#: it started (``began``); the process's exit status file is written after it ended, so
#: ``[began, mtime(status)]`` covers the process's whole life.
SCHEDULER = r"""
import asyncio, sys, time
from pathlib import Path
from hub.config.schema import JobSettings
from hub.service.jobs.scheduler import Scheduler
from hub.service.jobs.store import JobStore
from hub.tenancy import db
from tests.integration.jobrunner import ProcessRunner

url, root, instance = sys.argv[1], Path(sys.argv[2]), sys.argv[3]

class TimedRunner(ProcessRunner):
    def start(self, spec):
        folder = self.root / str(spec.run_id)
        folder.mkdir(exist_ok=True)
        (folder / "began").write_text(repr(time.time()))
        return super().start(spec)

async def main():
    engine = db.make_engine(url)
    sched = Scheduler(JobStore(engine), TimedRunner(root), JobSettings(poll_every=1),
                      instance=instance)
    stop = asyncio.Event()
    async def watch_stop():
        while not (root / "stop").exists():
            await asyncio.sleep(0.1)
        stop.set()
    (root / f"ready-{instance}").write_text("")
    while not (root / "go").exists():  # both instances start their loops together
        await asyncio.sleep(0.005)
    watcher = asyncio.ensure_future(watch_stop())
    await sched.run(stop)
    watcher.cancel()
    engine.dispose()

asyncio.run(main())
"""


@pytest.fixture
def jobs_engine(db_url: str) -> Iterator[Engine]:
    engine = db.make_engine(db_url)
    db.upgrade(engine)
    spec = TenantSpec("busy", "busy", QuotaLimits(running_jobs=MAX_RUNNING), None, (), {}, ())
    TenantStore(engine).create_tenant(spec, "test")
    yield engine
    engine.dispose()


def active_runs(engine: Engine) -> int:
    """The tenant's starting and running runs, in one query (one consistent snapshot)."""
    with engine.connect() as conn:
        return int(
            conn.execute(
                sqlalchemy.text(
                    "SELECT count(*) FROM th_job_runs "
                    "WHERE tenant = 'busy' AND state IN ('starting', 'running')"
                )
            ).scalar_one()
        )


def most_overlapping(intervals: list[tuple[float, float]]) -> int:
    """The largest number of intervals that overlap at one instant."""
    events = sorted([(a, 1) for a, _ in intervals] + [(b, -1) for _, b in intervals])
    most = now = 0
    for _, step in events:  # at equal times an end (-1) sorts before a start (+1)
        now += step
        most = max(most, now)
    return most


def test_runs_submitted_at_once_never_exceed_the_running_jobs_quota_with_two_schedulers(
    jobs_engine: Engine, db_url: str, tmp_path: Path
) -> None:
    root = tmp_path / "runs"
    root.mkdir()
    schedulers = [
        subprocess.Popen(
            [sys.executable, "-c", SCHEDULER, db_url, str(root), f"instance-{k}"],
            cwd=HERE.parent.parent,
            stdout=(tmp_path / f"scheduler-{k}.log").open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        for k in range(2)
    ]
    store = JobStore(jobs_engine)
    gate = threading.Barrier(RUNS, timeout=60)

    def submit(i: int) -> int:
        spec = {
            "name": f"run{i}", "notebook": "a.ipynb", "tenant": "busy", "profile": "small",
            "parameters": {"sleep": 0.3 + 0.1 * (i % 5), "say": f"run {i}"},
        }  # fmt: skip
        gate.wait()
        _job, run = store.create_job(JobSpec.model_validate(spec), "alice")
        assert run is not None
        return run.id

    samples: list[int] = []
    try:
        deadline = time.monotonic() + 60
        while len(list(root.glob("ready-*"))) < 2 and time.monotonic() < deadline:
            assert all(p.poll() is None for p in schedulers), "a scheduler process exited"
            time.sleep(0.05)
        with ThreadPoolExecutor(max_workers=RUNS) as pool:
            run_ids = list(pool.map(submit, range(RUNS)))
        (root / "go").write_text("")
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            samples.append(active_runs(jobs_engine))
            runs = [store.get_run(i) for i in run_ids]
            if all(r is not None and r.finished_at is not None for r in runs):
                break
            time.sleep(0.01)
    finally:
        (root / "stop").write_text("")
        alive = [proc.poll() is None for proc in schedulers]
        for proc in schedulers:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    logs = "\n".join((tmp_path / f"scheduler-{k}.log").read_text() for k in range(2))
    final = [store.get_run(i) for i in run_ids]
    assert all(r is not None and r.state == "succeeded" for r in final), (
        [(r.id, r.state, r.reason) for r in final if r is not None],
        logs[-3000:],
    )
    # which instance claims which run is up to the race: on PostgreSQL a claimer that finds
    # the tenant's row locked by the other leaves it for its next tick, so one instance
    # often takes every claim; both ran their loops, racing, the whole time
    assert {r.instance for r in final if r is not None} <= {"instance-0", "instance-1"}
    assert alive == [True, True], logs[-3000:]
    assert [p.returncode for p in schedulers] == [0, 0], logs[-3000:]
    # the database never showed more than the quota active, and the quota was used
    assert max(samples) == MAX_RUNNING, Counter(samples)
    # nor did more run processes than the quota ever live at the same time
    intervals = [
        (float((root / str(i) / "began").read_text()), (root / str(i) / "status").stat().st_mtime)
        for i in run_ids
    ]
    assert most_overlapping(intervals) <= MAX_RUNNING, sorted(intervals)
    starts = [int(line) for line in (root / "starts.log").read_text().split()]
    assert sorted(starts) == sorted(run_ids)  # each run started once
