"""Time to notebook: spawn-to-ready through TenantHub against a bare ``docker run``.

    .venv/bin/python benchmarks/time_to_notebook.py [--rounds 10] [--build-times]

Run it from the repository root (it imports ``tests.integration.hubrunner``).
It needs a Docker engine and the image ``tenanthub/notebook-cpu:latest``
(``scripts/build-images.sh``); it waits up to ``--wait-image`` seconds for the
image to appear, so it can be started while the images are still building.

Two sides, interleaved in one run (hub, anchor, hub, anchor, ...) because the
machine is noisy, ``--rounds`` timed rounds each after ``--warmup`` untimed
ones; the medians are compared (goal: hub / anchor <= 1.2).

* hub: a real TenantHub (``python -m hub.cli run``, configurable-http-proxy in
  front, ``backend.kind: docker``) started with ``tests.integration.hubrunner``.
  One user, logged in like a browser, starts their default server through the
  REST API (``POST /hub/api/users/<user>/server`` with ``{"tenant", "profile"}``
  and the ``_xsrf`` header). The time runs from just before that request until
  the hub says the server is ready: the POST answered 201 (JupyterHub holds the
  request up to ``slow_spawn_timeout``, 10 s, and answers 201 once the server
  is up and routed), or it answered 202 and ``GET /hub/api/users/<user>``
  then shows ``servers[""]["ready"]`` (polled every ``--poll`` seconds).
  The server is then stopped (DELETE) and the round ends when the hub lists
  no server and its container is gone. The *same user* is used every round:
  the usual "come back to your notebook" case, where the home and shared
  volumes already exist (the warm-up round creates them). The container is
  TenantHub's hardened one (``spawner/docker/spec.py``): user 1000:100,
  ``cap_drop ALL``, no-new-privileges, ``--init``, pids limit 1024, profile
  "small" (1 CPU, 1 GiB), home and shared named volumes, host network on a
  free loopback port, the image's entrypoint with ``jupyterhub-singleuser``.

* anchor: ``docker run -d --rm`` of the same image with the same hardening
  flags and limits (``--network host --init --user 1000:100 --cap-drop ALL
  --security-opt no-new-privileges --pids-limit 1024 --cpus 1 --memory 1g``)
  and the same command, the image's entrypoint with ``jupyterhub-singleuser``;
  the time runs from the ``docker run`` invocation to the first HTTP 200 on
  ``/user/<name>/api`` (the path JupyterHub itself polls), polled every
  ``--poll`` seconds. ``jupyterhub-singleuser`` will not serve until its hub
  answers a version check (``GET /hub/api``), so the anchor gets the JupyterHub
  environment variables and a stub hub API on loopback that answers only that
  check (and accepts activity reports): the smallest "hub" the command needs,
  so both sides run the identical server start-up. The container is removed
  after each round.

What only the hub side does, and is therefore what the ratio measures: login
session and API auth, the tenancy check (membership, profile, quota read back
from ``docker ps`` by label), the platform ledger, an API token and OAuth
client for the server, image and volume inspection (creation on the first
spawn), container create/start through docker-py, ``jupyterhub-singleuser``'s
own start-up (it imports part of JupyterHub, ORM included, and talks to the
hub), JupyterHub's wait for the server (exponential backoff with full jitter:
random waits capped at 0.2 s, 0.4 s, 0.8 s, ... 5 s), and the proxy route.

For every round the script also reads where the time went: the container's
``Created`` and ``State.StartedAt`` (``docker inspect``), the time-stamped
container log (first Jupyter log line, i.e. Python imports done, and "Jupyter
Server ... is running at"), and for the
hub side JupyterHub's own lines ("User ... took N seconds to start", "Adding
user ... to proxy"). The medians of those phases are printed side by side.

``--build-times`` also times image builds (after the rounds; ``--rounds 0``
for builds only):

* warm rebuild: ``scripts/build-images.sh`` (its default profiles, or
  ``--build-profiles``) with every layer cached; the per-image times the
  script logs are shown too. It is a real run of the script: when something
  changed since the last build (a Dockerfile, the rootfs recipe) it builds
  and retags the images, that run is reported as NOT warm (a root filesystem
  that was not a cached image, or a legacy-builder step without "Using
  cache") and the script is run once more. build-images.sh records its
  timings nowhere but stderr, so a cold full build (debootstrap onwards) is
  not re-run here.
* cold build, cpu layer only: ``docker build --no-cache`` of
  ``images/cpu/Dockerfile`` on top of the existing ``tenanthub/notebook-base``,
  with the build arguments build-images.sh passes (pip downloads included).
  It is tagged ``tenanthub/notebook-cpu:bench-cold-<id>`` and that tag is
  removed afterwards; ``tenanthub/notebook-cpu:latest`` is never touched.

Everything listens on 127.0.0.1. Only what this script started is stopped or
removed: its hub and proxy (by PID), containers and volumes carrying its own
tenant label or its anchor label. Exit status 0 when every round succeeded
(the ratio goal is reported, not enforced), 1 otherwise.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.integration.hubrunner import (  # noqa: E402
    Browser,
    RunningHub,
    free_port,
    write_hub,
)

GOAL = 1.2
IMAGE = "tenanthub/notebook-cpu:latest"
USER = "benchuser"
PROFILE = "small"
ANCHOR_LABEL = "tenanthub.bench/time-to-notebook"
RUNNING_RE = re.compile(r"Jupyter Server \S+ is running at")
JUPYTER_LINE_RE = re.compile(r"^\[[DIWEC] \d{4}-\d\d-\d\d ")
HUB_LOG_RE = re.compile(r"^\[\w (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+) ")


# ----------------------------------------------------------------------------- helpers


def docker(
    *args: str, check: bool = True, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["docker", *args], capture_output=True, text=True, check=check, timeout=timeout
    )


def parse_docker_time(value: str) -> float | None:
    """RFC 3339 with nanoseconds (Docker's) -> Unix seconds."""
    match = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)$", value.strip())
    if not match or value.startswith("0001-"):
        return None
    base, frac, zone = match.groups()
    stamp = dt.datetime.fromisoformat(base + ("+00:00" if zone == "Z" else zone))
    return stamp.timestamp() + (float(frac) if frac else 0.0)


def parse_hub_time(line: str) -> float | None:
    """JupyterHub log timestamp (local time, millisecond precision) -> Unix seconds."""
    match = HUB_LOG_RE.match(line)
    if not match:
        return None
    return dt.datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S.%f").astimezone().timestamp()


def container_timeline(
    container: str, t0_wall: float, save_log: Path | None = None
) -> dict[str, float]:
    """Seconds after t0_wall: created, started, first Jupyter log line, "is running at"."""
    out: dict[str, float] = {}
    inspect = docker("inspect", container, check=False)
    if inspect.returncode == 0:
        info = json.loads(inspect.stdout)[0]
        for key, value in (("created", info["Created"]), ("started", info["State"]["StartedAt"])):
            stamp = parse_docker_time(value)
            if stamp is not None:
                out[key] = stamp - t0_wall
    logs = docker("logs", "-t", container, check=False)
    if save_log is not None:
        save_log.write_text(logs.stdout + logs.stderr)
    # stdout and stderr come back separately: take the earliest stamps of both
    first, listening = None, None
    for line in (logs.stdout + logs.stderr).splitlines():
        stamp_text, _, text = line.partition(" ")
        stamp = parse_docker_time(stamp_text)
        if stamp is None:
            continue
        if JUPYTER_LINE_RE.match(text):  # the server's first line: Python imports done
            first = stamp if first is None else min(first, stamp)
        if RUNNING_RE.search(text):
            listening = stamp if listening is None else min(listening, stamp)
    if first is not None:
        out["first_log"] = first - t0_wall
    if listening is not None:
        out["listening"] = listening - t0_wall
    return out


def wait_gone(filters: list[str], timeout: float = 60) -> None:
    args = ["ps", "-aq"]
    for item in filters:
        args += ["--filter", item]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not docker(*args, check=False).stdout.strip():
            return
        time.sleep(0.1)
    raise RuntimeError(f"containers {filters} still there after {timeout}s")


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def fmt(value: float | None) -> str:
    return "-" if value is None or value != value else f"{value:.2f}"


# ----------------------------------------------------------------------------- rounds


@dataclass
class Round:
    side: str
    index: int
    total: float = 0.0
    phases: dict[str, float] = field(default_factory=dict)
    note: str = ""
    stop_seconds: float = 0.0


def hub_config(tenant: str, image: str) -> dict[str, Any]:
    return {
        "auth": {"admin_users": []},
        "backend": {"kind": "docker", "docker": {}},
        "profiles": [
            {
                "name": PROFILE,
                "display_name": "Small",
                "cpu": {"limit": "1"},
                "memory": {"limit": "1Gi"},
                "default": True,
                "image": image,
            }
        ],
        "tenants": [
            {
                "name": tenant,
                "quota": {"servers": 1, "cpu": "4", "memory": "8Gi"},
                "members": [{"user": USER}],
            }
        ],
        "culling": {"enabled": False},
    }


class HubSide:
    def __init__(self, root: Path, image: str, poll: float) -> None:
        self.tenant = f"bench-{secrets.token_hex(3)}"
        self.poll = poll
        self.hub: RunningHub = write_hub(
            root / "hub", hub_config(self.tenant, image), {USER: secrets.token_urlsafe(16)}
        )
        self.browser = Browser(self.hub, USER)

    def start(self) -> None:
        self.hub.start(timeout=120)
        reply = self.browser.login()
        if reply.status_code != 302:
            raise RuntimeError(f"login failed: {reply.status_code} {reply.text[-500:]}")

    def label_filters(self) -> list[str]:
        return [f"label=tenanthub.io/tenant={self.tenant}", f"label=tenanthub.io/username={USER}"]

    def run(self, index: int) -> Round:
        result = Round("hub", index)
        log_offset = self.hub.log_path.stat().st_size
        t0_wall = time.time()
        t0 = time.perf_counter()
        reply = self.browser.api(
            "POST", f"users/{USER}/server", json={"tenant": self.tenant, "profile": PROFILE}
        )
        result.phases["post_answered"] = time.perf_counter() - t0
        if reply.status_code == 201:
            result.total = result.phases["post_answered"]
            result.note = "201"
        elif reply.status_code == 202:
            result.note = "202+poll"
            deadline = time.monotonic() + 180
            while True:
                model = self.browser.api("GET", f"users/{USER}").json()
                info = model.get("servers", {}).get("")
                if info and info.get("ready"):
                    result.total = time.perf_counter() - t0
                    break
                if not info or time.monotonic() > deadline:
                    raise RuntimeError(f"server not ready: {model}\n{self.hub.log()[-3000:]}")
                time.sleep(self.poll)
        else:
            raise RuntimeError(f"spawn refused: {reply.status_code} {reply.text[-1000:]}")

        # where the time went
        filters = [arg for f in self.label_filters() for arg in ("--filter", f)]
        ids = docker("ps", "-q", *filters).stdout
        if ids.split():
            log = self.hub.root / f"container-hub-{index}.log"
            result.phases.update(container_timeline(ids.split()[0], t0_wall, log))
        with self.hub.log_path.open("rb") as handle:
            handle.seek(log_offset)
            new_log = handle.read().decode(errors="replace")
        for line in new_log.splitlines():
            stamp = parse_hub_time(line)
            if stamp is None:
                continue
            took = re.search(r"User \S+ took ([\d.]+) seconds to start", line)
            if took:
                result.phases["hub_up_seen"] = stamp - t0_wall
                result.phases["hub_took"] = float(took.group(1))
            elif "Adding user" in line and "to proxy" in line:
                result.phases.setdefault("route_add", stamp - t0_wall)
        # the notebook answers through the proxy (informational)
        t1 = time.perf_counter()
        proxied = requests.get(f"{self.hub.url}user/{USER}/api", timeout=10)
        result.phases["proxied_api_seconds"] = time.perf_counter() - t1
        if proxied.status_code != 200:
            result.note += f" proxied /api {proxied.status_code}"

        t2 = time.perf_counter()
        stop = self.browser.api("DELETE", f"users/{USER}/server")
        if stop.status_code not in (202, 204):
            raise RuntimeError(f"stop refused: {stop.status_code} {stop.text[-500:]}")
        self.browser.wait_stopped(timeout=90)
        wait_gone(self.label_filters())
        result.stop_seconds = time.perf_counter() - t2
        return result

    def cleanup(self) -> None:
        with contextlib.suppress(Exception):
            self.hub.shutdown()
        label = f"label=tenanthub.io/tenant={self.tenant}"
        ids = docker("ps", "-aq", "--filter", label, check=False).stdout.split()
        if ids:
            docker("rm", "-f", *ids, check=False)
        vols = docker("volume", "ls", "-q", "--filter", label, check=False).stdout.split()
        if vols:
            docker("volume", "rm", "-f", *vols, check=False)


class StubHubAPI:
    """Answers jupyterhub-singleuser's start-up version check, and nothing else."""

    def __init__(self) -> None:
        import http.server
        import threading

        import jupyterhub

        version = json.dumps({"version": jupyterhub.__version__}).encode()

        class Handler(http.server.BaseHTTPRequestHandler):
            def _reply(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("X-JupyterHub-Version", jupyterhub.__version__)
                self.end_headers()
                self.wfile.write(version)

            def do_GET(self) -> None:
                self._reply()

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", "0") or 0))
                self._reply()

            def log_message(self, *_args: Any) -> None:
                return None

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self.server.server_address[1])
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class AnchorSide:
    def __init__(self, image: str, poll: float, run_id: str, logs_dir: Path) -> None:
        self.logs_dir = logs_dir
        self.image = image
        self.poll = poll
        self.run_id = run_id
        self.hub = StubHubAPI()

    def command(self, name: str, port: int) -> list[str]:
        prefix = "/user/anchor/"
        env = {
            "JUPYTERHUB_API_TOKEN": secrets.token_hex(24),
            "JUPYTERHUB_API_URL": f"http://127.0.0.1:{self.hub.port}/hub/api",
            "JUPYTERHUB_BASE_URL": "/",
            "JUPYTERHUB_SERVICE_PREFIX": prefix,
            "JUPYTERHUB_SERVICE_URL": f"http://127.0.0.1:{port}{prefix}",
            "JUPYTERHUB_CLIENT_ID": "jupyterhub-user-anchor",
            "JUPYTERHUB_USER": "anchor",
            "JUPYTERHUB_OAUTH_CALLBACK_URL": f"{prefix}oauth_callback",
        }
        env_args = [arg for key, value in env.items() for arg in ("-e", f"{key}={value}")]
        return [
            "docker", "run", "-d", "--rm", "--name", name,
            "--label", f"{ANCHOR_LABEL}={self.run_id}",
            "--network", "host", "--init",
            "--user", "1000:100", "--cap-drop", "ALL",
            "--security-opt", "no-new-privileges",
            "--pids-limit", "1024", "--cpus", "1", "--memory", "1g",
            *env_args,
            self.image,
            "jupyterhub-singleuser",
        ]  # fmt: skip

    def run(self, index: int) -> Round:
        result = Round("anchor", index)
        name = f"th-bench-anchor-{self.run_id}-{index}"
        port = free_port()
        url = f"http://127.0.0.1:{port}/user/anchor/api"
        command = self.command(name, port)
        t0_wall = time.time()
        t0 = time.perf_counter()
        started = subprocess.run(command, capture_output=True, text=True, timeout=120)
        result.phases["docker_run_returned"] = time.perf_counter() - t0
        if started.returncode != 0:
            raise RuntimeError(f"docker run failed: {started.stderr.strip()}")
        try:
            deadline = time.monotonic() + 180
            while True:
                try:
                    if requests.get(url, timeout=2).status_code == 200:
                        result.total = time.perf_counter() - t0
                        break
                except requests.RequestException:
                    pass
                if time.monotonic() > deadline:
                    logs = docker("logs", name, check=False)
                    raise RuntimeError(f"anchor never answered:\n{logs.stdout}{logs.stderr}")
                time.sleep(self.poll)
            log = self.logs_dir / f"container-anchor-{index}.log"
            result.phases.update(container_timeline(name, t0_wall, log))
        finally:
            t2 = time.perf_counter()
            docker("rm", "-f", name, check=False)
            wait_gone([f"name=^{name}$"])
            result.stop_seconds = time.perf_counter() - t2
        return result

    def cleanup(self) -> None:
        ids = docker("ps", "-aq", "--filter", f"label={ANCHOR_LABEL}={self.run_id}", check=False)
        if ids.stdout.split():
            docker("rm", "-f", *ids.stdout.split(), check=False)
        self.hub.close()


# ----------------------------------------------------------------------------- report

PHASES = [
    ("request -> container created", None, "created"),
    ("created -> started", "created", "started"),
    ("started -> first Jupyter log line", "started", "first_log"),
    ("first Jupyter line -> 'is running at'", "first_log", "listening"),
    ("'is running at' -> hub saw it up", "listening", "hub_up_seen"),
    ("hub saw it up -> ready (route, reply)", "hub_up_seen", "@total"),
    ("'is running at' -> ready/200", "listening", "@total"),
]


def phase_value(r: Round, start: str | None, end: str) -> float | None:
    end_value = r.total if end == "@total" else r.phases.get(end)
    start_value = 0.0 if start is None else r.phases.get(start)
    if end_value is None or start_value is None:
        return None
    return end_value - start_value


def summarize(rounds: list[Round]) -> dict[str, Any]:
    hub = [r.total for r in rounds if r.side == "hub"]
    anchor = [r.total for r in rounds if r.side == "anchor"]
    med_hub, med_anchor = median(hub), median(anchor)
    ratio = med_hub / med_anchor if anchor else float("nan")
    return {
        "hub": {"median": med_hub, "min": min(hub, default=0), "max": max(hub, default=0)},
        "anchor": {
            "median": med_anchor,
            "min": min(anchor, default=0),
            "max": max(anchor, default=0),
        },
        "ratio": ratio,
        "goal": GOAL,
        "goal_met": ratio <= GOAL,
    }


def report(rounds: list[Round]) -> dict[str, Any]:
    print("\nper round (seconds):")
    print(f"  {'side':<7}{'#':>3}{'ready':>8}{'stop':>7}  phases")
    for r in rounds:
        keys = ("created", "started", "listening", "hub_up_seen", "hub_took")
        shown = " ".join(f"{k}={r.phases[k]:.2f}" for k in keys if k in r.phases)
        print(f"  {r.side:<7}{r.index:>3}{r.total:>8.2f}{r.stop_seconds:>7.2f}  {shown} {r.note}")
    print("\nwhere the time goes (medians, seconds from the spawn request / docker run):")
    print(f"  {'phase':<40}{'hub':>8}{'anchor':>8}")
    for label, start, end in PHASES:
        cells = []
        for side in ("hub", "anchor"):
            values = [phase_value(r, start, end) for r in rounds if r.side == side]
            found = [v for v in values if v is not None]
            cells.append(median(found) if found else None)
        if any(c is not None for c in cells):
            print(f"  {label:<40}{fmt(cells[0]):>8}{fmt(cells[1]):>8}")
    took = [r.phases["hub_took"] for r in rounds if "hub_took" in r.phases]
    if took:
        print(f"  JupyterHub 'User ... took N seconds to start': median {median(took):.2f}")
    proxied = [r.phases["proxied_api_seconds"] for r in rounds if "proxied_api_seconds" in r.phases]
    if proxied:
        print(f"  GET /user/<user>/api through the proxy once ready: median {median(proxied):.3f}")
    for side in ("hub", "anchor"):
        stops = [r.stop_seconds for r in rounds if r.side == side]
        print(
            f"  stop ({side}: {'DELETE until gone' if side == 'hub' else 'docker rm -f'}): "
            f"median {median(stops):.2f}"
        )
    summary = summarize(rounds)
    h, a = summary["hub"], summary["anchor"]
    print(
        f"\nhub    (TenantHub spawn -> ready):   median {h['median']:.2f} s "
        f"(min {h['min']:.2f}, max {h['max']:.2f}), n={sum(r.side == 'hub' for r in rounds)}"
    )
    print(
        f"anchor (docker run -> HTTP 200):     median {a['median']:.2f} s "
        f"(min {a['min']:.2f}, max {a['max']:.2f}), n={sum(r.side == 'anchor' for r in rounds)}"
    )
    met = "met" if summary["goal_met"] else "NOT met"
    print(f"ratio hub/anchor (medians): {summary['ratio']:.2f}x  (goal <= {GOAL}x: {met})")
    return summary


# ----------------------------------------------------------------------------- builds


def other_builds_running() -> list[str]:
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        with contextlib.suppress(OSError):
            cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            if "build-images.sh" in cmd or cmd.startswith("docker build"):
                found.append(f"{proc.name}: {cmd.strip()[:120]}")
    return found


def build_env() -> dict[str, str]:
    env = dict(os.environ)
    if "DOCKER_BUILDKIT" not in env:
        buildx = subprocess.run(["docker", "buildx", "version"], capture_output=True, check=False)
        if buildx.returncode != 0:
            env["DOCKER_BUILDKIT"] = "0"  # as build-images.sh does
    return env


def uncached_steps(build_log: str) -> list[str]:
    """What a build-images.sh run did not take from a cache (legacy builder's output)."""
    done = []
    if "base root filesystem:" in build_log and "(cached image)" not in build_log:
        done.append("root filesystem (debootstrap or docker import)")
    step = None
    for line in build_log.splitlines():
        match = re.match(r"^Step \d+/\d+ : (.*)", line)
        if match:
            if step:
                done.append(step)
            # FROM and an ARG before it are never "cached" and cost nothing
            step = None if match.group(1).split()[0].upper() in ("FROM", "ARG") else match.group(1)
        elif line.strip() == "---> Using cache":
            step = None
    if step:
        done.append(step)
    return done


def warm_build(profiles: list[str], attempts: int = 2) -> dict[str, Any]:
    """Time build-images.sh with every layer cached.

    A run that had to build anything (a Dockerfile or the script changed since the
    last build) is reported as not warm, and the build is run again; only a run
    with every step cached counts as the warm figure.
    """
    command = [str(REPO / "scripts" / "build-images.sh"), *profiles]
    runs: list[dict[str, Any]] = []
    for attempt in range(1, attempts + 1):
        print(f"  $ {' '.join(command)}", flush=True)
        t0 = time.perf_counter()
        proc = subprocess.run(
            command, cwd=REPO, capture_output=True, text=True, env=build_env(), check=False
        )
        seconds = time.perf_counter() - t0
        if proc.returncode != 0:
            raise RuntimeError(
                f"build-images.sh failed ({proc.returncode}):\n{proc.stderr[-3000:]}"
            )
        steps = {
            m.group(1): float(m.group(2))
            for m in re.finditer(r"^== (\S+?)(?::\S+)? built \(([\d.]+) s\)", proc.stderr, re.M)
        }
        base = re.search(r"^== base \S+ = \S+ \(([\d.]+) s\)", proc.stderr, re.M)
        if base:
            steps["root filesystem"] = float(base.group(1))
        built = uncached_steps(proc.stderr)
        runs.append({"seconds": seconds, "steps": steps, "uncached": built})
        for name, value in steps.items():
            print(f"    {name}: {value:.1f} s")
        if not built:
            print(f"  warm rebuild ({' '.join(profiles) or 'default profiles'}): {seconds:.1f} s")
            return {"seconds": seconds, "steps": steps, "profiles": profiles, "runs": runs}
        print(
            f"  run {attempt} was NOT warm ({seconds:.1f} s): {len(built)} step(s) built, "
            f"e.g. {built[0][:70]!r}"
        )
    raise RuntimeError(f"no fully cached build in {attempts} runs: {built[:5]}")


def cold_cpu_layer(run_id: str) -> dict[str, Any]:
    import jupyterhub

    version_match = re.search(
        r'^__version__ = "(.*)"$', (REPO / "hub" / "__init__.py").read_text(), re.M
    )
    version = version_match.group(1) if version_match else "dev"
    base_image = f"tenanthub/notebook-base:{version}"
    labels = docker("image", "inspect", "--format", "{{json .Config.Labels}}", base_image)
    digest = (json.loads(labels.stdout) or {}).get("io.tenanthub.base-image-digest", "unknown")
    if not (REPO / "images" / "build-ca.crt").exists():
        raise RuntimeError("images/build-ca.crt missing: run scripts/build-images.sh once")
    tag = f"tenanthub/notebook-cpu:bench-cold-{run_id}"
    command = [
        "docker", "build", "--no-cache", "--network", "host",
        "--build-arg", f"BASE_IMAGE={base_image}",
        "--build-arg", f"BASE_IMAGE_DIGEST={digest}",
        "--build-arg", f"JUPYTERHUB_VERSION={jupyterhub.__version__}",
        "--build-arg", f"TENANTHUB_VERSION={version}",
        "-f", str(REPO / "images" / "cpu" / "Dockerfile"), "-t", tag,
        str(REPO / "images"),
    ]  # fmt: skip
    print(f"  $ {' '.join(command)}")
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(command, capture_output=True, text=True, env=build_env(), check=False)
        seconds = time.perf_counter() - t0
        if proc.returncode != 0:
            raise RuntimeError(f"cold cpu build failed:\n{(proc.stdout + proc.stderr)[-3000:]}")
    finally:
        docker("image", "rm", tag, check=False)
    print(
        f"  cold build, cpu layer only (docker build --no-cache on notebook-base): {seconds:.1f} s"
    )
    return {"seconds": seconds, "base_image": base_image}


# ----------------------------------------------------------------------------- main


def wait_for_image(image: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    announced = False
    while docker("image", "inspect", image, check=False).returncode != 0:
        if time.monotonic() > deadline:
            sys.exit(
                f"image {image} did not appear within {seconds:.0f}s (scripts/build-images.sh)"
            )
        if not announced:
            print(f"waiting up to {seconds:.0f}s for {image} ...", flush=True)
            announced = True
        time.sleep(10)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=10, help="timed rounds per side")
    parser.add_argument("--warmup", type=int, default=1, help="untimed rounds per side first")
    parser.add_argument("--poll", type=float, default=0.05, help="poll interval, seconds")
    parser.add_argument("--image", default=IMAGE)
    parser.add_argument("--wait-image", type=float, default=1800, help="seconds to wait for it")
    parser.add_argument("--build-times", action="store_true", help="also time image builds")
    parser.add_argument(
        "--build-profiles", nargs="*", default=[], help="profiles for the warm rebuild"
    )
    parser.add_argument("--json", type=Path, help="write all figures to this file")
    parser.add_argument("--keep", action="store_true", help="keep the hub's temp dir (its log)")
    args = parser.parse_args(argv)

    if shutil.which("docker") is None or docker("info", check=False).returncode != 0:
        sys.exit("no Docker engine answers (scripts/dockerd.sh up)")
    wait_for_image(args.image, args.wait_image)
    image_id = docker("image", "inspect", "--format", "{{.Id}}", args.image).stdout.strip()
    run_id = secrets.token_hex(3)
    print(
        f"time_to_notebook: image {args.image} ({image_id[:19]}), {args.rounds} rounds per side "
        f"after {args.warmup} warm-up, poll {args.poll}s; {platform.node()}, "
        f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}"
    )
    busy = other_builds_running()
    if busy:
        print("  note: image builds are running on this machine (figures will be noisier):")
        for line in busy:
            print(f"    {line}")

    results: dict[str, Any] = {"image": args.image, "image_id": image_id, "rounds": []}
    ok = True
    rounds: list[Round] = []
    if args.rounds > 0:
        workdir = Path(tempfile.mkdtemp(prefix="tenanthub-ttn-"))
        hub = HubSide(workdir, args.image, args.poll)
        anchor = AnchorSide(args.image, args.poll, run_id, workdir)
        try:
            hub.start()
            print(f"hub at {hub.hub.url} (tenant {hub.tenant}, user {USER}, same user each round)")
            for i in range(args.warmup + args.rounds):
                timed = i >= args.warmup
                index = i - args.warmup + 1 if timed else 0
                for side in (hub, anchor):
                    r = side.run(index)
                    label = f"round {index}" if timed else "warm-up"
                    print(f"  {label:<9} {r.side:<7} {r.total:6.2f} s  {r.note}", flush=True)
                    if timed:
                        rounds.append(r)
        except Exception as exc:
            ok = False
            print(f"FAILED: {exc}", file=sys.stderr)
        finally:
            anchor.cleanup()
            hub.cleanup()
            if args.keep or not ok:
                print(f"hub log kept: {hub.hub.log_path}")
            else:
                shutil.rmtree(workdir, ignore_errors=True)
        after = docker("image", "inspect", "--format", "{{.Id}}", args.image, check=False)
        if after.stdout.strip() != image_id:
            print(f"WARNING: {args.image} changed during the run (rebuilt?): figures mix images")
        if rounds:
            results["summary"] = report(rounds)
            results["rounds"] = [r.__dict__ for r in rounds]

    if args.build_times:
        print("\nimage build times:")
        busy = other_builds_running()
        if busy:
            print("  note: other builds are running; build times will be inflated")
        try:
            results["warm_rebuild"] = warm_build(args.build_profiles)
            results["cold_cpu_layer"] = cold_cpu_layer(run_id)
        except Exception as exc:
            ok = False
            print(f"FAILED: {exc}", file=sys.stderr)

    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=str))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
