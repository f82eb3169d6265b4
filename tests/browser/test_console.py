"""The admin console in real Chromium against a real hub, service and local servers.

What a person does: a platform admin creates a tenant and sets its quota (a
wrong value comes back next to its field, nothing typed is lost), sees the
quota bars colour at 80 % and 100 % and the usage charts drawn, stops a
server; a tenant admin sees and manages only their tenant; a member and a user
in no tenant get the 403 page; a form POST without its XSRF token changes
nothing. The screenshots in docs/ come from these runs: `make screenshots` runs
them with TENANTHUB_SCREENSHOTS=docs (a plain test run writes them to a temporary
folder, so tests never change tracked files).
"""

from __future__ import annotations

import os
import re
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hub.config.quantities import parse_bytes
from hub.config.schema import TenantStorage
from hub.service.console import views
from tests.browser.conftest import start_hub
from tests.browser.console import canvas_drawn, console_url, sign_in
from tests.integration.conftest import BASE_CONFIG
from tests.integration.hubrunner import Browser, RunningHub

pytestmark = pytest.mark.integration

DOCS = Path(
    os.environ.get("TENANTHUB_SCREENSHOTS") or Path(tempfile.gettempdir()) / "tenanthub-screenshots"
).resolve()
SAMPLE_EVERY = 5
CONFIG: dict[str, Any] = {
    **BASE_CONFIG,
    "backend": {"kind": "local"},
    "service": {"usage_sample_every": SAMPLE_EVERY},
}
#: a new tenant's storage request (its spec's default size, 10Gi) counts against its
#: quota: 12Gi puts the storage bar at 83 %, in the amber band
AMBER_STORAGE_QUOTA = "12Gi"


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHub]:
    running = start_hub(tmp_path_factory, CONFIG)
    try:
        running.wait_for_service()
        yield running
    finally:
        running.shutdown()


def test_the_amber_storage_quota_is_in_the_amber_band():
    fraction = parse_bytes(TenantStorage().size) / parse_bytes(AMBER_STORAGE_QUOTA)
    assert views.WARN <= fraction < views.FULL


def bar_level(page: Any, tenant: str, resource: str) -> str:
    return str(
        page.get_attribute(
            f"tr[data-tenant='{tenant}'] .th-quota[data-resource='{resource}']", "data-level"
        )
    )


def listed(page: Any) -> list[str]:
    return [
        str(t)
        for t in page.eval_on_selector_all(
            "tr[data-tenant]", "rows => rows.map(r => r.dataset.tenant)"
        )
    ]


def test_platform_admin_creates_tenant_sets_quota_sees_bars_and_charts(hub, page):
    # bob runs a server in nlp (quota: 1 server), so nlp's servers bar is full
    bob = Browser(hub, "bob")
    assert bob.login().status_code == 302
    bob.spawn({"tenant": "nlp", "profile-nlp": "small"}, server="nlp")
    bob.wait_ready(server="nlp")

    sign_in(page, hub, "admin")
    assert page.url == console_url(hub)
    assert listed(page) == ["nlp", "vision"]
    # the hub's Services menu links to the service's root, which leads here
    page.goto(hub.url + "services/tenanthub/")
    assert page.url == console_url(hub)
    # JupyterHub's own stylesheet and navigation bar
    assert page.evaluate(
        "[...document.styleSheets].some(s => s.cssRules.length > 100"
        " && (s.href || '').endsWith('/hub/static/css/style.min.css'))"
    )
    nav = page.inner_text("nav.navbar")
    for item in ("Home", "Token", "Admin", "Services", "Tenants", "Logout"):
        assert item in nav

    # create: a wrong unit comes back next to its field, with everything typed kept
    page.click("#new-tenant")
    page.fill("#tenant-name", "geo")
    page.fill("#tenant-display-name", "Geospatial")
    page.fill("#new-quota-cpu", "2")
    page.fill("#new-quota-memory", "4 GB")
    page.fill("#new-quota-storage", AMBER_STORAGE_QUOTA)
    with page.expect_navigation():
        page.click("#create-submit")
    assert "Kubernetes quantity" in page.inner_text("#new-quota-memory-error")
    assert page.input_value("#tenant-name") == "geo"
    assert page.input_value("#tenant-display-name") == "Geospatial"
    assert page.input_value("#new-quota-cpu") == "2"
    assert page.input_value("#new-quota-storage") == AMBER_STORAGE_QUOTA
    assert "geo" not in listed(page)
    page.fill("#new-quota-memory", "4Gi")
    with page.expect_navigation():
        page.click("#create-submit")
    assert page.url.endswith("/console/tenants/geo?done=created"), page.url
    assert page.inner_text("#tenant-title") == "Geospatial"

    # the quota editor: a negative count is refused next to its field, the rest kept
    page.fill("#quota-servers", "-1")
    page.fill("#quota-gpu", "1")
    with page.expect_navigation():
        page.click("#quota-submit")
    assert "greater than or equal to 0" in page.inner_text("#quota-servers-error")
    assert page.input_value("#quota-servers") == "-1"
    assert page.input_value("#quota-gpu") == "1"
    assert page.input_value("#quota-memory") == "4Gi"
    page.fill("#quota-servers", "2")
    with page.expect_navigation():
        page.click("#quota-submit")
    assert page.inner_text("#done") == "Quota saved."
    assert page.input_value("#quota-servers") == "2"
    assert page.input_value("#quota-gpu") == "1"
    assert page.get_attribute("#usage .th-quota[data-resource='storage']", "data-level") == "warn"
    assert page.get_attribute("#usage .th-quota[data-resource='servers']", "data-level") == "ok"

    # a platform admin adds a member (someone who has not signed in yet)
    page.fill("#member-user", "erin")
    page.select_option("#member-role", "admin")
    with page.expect_navigation():
        page.click("#add-member button[type=submit]")
    assert page.inner_text("#done") == "Member added."
    assert page.get_attribute("#member-table tr[data-user='erin']", "data-role") == "admin"

    # the charts: once the sampler has recorded geo twice, the 24 h chart is drawn with them
    deadline = time.monotonic() + 8 * SAMPLE_EVERY
    while int(page.get_attribute("#chart-24h", "data-drawn") or 0) < 2:
        assert time.monotonic() < deadline, "geo's usage samples were not charted"
        time.sleep(1)
        page.goto(console_url(hub, "/tenants/geo"))
    page.wait_for_selector("#chart-7d[data-drawn]")
    assert canvas_drawn(page, "#chart-24h") and canvas_drawn(page, "#chart-7d")
    assert "Not available yet" in page.inner_text("#jobs-count")
    assert page.inner_text("#checkpoints-count").startswith("0 ready")
    DOCS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(DOCS / "console-tenant.png"), full_page=True)

    # the list: bars coloured by how full each resource is
    page.goto(console_url(hub))
    assert listed(page) == ["geo", "nlp", "vision"]
    assert bar_level(page, "nlp", "servers") == "full"  # 1 of 1
    assert bar_level(page, "geo", "storage") == "warn"  # 85 %
    assert bar_level(page, "geo", "cpu") == "ok"  # 0 of 2
    assert bar_level(page, "vision", "gpu") == "none"  # no limit
    assert "1 / 1" in page.inner_text("tr[data-tenant='nlp'] .th-quota[data-resource='servers']")
    page.screenshot(path=str(DOCS / "console-tenants.png"), full_page=True)

    # search and paging
    page.fill("#search", "vis")
    with page.expect_navigation():
        page.press("#search", "Enter")
    assert listed(page) == ["vision"]
    page.goto(console_url(hub, "?limit=2"))
    assert listed(page) == ["geo", "nlp"]
    with page.expect_navigation():
        page.click("#page-next")
    assert listed(page) == ["vision"]

    # stop bob's server from nlp's page
    page.goto(console_url(hub, "/tenants/nlp"))
    row = "#server-table tr[data-user='bob'][data-server='nlp']"
    assert page.is_visible(row)
    page.once("dialog", lambda dialog: dialog.accept())
    with page.expect_navigation():
        page.click(f"{row} button:has-text('Stop')")
    assert "Server stop requested" in page.inner_text("#done")
    bob.wait_stopped(server="nlp")
    page.reload()
    assert page.is_visible("#no-servers")


def test_tenant_admin_sees_and_manages_only_their_tenant(hub, page):
    sign_in(page, hub, "alice")
    assert listed(page) == ["vision"]
    assert not page.is_visible("#new-tenant")
    assert "Admin" not in page.inner_text("nav.navbar ul.navbar-nav")

    # another tenant is not found (the console does not confirm it exists)
    response = page.goto(console_url(hub, "/tenants/nlp"))
    assert response.status == 404
    assert "No tenant 'nlp'" in page.inner_text("#error-message")

    page.goto(console_url(hub, "/tenants/vision"))
    assert page.is_disabled("#quota-cpu")  # quotas are the platform's call
    assert not page.is_visible("#quota-submit")
    members = "#member-table tr[data-user]"
    assert page.eval_on_selector_all(members, "rows => rows.map(r => r.dataset.user)") == [
        "alice",
        "bob",
    ]

    # add carol, make her an admin, remove her
    page.fill("#member-user", "carol")
    with page.expect_navigation():
        page.click("#add-member button[type=submit]")
    assert page.inner_text("#done") == "Member added."
    carol = "#member-table tr[data-user='carol']"
    assert page.input_value(f"{carol} select[name=role]") == "member"
    page.select_option(f"{carol} select[name=role]", "admin")
    with page.expect_navigation():
        page.click(f"{carol} button:has-text('Change')")
    assert page.inner_text("#done") == "Role changed."
    assert page.input_value(f"{carol} select[name=role]") == "admin"
    assert page.get_attribute(carol, "data-role") == "admin"
    # bob comes from the config file: the console offers no change it could not make
    assert page.locator("#member-table tr[data-user='bob'] form").count() == 0
    page.once("dialog", lambda dialog: dialog.accept())
    with page.expect_navigation():
        page.click(f"{carol} button:has-text('Remove')")
    assert page.inner_text("#done") == "Member removed."
    assert not page.is_visible(carol)


@pytest.mark.parametrize(
    ("user", "says"),
    [
        ("bob", "You are a member of nlp, vision, not an admin"),
        ("dan", "You are a member of nlp, not an admin"),
        ("carol", "You are not a member of any tenant yet"),
    ],
)
def test_members_and_users_in_no_tenant_get_the_403_page(hub, page, user, says):
    response = None

    def remember(r: Any) -> None:
        nonlocal response
        if r.url == console_url(hub):
            response = r

    page.on("response", remember)
    sign_in(page, hub, user)
    assert response is not None and response.status == 403
    assert page.inner_text("h1") == "The console is for tenant admins"
    assert says in page.inner_text("#error-message")
    assert not page.is_visible("#tenants")
    # a tenant page is refused too, for a tenant the user is a member of
    if user != "carol":
        assert page.goto(console_url(hub, "/tenants/nlp")).status == 403


def test_a_form_post_without_its_xsrf_token_changes_nothing(hub, page):
    sign_in(page, hub, "admin")
    form = {"name": "sneaky", "cpu": "1"}
    refused = page.request.post(console_url(hub, "/tenants"), form=form)
    assert refused.status == 403
    assert "security token (_xsrf)" in refused.text()
    forged = page.request.post(console_url(hub, "/tenants"), form={**form, "_xsrf": "forged"})
    assert forged.status == 403
    page.goto(console_url(hub, "?q=sneaky"))
    assert page.is_visible("#no-tenants")
    # the same form with the page's token goes through (the refusal was the token)
    token = page.input_value("#create-form input[name=_xsrf]")
    made = page.request.post(console_url(hub, "/tenants"), form={**form, "_xsrf": token})
    assert made.ok, made.text()
    page.goto(console_url(hub, "?q=sneaky"))
    assert listed(page) == ["sneaky"]
    assert re.search(r"/ 1 CPU", page.inner_text("tr[data-tenant='sneaky']"))
