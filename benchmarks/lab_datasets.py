"""In Chromium: the Datasets panel's first page of a 100 000-entry folder against
JupyterLab's file browser opening the same folder.

    .venv/bin/python benchmarks/lab_datasets.py [--entries 100000] [--rounds 3]

One run, side by side, in one JupyterLab:

* a real TenantHub (``tenanthub run``, local backend, its proxy and platform service);
  the tenant admin registers a files source on the tenant's shared folder, which holds
  ``big/`` with ``--entries`` empty files;
* bob logs in on the hub's login page in Debian's Chromium (Playwright, headless) and
  starts his server from the spawn form: a real ``jupyterhub-singleuser`` JupyterLab
  with the extension; his home has ``shared`` -> the tenant's shared folder, so the
  file browser reaches the same ``big/`` as ``shared/big``;
* datasets: in the Datasets panel, the source is open at its top; timed from the click
  on ``big`` to the first frame with the folder's first entries in the tree (one page,
  ``datasets.page_size`` entries, and "Load more");
* file browser: Lab's file browser shows ``shared/``; timed from the double click on
  ``big`` to the first frame with the folder's entries listed (Jupyter's contents API
  answers the whole folder, then Lab renders it).

Each round starts from a fresh Lab (``lab?reset``: no restored panels or folders) and
alternates which goes first; both are timed in the page (``performance.now()`` at the
click, a MutationObserver for the entries, then ``requestAnimationFrame``). One untimed
warm-up of the Datasets panel. Medians, the ratio file browser / Datasets. Everything listens on
127.0.0.1; the only processes stopped are the ones this script started (by PID).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from spawner.plan import local_paths  # noqa: E402
from tests.browser import console, lab  # noqa: E402
from tests.integration.conftest import BASE_CONFIG, PASSWORDS  # noqa: E402
from tests.integration.hubrunner import Browser, write_hub  # noqa: E402

SOURCE = "files"
#: in the page: click (or double click) ``target``, then resolve with the milliseconds
#: until the first frame in which ``done`` matches an element
TIMED_CLICK = """async ([target, done, dbl]) => {
    const node = document.querySelector(target);
    if (!node) throw new Error('nothing to click: ' + target);
    return await new Promise((resolve, reject) => {
        const t0 = performance.now();
        const check = () => {
            if (!document.querySelector(done)) return false;
            observer.disconnect();
            clearTimeout(timer);
            requestAnimationFrame(() => resolve(performance.now() - t0));
            return true;
        };
        const observer = new MutationObserver(check);
        observer.observe(document.body, {childList: true, subtree: true, attributes: true});
        const timer = setTimeout(() => { observer.disconnect(); reject(new Error('timeout')); },
                                 600000);
        const box = node.getBoundingClientRect();  // Lab hit-tests the listing by position
        const init = {bubbles: true, cancelable: true, view: window, detail: dbl ? 2 : 1,
                      clientX: box.left + box.width / 2, clientY: box.top + box.height / 2};
        if (dbl) {
            node.dispatchEvent(new MouseEvent('mousedown', init));
            node.dispatchEvent(new MouseEvent('click', init));
            node.dispatchEvent(new MouseEvent('dblclick', init));
        } else {
            node.click();
        }
        check();
    });
}"""


def make_folder(folder: Path, entries: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(entries):
        fd = os.open(folder / f"part-{i:06d}.csv", os.O_WRONLY | os.O_CREAT, 0o644)
        os.close(fd)


def fresh_lab(page: Any, server: str) -> None:
    page.goto(server + "lab?reset")
    lab.wait_for_lab(page)


def time_datasets(page: Any) -> float:
    lab.open_side_panel(page, "tenanthub-datasets")
    top = lab.datasets_row(page, SOURCE)
    top.wait_for()
    if top.get_attribute("aria-expanded") != "true":
        top.click()
    big = lab.datasets_row(page, SOURCE, "big")
    big.wait_for()
    assert big.get_attribute("aria-expanded") == "false"
    row = f"#tenanthub-datasets .jp-TenantHub-row[data-source='{SOURCE}']"
    done = f"{row}[data-path^='big/part-']"
    ms = page.evaluate(TIMED_CLICK, [f"{row}[data-path='big']", done, False])
    page.locator("#tenanthub-datasets button.jp-TenantHub-more").wait_for()  # a page, and more
    return float(ms) / 1000


def time_file_browser(page: Any, entries: int) -> float:
    lab.open_side_panel(page, "filebrowser")
    item = "#filebrowser .jp-DirListing-item"
    listing = page.locator(item)
    listing.filter(has=page.locator(".jp-DirListing-itemText", has_text="shared")).dblclick()
    crumbs = page.locator("#filebrowser .jp-BreadCrumbs")
    crumbs.filter(has_text="shared").wait_for()
    big = listing.filter(has=page.locator(".jp-DirListing-itemText", has_text="big"))
    big.wait_for()
    target = page.evaluate(
        """(sel) => { const items = [...document.querySelectorAll(sel)];
            const big = items.find(i => i.querySelector('.jp-DirListing-itemText')
                                         ?.textContent.trim() === 'big');
            big.dataset.benchTarget = '1'; return true; }""",
        item,
    )
    assert target
    done = f"{item}[title*='part-']"
    ms = page.evaluate(TIMED_CLICK, [f"{item}[data-bench-target='1']", done, True])
    shown = listing.count()
    assert shown >= min(entries, 1), shown
    return float(ms) / 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    reason = console.missing()
    if reason:
        raise SystemExit(reason)
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="tenanthub-lab-bench-") as tmp:
        root = Path(tmp)
        config = {**BASE_CONFIG, "backend": {"kind": "local"}}
        hub = write_hub(root / "hub", config, PASSWORDS)
        try:
            hub.start()
            hub.wait_for_service()
            shared = local_paths(hub.data_dir, "vision", "-").shared
            print(f"making {args.entries} files ...", flush=True)
            make_folder(shared / "big", args.entries)
            alice = Browser(hub, "alice")
            alice.login()
            token = alice.api("POST", "users/alice/tokens", json={"note": "bench"}).json()
            made = requests.post(
                hub.url + "services/tenanthub/api/v1/tenants/vision/datasets",
                json={"name": SOURCE, "kind": "files", "settings": {"root": str(shared)}},
                headers={"Authorization": f"token {token['token']}"}, timeout=60,
            )  # fmt: skip
            assert made.status_code == 201, made.text
            lab.quiet_lab_settings(local_paths(hub.data_dir, "vision", "bob").home)
            with sync_playwright() as playwright:
                browser = console.launch(playwright)
                context = browser.new_context(viewport=console.VIEWPORT)
                context.set_default_timeout(600_000)
                page = context.new_page()
                started = time.perf_counter()
                server = lab.sign_in_and_spawn(page, hub, "bob", "vision")
                print(f"JupyterLab up in {time.perf_counter() - started:.1f} s", flush=True)
                runs = {"datasets": lambda: time_datasets(page),
                        "file browser": lambda: time_file_browser(page, args.entries)}  # fmt: skip
                # warm-up of the panel (imports, the source's connector, the first calls);
                # the file browser needs none (its first listing was within a few % of the
                # next ones at 1 000 and 10 000 entries) and costs minutes at 100 000
                fresh_lab(page, server)
                print(f"  warm-up datasets: {time_datasets(page) * 1000:.0f} ms", flush=True)
                times: dict[str, list[float]] = {name: [] for name in runs}
                for i in range(args.rounds):
                    order = list(runs) if i % 2 == 0 else list(reversed(runs))
                    for name in order:
                        fresh_lab(page, server)
                        times[name].append(runs[name]())
                    print(f"  round {i + 1}: datasets {times['datasets'][-1] * 1000:.0f} ms, "
                          f"file browser {times['file browser'][-1] * 1000:.0f} ms",
                          flush=True)  # fmt: skip
                page.goto(server + "lab?reset")  # leave the big folder before stopping
                browser.close()
            med = {name: statistics.median(v) for name, v in times.items()}
            print(f"median: datasets panel first page {med['datasets'] * 1000:.0f} ms "
                  f"(min {min(times['datasets']) * 1000:.0f}, max "
                  f"{max(times['datasets']) * 1000:.0f}); file browser "
                  f"{med['file browser'] * 1000:.0f} ms (min "
                  f"{min(times['file browser']) * 1000:.0f}, max "
                  f"{max(times['file browser']) * 1000:.0f})")  # fmt: skip
            print(f"ratio file browser / datasets panel: "
                  f"{med['file browser'] / med['datasets']:.1f}x")  # fmt: skip
        finally:
            hub.shutdown()


if __name__ == "__main__":
    main()
