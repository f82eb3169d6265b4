"""Console tenant list page load in Chromium with 1000 tenants x 10 users, against /hub/admin.

    .venv/bin/python benchmarks/console_page.py [--rounds 20] [--db sqlite] [--results]

One real TenantHub (``tenanthub run``, local backend, its proxy, the platform
service the hub starts) is loaded with ``--tenants`` tenants of ``--members``
users each, in the platform tables and, as one group per tenant, in
JupyterHub's own tables (the bulk loaders of ``benchmarks/tenant_list.py``,
written while the hub is stopped). Debian's Chromium (Playwright, headless)
signs in as the hub admin, then loads, ``--rounds`` times each, alternating
which goes first in a round:

* console: ``/services/tenanthub/console`` (the first page of 25 tenants by
  name, each with its six quota bars from live usage, rendered by the service);
* anchor: JupyterHub's own admin page ``/hub/admin`` (its first page of users,
  rendered in the browser from the hub's REST API).

Per load, from the page's own clock (navigation start = 0): ``load`` = the
load event ends (Navigation Timing ``loadEventEnd``); ``visible`` = the data
is on screen: the first frame after the console's quota bars or the admin
page's first user row are in the document. Same browser context throughout
(warm cache, as a person clicking around), ``--warmup`` untimed loads each
first. Reported: median and p90 of each, the console/admin ratio of the
medians. Goal from issue 7: console page <= 1 s.

Everything listens on 127.0.0.1; the only processes stopped are the ones this
script started (by PID). ``--results`` appends a row to benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(HERE))

from tenant_list import load_jupyterhub, load_platform  # noqa: E402

from tests.browser.console import console_url, launch, missing, sign_in  # noqa: E402
from tests.integration.hubrunner import RunningHub, write_hub  # noqa: E402

ADMIN = "admin"
PASSWORD = "admin-password-1"
GOAL_SECONDS = 1.0
TARGETS = ("console", "admin")
ROWS_MARKER = "<!-- console_page.py appends rows above this line -->\n"

#: records when the page's data is first on screen: the next animation frame after
#: the console's quota bars / the admin page's first user row are in the document
VISIBLE_PROBE = """
(() => {
  const want = location.pathname.includes('/services/tenanthub/console')
    ? 'tr[data-tenant] .th-quota'
    : '[data-testid="user-row-name"]';
  const seen = () => requestAnimationFrame(() => { window.__visible = performance.now(); });
  if (document.querySelector(want)) { seen(); return; }
  new MutationObserver((_, observer) => {
    if (document.querySelector(want)) { observer.disconnect(); seen(); }
  }).observe(document, { childList: true, subtree: true });
})();
"""


@dataclass
class Tally:
    load: list[float] = field(default_factory=list)
    visible: list[float] = field(default_factory=list)

    @staticmethod
    def p90(values: list[float]) -> float:
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]


def url_of(hub: RunningHub, target: str) -> str:
    return console_url(hub) if target == "console" else hub.url + "hub/admin"


def one_load(page: Any, hub: RunningHub, target: str) -> tuple[float, float]:
    """Seconds from navigation start to the load event and to the data being visible."""
    page.goto(url_of(hub, target), wait_until="load")
    page.wait_for_function("window.__visible !== undefined", timeout=60_000)
    load_ms = page.evaluate("performance.getEntriesByType('navigation')[0].loadEventEnd")
    visible_ms = page.evaluate("window.__visible")
    if target == "console":
        rows = page.locator("tr[data-tenant]").count()
        bars = page.locator("tr[data-tenant] .th-quota").count()
        if rows != 25 or bars != 25 * 6:
            raise RuntimeError(f"console page: {rows} tenants, {bars} bars (want 25, 150)")
    return load_ms / 1000, visible_ms / 1000


def measure(args: argparse.Namespace, hub: RunningHub) -> dict[str, Tally]:
    from playwright.sync_api import sync_playwright

    tallies = {t: Tally() for t in TARGETS}
    with sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 860})
            context.set_default_timeout(60_000)
            context.add_init_script(VISIBLE_PROBE)
            page = context.new_page()
            sign_in(page, hub, ADMIN)
            for _ in range(args.warmup):
                for target in TARGETS:
                    one_load(page, hub, target)
            for round_ in range(args.rounds):
                order = TARGETS if round_ % 2 == 0 else tuple(reversed(TARGETS))
                for target in order:
                    load, visible = one_load(page, hub, target)
                    tallies[target].load.append(load)
                    tallies[target].visible.append(visible)
        finally:
            browser.close()
    return tallies


def summary(t: Tally) -> str:
    return (
        f"load {statistics.median(t.load) * 1000:.0f} ms (p90 {Tally.p90(t.load) * 1000:.0f}), "
        f"visible {statistics.median(t.visible) * 1000:.0f} ms "
        f"(p90 {Tally.p90(t.visible) * 1000:.0f})"
    )


def report(args: argparse.Namespace, tallies: dict[str, Tally], load: str) -> None:
    print(f"\n{args.rounds} loads each ({load})")
    for target, t in tallies.items():
        print(f"{target:<8} {summary(t)}")
    ours, anchor = tallies["console"], tallies["admin"]
    load_ratio = statistics.median(ours.load) / statistics.median(anchor.load)
    visible_ratio = statistics.median(ours.visible) / statistics.median(anchor.visible)
    print(f"\nconsole / admin: load {load_ratio:.2f}x, visible {visible_ratio:.2f}x (medians)")
    slowest = max(statistics.median(ours.load), statistics.median(ours.visible))
    met = "met" if slowest <= GOAL_SECONDS else "NOT met"
    print(f"goal console page <= {GOAL_SECONDS:.0f} s (median load and visible): {met}")
    if args.results:
        append_result(args, tallies, load, load_ratio, visible_ratio, met)


def append_result(
    args: argparse.Namespace,
    tallies: dict[str, Tally],
    load: str,
    load_ratio: float,
    visible_ratio: float,
    met: str,
) -> None:
    row = (
        f"| {args.date} | {args.tenants} tenants x {args.members} users, {args.rounds} loads "
        f"each, {args.db} | {summary(tallies['console'])} | {summary(tallies['admin'])} "
        f"| **{load_ratio:.2f}x** load, {visible_ratio:.2f}x visible | {met.lower()} "
        f"| {load} |\n"
    )
    path = HERE / "RESULTS.md"
    text = path.read_text()
    if ROWS_MARKER not in text:
        raise SystemExit(f"{path} has no console page table (marker {ROWS_MARKER.strip()})")
    path.write_text(text.replace(ROWS_MARKER, row + ROWS_MARKER, 1))
    print(f"appended to {path}")


def run(args: argparse.Namespace) -> int:
    """Start the hub, load both schemas, measure, and stop everything this started."""
    root = Path(tempfile.mkdtemp(prefix="tenanthub-bench-console-"))
    postgres = None
    hub: RunningHub | None = None
    try:
        config: dict[str, Any] = {
            "auth": {"admin_users": [ADMIN]},
            "profiles": [{"name": "small", "cpu": {"limit": "1"}, "memory": {"limit": "1Gi"}}],
            "culling": {"enabled": False},
        }
        if args.db == "postgresql":
            from tests.services.postgres import start_postgres

            postgres = start_postgres()
            config["hub"] = {"db_url": postgres.create_database("console_page_bench")}
        hub = write_hub(root, config, {ADMIN: PASSWORD})
        hub.start(timeout=120)  # creates and migrates both schemas
        hub.stop_hub()
        db_url = config.get("hub", {}).get("db_url") or f"sqlite:///{hub.data_dir}/tenanthub.sqlite"
        started = time.perf_counter()
        load_platform(db_url, args.tenants, args.members)
        load_jupyterhub(db_url, args.tenants, args.members)
        print(
            f"loaded {args.tenants} tenants x {args.members} users into both schemas "
            f"in {time.perf_counter() - started:.1f} s ({args.db})"
        )
        hub.start(timeout=300)
        hub.wait_for_service(timeout=120)
        tallies = measure(args, hub)
        load = f"{os.cpu_count()} vCPU VM, load " + " ".join(f"{x:.1f}" for x in os.getloadavg())
        report(args, tallies, load)
        return 0
    finally:
        if hub is not None:
            hub.shutdown()
        if postgres is not None:
            postgres.stop()
        shutil.rmtree(root, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tenants", type=int, default=1000)
    parser.add_argument("--members", type=int, default=10, help="users per tenant")
    parser.add_argument("--rounds", type=int, default=20, help="timed loads per page")
    parser.add_argument("--warmup", type=int, default=3, help="untimed loads per page")
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--results", action="store_true", help="append to RESULTS.md")
    parser.add_argument("--date", default=datetime.date.today().isoformat())
    args = parser.parse_args()
    reason = missing()
    if reason:
        parser.error(reason)
    print(f"{platform.node()}: python {platform.python_version()}")
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
