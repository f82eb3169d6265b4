"""Driving the console in real Chromium (Debian's, through Playwright): shared by the
browser tests and ``benchmarks/console_page.py``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.integration.hubrunner import RunningHub

CHROMIUM = Path("/usr/bin/chromium")
#: headless, and nothing that reaches past loopback (no updates, sync or field trials)
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1280, "height": 860}


def missing() -> str:
    """Why the browser tests cannot run here ("" when they can)."""
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing: scripts/install-system.sh test installs Debian's chromium"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is missing: make install (dev extras)"
    return ""


def launch(playwright: Any) -> Any:
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)


def console_url(hub: RunningHub, path: str = "") -> str:
    return hub.url + "services/tenanthub/console" + path


def sign_in(page: Any, hub: RunningHub, user: str, then: str | None = None) -> None:
    """Log in on the hub's login page, then open ``then`` (the console by default).

    Opening the console sends the browser through the hub's OAuth, which must not
    stop at an "Authorize" page: the console is part of the platform
    (``oauth_no_confirm`` on the service).
    """
    page.goto(hub.url + "hub/login")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", hub.passwords[user])
    with page.expect_navigation():
        page.click("form [type=submit]")
    page.goto(then or console_url(hub))
    assert "/oauth2/authorize" not in page.url, "the hub asked to authorize its own console"


def canvas_drawn(page: Any, selector: str) -> bool:
    """True when the canvas has pixels painted (Chart.js drew axes, lines or labels)."""
    return bool(
        page.evaluate(
            """(sel) => {
                const c = document.querySelector(sel);
                if (!c || !c.width || !c.height) return false;
                const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                for (let i = 3; i < d.length; i += 4) if (d[i] !== 0) return true;
                return false;
            }""",
            selector,
        )
    )
