"""The JupyterLab extension (jupyterlab-tenanthub) in real Chromium, in a real JupyterLab
spawned by a real hub.

The hub runs the local backend, whose servers are ``jupyterhub-singleuser`` from this
checkout's dev environment, where the extension is installed (scripts/install-python.sh):
the quickest real JupyterLab a hub spawns here. The notebook images carry the same
extension; tests/integration/test_images.py checks it is installed and enabled there.

What a person does: bob, a member of the tenant vision, logs in on the hub's login page,
starts a server from the spawn form and lands in JupyterLab. In the Datasets panel he
browses a files source (a folder of CSV and parquet files in the tenant's shared folder)
and an S3 source (moto's server), views a sample as a table and the schema, inserts the
cell that loads it into the open notebook and runs it: the DataFrame prints. He submits
the open notebook as a job with a changed parameter from the notebook's "Run as job"
dialog, watches the run succeed in the Jobs panel (and is notified), opens its output
notebook and finds the parameter's value there. A source the platform cannot list shows
a JupyterLab notification with the platform's own message.

The screenshots docs/lab-datasets.png and docs/lab-jobs.png come from these runs:
``make screenshots`` runs them with TENANTHUB_SCREENSHOTS=docs (a plain run writes them
to a temporary folder, see ``test_console``). The hub, the server and the browser page
are started once for the module; the tests run in order on the same JupyterLab.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import requests

from spawner.plan import local_paths
from tests.browser import console, lab
from tests.browser.conftest import start_hub
from tests.browser.test_console import DOCS
from tests.integration.conftest import BASE_CONFIG
from tests.integration.hubrunner import Browser, RunningHub
from tests.integration.notebooks import write_notebook
from tests.services.s3 import S3Server

pytestmark = pytest.mark.integration

CONFIG: dict[str, Any] = {
    **BASE_CONFIG,
    "backend": {"kind": "local"},
    "jobs": {"poll_every": 1},
    "datasets": {"page_size": 50},
}
USER = "bob"
BUCKET = "vision-lab-lake"
CITIES = "city,people\nLyon,522\nOslo,709\nKyoto,1464\n"


@dataclass
class Setup:
    hub: RunningHub
    home: Path  # bob's home: his server's root
    api: str  # the tenant's datasets API
    admin: dict[str, str]  # alice's (tenant admin) Authorization header
    member: dict[str, str]  # bob's Authorization header (an API token of his)


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory, s3: S3Server) -> Iterator[Setup]:
    hub = start_hub(tmp_path_factory, CONFIG)
    try:
        hub.wait_for_service()
        shared = local_paths(hub.data_dir, "vision", "-").shared
        team = shared / "team"
        (team / "daily").mkdir(parents=True)
        (team / "cities.csv").write_text(CITIES)
        pd.DataFrame({"region": ["north", "south"], "amount": [12.5, 7.25]}).to_parquet(
            team / "sales.parquet"
        )
        for day in (1, 2, 3):
            (team / "daily" / f"day-{day:02d}.csv").write_text(f"day,visits\n{day},{day * 10}\n")
        s3.create_bucket(BUCKET)
        s3.put(BUCKET, "events/day-01.csv", b"event,count\nlogin,41\nlogout,39\n")
        s3.put(BUCKET, "events/day-02.csv", b"event,count\nlogin,52\nlogout,50\n")
        alice = Browser(hub, "alice")
        assert alice.login().status_code == 302
        token = alice.api("POST", "users/alice/tokens", json={"note": "lab test"}).json()["token"]
        admin = {"Authorization": f"token {token}"}
        api = hub.url + "services/tenanthub/api/v1/tenants/vision/datasets"
        lake = {"bucket": BUCKET, "endpoint_url": s3.endpoint_url}
        for body in (
            {"name": "team", "kind": "files", "settings": {"root": str(team)}},
            {"name": "lake", "kind": "s3", "settings": lake,
             "secrets": {"access_key": s3.reader.access_key,
                         "secret_key": s3.reader.secret_key}},
            # credentials the S3 server knows, with no right on the bucket: listing fails
            {"name": "locked", "kind": "s3", "settings": lake,
             "secrets": {"access_key": s3.nobody.access_key,
                         "secret_key": s3.nobody.secret_key}},
        ):  # fmt: skip
            made = requests.post(api, json=body, headers=admin, timeout=60)
            assert made.status_code == 201, made.text
        bob = Browser(hub, USER)
        assert bob.login().status_code == 302
        token = bob.api("POST", f"users/{USER}/tokens", json={"note": "lab test"}).json()["token"]
        member = {"Authorization": f"token {token}"}
        home = local_paths(hub.data_dir, "vision", USER).home
        lab.quiet_lab_settings(home)
        write_notebook(home / "explore.ipynb", "limit = 5")
        write_notebook(
            home / "report.ipynb",
            "region = 'none'  # the region reported on",
            "print(f'report for {region}')",
        )
        write_notebook(
            home / "widgets.ipynb",
            "x = 1",
            "from jupyterlab_tenanthub import DatasetPicker, JobMonitor\n"
            "picker = DatasetPicker()\npicker",
            "",
        )
        write_notebook(
            home / "slow.ipynb",
            "seconds = 0",
            "import time\ntime.sleep(seconds)\nprint('slept', seconds)",
        )
        yield Setup(hub, home, api, admin, member)
    finally:
        hub.shutdown()


@pytest.fixture(scope="module")
def page(chromium: Any, setup: Setup) -> Iterator[Any]:
    """One browser context for the module: bob's login and his running JupyterLab."""
    context = chromium.new_context(viewport=console.VIEWPORT)
    context.set_default_timeout(30_000)
    page = context.new_page()
    try:
        lab.sign_in_and_spawn(page, setup.hub, USER, "vision")
        yield page
    finally:
        context.close()


def shot(page: Any, name: str) -> None:
    """A screenshot for docs/, with the left panel wide enough to read."""
    lab.side_panel_width(page, 420)
    DOCS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(DOCS / name))


def test_the_datasets_panel_browses_a_files_source_and_shows_a_sample_and_schema(page):
    lab.open_notebook(page, "explore.ipynb")
    panel = lab.open_side_panel(page, "tenanthub-datasets")
    # every source with its connection status: the two good ones connect, locked does not
    for name, kind in (("team", "files"), ("lake", "s3"), ("locked", "s3")):
        row = lab.datasets_row(page, name)
        assert row.locator(".jp-TenantHub-kind").inner_text() == kind
    lab.datasets_row(page, "team").locator(".jp-TenantHub-status.jp-mod-ok").wait_for()
    lab.datasets_row(page, "lake").locator(".jp-TenantHub-status.jp-mod-ok").wait_for()
    lab.datasets_row(page, "locked").locator(".jp-TenantHub-status.jp-mod-failed").wait_for()

    lab.datasets_row(page, "team").click()
    for path in ("cities.csv", "sales.parquet", "daily"):
        lab.datasets_row(page, "team", path).wait_for()
    lab.datasets_row(page, "team", "daily").click()
    lab.datasets_row(page, "team", "daily/day-02.csv").wait_for()

    # a parquet file: its schema (typed columns) and a sample as a table
    lab.datasets_row(page, "team", "sales.parquet").click()
    detail = panel.locator(".jp-TenantHub-detail")
    assert detail.locator(".jp-TenantHub-selected").inner_text() == "team/sales.parquet"
    schema = detail.locator("table.jp-TenantHub-schema")
    schema.wait_for()
    assert schema.locator("tr td:first-child").all_inner_texts() == ["region", "amount"]
    assert "double" in schema.locator("tr").nth(1).inner_text()
    sample = detail.locator("table.jp-TenantHub-sample")
    assert sample.locator("th").all_inner_texts() == ["region", "amount"]
    assert sample.locator("tbody tr").first.locator("td").all_inner_texts() == ["north", "12.5"]

    # a CSV: the sample and the snippet that loads it
    lab.datasets_row(page, "team", "cities.csv").click()
    assert detail.locator(".jp-TenantHub-selected").inner_text() == "team/cities.csv"
    sample.locator("th").first.wait_for()
    assert sample.locator("th").all_inner_texts() == ["city", "people"]
    rows = [r.locator("td").all_inner_texts() for r in sample.locator("tbody tr").all()]
    assert rows == [["Lyon", "522"], ["Oslo", "709"], ["Kyoto", "1464"]]
    assert (
        'datasets.read("team/cities.csv")' in detail.locator(".jp-TenantHub-snippet").inner_text()
    )
    shot(page, "lab-datasets.png")


def test_an_s3_source_is_browsed_and_sampled(page):
    panel = lab.open_side_panel(page, "tenanthub-datasets")
    lab.datasets_row(page, "lake").click()
    lab.datasets_row(page, "lake", "events").click()
    lab.datasets_row(page, "lake", "events/day-02.csv").click()
    detail = panel.locator(".jp-TenantHub-detail")
    assert detail.locator(".jp-TenantHub-selected").inner_text() == "lake/events/day-02.csv"
    sample = detail.locator("table.jp-TenantHub-sample")
    sample.wait_for()
    assert sample.locator("th").all_inner_texts() == ["event", "count"]
    assert sample.locator("tbody tr").first.locator("td").all_inner_texts() == ["login", "52"]
    schema = detail.locator("table.jp-TenantHub-schema")
    assert schema.locator("tr td:first-child").all_inner_texts() == ["event", "count"]


def test_insert_cell_puts_the_snippet_in_the_notebook_and_it_loads_the_dataframe(page):
    from playwright.sync_api import expect

    panel = lab.open_side_panel(page, "tenanthub-datasets")
    lab.datasets_row(page, "team", "cities.csv").click()
    panel.locator(".jp-TenantHub-detail table.jp-TenantHub-sample").wait_for()
    cells = page.locator(".jp-NotebookPanel:visible .jp-Cell")
    before = cells.count()
    panel.locator("button.jp-TenantHub-insert").click()
    expect(cells).to_have_count(before + 1)
    at = cells.evaluate_all("cells => cells.findIndex(c => c.classList.contains('jp-mod-active'))")
    inserted = cells.nth(at)  # by place: running the cell moves the active one on
    code = inserted.locator(".cm-content")
    snippet = 'from tenanthub import datasets\ndf = datasets.read("team/cities.csv")'
    expect(code).to_have_text(snippet, use_inner_text=True)
    # show the DataFrame: one more line typed at the end of the inserted cell, then run it
    code.click()
    page.keyboard.press("Control+End")
    page.keyboard.type("\nprint(df.to_string())")
    page.keyboard.press("Shift+Enter")
    output = inserted.locator(".jp-OutputArea-output")
    output.first.wait_for(timeout=60_000)
    text = output.first.inner_text()
    assert re.search(r"city\s+people", text), text
    for city, people in (("Lyon", 522), ("Oslo", 709), ("Kyoto", 1464)):
        assert re.search(rf"{city}\s+{people}", text), text
    assert inserted.locator(".jp-OutputArea-output[data-mime-type*=error]").count() == 0


def test_a_source_the_platform_cannot_list_shows_its_message_as_a_notification(page, setup):
    answer = requests.get(f"{setup.api}/locked/list", headers=setup.admin, timeout=60)
    assert answer.status_code >= 400
    message = answer.json()["message"]
    assert message
    lab.open_side_panel(page, "tenanthub-datasets")
    lab.datasets_row(page, "locked").click()
    toast = lab.toasts(page, "error").filter(has_text="Cannot list locked/")
    toast.wait_for()
    assert message in toast.inner_text()
    toast.locator(".jp-Notification-Toast-Close").click()  # read: out of the screenshots
    # the tree says it too, where the entries would be
    error = page.locator("#tenanthub-datasets .jp-TenantHub-row[data-source='locked'] "
                         ".jp-TenantHub-error")  # fmt: skip
    assert message in error.inner_text()


def test_run_as_job_with_a_parameter_succeeds_in_the_jobs_panel_and_its_output_opens(page, setup):
    from playwright.sync_api import expect  # here: the chromium fixture says if it is missing

    lab.open_notebook(page, "report.ipynb")
    page.locator(".jp-NotebookPanel:visible .jp-Toolbar-item[data-jp-item-name="
                 "'tenanthubRunAsJob'] button").click()  # fmt: skip
    dialog = page.locator(".jp-Dialog")
    parameter = dialog.locator("input[name='parameter-region']")
    assert parameter.input_value() == "'none'"  # pre-filled from the parameters cell
    assert (
        "the region reported on"
        in dialog.locator("label", has=page.locator("input[name='parameter-region']")).inner_text()
    )
    assert dialog.locator("input[name='name']").input_value() == "report"
    parameter.fill("'north'")
    lab.submit_job_dialog(page, "report")

    jobs, run = lab.succeeded_run(page, "report")
    lab.toasts(page, "success").filter(
        has_text=re.compile(r"Run \d+ of report succeeded")
    ).wait_for()
    run.locator("button", has_text="Log").click()
    jobs.locator(".jp-TenantHub-logtext", has_text="report for north").wait_for()
    log = jobs.locator(".jp-TenantHub-logtext")
    log.evaluate("pre => { pre.scrollTop = pre.scrollHeight; }")  # its end, in the screenshot

    run.locator("button", has_text="Output").click()
    output = page.locator(".jp-NotebookPanel:visible")
    output.locator(".jp-OutputArea-output", has_text="report for north").wait_for()
    shot(page, "lab-jobs.png")
    tab = page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab.lm-mod-current")
    assert tab.inner_text().startswith("output.ipynb")
    # the parameter papermill injected
    assert 'region = "north"' in output.inner_text() or "region = 'north'" in output.inner_text()

    # run again: a second run of the job; once its output is gone, opening it says so
    first = run.get_attribute("data-run")
    run.locator("button", has_text="Run again").click()
    again = jobs.locator(".jp-TenantHub-run").filter(has_text="report")
    expect(again).to_have_count(2)
    second = again.and_(page.locator(f":not([data-run='{first}'])"))
    second.locator(".jp-TenantHub-state", has_text="succeeded").wait_for(timeout=120_000)
    runs = setup.api.replace("/datasets", "/runs")
    answer = requests.get(f"{runs}/{second.get_attribute('data-run')}", headers=setup.member,
                          timeout=60)  # fmt: skip
    output_path = answer.json()["output"]
    (setup.home / output_path).unlink()
    second.locator("button", has_text="Output").click()
    lab.toasts(page, "error").filter(has_text=f"Cannot open {output_path}").wait_for()


def test_run_as_job_from_the_file_browsers_context_menu_runs_the_clicked_notebook(page, setup):
    """The right-clicked notebook is the one submitted, not the notebook open in the main
    area (the command falls back to that one when nothing is selected)."""
    lab.open_notebook(page, "report.ipynb")  # the active notebook is another one
    lab.file_item(page, "explore.ipynb").click(button="right")
    page.locator(".lm-Menu .lm-Menu-item", has_text="Run as Job").click()
    dialog = page.locator(".jp-Dialog")
    assert dialog.locator("input[name='name']").input_value() == "explore"
    parameter = dialog.locator("input[name='parameter-limit']")
    assert parameter.input_value() == "5"  # from explore's parameters cell
    parameter.fill("7")
    lab.submit_job_dialog(page, "explore")

    lab.succeeded_run(page, "explore")
    listed = requests.get(setup.api.replace("/datasets", "/jobs"), headers=setup.member,
                          timeout=60).json()["items"]  # fmt: skip
    [job] = [j for j in listed if j["name"] == "explore"]
    assert (job["notebook"], job["parameters"]) == ("explore.ipynb", {"limit": 7})


def test_a_dataset_picker_and_a_job_monitor_render_and_update_in_a_notebook(page, setup):
    notebook = lab.open_notebook(page, "widgets.ipynb")
    cells = notebook.locator(".jp-Cell")
    cells.nth(1).locator(".cm-content").click()
    page.keyboard.press("Shift+Enter")
    picker = cells.nth(1).locator(".tenanthub-dataset-picker")
    picker.wait_for(timeout=60_000)
    # the tenant's sources in the dropdown; a folder of one, picked and loaded as a DataFrame
    sources = picker.locator(".widget-dropdown select")
    assert sources.locator("option").all_inner_texts() == ["lake", "locked", "team"]
    sources.select_option("team")
    entries = picker.locator(".widget-select select")
    entries.locator("option", has_text="cities.csv").wait_for()
    assert set(entries.locator("option").all_inner_texts()) == {
        "cities.csv", "daily/", "sales.parquet"
    }  # fmt: skip
    entries.select_option("daily/")
    entries.locator("option", has_text="day-03.csv").wait_for()
    picker.locator("button", has_text="Up").click()
    entries.locator("option", has_text="cities.csv").wait_for()
    entries.select_option("cities.csv")
    load = picker.locator("button", has_text="Load")
    picker.locator("code", has_text="team/cities.csv").wait_for()  # the pick, from the kernel
    load.click()
    table = picker.locator(".jp-OutputArea-output table")
    table.wait_for()
    assert "Kyoto" in table.inner_text() and "1464" in table.inner_text()
    assert "Loaded team/cities.csv: 3 rows x 2 columns" in picker.inner_text()

    # a job of bob's that runs a few seconds, followed by a monitor from its start to its end
    made = requests.post(
        setup.api.replace("/datasets", "/jobs"), headers=setup.member, timeout=60,
        json={"name": "slow", "notebook": "slow.ipynb", "parameters": {"seconds": 6}},
    )  # fmt: skip
    assert made.status_code == 201, made.text
    job = made.json()["job"]["id"]
    cells.nth(2).locator(".cm-content").click()
    page.keyboard.type(f"monitor = JobMonitor({job}, interval=0.5)")
    page.keyboard.press("Enter")
    page.keyboard.type("monitor")
    page.keyboard.press("Shift+Enter")
    monitor = cells.nth(2).locator(".tenanthub-job-monitor")
    monitor.wait_for(timeout=60_000)
    monitor.locator(".tenanthub-state-running").first.wait_for(timeout=60_000)
    assert monitor.locator(".tenanthub-final").count() == 0
    final = monitor.locator(".tenanthub-final.tenanthub-state-succeeded")
    final.wait_for(timeout=120_000)
    assert "succeeded" in final.inner_text()
    monitor.locator(".tenanthub-log", has_text="slept 6").wait_for()
