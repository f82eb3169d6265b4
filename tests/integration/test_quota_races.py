"""Concurrency correctness of quotas: a burst of requests never gets past a quota.

* Servers: 100 spawn requests at once (100 members of one tenant, one server each, as
  the ``servers`` quota counts them) against a tenant whose quota is 10 servers start
  exactly 10; the other 90 get the quota refusal; the hub's database and the platform's
  usage agree (10 running); stopping one lets exactly one of another burst start. The
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

import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests
import sqlalchemy

from hub.tenancy import db
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
    assert "Traceback" not in hub.log(), hub.log()[-5000:]
