"""Deleting a tenant takes its jobs, runs and data sources with it, on a real hub whose
service runs the scheduler (local runner): refused (409, nothing removed) while one of
its runs runs; once it is cancelled the deletion removes the schedules (nothing fires
for a tenant that is gone), the runs and the data sources with their credentials, and
a tenant created later under the same name starts with none of them. Files stay."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from spawner.plan import local_paths
from tests.conftest import need
from tests.integration.conftest import BASE_CONFIG, PASSWORDS, PROXY_MISSING
from tests.integration.hubrunner import api_tokens, write_hub
from tests.integration.notebooks import write_notebook
from tests.integration.test_jobs_api import Platform

pytestmark = pytest.mark.integration

TENANT = "doomed"
CONFIG: dict[str, Any] = {**BASE_CONFIG, "backend": {"kind": "local"}, "jobs": {"poll_every": 1}}


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    if PROXY_MISSING:
        need(PROXY_MISSING)
    root = tmp_path_factory.mktemp("tenant-delete")
    hub = write_hub(root / "hub", CONFIG, PASSWORDS)
    try:
        hub.start()
        hub.wait_for_service()
        tokens = api_tokens(hub, ("admin", "alice", "bob"), "tenant delete test")
        (root / "cli-home").mkdir()
        yield Platform(hub, tokens, root / "cli-home")
    finally:
        hub.shutdown()


def make_tenant(platform: Platform) -> None:
    made = platform.api("admin", "POST", "tenants", json={"name": TENANT})
    assert made.status_code == 201, made.text
    for user, role in (("alice", "admin"), ("bob", "member")):
        added = platform.api("admin", "POST", f"tenants/{TENANT}/members",
                             json={"user": user, "role": role})  # fmt: skip
        assert added.status_code in (200, 201), added.text


def total(platform: Platform, user: str, path: str) -> int:
    answer = platform.api(user, "GET", f"tenants/{TENANT}/{path}")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    return int(body["total"]) if "total" in body else len(body["items"])


def test_a_deleted_tenant_takes_its_jobs_runs_and_data_sources_and_a_new_one_has_none(
    platform: Platform,
) -> None:
    make_tenant(platform)
    shared = local_paths(platform.hub.data_dir, TENANT, "alice").shared
    (shared / "data").mkdir(parents=True, exist_ok=True)
    (shared / "data" / "a.csv").write_text("x\n1\n")
    source = {"name": "files", "kind": "files", "settings": {"root": str(shared / "data")}}
    made = platform.api("alice", "POST", f"tenants/{TENANT}/datasets", json=source)
    assert made.status_code == 201, made.text

    home = local_paths(platform.hub.data_dir, TENANT, "bob").home
    home.mkdir(parents=True, exist_ok=True)
    write_notebook(home / "slow.ipynb", "import time", "time.sleep(120)")
    nightly = platform.submit(
        "bob",
        {"name": "nightly", "notebook": "slow.ipynb", "schedule": {"cron": "0 3 * * *"}},
        tenant=TENANT,
    )
    assert nightly.status_code == 201, nightly.text
    now = platform.submit("bob", {"name": "now", "notebook": "slow.ipynb"}, tenant=TENANT)
    assert now.status_code == 201, now.text
    run_id = int(now.json()["run"]["id"])
    running = platform.wait_run_in(TENANT, "bob", run_id, ("running",))
    assert running["state"] == "running"

    busy = platform.api("admin", "DELETE", f"tenants/{TENANT}", json={"confirm": TENANT})
    assert busy.status_code == 409, busy.text
    assert str(run_id) in busy.json()["message"] and "cancel" in busy.json()["message"]
    assert platform.api("admin", "GET", f"tenants/{TENANT}").status_code == 200
    assert total(platform, "alice", "jobs") == 2  # nothing went
    assert total(platform, "alice", "datasets") == 1

    cancelled = platform.api("bob", "POST", f"tenants/{TENANT}/runs/{run_id}/cancel")
    assert cancelled.status_code == 200, cancelled.text
    platform.wait_run_in(TENANT, "bob", run_id, ("cancelled",))

    deleted = platform.api("admin", "DELETE", f"tenants/{TENANT}", json={"confirm": TENANT})
    assert deleted.status_code == 200, deleted.text
    removed = deleted.json()["removed"]
    assert (removed["jobs"], removed["runs"], removed["data_sources"]) == (2, 1, 1), removed
    assert (home / "slow.ipynb").exists() and (shared / "data" / "a.csv").exists()  # files stay

    make_tenant(platform)  # the same name again, for another team
    assert total(platform, "alice", "jobs") == 0
    assert total(platform, "alice", "runs") == 0
    assert total(platform, "alice", "datasets") == 0
    assert platform.api("alice", "GET", f"tenants/{TENANT}/datasets/files").status_code == 404
