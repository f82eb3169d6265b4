"""Load: N simulated users against TenantHub and plain JupyterHub, in one run.

    .venv/bin/python benchmarks/load/run.py [--users 300] [--concurrency 50] [--seconds 60]

Two real hubs are started side by side on the local backend, each with its own
configurable-http-proxy and SQLite database, the same native accounts (bcrypt,
4 rounds: this measures the hubs, not password hashing) and the same "server":
``tests/integration/tiny_server.py``, a trivial always-200 HTTP process, started
by the hub's real local spawner for every spawn:

* tenanthub: ``tenanthub run`` (TenantNativeAuthenticator, TenantLocalSpawner with
  ``backend.local.cmd`` = the tiny server, the platform service with its job
  scheduler). ``--tenants`` tenants share the users; all but the last have room
  for every member; the last ("tight") has a ``servers`` quota of
  ``--tight-quota``, so some of its members' spawns are refused on purpose:
  those 403 "over quota" answers are counted as expected refusals.
* plain: ``python -m jupyterhub`` with upstream NativeAuthenticator (plus the
  statsd shim JupyterHub 6 needs, see ``plain_native.py``) and JupyterHub's
  ``SimpleLocalProcessSpawner`` whose ``cmd`` is the same tiny server.

Then, for each hub in turn (``--order``), ``--users`` simulated users run
(``--concurrency`` at a time, asyncio + aiohttp, each with its own cookies)
through one session each:

1. login: GET /hub/login, POST the form with _xsrf (302);
2. token: POST /hub/api/users/{u}/tokens with the login cookie (201);
3. spawn: POST /hub/api/users/{u}/server with the token (TenantHub: the tenant
   and profile; plain: no body), and when it answers 202, poll GET
   /hub/api/users/{u} until ready; latency = request to ready;
4. user: GET /hub/api/users/{u}, twice;
5. TenantHub only: job-submit, POST /services/tenanthub/api/v1/tenants/{t}/jobs
   (a papermill job with a parameter, on a cron schedule: the whole submission
   path is checked and stored, nothing runs, so 300 papermill kernels do not
   swamp two cores during the measurement), then job-list, GET .../jobs;
6. stop: DELETE /hub/api/users/{u}/server, and on 202 poll until it is gone.

A user whose spawn is refused by the quota goes on with steps 4-5. ``--no-jobs``:
TenantHub's users skip step 5 (the same steps as plain's). New users
start only within ``--seconds`` of the hub's phase; those in flight then
finish. Every 0.5 s psutil samples the CPU time and RSS of the hub, its proxy
and (TenantHub) the platform service. Reported per operation and hub:
throughput (successful operations / phase wall time), p50/p99 latency,
unexpected errors, expected refusals; the ratios TenantHub/plain; CPU-seconds
and peak RSS of each process. ``--results`` appends the table to
benchmarks/RESULTS.md.

Everything listens on 127.0.0.1. Everything this script starts (hubs, proxies,
platform service, tiny servers) is stopped at the end by PID, also on Ctrl-C or
SIGTERM. Exit status 1 if there was any unexpected error.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import json
import os
import platform
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import bcrypt
import psutil

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO))

from spawner.plan import local_paths  # noqa: E402
from tests.integration.hubrunner import RunningHub, free_port, free_port_pair, write_hub  # noqa: E402
from tests.integration.notebooks import write_notebook  # noqa: E402

TINY_SERVER = REPO / "tests" / "integration" / "tiny_server.py"
CHP_CACHE = Path.home() / ".cache" / "tenanthub" / "npm" / "node_modules" / ".bin"
HUBS = ("tenanthub", "plain")
OPS = ("login", "token", "spawn", "user", "job-submit", "job-list", "stop")
NOTEBOOK = "shared/load.ipynb"
#: yearly, on a date the run never reaches: submitted and stored, never fired
CRON = "0 3 29 2 *"
ROWS_MARKER = "<!-- load/run.py appends runs above this line -->\n"
SECTION = """## Load (`benchmarks/load/run.py`)

N simulated users (asyncio + aiohttp, a bounded number at a time) against two
real hubs started side by side on the local backend: TenantHub (`tenanthub run`,
native accounts, the platform service with its scheduler, tenants with room for
their members but one whose `servers` quota refuses some spawns on purpose) and
plain JupyterHub (upstream NativeAuthenticator with the JupyterHub 6 statsd shim,
`SimpleLocalProcessSpawner`), both spawning the same trivial always-200 server
process (`tests/integration/tiny_server.py`) through their real local spawner.
Each user: login form (GET + POST with _xsrf), create a token, spawn through the
REST API and wait until ready, GET its user model twice, TenantHub only: submit
a scheduled notebook job (validated and stored, not run) and list its jobs, stop
its server and wait until it is gone. "ops/s" = successful operations / the
hub's phase wall time; latencies per operation; "errors" = anything but the
expected answer; "refused" = 403 over quota in the tight tenant (expected). CPU
= CPU-seconds during the hub's phase, RSS = peak (psutil, every 0.5 s). The load
generator runs on the same 2 cores.

"""


# ----------------------------------------------------------------------------- setup


def user_names(count: int, prefix: str = "load") -> list[str]:
    return [f"{prefix}{i:04d}" for i in range(count)]


def password_of(user: str) -> str:
    return f"{user}-pw-load"


def tenant_names(count: int) -> list[str]:
    return [f"load-t{t}" for t in range(count)]


def tenant_of(name: str, tenants: int) -> str:
    """Users are spread over the tenants by their number (load0007, warm0007: load-t7)."""
    return f"load-t{int(name[-4:]) % tenants}"


def tenanthub_config(names: list[str], args: argparse.Namespace) -> dict[str, Any]:
    tenants = []
    for t, tenant in enumerate(tenant_names(args.tenants)):
        members = [n for n in names if tenant_of(n, args.tenants) == tenant]
        tight = t == args.tenants - 1
        tenants.append(
            {
                "name": tenant,
                "quota": {"servers": args.tight_quota if tight else max(1, len(members))},
                "members": [{"user": n} for n in members],
            }
        )
    return {
        "auth": {"kind": "native", "admin_users": []},
        "profiles": [
            {"name": "small", "cpu": {"limit": "1"}, "memory": {"limit": "1Gi"}, "default": True}
        ],
        "tenants": tenants,
        "backend": {
            "kind": "local",
            "local": {"cmd": [sys.executable, str(TINY_SERVER)], "start_timeout": 120},
        },
        "culling": {"enabled": False},
        "checkpoint": {"run_daemon": False},
    }


def find_chp() -> str:
    found = shutil.which("configurable-http-proxy")
    if found:
        return found
    cached = CHP_CACHE / "configurable-http-proxy"
    if cached.exists():
        return str(cached)
    sys.exit(f"configurable-http-proxy not found on PATH or in {CHP_CACHE} (make install)")


def plain_config(workdir: Path, port: int, hub_port: int, api_port: int) -> str:
    """jupyterhub_config.py of the plain hub: upstream classes, the same tiny server."""
    lines = [
        "# benchmarks/load/run.py: plain JupyterHub",
        "c = get_config()  # noqa: F821",
        "c.JupyterHub.ip = '127.0.0.1'",
        f"c.JupyterHub.port = {port}",
        "c.JupyterHub.hub_ip = '127.0.0.1'",
        f"c.JupyterHub.hub_port = {hub_port}",
        f"c.ConfigurableHTTPProxy.command = [{find_chp()!r}]",
        f"c.ConfigurableHTTPProxy.api_url = 'http://127.0.0.1:{api_port}'",
        f"c.ConfigurableHTTPProxy.pid_file = {str(workdir / 'proxy.pid')!r}",
        f"c.ConfigurableHTTPProxy.auth_token = {secrets.token_hex(32)!r}",
        f"c.JupyterHub.pid_file = {str(workdir / 'jupyterhub.pid')!r}",
        f"c.JupyterHub.cookie_secret_file = {str(workdir / 'cookie_secret')!r}",
        f"c.JupyterHub.db_url = {'sqlite:///' + str(workdir / 'jupyterhub.sqlite')!r}",
        "c.JupyterHub.authenticator_class = 'plain_native.PlainNativeAuthenticator'",
        f"c.PlainNativeAuthenticator.seed_users_file = {str(workdir / 'seed-users.json')!r}",
        "c.Authenticator.allow_all = True",
        "c.JupyterHub.spawner_class = 'simple'",
        f"c.Spawner.cmd = [{sys.executable!r}, {str(TINY_SERVER)!r}]",
        "c.SimpleLocalProcessSpawner.home_dir_template = "
        f"{str(workdir / 'homes' / '{username}')!r}",
        "c.Spawner.start_timeout = 120",
        "c.Spawner.http_timeout = 120",
    ]
    return "\n".join(lines) + "\n"


def seed_hashes(names: list[str]) -> dict[str, str]:
    return {
        n: bcrypt.hashpw(password_of(n).encode(), bcrypt.gensalt(rounds=4)).decode() for n in names
    }


@dataclass
class Hub:
    """One hub under load: where it answers and which processes are its own."""

    name: str
    url: str
    proc: subprocess.Popen[bytes]
    proxy_pid_file: Path
    log_path: Path
    tenants: int = 0  # TenantHub: tenants the users are spread over (0: plain)
    jobs: bool = False  # TenantHub: each user submits and lists a job

    def pids(self) -> dict[str, int]:
        """hub, proxy and (TenantHub) the platform service."""
        found = {"hub": self.proc.pid}
        with contextlib.suppress(OSError, ValueError):
            found["proxy"] = int(self.proxy_pid_file.read_text().strip())
        with contextlib.suppress(psutil.Error):
            for child in psutil.Process(self.proc.pid).children():
                if "hub.service" in child.cmdline():
                    found["service"] = child.pid
        return found


def launch_plain(root: Path, names: list[str], hashes: dict[str, str]) -> Hub:
    workdir = root / "plain"
    (workdir / "homes").mkdir(parents=True)
    for name in names:
        (workdir / "homes" / name).mkdir()
    (workdir / "seed-users.json").write_text(json.dumps(hashes))
    port = free_port_pair()
    config = workdir / "jupyterhub_config.py"
    config.write_text(plain_config(workdir, port, free_port(), free_port()))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(HERE), env.get("PYTHONPATH", "")) if p)
    log_path = workdir / "hub.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "jupyterhub", "-f", str(config)],
            cwd=workdir,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return Hub("plain", f"http://127.0.0.1:{port}/", proc, workdir / "proxy.pid", log_path)


def wait_up(hub: Hub, timeout: float) -> None:
    import requests

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if hub.proc.poll() is not None:
            raise RuntimeError(f"{hub.name} hub exited:\n{hub.log_path.read_text()[-3000:]}")
        with contextlib.suppress(requests.RequestException):
            if requests.get(hub.url + "hub/api/", timeout=2).status_code == 200:
                return
        time.sleep(0.3)
    raise RuntimeError(f"{hub.name} hub did not answer within {timeout} s")


def tenanthub_files(root: Path, names: list[str], args: argparse.Namespace) -> RunningHub:
    """tenanthub.yaml, seed accounts and each tenant's shared notebook for the jobs."""
    running = write_hub(
        root / "tenanthub",
        tenanthub_config(names, args),
        {n: password_of(n) for n in names},
    )
    for tenant in tenant_names(args.tenants):
        shared = local_paths(running.data_dir, tenant, "nobody").shared
        write_notebook(shared / "load.ipynb", "rows = 1", "print(rows)")
    return running


def tenanthub_hub(running: RunningHub, args: argparse.Namespace) -> Hub:
    assert running.proc is not None
    return Hub(
        "tenanthub",
        running.url,
        running.proc,
        running.data_dir / "jupyterhub-proxy.pid",
        running.log_path,
        tenants=args.tenants,
        jobs=not args.no_jobs,
    )


def descendants(pid: int) -> list[psutil.Process]:
    with contextlib.suppress(psutil.Error):
        return list(psutil.Process(pid).children(recursive=True))
    return []


def started_under(root: Path) -> list[psutil.Process]:
    """Processes working in a folder of this run (its temporary root, unique to it): the
    servers a hub was still launching when it was stopped, orphaned since."""
    found = []
    for proc in psutil.process_iter():
        with contextlib.suppress(psutil.Error):
            if proc.pid != os.getpid() and Path(proc.cwd()).is_relative_to(root):
                found.append(proc)
    return found


def stop_all(hub: Hub, running: RunningHub | None, root: Path) -> None:
    """SIGTERM the hub (it stops its service and, plain, its servers), then the proxy and
    any process the hub started that is still there, all by PID."""
    pids = hub.pids()
    started = descendants(hub.proc.pid)
    if running is not None:
        running.shutdown()  # hub, then proxy and servers by the PIDs it recorded
    elif hub.proc.poll() is None:
        hub.proc.send_signal(signal.SIGTERM)
        try:
            hub.proc.wait(60)
        except subprocess.TimeoutExpired:
            hub.proc.kill()
            hub.proc.wait(10)
    leftovers = [*started, *started_under(root)]
    with contextlib.suppress(psutil.Error, KeyError):
        leftovers.append(psutil.Process(pids["proxy"]))
    for proc in leftovers:
        with contextlib.suppress(psutil.Error):
            if proc.is_running():  # also checks the start time: never a reused PID
                proc.terminate()
    _, alive = psutil.wait_procs(leftovers, timeout=10)
    for proc in alive:
        with contextlib.suppress(psutil.Error):
            proc.kill()


# ----------------------------------------------------------------------------- measuring


@dataclass
class OpTally:
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    refused: int = 0

    def p(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


@dataclass
class Usage:
    cpu0: float = 0.0
    cpu1: float = 0.0
    rss_peak: int = 0
    rss_last: int = 0

    @property
    def cpu(self) -> float:
        return self.cpu1 - self.cpu0


@dataclass
class Phase:
    hub: str
    users: int
    ops: dict[str, OpTally] = field(default_factory=lambda: {op: OpTally() for op in OPS})
    error_samples: list[str] = field(default_factory=list)
    requests: int = 0
    users_done: int = 0
    users_started: int = 0
    wall: float = 0.0
    usage: dict[str, Usage] = field(default_factory=dict)
    load: tuple[float, float] = (0.0, 0.0)
    hub_log_errors: int = 0

    def rate(self, op: str) -> float:
        return len(self.ops[op].latencies) / self.wall if self.wall else 0.0

    def errors(self) -> int:
        return sum(t.errors for t in self.ops.values())

    def error(self, op: str, detail: str) -> None:
        self.ops[op].errors += 1
        if len(self.error_samples) < 20:
            self.error_samples.append(f"{op}: {detail}")


def sample_cpu(pid: int) -> tuple[float, int]:
    proc = psutil.Process(pid)
    times = proc.cpu_times()
    return times.user + times.system, proc.memory_info().rss


async def sampler(hub: Hub, phase: Phase, stop: asyncio.Event) -> None:
    pids = hub.pids()
    for role, pid in pids.items():
        with contextlib.suppress(psutil.Error):
            cpu, rss = sample_cpu(pid)
            phase.usage[role] = Usage(cpu0=cpu, cpu1=cpu, rss_peak=rss, rss_last=rss)
    while True:
        for role, pid in pids.items():
            usage = phase.usage.get(role)
            if usage is None:
                continue
            with contextlib.suppress(psutil.Error):
                usage.cpu1, usage.rss_last = sample_cpu(pid)
                usage.rss_peak = max(usage.rss_peak, usage.rss_last)
        if stop.is_set():
            return
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.5)


class Refused(Exception):
    """The expected quota refusal of a spawn."""


class Failed(Exception):
    """An unexpected answer: counted as an error of its operation."""


class User:
    """One simulated user's session against one hub."""

    def __init__(self, hub: Hub, phase: Phase, name: str, index: int) -> None:
        self.hub, self.phase, self.name, self.index = hub, phase, name, index
        self.tenant = tenant_of(name, hub.tenants) if hub.tenants else ""
        self.tight = bool(hub.tenants) and self.tenant == f"load-t{hub.tenants - 1}"
        self.session: aiohttp.ClientSession | None = None
        self.token = ""

    async def call(
        self, method: str, path: str, *, expect: tuple[int, ...], **kwargs: Any
    ) -> tuple[int, Any]:
        assert self.session is not None
        self.phase.requests += 1
        async with self.session.request(method, self.hub.url + path, **kwargs) as response:
            text = await response.text()
            status = response.status
        if status not in expect:
            raise Failed(f"{method} {path}: HTTP {status} {text[:200]}")
        try:
            return status, json.loads(text) if text else None
        except ValueError:
            return status, None

    def auth(self) -> dict[str, str]:
        return {"Authorization": f"token {self.token}"}

    async def op(self, name: str, step: Any) -> bool:
        """Run one operation; True when it succeeded (refusals and errors: False)."""
        start = time.perf_counter()
        try:
            await step()
        except Refused:
            self.phase.ops[name].refused += 1
            return False
        except Failed as exc:
            self.phase.error(name, str(exc))
            return False
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            self.phase.error(name, f"{type(exc).__name__}: {exc}")
            return False
        self.phase.ops[name].latencies.append(time.perf_counter() - start)
        return True

    # ------------------------------------------------------------------ steps

    async def login(self) -> None:
        assert self.session is not None
        await self.call("GET", "hub/login", expect=(200,))
        xsrf = next((c.value for c in self.session.cookie_jar if c.key == "_xsrf"), "")
        form = {"username": self.name, "password": password_of(self.name), "_xsrf": xsrf}
        await self.call("POST", "hub/login", expect=(302,), data=form, allow_redirects=False)

    async def make_token(self) -> None:
        assert self.session is not None
        xsrf = next((c.value for c in self.session.cookie_jar if c.key == "_xsrf"), "")
        _, body = await self.call(
            "POST",
            f"hub/api/users/{self.name}/tokens",
            expect=(201,),
            json={"note": "load benchmark", "expires_in": 3600},
            headers={"X-XSRFToken": xsrf},
        )
        self.token = str(body["token"])

    async def server(self) -> dict[str, Any] | None:
        _, model = await self.call(
            "GET", f"hub/api/users/{self.name}", expect=(200,), headers=self.auth()
        )
        servers: dict[str, Any] = model.get("servers") or {}
        return servers.get("")

    async def spawn(self) -> None:
        body = {"tenant": self.tenant, "profile": "small"} if self.hub.tenants else None
        assert self.session is not None
        self.phase.requests += 1
        async with self.session.post(
            self.hub.url + f"hub/api/users/{self.name}/server", json=body, headers=self.auth()
        ) as response:
            text = await response.text()
            status = response.status
        if status == 403 and self.tight and "over quota" in text:
            raise Refused
        if status not in (201, 202):
            raise Failed(f"spawn: HTTP {status} {text[:200]}")
        if status == 202:
            deadline = time.monotonic() + 120
            while True:
                info = await self.server()
                if info and info.get("ready"):
                    return
                if info is None or time.monotonic() > deadline:
                    raise Failed(f"spawn: not ready (server {info})")
                await asyncio.sleep(0.25)

    async def get_user(self) -> None:
        await self.call("GET", f"hub/api/users/{self.name}", expect=(200,), headers=self.auth())

    async def submit_job(self) -> None:
        job = {
            "name": f"load-{self.name}",
            "notebook": NOTEBOOK,
            "parameters": {"rows": self.index},
            "schedule": {"cron": CRON, "timezone": "UTC"},
        }
        _, body = await self.call(
            "POST",
            f"services/tenanthub/api/v1/tenants/{self.tenant}/jobs",
            expect=(201,),
            json=job,
            headers=self.auth(),
        )
        if not body or body["job"]["owner"] != self.name or body.get("run") is not None:
            raise Failed(f"job-submit: unexpected answer {str(body)[:200]}")

    async def list_jobs(self) -> None:
        _, body = await self.call(
            "GET",
            f"services/tenanthub/api/v1/tenants/{self.tenant}/jobs",
            expect=(200,),
            headers=self.auth(),
        )
        if not body or not any(j["owner"] == self.name for j in body["items"]):
            raise Failed("job-list: the user's job is not listed")

    async def stop(self) -> None:
        status, _ = await self.call(
            "DELETE", f"hub/api/users/{self.name}/server", expect=(202, 204), headers=self.auth()
        )
        if status == 202:
            deadline = time.monotonic() + 120
            while await self.server() is not None:
                if time.monotonic() > deadline:
                    raise Failed("stop: still there after 120 s")
                await asyncio.sleep(0.25)

    async def session_run(self) -> None:
        jar = aiohttp.CookieJar(unsafe=True)
        timeout = aiohttp.ClientTimeout(total=180)
        async with aiohttp.ClientSession(cookie_jar=jar, timeout=timeout) as session:
            self.session = session
            if not await self.op("login", self.login):
                return
            if not await self.op("token", self.make_token):
                return
            spawned = await self.op("spawn", self.spawn)
            await self.op("user", self.get_user)
            await self.op("user", self.get_user)
            if self.hub.jobs and await self.op("job-submit", self.submit_job):
                await self.op("job-list", self.list_jobs)
            if spawned:
                await self.op("stop", self.stop)
        self.phase.users_done += 1


async def drive(hub: Hub, names: list[str], args: argparse.Namespace) -> Phase:
    phase = Phase(hub.name, len(names))
    gate = asyncio.Semaphore(args.concurrency)
    stop = asyncio.Event()
    watcher = asyncio.create_task(sampler(hub, phase, stop))
    start = time.perf_counter()
    deadline = time.monotonic() + args.seconds
    load0 = os.getloadavg()[0]

    async def one(index: int, name: str) -> None:
        async with gate:
            if time.monotonic() > deadline:
                return
            phase.users_started += 1
            await User(hub, phase, name, index).session_run()

    await asyncio.gather(*(one(i, n) for i, n in enumerate(names)))
    phase.wall = time.perf_counter() - start
    stop.set()
    await watcher
    phase.load = (load0, os.getloadavg()[0])
    return phase


# ----------------------------------------------------------------------------- report


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f}"


def ratio(ours: float, theirs: float) -> str:
    return f"{ours / theirs:.2f}x" if theirs else "-"


def table(phases: dict[str, Phase], markdown: bool = False) -> list[str]:
    ours, plain = phases["tenanthub"], phases["plain"]
    head = (
        "operation", "TH ops/s", "TH p50 ms", "TH p99 ms", "TH errors", "TH refused",
        "plain ops/s", "plain p50 ms", "plain p99 ms", "plain errors",
        "TH/plain ops/s", "TH/plain p50",
    )  # fmt: skip
    rows = []
    for op in OPS:
        a, b = ours.ops[op], plain.ops[op]
        if not (a.latencies or a.errors or a.refused or b.latencies or b.errors):
            continue  # not run (--no-jobs)
        theirs = op not in ("job-submit", "job-list")
        rows.append(
            (
                op,
                f"{ours.rate(op):.1f}",
                ms(a.p(0.5)),
                ms(a.p(0.99)),
                str(a.errors),
                str(a.refused),
                f"{plain.rate(op):.1f}" if theirs else "-",
                ms(b.p(0.5)) if theirs else "-",
                ms(b.p(0.99)) if theirs else "-",
                str(b.errors) if theirs else "-",
                ratio(ours.rate(op), plain.rate(op)) if theirs else "-",
                ratio(a.p(0.5), b.p(0.5)) if theirs else "-",
            )
        )
    rows.append(
        (
            "all requests",
            f"{ours.requests / ours.wall:.1f}",
            "", "", str(ours.errors()), str(sum(t.refused for t in ours.ops.values())),
            f"{plain.requests / plain.wall:.1f}", "", "", str(plain.errors()),
            ratio(ours.requests / ours.wall, plain.requests / plain.wall), "",
        )
    )  # fmt: skip
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
        return lines
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head)]
    lines = ["  ".join(h.rjust(w) for h, w in zip(head, widths, strict=True))]
    lines += ["  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return lines


def resources(phases: dict[str, Phase]) -> list[str]:
    lines = []
    for name in HUBS:
        phase = phases[name]
        parts = [
            f"{role} {u.cpu:.1f} CPU-s, peak RSS {u.rss_peak / 2**20:.0f} MB"
            for role, u in phase.usage.items()
        ]
        lines.append(
            f"{name}: {phase.users_done}/{phase.users} users done in {phase.wall:.1f} s "
            f"({phase.users_done / phase.wall:.1f} users/s), {phase.requests} requests; "
            f"hub {phase.usage['hub'].cpu / max(1, phase.users_done) * 1000:.0f} ms CPU/user; "
            + "; ".join(parts)
            + f"; load {phase.load[0]:.1f}->{phase.load[1]:.1f}; hub log errors "
            f"(quota refusals aside): {phase.hub_log_errors}"
        )
    return lines


def append_results(args: argparse.Namespace, phases: dict[str, Phase]) -> None:
    ours, plain = phases["tenanthub"], phases["plain"]
    block = [
        f"**{args.date}**: {args.users} users, {args.concurrency} at a time, "
        f"up to {args.seconds} s per hub, {args.tenants} tenants (the tight one: "
        f"servers quota {args.tight_quota}), order {', '.join(args.order)}"
        f"{', no job steps (--no-jobs)' if args.no_jobs else ''}; "
        f"{os.cpu_count()} CPUs",
        "",
        *table(phases, markdown=True),
        "",
        *(f"- {line}" for line in resources(phases)),
        f"- TenantHub/plain: {ratio(ours.users_done / ours.wall, plain.users_done / plain.wall)}"
        " users/s",
        "",
    ]
    path = REPO / "benchmarks" / "RESULTS.md"
    text = path.read_text()
    if ROWS_MARKER not in text:
        text = text.rstrip("\n") + "\n\n" + SECTION + ROWS_MARKER
    path.write_text(text.replace(ROWS_MARKER, "\n".join(block) + "\n" + ROWS_MARKER, 1))
    print(f"appended to {path}")


def report(args: argparse.Namespace, phases: dict[str, Phase]) -> int:
    print()
    print("\n".join(table(phases)))
    print()
    print("\n".join(resources(phases)))
    ours, plain = phases["tenanthub"], phases["plain"]
    shared = [o for o in OPS if plain.ops[o].latencies and ours.ops[o].latencies]
    p50s = [ours.ops[o].p(0.5) / plain.ops[o].p(0.5) for o in shared]
    print(
        f"TenantHub/plain users/s: "
        f"{ratio(ours.users_done / ours.wall, plain.users_done / plain.wall)}; "
        f"median p50 ratio over shared operations: {statistics.median(p50s or [0]):.2f}x"
    )
    failed = False
    for phase in phases.values():
        if phase.errors():
            failed = True
            print(f"{phase.hub}: {phase.errors()} unexpected errors, e.g.:")
            for line in phase.error_samples[:10]:
                print(f"  {line}")
        if phase.hub_log_errors:
            failed = True
            print(f"{phase.hub}: {phase.hub_log_errors} error lines in its log (see --keep)")
    if ours.ops["spawn"].refused == 0:
        print("note: no spawn was refused by the tight tenant's quota this run")
    if args.results and not failed:
        append_results(args, phases)
    return 1 if failed else 0


# ----------------------------------------------------------------------------- main


def log_errors(hub: Hub) -> int:
    """The hub log's error lines, but for the expected quota refusals (JupyterHub logs
    every failed spawn as an error)."""
    text = hub.log_path.read_text(errors="replace") if hub.log_path.exists() else ""
    return sum(
        1 for line in text.splitlines() if line.startswith("[E ") and "over quota" not in line
    )


def run(args: argparse.Namespace) -> int:
    names = user_names(args.users)
    warm_names = user_names(args.warmup, "warm")
    accounts = names + warm_names
    root = Path(tempfile.mkdtemp(prefix="tenanthub-bench-load-"))
    hubs: dict[str, tuple[Hub, RunningHub | None]] = {}
    running: RunningHub | None = None
    kept = False
    try:
        started = time.perf_counter()
        running = tenanthub_files(root, accounts, args)
        try:
            running.start(timeout=180)
        finally:
            if running.proc is not None:  # registered at once: stopped even if interrupted
                hubs["tenanthub"] = (tenanthub_hub(running, args), running)
        running.wait_for_service(timeout=120)
        plain = launch_plain(root, accounts, seed_hashes(accounts))
        hubs["plain"] = (plain, None)
        wait_up(plain, 120)
        print(f"hubs up in {time.perf_counter() - started:.1f} s ({root})", flush=True)
        phases: dict[str, Phase] = {}
        if args.warmup:
            # untimed: first-use costs (imports on the first job submission, the first
            # spawns) are paid before the timed phases, by both hubs alike
            warm_args = argparse.Namespace(**{**vars(args), "seconds": 600})
            for name in args.order:
                warm = asyncio.run(drive(hubs[name][0], warm_names, warm_args))
                if warm.errors():
                    print(f"{name}: warm-up errors: {warm.error_samples[:5]}")
                    kept = True
                    return 1
            print(f"warm-up done ({args.warmup} users per hub, untimed)", flush=True)
        for name in args.order:
            hub = hubs[name][0]
            print(f"{name}: {len(names)} users, {args.concurrency} at a time...", flush=True)
            phases[name] = asyncio.run(drive(hub, names, args))
            phases[name].hub_log_errors = log_errors(hub)
            print(
                f"  {phases[name].users_done} users in {phases[name].wall:.1f} s, "
                f"{phases[name].errors()} errors",
                flush=True,
            )
        status = report(args, phases)
        kept = bool(status) or args.keep
        return status
    finally:
        for hub, runner in hubs.values():
            stop_all(hub, runner, root)
        if kept:
            print(f"kept {root} (hub.log of each hub)")
        else:
            shutil.rmtree(root, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=300, help="simulated users per hub")
    parser.add_argument("--concurrency", type=int, default=50, help="users in flight")
    parser.add_argument("--seconds", type=float, default=60, help="new users start until then")
    parser.add_argument("--warmup", type=int, default=10, help="untimed users per hub first")
    parser.add_argument("--tenants", type=int, default=10)
    parser.add_argument("--tight-quota", type=int, default=2, help="servers of the last tenant")
    parser.add_argument(
        "--order", type=lambda s: tuple(s.split(",")), default=HUBS, help="tenanthub,plain"
    )
    parser.add_argument(
        "--no-jobs",
        action="store_true",
        help="TenantHub users skip job-submit and job-list: the same steps as plain's",
    )
    parser.add_argument("--keep", action="store_true", help="keep the hubs' folders")
    parser.add_argument("--results", action="store_true", help="append to RESULTS.md")
    parser.add_argument("--date", default=datetime.date.today().isoformat())
    args = parser.parse_args()
    if sorted(args.order) != sorted(HUBS):
        parser.error("--order must name tenanthub and plain")
    if args.tenants < 2:
        parser.error("--tenants: at least 2 (the last one is the tight one)")

    def terminated(_signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt  # the finally blocks stop everything started

    signal.signal(signal.SIGTERM, terminated)
    print(f"{platform.node()}: python {platform.python_version()}, {os.cpu_count()} CPUs")
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
