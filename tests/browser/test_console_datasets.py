"""A tenant's data sources in the console, in real Chromium against a real hub and a real
S3 API (moto's server on loopback).

What a person does: a tenant admin opens the data sources from the tenant page, adds a
files source in the tenant's shared folder (one outside it is refused next to its field)
and an S3 source with credentials (a bad bucket name comes back next to its field, with
the secret key field empty), tests both connections (ok), types a wrong secret key and
the test says "bad credentials" with what to do, removes a source after confirming; a
member sees the sources and tests them but gets no form; a member of another tenant gets
the console's 403 page. No page ever carries a credential. ``make screenshots`` writes
docs/console-datasets.png from this run (see ``test_console``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from spawner.plan import local_paths
from tests.browser.conftest import start_hub
from tests.browser.console import console_url, sign_in
from tests.browser.test_console import DOCS
from tests.integration.conftest import BASE_CONFIG
from tests.integration.hubrunner import RunningHub

pytestmark = pytest.mark.integration

CONFIG: dict[str, Any] = {**BASE_CONFIG, "backend": {"kind": "local"}}
WRONG_SECRET = "wrong-secret-key-typed-in-the-console-42"
SQL_PASSWORD = "sql-password-typed-in-the-console-7"


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHub]:
    running = start_hub(tmp_path_factory, CONFIG)
    try:
        running.wait_for_service()
        yield running
    finally:
        running.shutdown()


def datasets_url(hub: RunningHub, tenant: str = "vision") -> str:
    return console_url(hub, f"/tenants/{tenant}/datasets")


def card(name: str) -> str:
    return f".th-source[data-source='{name}']"


def sources(page: Any) -> list[str]:
    names = page.eval_on_selector_all(".th-source", "cards => cards.map(c => c.dataset.source)")
    return [str(s) for s in names]


def submit(page: Any, selector: str) -> None:
    with page.expect_navigation():
        page.click(selector)


def test_connection(page: Any, name: str) -> str:
    submit(page, f"{card(name)} .th-test-form button")
    return str(page.inner_text(f"{card(name)} .th-health"))


test_connection.__test__ = False  # type: ignore[attr-defined]  # a helper, not a test


class NoSecrets:
    """Every console page the browser loads, checked for the credentials typed in."""

    def __init__(self, page: Any, *secrets: str) -> None:
        self.secrets = [s for s in secrets if s]
        self.seen = 0
        self.leaks: list[str] = []
        page.on("response", self.check)

    def check(self, response: Any) -> None:
        if "/console" not in response.url or "text/html" not in (
            response.headers.get("content-type") or ""
        ):
            return
        text = response.text()
        self.seen += 1
        # collected, not asserted here: an event listener's exception need not reach the test
        self.leaks += [response.url for secret in self.secrets if secret in text]


def test_a_tenant_admin_adds_tests_changes_and_removes_sources(hub, s3, page):
    shared = local_paths(hub.data_dir, "vision", "-").shared
    data = shared / "data"
    data.mkdir(parents=True, exist_ok=True)
    (data / "sales.csv").write_text("city,sales\nLyon,10\n")
    s3.create_bucket("vision-lake")
    s3.put("vision-lake", "events/day-01.jsonl", b'{"n": 1}\n')
    secret = s3.reader.secret_key
    guard = NoSecrets(page, secret, s3.reader.access_key, WRONG_SECRET, SQL_PASSWORD)

    sign_in(page, hub, "alice", console_url(hub, "/tenants/vision"))
    assert page.inner_text("#datasets-count") == "0"
    submit(page, "#datasets-link")
    assert page.url == datasets_url(hub)
    assert page.is_visible("#no-sources")
    assert page.locator("#source-kind option[value=hive]").count() == 0  # platform admins only

    # files: a folder outside the tenant's is refused next to its field, the rest kept
    page.fill("#source-name", "shared")
    page.select_option("#source-kind", "files")
    assert page.is_visible("#source-files-root") and not page.is_visible("#source-s3-bucket")
    page.fill("#source-files-root", str(hub.data_dir))
    submit(page, "#source-submit")
    assert "must be a folder inside one of" in page.inner_text("#source-files-root-error")
    assert page.input_value("#source-name") == "shared"
    assert page.input_value("#source-kind") == "files"
    page.fill("#source-files-root", str(data))
    submit(page, "#source-submit")
    assert page.inner_text("#done") == "Data source added."
    assert sources(page) == ["shared"]
    assert str(data) in page.inner_text(f"{card('shared')} .th-settings")

    # s3: a bad bucket name comes back next to its field; the credentials do not come back
    page.fill("#source-name", "lake")
    page.select_option("#source-kind", "s3")
    page.fill("#source-s3-bucket", "X")
    page.fill("#source-s3-endpoint_url", s3.endpoint_url)
    page.fill("#source-s3-access_key", s3.reader.access_key)
    page.fill("#source-s3-secret_key", secret)
    submit(page, "#source-submit")
    assert page.inner_text("#source-s3-bucket-error")
    assert page.input_value("#source-s3-bucket") == "X"
    assert page.input_value("#source-s3-endpoint_url") == s3.endpoint_url
    assert page.input_value("#source-s3-access_key") == ""
    assert page.input_value("#source-s3-secret_key") == ""
    assert "type them again" in page.inner_text("#source-form")
    page.fill("#source-s3-bucket", "vision-lake")
    page.fill("#source-s3-access_key", s3.reader.access_key)
    page.fill("#source-s3-secret_key", secret)
    submit(page, "#source-submit")
    assert page.inner_text("#done") == "Data source added."
    assert sources(page) == ["lake", "shared"]
    lake = card("lake")
    assert page.get_attribute(lake, "data-kind") == "s3"
    assert "vision-lake" in page.inner_text(f"{lake} .th-settings")
    for name in ("access_key", "secret_key"):
        assert page.get_attribute(f"{lake} [data-credential={name}]", "data-set") == "yes"

    # an SQL URL with its password, refused (the name is taken): neither comes back
    page.fill("#source-name", "lake")
    page.select_option("#source-kind", "sql")
    page.fill("#source-sql-url", f"postgresql://app:{SQL_PASSWORD}@127.0.0.1:9/sales")
    submit(page, "#source-submit")
    assert "already" in page.inner_text("#source-name-error")
    assert page.input_value("#source-sql-url") == "postgresql://app@127.0.0.1:9/sales"

    # both connections work
    page.goto(datasets_url(hub))
    assert test_connection(page, "shared").startswith("ok")
    assert test_connection(page, "lake").startswith("ok")
    assert page.get_attribute(f"{lake} .th-health", "data-ok") == "yes"

    # a wrong secret key: the test says it is the credentials, and what to do
    page.fill(f"{lake} input[name=secret-secret_key]", WRONG_SECRET)
    submit(page, f"{lake} .th-secrets-form button[type=submit]")
    assert page.inner_text("#done") == "Credentials saved."
    assert page.get_attribute(f"{lake} [data-credential=secret_key]", "data-set") == "yes"
    health = test_connection(page, "lake")
    assert page.get_attribute(f"{lake} .th-health", "data-ok") == "no"
    assert page.inner_text(f"{lake} .th-health-result") == "bad credentials"
    assert "enter them again" in page.inner_text(f"{lake} .th-health-advice"), health
    DOCS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(DOCS / "console-datasets.png"), full_page=True)

    # remove: asked first; dismissing keeps it, accepting removes it
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.click(f"{card('shared')} .th-remove-form button")
    assert sources(page) == ["lake", "shared"]
    page.once("dialog", lambda dialog: dialog.accept())
    submit(page, f"{card('shared')} .th-remove-form button")
    assert page.inner_text("#done").startswith("Data source removed")
    assert sources(page) == ["lake"]
    assert (data / "sales.csv").exists()  # the data is not touched

    assert guard.seen >= 10 and guard.leaks == []
    log = hub.log()
    for typed in (secret, WRONG_SECRET, SQL_PASSWORD):
        assert typed not in log


def test_a_member_sees_and_tests_the_sources_without_forms(hub, s3, page):
    # the console refuses a member, and points to their tenants' data sources
    sign_in(page, hub, "bob")
    assert page.inner_text("h1") == "The console is for tenant admins"
    guard = NoSecrets(page, s3.reader.secret_key, WRONG_SECRET)
    submit(page, "#error-links a:has-text('Data sources of vision')")
    assert page.url == datasets_url(hub)
    assert page.inner_text("#datasets-title") == "Data sources"
    assert sources(page) == ["lake"]
    assert "vision-lake" in page.inner_text(f"{card('lake')} .th-settings")
    assert page.locator("#source-form").count() == 0
    assert page.locator(".th-secrets-form, .th-remove-form").count() == 0
    assert test_connection(page, "lake").startswith("bad credentials")
    assert guard.seen >= 2 and guard.leaks == []

    # the API decides: a member's POST (with the page's token) is refused, nothing added
    token = page.input_value(f"{card('lake')} .th-test-form input[name=_xsrf]")
    form = {"_xsrf": token, "name": "mine", "kind": "files", "files-root": "/tmp"}
    refused = page.request.post(datasets_url(hub), form=form)
    assert refused.status == 403
    removed = page.request.post(
        datasets_url(hub) + "/lake", form={"_xsrf": token, "action": "remove"}
    )
    assert removed.status == 403
    page.goto(datasets_url(hub))
    assert sources(page) == ["lake"]


def test_a_member_of_another_tenant_gets_the_403_page(hub, page):
    sign_in(page, hub, "dan", datasets_url(hub))
    response = page.goto(datasets_url(hub))
    assert response.status == 403
    assert page.inner_text("h1") == "The console is for tenant admins"
    assert page.locator(".th-source").count() == 0
    # dan's own tenant's sources are his to see
    assert page.goto(datasets_url(hub, "nlp")).status == 200
    assert page.is_visible("#no-sources")
