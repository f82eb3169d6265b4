"""Browser fixtures: one Chromium and one real hub (local backend) per module."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser import console
from tests.conftest import need
from tests.integration.conftest import PASSWORDS, PROXY_MISSING
from tests.integration.hubrunner import RunningHub, write_hub


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """Module scope, never session: Playwright's sync API keeps an asyncio loop running
    in the main thread until it stops, and every later ``asyncio.run()`` in the session
    (async unit tests, the LDAP authenticator's tests) would fail with "cannot be called
    from a running event loop"."""
    reason = console.missing()
    if reason:
        need(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = console.launch(playwright)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(chromium: Any) -> Iterator[Any]:
    """A fresh browser context (own cookies) and page per test."""
    context = chromium.new_context(viewport=console.VIEWPORT)
    context.set_default_timeout(30_000)
    page = context.new_page()
    try:
        yield page
    finally:
        context.close()


def start_hub(tmp_path_factory: pytest.TempPathFactory, config: dict[str, Any]) -> RunningHub:
    if PROXY_MISSING:
        need(PROXY_MISSING)
    hub = write_hub(tmp_path_factory.mktemp("console-hub"), config, PASSWORDS)
    hub.start()
    return hub
