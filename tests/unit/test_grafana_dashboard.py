"""The Grafana dashboard uses only TenantHub's documented, registered metrics, and the
chart ships it as a ConfigMap for Grafana's sidecar when grafana.dashboard.enabled."""

from __future__ import annotations

import json
import re
from pathlib import Path

from hub.chart import CHART
from tests.unit.test_chart_render import LINT_VALUES, find, helm, render  # noqa: F401
from tests.unit.test_metrics import documented

DASHBOARD = CHART / "dashboards" / "tenanthub.json"
KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "offset", "bool",
            "and", "or", "unless"}  # fmt: skip
#: what PromQL reads from a histogram or a counter, by the name the document lists
SUFFIXES = ("_bucket", "_count", "_sum")


def exprs(dashboard: dict) -> list[str]:
    out = []
    for panel in dashboard["panels"]:
        out += [t["expr"] for t in panel.get("targets", [])]
        for inner in panel.get("panels", []):
            out += [t["expr"] for t in inner.get("targets", [])]
    for var in dashboard["templating"]["list"]:
        query = var.get("query")
        if isinstance(query, dict):
            out.append(query["query"])
    return out


def metric_names(expr: str) -> set[str]:
    """The metric names an expression reads (label matchers, ranges, grouping labels,
    variables, strings and function calls taken out)."""
    text = re.sub(r'"[^"]*"', "", expr)
    text = re.sub(r"\{[^}]*\}|\[[^\]]*\]", "", text)
    text = re.sub(r"\b(by|without|on|ignoring)\s*\([^)]*\)", "", text)
    text = re.sub(r"\$\w+", "", text)
    text = re.sub(r"label_values\(\s*([a-zA-Z_:][\w:]*)\s*,\s*\w+\s*\)", r"\1", text)
    names = set()
    for match in re.finditer(r"(?<![\w.])([a-zA-Z_:][\w:]*)(\s*\()?", text):
        if match.group(2) or match.group(1) in KEYWORDS:
            continue
        names.add(match.group(1))
    return names


def base_name(name: str, known: set[str]) -> str:
    if name in known:
        return name
    for suffix in SUFFIXES:
        if name.endswith(suffix) and name[: -len(suffix)] in known:
            return name[: -len(suffix)]
    return name


def test_every_expression_reads_only_documented_tenanthub_metrics():
    dashboard = json.loads(DASHBOARD.read_text())
    known = {name for section in documented().values() for name in section}
    histograms = {
        name
        for section in documented().values()
        for name, (kind, _labels) in section.items()
        if kind == "histogram"
    }
    seen = set()
    for expr in exprs(dashboard):
        names = metric_names(expr)
        assert names, f"no metric found in {expr!r}"
        for name in names:
            base = base_name(name, known)
            assert base in known, f"{name!r} in {expr!r} is not a documented TenantHub metric"
            if base != name:
                assert base in histograms, f"{name!r}: only histograms have {name[len(base) :]}"
            seen.add(base)
    # every section of the dashboard has something to show: each metric family is used
    missing = known - seen
    assert not missing, f"documented metrics the dashboard does not show: {sorted(missing)}"


def test_the_metric_name_parser_sees_through_promql():
    expr = (
        'histogram_quantile(0.95, sum by (le, kind) (rate(tenanthub_x_bucket{tenant=~"$t"}'
        "[$__rate_interval]))) / on (tenant) tenanthub_y - time()"
    )
    assert metric_names(expr) == {"tenanthub_x_bucket", "tenanthub_y"}


def test_the_chart_ships_the_dashboard_for_the_grafana_sidecar(helm: Path):  # noqa: F811
    assert not [o for o in render(helm) if o["kind"] == "ConfigMap"
                and "grafana_dashboard" in o["metadata"].get("labels", {})]  # fmt: skip
    config_map = find(render(helm, LINT_VALUES), "ConfigMap", "th-tenanthub-grafana-dashboard")
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert config_map["metadata"]["labels"]["team"] == "platform"
    assert config_map["metadata"]["namespace"] == "monitoring"
    assert json.loads(config_map["data"]["tenanthub.json"]) == json.loads(DASHBOARD.read_text())
