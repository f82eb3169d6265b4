"""The notebook widgets of ``jupyterlab_tenanthub`` (``DatasetPicker``, ``JobMonitor``) and
the SDK calls they use, against a real hub and platform service, in exactly the
environment the spawner gives bob's notebook server (its API address, tenant and the
server's own hub token): the picker lists the tenant's sources and a folder page by
page, picks a file and loads it as a pandas DataFrame; a refusal of the platform (a
missing file, a bad token) is shown in the widget with the platform's message and
raised by ``load()``; the monitor of a submitted job follows its run on the local
backend from queued/running to succeeded with the log's text, highlights the end and
stops its thread by itself; ``stop()`` stops following a run that goes on."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from spawner.plan import local_paths
from tests.conftest import need
from tests.integration.conftest import PASSWORDS, PROXY_MISSING
from tests.integration.hubrunner import Browser, RunningHub, write_hub
from tests.integration.notebooks import write_notebook
from tests.integration.test_labextension_server import CONFIG, PAGE_FILES, server_environment

pytestmark = pytest.mark.integration

ENVIRONMENT = ("TENANTHUB_API_URL", "JUPYTERHUB_API_TOKEN", "TENANTHUB_TENANT")


@dataclass
class Notebook:
    """What a notebook in bob's server sees: its environment, its home."""

    hub: RunningHub
    env: dict[str, str]
    home: Path

    def api(self, method: str, route: str, **kw: Any) -> requests.Response:
        return requests.request(
            method, self.env["TENANTHUB_API_URL"].rstrip("/") + "/" + route, timeout=60,
            headers={"Authorization": f"token {self.env['JUPYTERHUB_API_TOKEN']}"}, **kw,
        )  # fmt: skip

    def submit(self, name: str, notebook: str) -> dict[str, Any]:
        made = self.api("POST", "tenants/vision/jobs", json={"name": name, "notebook": notebook})
        assert made.status_code == 201, made.text
        answer: dict[str, Any] = made.json()
        return answer


@pytest.fixture(scope="module")
def notebook(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Notebook]:
    if PROXY_MISSING:
        need(PROXY_MISSING)
    try:
        import ipywidgets  # noqa: F401
        import jupyterlab_tenanthub  # noqa: F401
        import pandas  # noqa: F401
    except ImportError as exc:
        need(f"{exc.name} is not installed (scripts/install-python.sh installs it)")
    from tenanthub import datasets

    root = tmp_path_factory.mktemp("widgets")
    hub = write_hub(root / "hub", CONFIG, PASSWORDS)
    with pytest.MonkeyPatch.context() as patch:
        try:
            hub.start()
            hub.wait_for_service()
            shared = local_paths(hub.data_dir, "vision", "-").shared
            team = shared / "team"
            (team / "many").mkdir(parents=True)
            (team / "cities.csv").write_text("city,people\nLyon,522\nOslo,709\n")
            for i in range(PAGE_FILES):
                (team / "many" / f"f{i}.csv").write_text("a\n1\n")
            alice = Browser(hub, "alice")
            assert alice.login().status_code == 302
            token = alice.api("POST", "users/alice/tokens", json={"note": "widgets"}).json()
            made = requests.post(
                hub.url + "services/tenanthub/api/v1/tenants/vision/datasets",
                headers={"Authorization": f"token {token['token']}"}, timeout=30,
                json={"name": "team", "kind": "files", "settings": {"root": str(team)}},
            )  # fmt: skip
            assert made.status_code == 201, made.text
            bob = Browser(hub, "bob")
            assert bob.login().status_code == 302
            assert bob.spawn({"tenant": "vision", "profile-vision": "small"}).status_code == 200
            bob.wait_ready(timeout=120)
            served = server_environment(hub)
            env = {name: served[name] for name in ENVIRONMENT}
            for name, value in env.items():
                patch.setenv(name, value)
            datasets.use(None)  # the SDK reads the environment again
            home = local_paths(hub.data_dir, "vision", "bob").home
            yield Notebook(hub, env, home)
        finally:
            datasets.use(None)
            hub.shutdown()


# ----------------------------------------------------------------------------- the SDK


def test_the_sdk_pages_a_folder_with_the_cursor_and_reads_jobs_and_runs(
    notebook: Notebook,
) -> None:
    from tenanthub import datasets, jobs

    first = datasets.page("team/many", limit=3)
    assert len(first.entries) == 3 and first.next_cursor
    second = datasets.page("team/many", cursor=first.next_cursor, limit=3)
    names = {e.name for e in first.entries} | {e.name for e in second.entries}
    assert len(names) == 6
    every = datasets.list("team/many", limit=3, all=True)
    assert sorted(e.name for e in every) == sorted(f"f{i}.csv" for i in range(PAGE_FILES))

    write_notebook(notebook.home / "sdk.ipynb", "n = 0", "print('sdk run', n)")
    made = notebook.submit("sdk", "sdk.ipynb")
    job_id, run_id = made["job"]["id"], made["run"]["id"]
    assert jobs.job(job_id)["name"] == "sdk"
    latest = jobs.latest_run(job_id)
    assert latest is not None and latest["id"] == run_id
    assert [r["id"] for r in jobs.runs(job_id)] == [run_id]
    deadline = time.monotonic() + 120
    while jobs.run(run_id)["state"] not in jobs.FINAL:
        assert time.monotonic() < deadline, "the run did not end"
        time.sleep(0.3)
    assert jobs.run(run_id)["state"] == "succeeded"
    assert "sdk run 0" in jobs.log(run_id)["log"]
    with pytest.raises(datasets.ApiError) as missing:
        jobs.run(999999)
    assert missing.value.status == 404


# ----------------------------------------------------------------------------- DatasetPicker


def test_the_picker_lists_sources_and_a_folder_page_by_page_and_loads_a_dataframe(
    notebook: Notebook,
) -> None:
    from jupyterlab_tenanthub import DatasetPicker

    picker = DatasetPicker(page_size=3)
    assert picker.error == ""
    assert picker.sources == ["team"] and picker.source_box.options == ("team",)
    assert (picker.source, picker.folder) == ("team", "")
    assert {(e["name"], e["kind"]) for e in picker.entries} == {
        ("cities.csv", "file"), ("many", "folder"),
    }  # fmt: skip
    assert set(picker.entry_list.options) == {"cities.csv", "many/"}

    picker.entry_list.value = "many/"  # a folder opens, one page at a time
    assert picker.folder == "many" and len(picker.entries) == 3
    assert picker.next_cursor and not picker.more_button.disabled
    picker.more_button.click()
    picker.more_button.click()
    assert sorted(e["name"] for e in picker.entries) == sorted(
        f"f{i}.csv" for i in range(PAGE_FILES)
    )
    assert picker.next_cursor is None and picker.more_button.disabled
    assert picker.value == "" and picker.load_button.disabled
    picker.up_button.click()
    assert picker.folder == "" and picker.up_button.disabled

    picker.entry_list.value = "cities.csv"  # a file is the pick
    assert picker.value == "team/cities.csv" and not picker.load_button.disabled
    frame = picker.dataframe()
    assert list(frame.columns) == ["city", "people"]
    assert frame.to_dict("records") == [{"city": "Lyon", "people": 522},
                                        {"city": "Oslo", "people": 709}]  # fmt: skip
    assert picker.loaded_rows == 2 and picker.error == ""
    [shown] = picker.output.outputs
    assert "Lyon" in shown["data"]["text/html"]
    picker.load_button.click()  # the button loads the same
    assert picker.loaded_rows == 2 and picker.error == ""


def test_an_api_error_is_shown_in_the_picker_with_the_platforms_message(
    notebook: Notebook,
) -> None:
    from jupyterlab_tenanthub import DatasetPicker
    from tenanthub.api import ApiError

    theirs = notebook.api("GET", "tenants/vision/datasets/team/read", params={"path": "gone.csv"})
    assert theirs.status_code == 404
    message = theirs.json()["message"]
    picker = DatasetPicker()
    picker.value = "team/gone.csv"
    with pytest.raises(ApiError) as raised:
        picker.load()
    assert raised.value.message == message
    assert picker.error == f"{message} (HTTP 404)"
    assert "tenanthub-error" in picker.message._dom_classes
    assert message.split("'")[0] in picker.message.value
    [shown] = picker.output.outputs
    assert shown["name"] == "stderr" and message in shown["text"]
    # the button does not raise into the widget's event handler: the error is shown
    picker.error = ""
    picker.load_button.click()
    assert picker.error == f"{message} (HTTP 404)"
    # the error goes once a folder is opened again
    picker.entry_list.value = "cities.csv"
    picker.load()
    assert picker.error == "" and picker.loaded_rows == 2


def test_a_refused_token_is_shown_in_the_picker_not_raised(
    notebook: Notebook, monkeypatch: pytest.MonkeyPatch
) -> None:
    from jupyterlab_tenanthub import DatasetPicker
    from tenanthub import datasets

    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", "not-a-token")
    datasets.use(None)
    try:
        picker = DatasetPicker()
    finally:
        monkeypatch.undo()
        datasets.use(None)
    assert picker.sources == [] and picker.entries == []
    assert "(HTTP 403)" in picker.error or "(HTTP 401)" in picker.error
    assert (
        picker.output.outputs
        and picker.error.split(" (HTTP")[0] in (picker.output.outputs[0]["text"])
    )


# ----------------------------------------------------------------------------- JobMonitor


def test_the_monitor_follows_a_job_run_to_success_with_its_log_and_stops(
    notebook: Notebook,
) -> None:
    from jupyterlab_tenanthub import JobMonitor

    write_notebook(
        notebook.home / "slow.ipynb",
        "n = 3",
        "import time\nprint('first line', flush=True)\ntime.sleep(n)\nprint('last line')",
    )
    made = notebook.submit("slow", "slow.ipynb")
    seen: list[str] = []
    monitor = JobMonitor(made["job"]["id"], interval=0.2, start=False)
    monitor.observe(lambda change: seen.append(change["new"]), names="state")
    monitor.start()
    assert monitor.running
    assert monitor.join(timeout=180), f"the monitor did not stop: {seen}"
    assert not monitor.running and monitor.error == ""
    assert seen[0] in ("queued", "starting", "running") and seen[-1] == "succeeded", seen
    assert monitor.run_id == made["run"]["id"]
    assert (monitor.state, monitor.final) == ("succeeded", True)
    assert "first line" in monitor.log_text and "last line" in monitor.log_text
    assert "first line" in monitor.log_view.value
    classes = monitor.status._dom_classes
    assert "tenanthub-final" in classes and "tenanthub-state-succeeded" in classes
    assert "font-weight: bold" in monitor.status.value and "succeeded" in monitor.status.value
    assert monitor.stop_button.disabled


def test_stop_ends_the_following_of_a_run_that_goes_on(notebook: Notebook) -> None:
    from jupyterlab_tenanthub import JobMonitor

    write_notebook(notebook.home / "long.ipynb", "n = 120",
                   "import time\nprint('started', flush=True)\ntime.sleep(n)")  # fmt: skip
    made = notebook.submit("long", "long.ipynb")
    run_id = made["run"]["id"]
    try:
        monitor = JobMonitor(run=run_id, interval=0.2)
        deadline = time.monotonic() + 120
        while "started" not in monitor.log_text:
            assert time.monotonic() < deadline, f"no log: {monitor.state} {monitor.error}"
            time.sleep(0.2)
        assert monitor.state == "running" and not monitor.final and monitor.running
        monitor.stop()
        assert not monitor.running and monitor.join(timeout=1)
        assert "tenanthub-final" not in monitor.status._dom_classes
        shown = monitor.state
        time.sleep(1)
        assert monitor.state == shown  # nothing follows any more
    finally:
        notebook.api("POST", f"tenants/vision/runs/{run_id}/cancel")


def test_the_monitor_of_a_job_that_is_not_yours_shows_the_platforms_message(
    notebook: Notebook,
) -> None:
    from jupyterlab_tenanthub import JobMonitor

    theirs = notebook.api("GET", "tenants/vision/jobs/999999/runs")
    monitor = JobMonitor(999999, interval=0.2)
    assert monitor.join(timeout=30)
    assert monitor.error == f"{theirs.json()['message']} (HTTP 404)"
    assert "tenanthub-error" in monitor.status._dom_classes and not monitor.running
    with pytest.raises(ValueError, match="give a job id"):
        JobMonitor(1, run=2)
