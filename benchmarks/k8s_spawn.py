"""Kubernetes spawns on the real API server: what a new tenant's provisioning adds to its
first spawn, and concurrent spawns against tenant quotas.

    .venv/bin/python benchmarks/k8s_spawn.py [--n 20] [--only provision|concurrency]

Run it from the repository root (it imports ``tests.integration.hubrunner``) with the
loopback test cluster up (``tests/k8s/cluster.sh up``; its kubeconfig is taken from
``TENANTHUB_TEST_KUBECONFIG`` or the path ``cluster.sh`` writes, and must point at
127.0.0.1) and ``tenanthub/notebook-cpu:latest`` in the kubelet's Docker engine. It
refuses to start while a ``make test`` runs (that brings the cluster down at its end).

One real TenantHub (``python -m hub.cli run``, configurable-http-proxy in front,
``backend.kind: kubernetes`` with ``host_network: true``: the test cluster has no pod
network; ``reconcile_every: 0``: without the provisioner service, which would provision
every tenant of the config at hub start, so here the first spawn does it) runs as the
hub's least-privilege ServiceAccount: a ServiceAccount in a namespace of this run bound
to a ClusterRole of this run with exactly the rules of ``spawner/kubernetes/rbac.py``.
Every tenant is in the hub's config (seeded from it), and gets its storage the way
``tests/k8s/test_hub_k8s.py`` fakes it: ``storage_class`` plus a pre-created hostPath
PersistentVolume reserved for the tenant's claim by ``claimRef``, with the users' homes
pre-created for uid 1000. Each user logs in like a browser and starts their own server
through the REST API (``POST /hub/api/users/<user>/server`` with ``{"tenant",
"profile"}``). Profile "small": 1 CPU / 1 GiB limits, 50m / 256 MiB requests (so twenty
pods fit on the 2-CPU node).

Part 1, provisioning cost (``--n`` pairs, default 20): a spawn in a NEW tenant (its
namespace does not exist yet: the spawner provisions namespace, quota, limit range,
network policies, service account and claim, then starts the pod) against a spawn in an
already provisioned tenant (provisioned by one untimed warm-up spawn, which also warms the
hub), interleaved new, provisioned, new, provisioned, ... so drift hits both alike. One
user, a member of every part-1 tenant, is used throughout. Each spawn is timed from the
POST to the first HTTP 200 of ``/user/<user>/api`` through the proxy (after the hub lists
the server as ready; both polled every 0.1 s); the server is then stopped and the round
ends when the hub lists no server and the pod is gone. Printed: median and p90 of both,
the difference of the medians (goal: provisioning adds <= 1 s), the median of the paired
differences, the ratio, and where the time goes: a watch on namespaces, claims and pods
(cluster-admin, from a thread of this script) stamps when the namespace appeared, the
claim was bound, the pod was created, scheduled, running. Provisioning alone is timed too:
``spawner.kubernetes.provision.provision`` with ``tenant_objects(...)`` for ``--n`` more
fresh tenants (not in the hub), as the hub's account, plus how long until the quota
controller computed the new ResourceQuota's status, plus a second, no-change provision
(what a provisioned tenant costs when the hub re-checks it every ``provision_max_age``).

Part 2, concurrency: ``--tenants`` tenants (5) with quota ``servers: --quota`` (4) and
CPU and memory for twice that, ``--users-per-tenant`` (10) members each; every user's
spawn is sent at once (one thread each, released by a barrier; each waits up to
``--burst-timeout``, 300 s, the hub's default ``start_timeout``: twenty Jupyter servers
starting together need about 100 CPU-seconds, over a minute of a 2-vCPU machine). The
tenants are new, so their first spawns also provision them concurrently. Each spawn
either answers 403 (refused) or is followed on its progress event stream until ready or
failed. Checked: per tenant exactly ``quota`` ready and the rest refused, every
refusal's message names the quota (the hub's "servers: N of N in use" or the Kubernetes
quota), no spawn failed for another reason, no namespace ever held more pods than its
quota (peak from the watch) and the pods read back from the API afterwards are exactly
the ready servers. Then everything is stopped.

Only what this run made is removed: the hub and proxy (``RunningHub.shutdown``, by PID),
namespaces named ``th-bench-<run id>-*``, the PersistentVolumes labelled
``tenanthub.io/bench=<run id>``, and this run's ClusterRole and binding (also on Ctrl-C,
SIGTERM and ``--max-seconds``). Namespaces are deleted in the background; the script waits
up to 60 s for them. Everything listens on 127.0.0.1. Exit status 0 when every spawn
succeeded or was refused exactly by quota (the time goal is reported, not enforced).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import platform
import secrets
import shutil
import signal
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
import yaml
from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from hub.config.schema import PlatformConfig  # noqa: E402
from hub.tenancy.seed import spec_from_config  # noqa: E402
from spawner.kubernetes.manifests import OPTIONAL_OBJECTS, tenant_objects  # noqa: E402
from spawner.kubernetes.names import home_subpath  # noqa: E402
from spawner.kubernetes.provision import provision  # noqa: E402
from spawner.kubernetes.rbac import hub_cluster_role, hub_cluster_role_binding  # noqa: E402
from tests.integration.hubrunner import Browser, RunningHub, write_hub  # noqa: E402

GOAL_SECONDS = 1.0
IMAGE = "tenanthub/notebook-cpu:latest"
NODE = "127.0.0.1"
PROFILE = "small"
STORAGE_CLASS = "tenanthub-bench-hostpath"
MANAGED = "app.kubernetes.io/managed-by=tenanthub"
BENCH_LABEL = "tenanthub.io/bench"
PART1_USER = "bench-p1"
DEFAULT_KUBECONFIG = (
    Path(os.environ.get("TENANTHUB_CACHE") or Path.home() / ".cache" / "tenanthub")
    / "k8s"
    / "cluster"
    / "pki"
    / "admin.kubeconfig"
)


class BenchTimeout(Exception):
    """--max-seconds passed."""


# ----------------------------------------------------------------------------- helpers


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def p90(values: list[float]) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=10, method="inclusive")[8]


def fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None or value != value else f"{value:.{digits}f}"


KUBEPODS_CPU = Path("/sys/fs/cgroup/cpuacct/kubepods/cpuacct.usage")


def pods_cpu() -> float:
    """CPU seconds used so far by every pod on the node (the kubelet's cgroup), or NaN."""
    try:
        return int(KUBEPODS_CPU.read_text()) / 1e9
    except (OSError, ValueError):
        return float("nan")


def machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    total = sum(fields[:8])
    idle = fields[3] + fields[4]
    hz = os.sysconf("SC_CLK_TCK")
    return (total - idle) / hz, total / hz


def make_test_running() -> list[str]:
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        with contextlib.suppress(OSError):
            cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            if cmd.strip() == "make test" or cmd.startswith("make test "):
                found.append(f"{proc.name}: {cmd.strip()}")
    return found


def admin_kubeconfig() -> Path:
    explicit = os.environ.get("TENANTHUB_TEST_KUBECONFIG")
    path = Path(explicit) if explicit else DEFAULT_KUBECONFIG
    if not path.is_file():
        sys.exit(f"no test cluster kubeconfig at {path}: run tests/k8s/cluster.sh up")
    data = yaml.safe_load(path.read_text())
    current = data["current-context"]
    context = next(c["context"] for c in data["contexts"] if c["name"] == current)
    cluster = next(c["cluster"] for c in data["clusters"] if c["name"] == context["cluster"])
    host = urlsplit(str(cluster["server"])).hostname
    if host not in {"127.0.0.1", "localhost", "::1"}:
        sys.exit(f"{path} points at {cluster['server']}: this benchmark only runs on loopback")
    return path


def check_cluster(core: client.CoreV1Api) -> None:
    node = core.read_node(NODE, _request_timeout=5)
    ready = [c for c in node.status.conditions or [] if c.type == "Ready"]
    if not ready or ready[0].status != "True":
        sys.exit(f"node {NODE} is not Ready")
    names = {n for image in node.status.images or [] for n in image.names or []}
    if IMAGE not in names and f"docker.io/{IMAGE}" not in names:
        sys.exit(f"{IMAGE} is not in the kubelet's Docker engine (scripts/build-images.sh)")


def ignore_status(*codes: int) -> Callable[[Callable[[], object]], None]:
    def run(call: Callable[[], object]) -> None:
        try:
            call()
        except ApiException as exc:
            if exc.status not in codes:
                raise

    return run


# ----------------------------------------------------------------------------- cluster side


class Cluster:
    """What this run creates on the cluster (with cluster-admin), and its removal."""

    def __init__(self, kubeconfig: Path, run_id: str, workdir: Path) -> None:
        self.kubeconfig = kubeconfig
        self.run_id = run_id
        self.workdir = workdir
        self.api = config.new_client_from_config(config_file=str(kubeconfig))
        self.core = client.CoreV1Api(self.api)
        self.rbac = client.RbacAuthorizationV1Api(self.api)
        self.prefix = f"th-bench-{run_id}-"
        self.hub_namespace = f"{self.prefix}hub"
        self.role = f"tenanthub-hub-bench-{run_id}"
        self.made_role = False

    def hub_kubeconfig(self) -> Path:
        """A ServiceAccount with only TenantHub's hub ClusterRole, as a token kubeconfig."""
        labels = {BENCH_LABEL: self.run_id}
        self.core.create_namespace({"metadata": {"name": self.hub_namespace, "labels": labels}})
        self.core.create_namespaced_service_account(
            self.hub_namespace, {"metadata": {"name": "tenanthub-hub"}}
        )
        self.made_role = True
        self.rbac.create_cluster_role(hub_cluster_role(self.role))
        self.rbac.create_cluster_role_binding(
            hub_cluster_role_binding("tenanthub-hub", self.hub_namespace, self.role)
        )
        deadline = time.monotonic() + 30
        token = None
        while token is None:  # v1.20: the controller-manager writes a token Secret
            account = self.core.read_namespaced_service_account("tenanthub-hub", self.hub_namespace)
            for ref in account.secrets or []:
                secret = self.core.read_namespaced_secret(ref.name, self.hub_namespace)
                if secret.data and "token" in secret.data:
                    token = base64.b64decode(secret.data["token"]).decode()
            if token is None:
                if time.monotonic() > deadline:
                    raise RuntimeError("no ServiceAccount token after 30 s")
                time.sleep(0.2)
        admin = yaml.safe_load(self.kubeconfig.read_text())
        cluster = admin["clusters"][0]
        kubeconfig = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [cluster],
            "users": [{"name": "tenanthub-hub", "user": {"token": token}}],
            "contexts": [
                {"name": "hub", "context": {"cluster": cluster["name"], "user": "tenanthub-hub"}}
            ],
            "current-context": "hub",
        }
        path = self.workdir / "hub.kubeconfig"
        path.write_text(yaml.safe_dump(kubeconfig))
        path.chmod(0o600)
        return path

    def host_volume(self, tenant: str, users: list[str]) -> None:
        """A hostPath PV reserved for the tenant's claim, homes owned by uid 1000."""
        root = self.workdir / "volumes" / tenant
        for sub in ["shared", *(home_subpath(u) for u in users)]:
            (root / sub).mkdir(parents=True, exist_ok=True)
            os.chown(root / sub, 1000, 1000)
        self.core.create_persistent_volume(
            {
                "metadata": {
                    "name": f"tenanthub-th-{tenant}",
                    "labels": {BENCH_LABEL: self.run_id},
                },
                "spec": {
                    "capacity": {"storage": "1Gi"},
                    "accessModes": ["ReadWriteMany"],
                    "persistentVolumeReclaimPolicy": "Retain",
                    "storageClassName": STORAGE_CLASS,
                    "hostPath": {"path": str(root), "type": "Directory"},
                    "claimRef": {"namespace": f"th-{tenant}", "name": "tenanthub-data"},
                },
            }
        )

    def pods(self, namespace: str) -> list[client.V1Pod]:
        return self.core.list_namespaced_pod(namespace, label_selector=MANAGED).items

    def wait_no_pods(self, namespace: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.pods(namespace):
            if time.monotonic() > deadline:
                raise RuntimeError(f"pods still in {namespace} {timeout:.0f} s after stop")
            time.sleep(0.1)

    def namespace_exists(self, name: str) -> bool:
        try:
            self.core.read_namespace(name)
        except ApiException as exc:
            if exc.status == 404:
                return False
            raise
        return True

    def our_namespaces(self) -> list[str]:
        names = [n.metadata.name for n in self.core.list_namespace().items]
        return [n for n in names if n.startswith(self.prefix)]

    def cleanup(self, wait: float = 60) -> list[str]:
        """Delete this run's namespaces, PVs, ClusterRole(Binding); what is left after ``wait``."""
        gone = ignore_status(404)
        for name in self.our_namespaces():
            gone(lambda n=name: self.core.delete_namespace(n, propagation_policy="Background"))
        pvs = self.core.list_persistent_volume(label_selector=f"{BENCH_LABEL}={self.run_id}")
        for pv in pvs.items:
            gone(lambda n=pv.metadata.name: self.core.delete_persistent_volume(n))
        if self.made_role:
            gone(lambda: self.rbac.delete_cluster_role_binding(self.role))
            gone(lambda: self.rbac.delete_cluster_role(self.role))
        deadline = time.monotonic() + wait
        while True:
            left = self.our_namespaces()
            left += [
                f"pv/{pv.metadata.name}"
                for pv in self.core.list_persistent_volume(
                    label_selector=f"{BENCH_LABEL}={self.run_id}"
                ).items
            ]
            if not left or time.monotonic() > deadline:
                return left
            time.sleep(1)


@dataclass
class Mark:
    at: float  # time.time() when this script's watch saw it
    namespace: str
    what: str
    uid: str = ""
    detail: str = ""


class Timeline:
    """Watches namespaces, claims and pods of this run; stamps first sightings."""

    def __init__(self, kubeconfig: Path, prefix: str) -> None:
        self.kubeconfig = kubeconfig
        self.prefix = prefix
        self.lock = threading.Lock()
        self.marks: list[Mark] = []
        self.seen: set[tuple[str, str]] = set()
        self.live: dict[str, set[str]] = {}
        self.peak: dict[str, int] = {}
        self.errors: list[str] = []
        self.stopping = threading.Event()
        self.started = {kind: threading.Event() for kind in ("namespaces", "claims", "pods")}

    def start(self) -> None:
        for kind in self.started:
            threading.Thread(target=self._run, args=(kind,), daemon=True).start()
        for event in self.started.values():
            event.wait(15)

    def stop(self) -> None:
        self.stopping.set()

    def _mark(self, namespace: str, what: str, key: str, uid: str = "", detail: str = "") -> None:
        if (key, what) in self.seen:
            return
        self.seen.add((key, what))
        self.marks.append(Mark(time.time(), namespace, what, uid, detail))

    def _record(self, kind: str, kind_of_event: str, obj: Any) -> None:
        meta = obj.metadata
        namespace = meta.name if kind == "namespaces" else meta.namespace
        if not namespace or not namespace.startswith(self.prefix):
            return
        with self.lock:
            if kind == "namespaces":
                self._mark(namespace, "namespace", namespace)
            elif kind == "claims":
                self._mark(namespace, "claim", meta.uid)
                if obj.status and obj.status.phase == "Bound":
                    self._mark(namespace, "claim bound", meta.uid)
            else:
                uid = meta.uid
                live = self.live.setdefault(namespace, set())
                if kind_of_event == "DELETED":
                    live.discard(uid)
                    self._mark(namespace, "pod gone", uid, uid)
                    return
                if meta.deletion_timestamp is not None:
                    self._mark(namespace, "pod deleting", uid, uid)
                for status in obj.status.container_statuses or [] if obj.status else []:
                    if status.state and status.state.terminated:
                        self._mark(namespace, "container exited", uid, uid)
                live.add(uid)
                self.peak[namespace] = max(self.peak.get(namespace, 0), len(live))
                self._mark(namespace, "pod", uid, uid)
                for condition in obj.status.conditions or [] if obj.status else []:
                    if condition.type == "PodScheduled":
                        if condition.status == "True":
                            self._mark(namespace, "pod scheduled", uid, uid)
                        elif condition.reason == "Unschedulable":
                            self._mark(
                                namespace, "pod unschedulable", uid, uid, condition.message or ""
                            )
                    if condition.type == "Ready" and condition.status == "True":
                        self._mark(namespace, "pod ready", uid, uid)
                if obj.status and obj.status.phase == "Running":
                    self._mark(namespace, "pod running", uid, uid)

    def _run(self, kind: str) -> None:
        api = config.new_client_from_config(config_file=str(self.kubeconfig))
        core = client.CoreV1Api(api)
        lister = {
            "namespaces": core.list_namespace,
            "claims": core.list_persistent_volume_claim_for_all_namespaces,
            "pods": core.list_pod_for_all_namespaces,
        }[kind]
        version: str | None = None
        while not self.stopping.is_set():
            stream = watch.Watch()
            try:
                if version is None:  # list once, then watch from there
                    listed = lister(label_selector=MANAGED)
                    for item in listed.items:
                        self._record(kind, "ADDED", item)
                    version = listed.metadata.resource_version
                    self.started[kind].set()
                for event in stream.stream(
                    lister, label_selector=MANAGED, resource_version=version, timeout_seconds=10
                ):
                    self._record(kind, event["type"], event["object"])
                    version = event["object"].metadata.resource_version
                    if self.stopping.is_set():
                        stream.stop()
                        break
            except Exception as exc:  # 410 Gone or a dropped connection: list again
                self.errors.append(f"{kind}: {type(exc).__name__}: {str(exc)[:200]}")
                version = None
                time.sleep(0.2)
        api.close()

    def first(self, namespace: str, since: float, until: float) -> dict[str, Mark]:
        """First mark of each kind in ``namespace`` within [since, until]."""
        out: dict[str, Mark] = {}
        with self.lock:
            for mark in self.marks:
                if mark.namespace == namespace and since <= mark.at <= until:
                    out.setdefault(mark.what, mark)
        return out


# ----------------------------------------------------------------------------- hub side


class HubAPI:
    """The hub's REST API as each user, logged in like a browser (cookie and ``_xsrf``).

    Every path is ``users/<name>/...`` and goes out with that user's own session, so
    each user starts and stops their own server (no admin rights involved); a session
    is only ever used by one thread at a time.
    """

    def __init__(self, hub: RunningHub) -> None:
        self.hub = hub
        self.browsers: dict[str, Browser] = {}

    def login(self, user: str) -> None:
        browser = Browser(self.hub, user)
        reply = browser.login()
        if reply.status_code != 302:
            raise RuntimeError(f"login of {user}: HTTP {reply.status_code} {reply.text[-300:]}")
        self.browsers[user] = browser

    def __call__(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        browser = self.browsers[path.split("/")[1]]
        kwargs.setdefault("timeout", 60)
        headers = {"X-XSRFToken": browser.hub_xsrf()}
        url = self.hub.url + "hub/api/" + path
        return browser.session.request(method, url, headers=headers, **kwargs)

    def servers(self, user: str) -> dict[str, Any]:
        reply = self("GET", f"users/{user}")
        reply.raise_for_status()
        servers: dict[str, Any] = reply.json().get("servers", {})
        return servers

    def failure(self, user: str) -> str:
        """The hub's message for a spawn that failed after the POST answered."""
        try:
            reply = self("GET", f"users/{user}/server/progress", stream=True, timeout=10)
            for line in reply.iter_lines(decode_unicode=True):
                if line and line.startswith("data:"):
                    event = json.loads(line[5:])
                    if event.get("failed") or event.get("ready"):
                        return str(event.get("message", ""))
            return f"progress: HTTP {reply.status_code}"
        except (requests.RequestException, ValueError) as exc:
            return f"progress unavailable: {exc}"

    def stop(self, user: str, timeout: float) -> None:
        reply = self("DELETE", f"users/{user}/server")
        if reply.status_code not in (202, 204, 404):
            raise RuntimeError(f"stop of {user}: HTTP {reply.status_code} {reply.text[-300:]}")
        deadline = time.monotonic() + timeout
        while "" in self.servers(user):
            if time.monotonic() > deadline:
                raise RuntimeError(f"{user}'s server not stopped after {timeout:.0f} s")
            time.sleep(0.1)


def profile_config() -> dict[str, Any]:
    return {
        "name": PROFILE,
        "display_name": "Small",
        "cpu": {"guarantee": "50m", "limit": "1"},
        "memory": {"guarantee": "256Mi", "limit": "1Gi"},
        "default": True,
        "image": IMAGE,
    }


def tenant_config(name: str, servers: int, members: list[str]) -> dict[str, Any]:
    return {
        "name": name,
        "quota": {"servers": servers, "cpu": str(2 * servers), "memory": f"{2 * servers}Gi"},
        "members": [{"user": user} for user in members],
        "storage": {"size": "1Gi", "storage_class": STORAGE_CLASS},
    }


def hub_config(kubeconfig: Path, tenants: list[dict[str, Any]], timeout: int) -> dict[str, Any]:
    return {
        "auth": {"admin_users": []},
        "backend": {
            "kind": "kubernetes",
            "kubernetes": {
                "kubeconfig": str(kubeconfig),
                "host_network": True,
                "start_timeout": timeout,
                # no provisioner service: it would provision every tenant at hub start,
                # and part 1 measures the first spawn in a tenant nobody provisioned yet
                "reconcile_every": 0,
            },
        },
        "profiles": [profile_config()],
        "tenants": tenants,
        "culling": {"enabled": False},
    }


# ----------------------------------------------------------------------------- part 1


@dataclass
class Spawn:
    side: str  # "new" / "provisioned"
    index: int
    tenant: str
    total: float = float("nan")  # POST -> first 200 through the proxy
    ready: float = float("nan")  # POST -> hub lists it ready
    post: float = float("nan")  # POST answered
    status: int = 0
    stop_seconds: float = float("nan")
    pod_cpu: float = float("nan")  # CPU seconds of the node's pods from POST to ready
    phases: dict[str, float] = field(default_factory=dict)
    stop_phases: dict[str, float] = field(default_factory=dict)
    unschedulable: str = ""
    error: str = ""


def timed_spawn(
    api: HubAPI,
    cluster: Cluster,
    timeline: Timeline,
    user: str,
    tenant: str,
    side: str,
    index: int,
    timeout: float,
) -> Spawn:
    result = Spawn(side, index, tenant)
    namespace = f"th-{tenant}"
    if side == "new" and cluster.namespace_exists(namespace):
        result.error = f"{namespace} exists before the spawn: not a new tenant"
        return result
    cpu0 = pods_cpu()
    t0_wall = time.time()
    t0 = time.perf_counter()
    reply = api("POST", f"users/{user}/server", json={"tenant": tenant, "profile": PROFILE})
    result.post = time.perf_counter() - t0
    result.status = reply.status_code
    deadline = time.monotonic() + timeout
    try:
        if reply.status_code not in (201, 202):
            result.error = f"HTTP {reply.status_code}: {reply.text[-500:]}"
            return result
        while True:
            info = api.servers(user).get("")
            if info is None:
                result.error = api.failure(user)
                return result
            if info.get("ready"):
                result.ready = time.perf_counter() - t0
                result.pod_cpu = pods_cpu() - cpu0
                break
            if time.monotonic() > deadline:
                result.error = f"not ready after {timeout:.0f} s: {info}"
                return result
            time.sleep(0.1)
        url = f"{api.hub.url}user/{user}/api"
        while True:
            with contextlib.suppress(requests.RequestException):
                if requests.get(url, timeout=5).status_code == 200:
                    result.total = time.perf_counter() - t0
                    break
            if time.monotonic() > deadline:
                result.error = f"{url} never answered 200 within {timeout:.0f} s"
                return result
            time.sleep(0.1)
    finally:
        marks = timeline.first(namespace, t0_wall - 0.05, time.time() + 1)
        for what, mark in marks.items():
            result.phases[what] = mark.at - t0_wall
            if what == "pod unschedulable":
                result.unschedulable = mark.detail
        t1_wall = time.time()
        t1 = time.perf_counter()
        with contextlib.suppress(Exception):
            api.stop(user, timeout)
        cluster.wait_no_pods(namespace, timeout)
        result.stop_seconds = time.perf_counter() - t1
        time.sleep(0.05)  # let the watch see the deletion
        marks = timeline.first(namespace, t1_wall - 0.05, time.time())
        for what in ("pod deleting", "container exited", "pod gone"):
            if what in marks:
                result.stop_phases[what] = marks[what].at - t1_wall
    return result


PHASES = [
    "namespace",
    "claim",
    "claim bound",
    "pod",
    "pod scheduled",
    "pod running",
    "pod ready",
    "@ready",
    "@total",
]
PHASE_LABELS = {
    "namespace": "namespace created",
    "claim": "claim created",
    "claim bound": "claim bound",
    "pod": "pod created",
    "pod scheduled": "pod scheduled",
    "pod running": "pod Running (container started)",
    "pod ready": "pod Ready",
    "@ready": "hub lists the server ready",
    "@total": "first 200 through the proxy",
}


def phase(spawn: Spawn, what: str) -> float | None:
    if what == "@ready":
        return spawn.ready
    if what == "@total":
        return spawn.total
    return spawn.phases.get(what)


async def provision_alone(
    kubeconfig: Path, platform_config: PlatformConfig, tenants: list[str]
) -> list[dict[str, float]]:
    """Provisioning only, as the hub's account: fresh tenants, then an unchanged re-check."""
    from kubernetes_asyncio import client as aclient
    from kubernetes_asyncio import config as aconfig

    settings = platform_config.backend.kubernetes
    profiles = list(platform_config.profiles)
    specs = {t.name: spec_from_config(t) for t in platform_config.tenants}
    rows = []
    api = await aconfig.new_client_from_config(config_file=str(kubeconfig))
    async with api:
        core = aclient.CoreV1Api(api)
        for tenant in tenants:
            objects = tenant_objects(specs[tenant], profiles, settings, [])
            t0 = time.perf_counter()
            report = await provision(api, objects, OPTIONAL_OBJECTS)
            t1 = time.perf_counter()
            deadline = time.monotonic() + 20
            while True:
                quota = await core.read_namespaced_resource_quota("tenanthub-quota", f"th-{tenant}")
                if quota.status and quota.status.hard:
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"quota status of th-{tenant} not computed after 20 s")
                await asyncio.sleep(0.01)
            t2 = time.perf_counter()
            again = await provision(api, objects, OPTIONAL_OBJECTS)
            t3 = time.perf_counter()
            rows.append(
                {
                    "provision": t1 - t0,
                    "quota_status": t2 - t0,
                    "recheck": t3 - t2,
                    "objects": float(len(objects)),
                    "created": float(len(report.changed)),
                    "changed_on_recheck": float(len(again.changed)),
                }
            )
    return rows


def run_part1(
    api: HubAPI,
    cluster: Cluster,
    timeline: Timeline,
    new_tenants: list[str],
    warm: str,
    timeout: float,
) -> list[Spawn]:
    print(f"\npart 1: warm-up spawn in {warm} (provisions it, untimed)", flush=True)
    warmup = timed_spawn(api, cluster, timeline, PART1_USER, warm, "warm-up", 0, timeout)
    if warmup.error:
        raise RuntimeError(f"warm-up spawn failed: {warmup.error}")
    print(f"  warm-up: {warmup.total:.2f} s", flush=True)
    spawns = []
    print(f"  {'#':>3} {'side':<12}{'total':>7}{'ready':>7}{'post':>6}{'stop':>6}  note")
    for index, tenant in enumerate(new_tenants, 1):
        for side, name in (("new", tenant), ("provisioned", warm)):
            spawn = timed_spawn(api, cluster, timeline, PART1_USER, name, side, index, timeout)
            spawns.append(spawn)
            note = spawn.error or (
                f"unschedulable first: {spawn.unschedulable}" if spawn.unschedulable else ""
            )
            print(
                f"  {index:>3} {side:<12}{fmt(spawn.total):>7}{fmt(spawn.ready):>7}"
                f"{fmt(spawn.post):>6}{fmt(spawn.stop_seconds):>6}  {note}",
                flush=True,
            )
    return spawns


def report_part1(spawns: list[Spawn], alone: list[dict[str, float]]) -> dict[str, Any]:
    ok = [s for s in spawns if not s.error]
    new = [s.total for s in ok if s.side == "new"]
    warm = [s.total for s in ok if s.side == "provisioned"]
    paired = []
    by_index: dict[int, dict[str, Spawn]] = {}
    for s in ok:
        by_index.setdefault(s.index, {})[s.side] = s
    for pair in by_index.values():
        if len(pair) == 2:
            paired.append(pair["new"].total - pair["provisioned"].total)
    print("\nwhere the time goes (medians, seconds after the POST):")
    print(f"  {'':<34}{'new':>8}{'prov.':>8}{'diff':>8}")
    for what in PHASES:
        cells = []
        for side in ("new", "provisioned"):
            values = [phase(s, what) for s in ok if s.side == side]
            found = [v for v in values if v is not None and v == v]
            cells.append(median(found) if found else None)
        diff = cells[0] - cells[1] if None not in cells else None
        print(f"  {PHASE_LABELS[what]:<34}{fmt(cells[0]):>8}{fmt(cells[1]):>8}{fmt(diff):>8}")
    steps = [
        ("POST -> pod created", None, "pod"),
        ("pod created -> scheduled", "pod", "pod scheduled"),
        ("scheduled -> Running", "pod scheduled", "pod running"),
        ("Running -> hub ready", "pod running", "@ready"),
        ("hub ready -> 200 through proxy", "@ready", "@total"),
    ]
    print(f"  {'step':<34}{'new':>8}{'prov.':>8}{'diff':>8}")
    for label, start, end in steps:
        cells = []
        for side in ("new", "provisioned"):
            values = []
            for s in ok:
                if s.side != side:
                    continue
                a = 0.0 if start is None else phase(s, start)
                b = phase(s, end)
                if a is not None and b is not None and a == a and b == b:
                    values.append(b - a)
            cells.append(median(values) if values else None)
        diff = cells[0] - cells[1] if None not in cells else None
        print(f"  {label:<34}{fmt(cells[0]):>8}{fmt(cells[1]):>8}{fmt(diff):>8}")
    unschedulable = [s for s in ok if s.unschedulable]
    if unschedulable:
        sides = sorted({s.side for s in unschedulable})
        print(
            f"  {len(unschedulable)} spawns ({', '.join(sides)}) had their pod unschedulable "
            f"first: {unschedulable[0].unschedulable}"
        )
    cpu = {
        side: [s.pod_cpu for s in ok if s.side == side and s.pod_cpu == s.pod_cpu]
        for side in ("new", "provisioned")
    }
    if cpu["new"] or cpu["provisioned"]:
        print(
            f"  CPU seconds of the pod from POST to ready: median {fmt(median(cpu['new']))} "
            f"(new), {fmt(median(cpu['provisioned']))} (provisioned)"
        )
    stops = [s.stop_seconds for s in spawns if s.stop_seconds == s.stop_seconds]
    stop_marks = []
    for what in ("pod deleting", "container exited", "pod gone"):
        values = [s.stop_phases[what] for s in spawns if what in s.stop_phases]
        if values:
            stop_marks.append(f"{what} {median(values):.2f}")
    print(
        f"  stop (DELETE until the pod is gone): median {fmt(median(stops))} s "
        f"({', '.join(stop_marks)} s after the DELETE)"
    )
    if alone:
        print(f"\nprovisioning alone (as the hub's account, {len(alone)} fresh tenants):")
        for key, label in (
            ("provision", "provision() of a new tenant"),
            ("quota_status", "... until the quota status is computed"),
            ("recheck", "provision() again, nothing changed"),
        ):
            values = [row[key] for row in alone]
            print(
                f"  {label:<40} median {median(values) * 1000:6.0f} ms, "
                f"p90 {p90(values) * 1000:6.0f} ms"
            )
        row = alone[0]
        print(
            f"  objects per tenant: {row['objects']:.0f} ({row['created']:.0f} created; "
            f"re-check changed {max(r['changed_on_recheck'] for r in alone):.0f})"
        )
    failed = [s for s in spawns if s.error]
    summary = {
        "new": {"median": median(new), "p90": p90(new), "n": len(new)},
        "provisioned": {"median": median(warm), "p90": p90(warm), "n": len(warm)},
        "difference": median(new) - median(warm),
        "paired_difference": median(paired),
        "ratio": median(new) / median(warm) if warm else float("nan"),
        "failed": [f"{s.side} #{s.index}: {s.error}" for s in failed],
        "provision_alone_ms": median([r["provision"] for r in alone]) * 1000 if alone else None,
    }
    summary["goal_met"] = summary["difference"] <= GOAL_SECONDS and not failed
    n, w = summary["new"], summary["provisioned"]
    print(
        f"\nnew tenant (provisioning + pod): median {n['median']:.2f} s, "
        f"p90 {n['p90']:.2f} s, n={n['n']}"
    )
    print(
        f"provisioned tenant (pod only):   median {w['median']:.2f} s, "
        f"p90 {w['p90']:.2f} s, n={w['n']}"
    )
    met = "met" if summary["goal_met"] else "NOT met"
    print(
        f"provisioning adds: {summary['difference']:+.2f} s (difference of medians; median of "
        f"paired differences {summary['paired_difference']:+.2f} s), ratio "
        f"{summary['ratio']:.2f}x  (goal <= {GOAL_SECONDS:.0f} s: {met})"
    )
    for line in summary["failed"]:
        print(f"  FAILED {line}")
    return summary


# ----------------------------------------------------------------------------- part 2


@dataclass
class Outcome:
    user: str
    tenant: str
    status: int = 0
    result: str = ""  # ready / refused / failed
    message: str = ""
    seconds: float = float("nan")


def follow(api: HubAPI, user: str, deadline: float) -> tuple[str, str]:
    """Ready or failed, from the server's progress stream (polling as a fallback)."""
    with contextlib.suppress(requests.RequestException, ValueError):
        reply = api(
            "GET",
            f"users/{user}/server/progress",
            stream=True,
            timeout=(10, max(1.0, deadline - time.monotonic())),
        )
        if reply.status_code == 200:
            for line in reply.iter_lines(decode_unicode=True):
                if line and line.startswith("data:"):
                    event = json.loads(line[5:])
                    if event.get("ready"):
                        return "ready", ""
                    if event.get("failed"):
                        return "failed", str(event.get("message", ""))
                if time.monotonic() > deadline:
                    break
    while time.monotonic() < deadline:
        info = api.servers(user).get("")
        if info is None:
            return "failed", api.failure(user)
        if info.get("ready"):
            return "ready", ""
        time.sleep(0.5)
    return "failed", "timed out waiting for the server"


def quota_refusal(message: str, limit: int) -> bool:
    hub = f"servers: {limit} of {limit} in use" in message
    kube = "over its Kubernetes quota" in message or "exceeded quota" in message
    return hub or kube


def run_part2(
    api: HubAPI,
    cluster: Cluster,
    timeline: Timeline,
    tenants: dict[str, list[str]],
    quota: int,
    timeout: float,
    stop_timeout: float,
) -> dict[str, Any]:
    users = [(user, tenant) for tenant, members in tenants.items() for user in members]
    # tenant by tenant in turn, so the burst is mixed
    users.sort(key=lambda ut: (tenants[ut[1]].index(ut[0]), ut[1]))
    print(
        f"\npart 2: {len(users)} spawns at once over {len(tenants)} new tenants "
        f"(quota servers={quota} each)",
        flush=True,
    )
    barrier = threading.Barrier(len(users))
    outcomes: list[Outcome] = []
    lock = threading.Lock()
    t_start: list[float] = []

    def one(user: str, tenant: str) -> None:
        outcome = Outcome(user, tenant)
        barrier.wait()
        t0 = time.perf_counter()
        with lock:
            t_start.append(t0)
        deadline = time.monotonic() + timeout
        try:
            reply = api(
                "POST",
                f"users/{user}/server",
                json={"tenant": tenant, "profile": PROFILE},
                timeout=timeout,
            )
            outcome.status = reply.status_code
            if reply.status_code == 201:
                outcome.result = "ready"
            elif reply.status_code == 202:
                outcome.result, outcome.message = follow(api, user, deadline)
            else:
                try:
                    outcome.message = str(reply.json().get("message", reply.text))
                except ValueError:
                    outcome.message = reply.text[-500:]
                limited = reply.status_code == 403 and quota_refusal(outcome.message, quota)
                outcome.result = "refused" if limited else "failed"
        except Exception as exc:
            outcome.result, outcome.message = "failed", f"{type(exc).__name__}: {exc}"
        outcome.seconds = time.perf_counter() - t0
        with lock:
            outcomes.append(outcome)

    cpu0, (busy0, total0) = pods_cpu(), machine_cpu()
    t0_wall = time.time()
    with ThreadPoolExecutor(max_workers=len(users)) as pool:
        futures = [pool.submit(one, user, tenant) for user, tenant in users]
        for future in futures:
            future.result()
    cpu1, (busy1, total1) = pods_cpu(), machine_cpu()
    wall = max(o.seconds for o in outcomes) if outcomes else float("nan")
    spread = max(t_start) - min(t_start) if t_start else float("nan")

    # read back from the API server what runs
    problems: list[str] = []
    print(f"  {'tenant':<26}{'ready':>6}{'refused':>8}{'failed':>7}{'pods':>6}{'peak':>6}")
    for tenant in tenants:
        mine = [o for o in outcomes if o.tenant == tenant]
        ready = [o for o in mine if o.result == "ready"]
        refused = [o for o in mine if o.result == "refused"]
        failed = [o for o in mine if o.result == "failed"]
        namespace = f"th-{tenant}"
        pods = cluster.pods(namespace)
        running = [p for p in pods if p.status.phase == "Running"]
        peak = timeline.peak.get(namespace, 0)
        print(
            f"  {tenant:<26}{len(ready):>6}{len(refused):>8}{len(failed):>7}{len(pods):>6}{peak:>6}"
        )
        expected_refused = len(mine) - quota
        if len(ready) != quota or len(refused) != expected_refused or failed:
            problems.append(
                f"{tenant}: {len(ready)} ready, {len(refused)} refused, {len(failed)} failed "
                f"(expected {quota} ready, {expected_refused} refused)"
            )
        if len(pods) != len(ready) or len(running) != len(pods):
            problems.append(f"{namespace}: {len(pods)} pods ({len(running)} Running)")
        owners = sorted(p.metadata.annotations.get("tenanthub.io/user", "?") for p in pods)
        if owners != sorted(o.user for o in ready):
            problems.append(f"{namespace}: pods of {owners}, ready {[o.user for o in ready]}")
        if peak > quota:
            problems.append(f"{namespace}: {peak} pods at once, quota {quota}")
        for o in failed:
            problems.append(f"{o.user}: HTTP {o.status}: {o.message[:300]}")
    refusals = [o for o in outcomes if o.result == "refused"]
    kinds = {
        "hub ledger (servers N of N)": sum(f"servers: {quota} of" in o.message for o in refusals),
        "Kubernetes quota": sum("Kubernetes" in o.message for o in refusals),
    }
    ready_times = [o.seconds for o in outcomes if o.result == "ready"]
    refuse_times = [o.seconds for o in refusals]
    print(f"  requests released within {spread * 1000:.0f} ms of each other")
    print(
        f"  ready: {len(ready_times)}, median {fmt(median(ready_times))} s, "
        f"max {fmt(max(ready_times, default=float('nan')))} s after its POST"
    )
    print(
        f"  refused: {len(refusals)} ({', '.join(f'{k}: {v}' for k, v in kinds.items())}), "
        f"answered in median {fmt(median(refuse_times), 3)} s, "
        f"max {fmt(max(refuse_times, default=float('nan')), 3)} s"
    )
    if refusals:
        print(f"  e.g. {refusals[0].message}")
    print(f"  wall time until every spawn was ready or refused: {wall:.2f} s")
    busy = (busy1 - busy0) / (total1 - total0) if total1 > total0 else float("nan")
    print(
        f"  meanwhile the node's pods used {fmt(cpu1 - cpu0, 0)} CPU-seconds; the machine "
        f"was {busy * 100:.0f}% busy ({os.cpu_count()} CPUs)"
    )
    # where the time went: the watch's stamps of every pod of these tenants
    now = time.time()
    stamps: dict[str, list[float]] = {}
    for tenant in tenants:
        with timeline.lock:
            marks = [m for m in timeline.marks if m.namespace == f"th-{tenant}"]
        for mark in marks:
            if t0_wall <= mark.at <= now:
                stamps.setdefault(mark.what, []).append(mark.at - t0_wall)
    shown = [
        (label, stamps[what])
        for what, label in (
            ("namespace", "namespace created"),
            ("claim bound", "claim bound"),
            ("pod", "pod created"),
            ("pod scheduled", "pod scheduled"),
            ("pod running", "pod Running"),
        )
        if what in stamps
    ]
    shown.append(("hub lists the server ready", ready_times))
    print("  after the burst (s):            first  median     last")
    for label, values in shown:
        print(
            f"    {label:<28}{fmt(min(values, default=float('nan'))):>7}"
            f"{fmt(median(values)):>8}{fmt(max(values, default=float('nan'))):>9}"
        )
    for problem in problems:
        print(f"  PROBLEM {problem}")

    print("  stopping all", flush=True)
    t1 = time.perf_counter()
    admitted = [o for o in outcomes if o.result != "refused"]

    def stop(outcome: Outcome) -> str:
        try:
            api.stop(outcome.user, stop_timeout)
        except Exception as exc:
            return f"{outcome.user}: {exc}"
        return ""

    with ThreadPoolExecutor(max_workers=max(1, len(admitted))) as pool:
        stop_errors = [e for e in pool.map(stop, admitted) if e]
    for tenant in tenants:
        try:
            cluster.wait_no_pods(f"th-{tenant}", stop_timeout)
        except RuntimeError as exc:
            stop_errors.append(str(exc))
    print(f"  all stopped and pods gone in {time.perf_counter() - t1:.2f} s")
    for error in stop_errors:
        print(f"  stop: {error} (the namespace is deleted at the end anyway)")
    return {
        "users": len(users),
        "tenants": len(tenants),
        "quota": quota,
        "ready": len(ready_times),
        "refused": len(refusals),
        "refused_by": kinds,
        "failed": sum(o.result == "failed" for o in outcomes),
        "wall": wall,
        "pods_cpu_seconds": cpu1 - cpu0,
        "machine_busy": busy,
        "ready_median": median(ready_times),
        "ready_max": max(ready_times, default=float("nan")),
        "refused_max": max(refuse_times, default=float("nan")),
        "peak_pods": max((timeline.peak.get(f"th-{t}", 0) for t in tenants), default=0),
        "problems": problems,
        "ok": not problems,
    }


# ----------------------------------------------------------------------------- main


@contextlib.contextmanager
def bounded(seconds: int) -> Iterator[None]:
    """SIGALRM after ``seconds`` and SIGTERM both end the run through its cleanup."""

    def alarm(_sig: int, _frame: Any) -> None:
        raise BenchTimeout(f"--max-seconds {seconds} passed")

    def term(_sig: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    old_alarm = signal.signal(signal.SIGALRM, alarm)
    old_term = signal.signal(signal.SIGTERM, term)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old_alarm)
        signal.signal(signal.SIGTERM, old_term)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=("provision", "concurrency"), help="run one part only")
    parser.add_argument("--n", type=int, default=20, help="part 1 pairs (default 20)")
    parser.add_argument("--tenants", type=int, default=5, help="part 2 tenants (default 5)")
    parser.add_argument("--quota", type=int, default=4, help="part 2 servers per tenant (4)")
    parser.add_argument(
        "--users-per-tenant", type=int, default=10, help="part 2 members per tenant (10)"
    )
    parser.add_argument(
        "--spawn-timeout", type=int, default=120, help="per spawn of part 1, per stop (120 s)"
    )
    parser.add_argument(
        "--burst-timeout",
        type=int,
        default=300,
        help="per spawn of part 2 (300 s, the hub's default start_timeout): twenty Jupyter "
        "servers starting at once need about 100 CPU-seconds, over a minute of this VM",
    )
    parser.add_argument("--max-seconds", type=int, default=1800, help="whole run (1800 s)")
    parser.add_argument("--keep", action="store_true", help="keep the work dir (hub log)")
    args = parser.parse_args()
    part1 = args.only in (None, "provision")
    part2 = args.only in (None, "concurrency")

    running = make_test_running()
    if running:
        sys.exit(f"a `make test` runs (it brings the cluster down at its end): {running}")
    kubeconfig = admin_kubeconfig()
    run_id = secrets.token_hex(3)
    workdir = Path(tempfile.mkdtemp(prefix=f"th-k8s-bench-{run_id}-"))
    cluster = Cluster(kubeconfig, run_id, workdir)
    check_cluster(cluster.core)
    print(
        f"run {run_id}: {platform.node()}, {os.cpu_count()} CPUs, load "
        f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}; work dir {workdir}",
        flush=True,
    )

    tenant = f"bench-{run_id}-"
    new_tenants = [f"{tenant}n{i:02d}" for i in range(1, args.n + 1)] if part1 else []
    warm = f"{tenant}warm"
    alone_tenants = [f"{tenant}p{i:02d}" for i in range(1, args.n + 1)] if part1 else []
    conc: dict[str, list[str]] = {}
    if part2:
        for k in range(1, args.tenants + 1):
            conc[f"{tenant}c{k}"] = [f"bench-c{k}-u{j:02d}" for j in range(args.users_per_tenant)]
    tenants = [tenant_config(t, 2, [PART1_USER]) for t in [*new_tenants, warm] if part1]
    tenants += [tenant_config(t, args.quota, members) for t, members in conc.items()]
    alone_config = [tenant_config(t, 2, [PART1_USER]) for t in alone_tenants]

    timeline = Timeline(kubeconfig, cluster.prefix)
    hub: RunningHub | None = None
    status = 1
    summary: dict[str, Any] = {"run_id": run_id}
    started = time.monotonic()
    try:
        with bounded(args.max_seconds):
            hub_kubeconfig = cluster.hub_kubeconfig()
            timeline.start()
            for t in tenants:
                members = [m["user"] for m in t["members"]]
                cluster.host_volume(t["name"], members)
            start_timeout = max(args.spawn_timeout, args.burst_timeout if part2 else 0)
            config_data = hub_config(hub_kubeconfig, tenants, start_timeout)
            names = [PART1_USER] if part1 else []
            names += [u for members in conc.values() for u in members]
            passwords = {name: secrets.token_urlsafe(16) for name in names}
            hub = write_hub(workdir / "hub", config_data, passwords)
            hub.start(timeout=120)
            api = HubAPI(hub)
            for name in names:
                api.login(name)
            ok = True
            if part1:
                spawns = run_part1(api, cluster, timeline, new_tenants, warm, args.spawn_timeout)
                alone_platform = PlatformConfig.model_validate(
                    hub_config(hub_kubeconfig, alone_config, args.spawn_timeout)
                )
                alone = asyncio.run(provision_alone(hub_kubeconfig, alone_platform, alone_tenants))
                summary["part1"] = report_part1(spawns, alone)
                ok = ok and not summary["part1"]["failed"]
            if part2:
                summary["part2"] = run_part2(
                    api, cluster, timeline, conc, args.quota, args.burst_timeout, args.spawn_timeout
                )
                ok = ok and summary["part2"]["ok"]
            status = 0 if ok else 1
    except KeyboardInterrupt:
        print("\ninterrupted; cleaning up", file=sys.stderr)
        status = 130
    except BenchTimeout as exc:
        print(f"\n{exc}; cleaning up", file=sys.stderr)
    finally:
        if hub is not None:
            with contextlib.suppress(Exception):
                hub.shutdown()
        timeline.stop()
        left = cluster.cleanup()
        if left:
            print(f"still being deleted after 60 s: {left}", file=sys.stderr)
        if timeline.errors:
            print(f"watch restarts: {len(timeline.errors)} ({timeline.errors[0]})")
        if args.keep or status not in (0, 130):
            print(f"work dir kept: {workdir} (hub log: {workdir / 'hub' / 'hub.log'})")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    print(f"\ntotal run time {time.monotonic() - started:.0f} s; load {os.getloadavg()[0]:.1f}")
    print("summary: " + json.dumps(summary, default=str))
    return status


if __name__ == "__main__":
    sys.exit(main())
