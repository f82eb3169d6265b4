"""Driving JupyterLab (a user's server spawned by the hub) in real Chromium: shared by
the extension's browser tests and ``benchmarks/lab_datasets.py``.

Every wait is one of Playwright's auto-waiting locators or ``wait_for_*`` calls: a
state is waited for, never a fixed time.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from tests.integration.hubrunner import RunningHub

#: the spawn can take a while on two loaded cores (a Python process, Lab's assets)
SPAWN_TIMEOUT = 120_000


def quiet_lab_settings(home: Path) -> None:
    """User settings that keep Lab quiet in a test: no "fetch Jupyter news?" toast (and
    never a request to the news feed) over the panels and screenshots."""
    folder = home / ".jupyter" / "lab" / "user-settings" / "@jupyterlab" / "apputils-extension"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False})
    )


def sign_in_and_spawn(page: Any, hub: RunningHub, user: str, tenant: str) -> str:
    """Log in on the hub's login page, start a server in ``tenant`` from the spawn form
    (the tenant's default profile) and wait for JupyterLab with TenantHub's panels.
    Returns the server's URL (``.../user/<name>/``)."""
    page.goto(hub.url + "hub/login")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", hub.passwords[user])
    with page.expect_navigation():
        page.click("form [type=submit]")
    if "/hub/spawn" not in page.url:
        page.goto(hub.url + "hub/spawn")
    chooser = page.locator("#tenanthub-tenant")
    if chooser.count():
        chooser.select_option(tenant)
    page.click("form [type=submit]")
    page.wait_for_url(re.compile(rf".*/user/{user}/lab.*"), timeout=SPAWN_TIMEOUT)
    wait_for_lab(page)
    return hub.url + f"user/{user}/"


def wait_for_lab(page: Any) -> None:
    """Lab's shell is up and the extension's two panels are in the left sidebar."""
    page.locator(".jp-LabShell").wait_for(timeout=SPAWN_TIMEOUT)
    for panel in ("tenanthub-datasets", "tenanthub-jobs"):
        page.locator(f".jp-SideBar .lm-TabBar-tab[data-id='{panel}']").wait_for()


def open_side_panel(page: Any, panel_id: str) -> Any:
    """Open a left panel (clicking its tab only when it is not already open)."""
    tab = page.locator(f".jp-SideBar .lm-TabBar-tab[data-id='{panel_id}']")
    if "lm-mod-current" not in (tab.get_attribute("class") or ""):
        tab.click()
    panel = page.locator(f"#{panel_id}")
    panel.wait_for(state="visible")
    return panel


def side_panel_width(page: Any, width: int) -> None:
    """Drag the handle between the left panel and the main area to ``width`` pixels."""
    handle = page.locator("#jp-main-split-panel > .lm-SplitPanel-handle").first
    box = handle.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(width, box["y"] + box["height"] / 2, steps=5)
    page.mouse.up()


def open_notebook(page: Any, name: str) -> Any:
    """Open a notebook of the server's root from the file browser (a double click, as a
    person does; reloading Lab at the notebook's URL would meet the "leave the page?"
    question of a changed notebook) and wait for its kernel to be idle."""
    file_item(page, name).dblclick()
    tab = page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab.lm-mod-current")
    tab.filter(has_text=name).wait_for()
    kernel_idle(page)
    return page.locator(".jp-NotebookPanel:visible")


def file_item(page: Any, name: str) -> Any:
    """The file browser's row of ``name`` in the server's root (exact name), shown."""
    open_side_panel(page, "filebrowser")
    exact = page.locator(".jp-DirListing-itemText", has_text=re.compile(f"^{re.escape(name)}$"))
    return page.locator("#filebrowser .jp-DirListing-item").filter(has=exact)


def submit_job_dialog(page: Any, job: str) -> None:
    """Accept the open "Run as job" dialog and wait for its "queued" notification."""
    dialog = page.locator(".jp-Dialog")
    dialog.locator("button.jp-mod-accept").click()
    dialog.wait_for(state="detached")
    toasts(page, "success").filter(has_text=f"Job {job} queued").wait_for()


def succeeded_run(page: Any, job: str) -> tuple[Any, Any]:
    """The Jobs panel and the newest run of ``job`` in it, once that run succeeded."""
    jobs = open_side_panel(page, "tenanthub-jobs")
    run = jobs.locator(".jp-TenantHub-run").filter(has_text=job).first
    run.locator(".jp-TenantHub-state", has_text="succeeded").wait_for(timeout=120_000)
    return jobs, run


def kernel_idle(page: Any, timeout: float = 60_000) -> None:
    """The active notebook's kernel is connected and idle (the status bar says so; the
    toolbar's execution indicator says idle before the kernel is connected)."""
    status = page.locator("#jp-main-statusbar .jp-StatusBar-TextItem")
    status.filter(has_text=re.compile(r"\| Idle$")).wait_for(timeout=timeout)


def datasets_row(page: Any, source: str, path: str | None = None) -> Any:
    """A row of the Datasets tree: the source itself, or the entry at ``path``."""
    rows = page.locator(f"#tenanthub-datasets .jp-TenantHub-row[data-source='{source}']")
    if path is None:
        return rows.and_(page.locator(".jp-TenantHub-source"))
    return rows.and_(page.locator(f"[data-path='{path}']"))


def toasts(page: Any, kind: str = "") -> Any:
    """JupyterLab's notification toasts (``kind``: error, success, info, warning)."""
    selector = f".jp-Notification-Toast-{kind}" if kind else ".Toastify__toast"
    return page.locator(selector)


def cell_outputs(page: Any) -> Any:
    return page.locator(".jp-NotebookPanel:visible .jp-Cell .jp-OutputArea-output")
