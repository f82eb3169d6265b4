"""Metrics: the document and the registered metrics agree, labels stay in the allowed
set, and the scrape-time gauges are what the snapshot says (pure, no I/O)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from prometheus_client import REGISTRY as HUB_REGISTRY
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from tornado import web

from checkpointer import metrics as ckpt_metrics
from hub.service import metrics
from hub.service.datasets.connector import Problem
from hub.tenancy.quota import QuotaLimits, Resources
from hub.tenancy.usage_store import TenantBasis
from spawner import metrics as spawn_metrics
from spawner.tenancy import TenancyRefused

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "metrics.md"
ALLOWED_LABELS = {"tenant", "profile", "backend", "state", "reason", "kind"}
_ROW = re.compile(r"^\| `(tenanthub_[a-z_]+)` \| (\w+) \|\s*([a-z, ]*?)\s*\|", re.M)


def documented() -> dict[str, dict[str, tuple[str, frozenset[str]]]]:
    """section (service, hub, checkpointer) -> metric -> (type, labels), from the doc."""
    text = DOC.read_text()
    sections: dict[str, dict[str, tuple[str, frozenset[str]]]] = {}
    parts = re.split(r"<!-- metrics:(\w+) -->", text)
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        table = body.split("\n## ", 1)[0]
        sections[name] = {
            m.group(1): (
                m.group(2),
                frozenset(x.strip() for x in m.group(3).split(",") if x.strip()),
            )
            for m in _ROW.finditer(table)
        }
    return sections


def _described(registry: CollectorRegistry) -> dict[str, str]:
    out = {}
    for collector in list(registry._collector_to_names):
        describe = getattr(collector, "describe", None)
        families = describe() if describe else collector.collect()
        for family in families:
            if family.name.startswith("tenanthub_"):
                suffix = "_total" if family.type == "counter" else ""
                out[family.name + suffix] = family.type
    return out


def labelnames(registry: CollectorRegistry) -> dict[str, frozenset[str]]:
    out = {}
    for collector in list(registry._collector_to_names):
        names = getattr(collector, "_labelnames", None)
        if names is None:
            continue
        name = collector._name
        suffix = "_total" if collector._type == "counter" else ""
        if name.startswith("tenanthub_"):
            out[name + suffix] = frozenset(names)
    return out


SNAPSHOT = metrics.Snapshot(
    bases=[
        TenantBasis(
            "vision",
            QuotaLimits(cpu_millis=4000, memory_bytes=8 * 2**30, servers=3, running_jobs=2),
            {"size": "10Gi"},
        ),
        TenantBasis("nlp", QuotaLimits(), {}),
    ],
    servers_used={"vision": Resources(cpu_millis=1500, memory_bytes=2**30, gpu=1, servers=2)},
    runs={("vision", "succeeded"): 3, ("vision", "queued"): 1},
    sampled_at=datetime(2026, 12, 7, 5, 0, tzinfo=UTC),
)


def service_families() -> dict[str, tuple[str, frozenset[str]]]:
    """The scrape-time gauges' names, types and declared labels."""
    return {
        family.name: (family.type, frozenset(family._labelnames))
        for family in metrics.snapshot_families(SNAPSHOT)
    }


def test_every_documented_metric_is_registered_with_its_type_and_labels_and_back():
    doc = documented()
    assert set(doc) == {"service", "hub", "checkpointer"}
    service = {
        **{
            n: (t, labelnames(metrics.REGISTRY).get(n, frozenset()))
            for n, t in _described(metrics.REGISTRY).items()
        },
    }
    # scrape-time gauges: their labels from a snapshot that fills every series
    for name, (kind, labels) in service_families().items():
        service[name] = (kind, labels)
    hub = {n: (t, labelnames(HUB_REGISTRY)[n]) for n, t in _described(HUB_REGISTRY).items()}
    ckpt = {
        n: (t, labelnames(ckpt_metrics.REGISTRY)[n])
        for n, t in _described(ckpt_metrics.REGISTRY).items()
    }
    for section, registered in (("service", service), ("hub", hub), ("checkpointer", ckpt)):
        assert doc[section] == registered, (
            f"docs/metrics.md ({section}) and the registered metrics differ: "
            f"documented only {sorted(set(doc[section]) - set(registered))}, registered only "
            f"{sorted(set(registered) - set(doc[section]))}, or a type/label differs"
        )


def test_labels_are_only_the_allowed_ones():
    for section in documented().values():
        for name, (_type, labels) in section.items():
            assert labels <= ALLOWED_LABELS, f"{name} has labels {sorted(labels - ALLOWED_LABELS)}"


def test_snapshot_gauges_per_tenant():
    registry = CollectorRegistry()
    collector = metrics.SnapshotCollector()
    collector.snapshot = SNAPSHOT
    registry.register(collector)
    text = generate_latest(registry).decode()
    values = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for f in text_string_to_metric_families(text)
        for s in f.samples
    }

    def v(name: str, **labels: str) -> float | None:
        return values.get((name, tuple(sorted(labels.items()))))

    assert v("tenanthub_tenant_servers_running", tenant="vision") == 2
    assert v("tenanthub_tenant_servers_running", tenant="nlp") == 0  # a zero, not a gap
    assert v("tenanthub_tenant_cpu_requested_cores", tenant="vision") == 1.5
    assert v("tenanthub_tenant_cpu_quota_cores", tenant="vision") == 4
    assert v("tenanthub_tenant_memory_requested_bytes", tenant="vision") == 2**30
    assert v("tenanthub_tenant_gpu_requested", tenant="vision") == 1
    assert v("tenanthub_tenant_storage_requested_bytes", tenant="vision") == 10 * 2**30
    assert v("tenanthub_tenant_running_jobs_quota", tenant="vision") == 2
    # no limit: no quota series
    assert v("tenanthub_tenant_cpu_quota_cores", tenant="nlp") is None
    assert v("tenanthub_tenant_gpu_quota", tenant="vision") is None
    assert v("tenanthub_job_runs", tenant="vision", state="succeeded") == 3
    assert v("tenanthub_job_runs", tenant="vision", state="failed") == 0
    assert v("tenanthub_job_runs", tenant="nlp", state="queued") == 0
    assert v("tenanthub_usage_sampled_timestamp_seconds") == SNAPSHOT.sampled_at.timestamp()


@pytest.mark.parametrize(
    ("exc", "reason"),
    [
        (TenancyRefused(403, "Tenant 'x' is over quota: cpu", why="quota"), "quota"),
        (TenancyRefused(403, "You are not a member of tenant 'x'."), "not_allowed"),
        (TenancyRefused(409, "You already have a server in tenant 'x'."), "conflict"),
        (TenancyRefused(503, "The Docker engine does not answer."), "backend_error"),
        (TimeoutError(), "timeout"),
        (RuntimeError("boom"), "backend_error"),
        (web.HTTPError(403, "from elsewhere"), "backend_error"),
    ],
)
def test_spawn_failures_map_onto_a_closed_set(exc: BaseException, reason: str):
    assert spawn_metrics.failure_reason(exc) == reason
    assert reason in spawn_metrics.REASONS


def test_free_text_never_becomes_a_label():
    configured = {"small", "gpu"}
    assert spawn_metrics.profile_label("small", configured) == "small"
    assert spawn_metrics.profile_label("../../etc/passwd", configured) == "unknown"
    assert spawn_metrics.profile_label(None, configured) == "unknown"
    assert metrics.dataset_kind("s3") == "s3"
    assert metrics.dataset_kind("ftp://x") == "other"
    assert ckpt_metrics.step_reason("pushing the image to the registry") == "push"
    assert ckpt_metrics.step_reason("something new") == "other"
    # every dataset problem documented
    doc = DOC.read_text()
    for problem in Problem:
        assert problem.value in doc
