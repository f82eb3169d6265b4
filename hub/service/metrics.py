"""Prometheus metrics of the platform service (``GET /services/tenanthub/metrics``).

Two kinds of metric live here:

* **Events** counted as they happen (histograms and counters on ``REGISTRY``): how
  long a queued job run waited, how long a dataset connector call took and which
  calls failed and why.
* **State** computed at scrape time from snapshots (``snapshot_families``, a pure
  function): each tenant's servers and the CPU, memory and GPU they request (the
  usage sampler's latest live usage, ``hub.service.usage``) against the tenant's
  quota, the storage its volume claim requests, and its job runs by state (one
  ``GROUP BY`` over the runs table).

Labels are only ever ``tenant``, ``profile``, ``backend``, ``state``, ``reason`` and
``kind``, each from a closed set (tenant and profile names are validated DNS labels
the platform admins create; reasons are enums): never a user name, a path or a job
name. ``docs/metrics.md`` lists every metric; a unit test keeps the two in step.

Spawns happen in the hub process, so the spawn metrics are in ``spawner.metrics``
(the hub's default registry, on ``/hub/metrics``); checkpoints in
``checkpointer.metrics`` (the checkpointer's ``/metrics``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine, func, select

from hub.service.jobs.model import RunState
from hub.service.usage import storage_request_bytes
from hub.tenancy.models import JobRunRow
from hub.tenancy.quota import Resources
from hub.tenancy.usage_store import TenantBasis

PREFIX = "tenanthub_"

#: the service's own registry (not the process-wide default: the service exports only
#: its metrics, no process collectors that would clash with the hub's on a shared job)
REGISTRY = CollectorRegistry(auto_describe=True)

#: seconds between a run's queueing and a scheduler taking it to start (queued -> starting)
QUEUE_WAIT = Histogram(
    "tenanthub_job_queue_wait_seconds",
    "Time a job run waited in the queue before a scheduler took it to start.",
    ["tenant"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600),
    registry=REGISTRY,
)
DATASET_LATENCY = Histogram(
    "tenanthub_dataset_request_duration_seconds",
    "Time of one dataset connector call (test, list, sample, schema, read), by source kind.",
    ["tenant", "kind"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
    registry=REGISTRY,
)
DATASET_ERRORS = Counter(
    "tenanthub_dataset_errors",
    "Dataset connector calls that failed, by source kind and problem.",
    ["tenant", "kind", "reason"],
    registry=REGISTRY,
)

#: dataset connector kinds (a source's kind is one of these; anything else counts as other)
DATASET_KINDS = frozenset({"files", "s3", "sql", "hive", "hdfs"})


def dataset_kind(kind: str) -> str:
    return kind if kind in DATASET_KINDS else "other"


def observe_queue_wait(tenant: str, queued_at: datetime, taken_at: datetime | None) -> None:
    """A run left the queue (claimed to start) at ``taken_at``."""
    if taken_at is None:
        return
    QUEUE_WAIT.labels(tenant).observe(max(0.0, (taken_at - queued_at).total_seconds()))


# ----------------------------------------------------------------------------- state


@dataclass(frozen=True)
class Snapshot:
    """What the scrape-time gauges are computed from (plain data, no I/O)."""

    bases: list[TenantBasis]
    #: tenant -> what its active servers request (the usage sampler's latest live usage)
    servers_used: Mapping[str, Resources]
    #: (tenant, state) -> number of job runs in that state
    runs: Mapping[tuple[str, str], int] = field(default_factory=dict)
    #: when the usage sampler took ``servers_used`` (None: no sample yet)
    sampled_at: datetime | None = None


#: name -> (help, Resources/QuotaLimits field, scale applied to the stored integer)
_TENANT_GAUGES: tuple[tuple[str, str, str, float], ...] = (
    ("tenant_servers_running", "Active servers (running, starting or stopping) of the tenant.",
     "servers", 1.0),
    ("tenant_cpu_requested_cores", "CPU cores the tenant's active servers count against its "
     "quota (their profiles' limits).", "cpu_millis", 0.001),
    ("tenant_memory_requested_bytes", "Memory the tenant's active servers count against its "
     "quota.", "memory_bytes", 1.0),
    ("tenant_gpu_requested", "GPUs the tenant's active servers count against its quota.",
     "gpu", 1.0),
    ("tenant_storage_requested_bytes", "Storage the tenant's volume claim requests (its "
     "storage spec's size; not the bytes written).", "storage_bytes", 1.0),
)  # fmt: skip
_QUOTA_GAUGES: tuple[tuple[str, str, str, float], ...] = (
    ("tenant_servers_quota", "The tenant's quota of servers (no series: no limit).",
     "servers", 1.0),
    ("tenant_cpu_quota_cores", "The tenant's CPU quota in cores (no series: no limit).",
     "cpu_millis", 0.001),
    ("tenant_memory_quota_bytes", "The tenant's memory quota (no series: no limit).",
     "memory_bytes", 1.0),
    ("tenant_gpu_quota", "The tenant's GPU quota (no series: no limit).", "gpu", 1.0),
    ("tenant_storage_quota_bytes", "The tenant's storage quota (no series: no limit).",
     "storage_bytes", 1.0),
    ("tenant_running_jobs_quota", "How many job runs the tenant may run at once (no series: "
     "no limit).", "running_jobs", 1.0),
)  # fmt: skip
RUN_STATES = tuple(s.value for s in RunState)


def snapshot_families(snapshot: Snapshot) -> list[Metric]:
    """Every scrape-time gauge for ``snapshot`` (pure). Every tenant gets every usage
    series (0 when it has no server) and one job series per state (0 included), so a
    dashboard's sums and ratios have no gaps; a quota series exists only for a limit."""
    used = {
        name: GaugeMetricFamily(PREFIX + name, doc, labels=["tenant"])
        for name, doc, _f, _s in _TENANT_GAUGES
    }
    quotas = {
        name: GaugeMetricFamily(PREFIX + name, doc, labels=["tenant"])
        for name, doc, _f, _s in _QUOTA_GAUGES
    }
    runs = GaugeMetricFamily(
        PREFIX + "job_runs",
        "Job runs of the tenant in the platform DB, by state.",
        labels=["tenant", "state"],
    )
    for basis in snapshot.bases:
        servers = snapshot.servers_used.get(basis.name, Resources())
        amounts = {
            "servers": servers.servers,
            "cpu_millis": servers.cpu_millis,
            "memory_bytes": servers.memory_bytes,
            "gpu": servers.gpu,
            "storage_bytes": storage_request_bytes(basis.storage),
        }
        for name, _doc, field_name, scale in _TENANT_GAUGES:
            used[name].add_metric([basis.name], amounts[field_name] * scale)
        for name, _doc, field_name, scale in _QUOTA_GAUGES:
            limit = getattr(basis.limits, field_name)
            if limit is not None:
                quotas[name].add_metric([basis.name], limit * scale)
        for state in RUN_STATES:
            runs.add_metric([basis.name, state], snapshot.runs.get((basis.name, state), 0))
    sampled = GaugeMetricFamily(
        PREFIX + "usage_sampled_timestamp_seconds",
        "When the usage sampler last recorded the servers' usage (Unix time; absent "
        "before the first sample).",
    )
    if snapshot.sampled_at is not None:
        sampled.add_metric([], snapshot.sampled_at.timestamp())
    return [*used.values(), *quotas.values(), runs, sampled]


def run_counts(engine: Engine) -> dict[tuple[str, str], int]:
    """(tenant, state) -> runs, one ``GROUP BY`` (a worker thread)."""
    query = select(JobRunRow.tenant, JobRunRow.state, func.count()).group_by(
        JobRunRow.tenant, JobRunRow.state
    )
    with engine.connect() as conn:
        return {(tenant, state): int(n) for tenant, state, n in conn.execute(query).all()}


class SnapshotCollector(Collector):
    """Serves the last snapshot the ``/metrics`` handler took (it refreshes it before
    every scrape, off the event loop; ``collect`` itself does no I/O)."""

    def __init__(self) -> None:
        self.snapshot = Snapshot(bases=[], servers_used={})

    def collect(self) -> Iterator[Metric]:
        yield from snapshot_families(self.snapshot)

    def describe(self) -> Iterable[Metric]:
        return snapshot_families(Snapshot(bases=[], servers_used={}))


SNAPSHOT = SnapshotCollector()
REGISTRY.register(SNAPSHOT)
