"""The console's decisions (``hub.service.console.views``), without a browser or a hub:
who may open it, bar colours, paging links, form fields to API bodies and API errors
back to form fields, chart series. The browser tests show the same on real pages."""

from __future__ import annotations

from typing import Any

from hub.service.api.models import (
    QuotaOut,
    ResourceUsage,
    TenantOut,
    UsageHistoryOut,
    UsageOut,
    UsagePoint,
)
from hub.service.console import views
from hub.service.console.handlers import Section
from hub.service.policy import Actor

GIB = 2**30


def quota(**values: object) -> QuotaOut:
    fields = dict.fromkeys(("cpu", "memory", "gpu", "servers", "storage", "running_jobs"))
    return QuotaOut.model_validate({**fields, **values})


def tenant(name: str, role: str | None) -> TenantOut:
    return TenantOut(
        name=name, display_name=name, quota=quota(), allowed_profiles=None, members=0,
        your_role=role,  # type: ignore[arg-type]
    )  # fmt: skip


def usage_of(**used_limit: tuple[int, int | None]) -> UsageOut:
    return UsageOut(
        tenant="t",
        at="2026-11-23T10:00:00+00:00",
        resources=[
            ResourceUsage(
                resource=name,  # type: ignore[arg-type]
                used=used,
                limit=limit,
                used_display=str(used),
                limit_display=None if limit is None else str(limit),
                fraction=None,
            )
            for name, (used, limit) in used_limit.items()
        ],
    )


def test_platform_and_tenant_admins_may_open_the_console():
    assert views.console_refusal(Actor("root", platform_admin=True)) is None
    assert views.console_refusal(Actor("a", roles={"x": "member", "y": "admin"})) is None


def test_members_and_users_in_no_tenant_are_refused_with_a_reason():
    member = views.console_refusal(Actor("b", roles={"y": "member", "x": "member"}))
    assert member is not None and member.status == 403
    assert "member of x, y, not an admin" in member.message
    nobody = views.console_refusal(Actor("c"))
    assert nobody is not None and nobody.status == 403
    assert "not a member of any tenant" in nobody.message


def test_a_tenant_page_is_for_its_admins_and_platform_admins():
    admin_of_x = Actor("a", roles={"x": "admin", "y": "member"})
    assert views.tenant_refusal(admin_of_x, "x") is None
    refused = views.tenant_refusal(admin_of_x, "y")
    assert refused is not None and refused.status == 403
    assert views.tenant_refusal(Actor("root", platform_admin=True), "y") is None


def test_a_tenant_admin_lists_only_the_tenants_they_administer():
    rows = [tenant("a", "admin"), tenant("b", "member"), tenant("c", "platform-admin")]
    assert [t.name for t in views.admin_only(rows)] == ["a", "c"]


def test_bar_colours_change_at_80_and_100_percent():
    assert views.level_of(None) == "none"
    assert views.level_of(0.0) == "ok"
    assert views.level_of(0.799) == "ok"
    assert views.level_of(0.8) == "warn"
    assert views.level_of(0.999) == "warn"
    assert views.level_of(1.0) == "full"
    assert views.level_of(1.7) == "full"


def test_bars_from_live_usage():
    bars = {
        b.resource: b
        for b in views.bars(
            usage_of(cpu=(3000, 4000), memory=(9 * GIB, 8 * GIB), gpu=(0, 0), servers=(1, None)),
            quota(),
        )
    }
    assert (bars["cpu"].percent, bars["cpu"].level, bars["cpu"].css) == (75, "ok", "bg-success")
    # over the limit: the bar is full width and red
    assert (bars["memory"].percent, bars["memory"].level) == (100, "full")
    # a limit of 0 is full: nothing more fits
    assert (bars["gpu"].percent, bars["gpu"].level) == (100, "full")
    assert (bars["servers"].percent, bars["servers"].level) == (None, "none")
    assert bars["servers"].text == "1 (no limit)"
    assert bars["cpu"].text == "3000 / 4000"


def test_without_usage_the_limits_show_and_the_usage_is_unknown_not_zero():
    bars = {b.resource: b for b in views.bars(None, quota(cpu="4", servers=3))}
    assert bars["cpu"].text == "? / 4"
    assert bars["servers"].text == "? / 3"
    assert bars["memory"].text == "? (no limit)"
    assert all(b.percent is None for b in bars.values())
    assert [b.resource for b in views.bars(None, quota())] == [r for r, _ in views.RESOURCES]


def test_paging_links_keep_the_search_and_stop_at_the_ends():
    first = views.pager(total=60, limit=25, offset=0, q="vis")
    assert first.previous is None
    assert first.following == "?offset=25&q=vis"
    assert (first.first, first.last) == (1, 25)
    last = views.pager(total=60, limit=25, offset=50)
    assert last.previous == "?offset=25"
    assert last.following is None
    assert (last.first, last.last) == (51, 60)
    assert views.pager(total=0, limit=25, offset=0).first == 0
    assert views.pager(10, 5, 0).following == "?offset=5&limit=5"


def test_page_arguments_are_clamped_not_refused():
    assert views.page_args({}) == (views.PAGE_SIZE, 0)
    assert views.page_args({"limit": "1000", "offset": "-3"}) == (views.MAX_PAGE_SIZE, 0)
    assert views.page_args({"limit": "x", "offset": "y"}) == (views.PAGE_SIZE, 0)


def test_quota_form_to_body_and_back():
    body = views.quota_body({"cpu": " 8 ", "memory": "", "gpu": "-1", "servers": "3"})
    # empty means no limit; the rest goes to the API as typed, for it to judge
    assert body == {
        "cpu": "8",
        "memory": None,
        "gpu": "-1",
        "servers": "3",
        "storage": None,
        "running_jobs": None,
    }
    assert views.quota_form(quota(cpu="8", servers=3)) == {
        "cpu": "8",
        "memory": "",
        "gpu": "",
        "servers": "3",
        "storage": "",
        "running_jobs": "",
    }


def test_api_field_errors_land_on_form_fields():
    errors = [
        {"path": "quota.cpu", "message": "too much"},
        {"path": "name", "message": "bad name"},
        {"path": "name", "message": "too long"},
    ]
    assert views.field_errors(errors) == {"quota.cpu": "too much", "name": "bad name; too long"}
    assert views.field_errors(errors, strip="quota.")["cpu"] == "too much"
    assert views.field_errors(None) == {}


def test_done_messages_come_from_a_fixed_list():
    assert views.done_message("quota") == "Quota saved."
    assert views.done_message("<script>") is None
    assert views.done_message(None) is None


def test_chart_series_in_display_units():
    history = UsageHistoryOut(
        tenant="t",
        window="24h",
        points=[
            UsagePoint(
                at="2026-11-23T14:05:00+00:00", servers=2, cpu_millis=1500,
                memory_bytes=3 * GIB, gpu=1, storage_bytes=10 * GIB, running_jobs=0,
            )
        ],
    )  # fmt: skip
    data = views.chart_data(history)
    assert data["labels"] == ["14:05"]
    assert {s["label"]: s["data"] for s in data["series"]} == {
        "Servers": [2],
        "CPU (cores)": [1.5],
        "Memory (GiB)": [3],
        "GPUs": [1],
        "Storage (GiB)": [10],
        "Running jobs": [0],
    }
    assert views.time_label("2026-11-23T14:05:00+00:00", "7d") == "11-23 14:05"


def test_without_the_chart_library_the_service_logs_it_and_the_page_says_so(tmp_path, caplog):
    from hub.service.console.handlers import Console

    (tmp_path / "console.js").write_text("")
    with caplog.at_level("ERROR", logger="tenanthub.service"):
        console = Console(service=None, prefix="/services/tenanthub/", static_dir=tmp_path)
    assert console.charts is False
    assert "chart library is missing" in caplog.text and "make install" in caplog.text
    info = tenant("geo", "platform-admin")
    html = console.env.get_template("tenant.html").render(
        **page_namespace(console, chart_library=console.charts),
        tenant=info, bars=views.bars(None, info.quota), usage=Section(), members=Section(error="x"),
        profiles=Section(error="x"), servers=Section(error="x"), datasets=Section(error="x"),
        charts=[],
        platform_admin=True, quota_form=views.quota_form(info.quota), quota_errors={},
        quota_error=None, member_form={}, member_error=None, profiles_error=None,
        servers_error=None,
    )  # fmt: skip
    assert 'id="charts-missing"' in html and "make install" in html
    assert "chart.umd.min.js" not in html  # no script tag for a file that is not there
    (tmp_path / "vendor").mkdir()
    (tmp_path / "vendor" / "chart.umd.min.js").write_text("/* Chart.js */")
    assert Console(service=None, prefix="/services/tenanthub/", static_dir=tmp_path).charts


def page_namespace(console: Any, **values: object) -> dict[str, object]:
    """What ``ConsoleHandler.namespace`` gives every template, for rendering without a hub."""
    return {
        "user": {"name": "admin", "admin": True},
        "hub_prefix": "/hub/",
        "console_url": "/services/tenanthub/console",
        "service_name": "tenanthub",
        "service_url": "/services/tenanthub/",
        "static_url": console.static_url,
        "hub_static": "/hub/static/",
        "done": None,
        "status": 200,
        "xsrf_token": "token",
        "quote": str,
        "resources": views.RESOURCES,
        **values,
    }
