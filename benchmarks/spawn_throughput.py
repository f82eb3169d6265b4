"""Spawn throughput: plain JupyterHub against JupyterHub with TenantHub's tenancy hooks.

    .venv/bin/python benchmarks/spawn_throughput.py [--users 500] [--rounds 3]

Each round starts two real hubs side by side (``python -m jupyterhub``, each
with its own configurable-http-proxy), creates ``--warmup`` + ``--users``
users in each through the REST API, spawns the ``--warmup`` ones untimed (a
fresh hub's first spawns pay one-time costs), then starts every other user's
server through the REST API
(``POST /hub/api/users/<name>/server``, ``--concurrency`` requests in
flight). A spawn counts when the server is ready: the API answered 201, or
a 202 was followed by ``ready: true``.

* plain: JupyterHub with ``NoopSpawner`` (see ``noop_spawner.py``: every
  server is one always-up HTTP endpoint this script starts once) and a fresh
  SQLite database of its own. By default its requests carry the same
  tenant/profile options as the other hub's, which JupyterHub stores the same
  way (``--plain-body none``: no options at all).
* tenanthub: the same hub with ``BenchTenantSpawner`` (TenantSpawnerMixin in
  front of NoopSpawner), a tenanthub.yaml with ``--tenants`` tenants holding
  the users as members (quota for all of them), two profiles, the platform
  database migrated and seeded by ``prepare_database()``, and JupyterHub on
  that same database, as TenantHub runs it. Each request names the tenant
  and profile.

The machine this runs on is shared and noisy, so the users are spawned in
chunks of ``--chunk`` that alternate between the two hubs (plain, tenanthub,
tenanthub, plain, ...; even rounds start with tenanthub): a burst of outside
load hits both alike. A variant's rate is its spawns divided by the wall time
of its own chunks; the hub's CPU time per spawn (all its threads, read from
/proc during its own chunks) is reported too, as it hardly depends on outside
load. The result is the median over rounds of each round's ratio
tenanthub/plain.

Everything listens on 127.0.0.1, the only processes stopped are the ones
this script started, and the run is bounded by ``--max-seconds``. Exit
status: 0 when every spawn succeeded, 1 otherwise (the ratio goal is
reported, not enforced).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import secrets
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
GOAL = 0.9
VARIANTS = ("plain", "tenanthub")
PROFILES = ("small", "large")
CHP_DEFAULT = Path.home() / ".cache" / "tenanthub" / "npm" / "node_modules" / ".bin"


# ----------------------------------------------------------------------------- setup


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def find_chp() -> str:
    found = shutil.which("configurable-http-proxy")
    if found:
        return found
    cached = CHP_DEFAULT / "configurable-http-proxy"
    if cached.exists():
        return str(cached)
    sys.exit(f"configurable-http-proxy not found on PATH or in {CHP_DEFAULT} (make install)")


def user_names(count: int) -> list[str]:
    return [f"bench-user-{i:04d}" for i in range(count)]


def tenant_of(index: int, tenants: int) -> str:
    return f"team-{index % tenants:02d}"


def profile_of(index: int) -> str:
    return PROFILES[(index // 7) % len(PROFILES)]


def tenanthub_yaml(data_dir: Path, names: list[str], tenants: int) -> str:
    """A platform config: ``tenants`` tenants, every user a member of one, quota for all."""
    per_tenant = -(-len(names) // tenants)
    config: dict[str, Any] = {
        "hub": {"ip": "127.0.0.1", "data_dir": str(data_dir)},
        "auth": {"kind": "native", "admin_users": []},
        "backend": {"kind": "local"},
        "profiles": [
            {
                "name": "small",
                "display_name": "Small",
                "cpu": {"guarantee": "250m", "limit": "1"},
                "memory": {"guarantee": "512Mi", "limit": "2Gi"},
                "default": True,
            },
            {
                "name": "large",
                "display_name": "Large",
                "cpu": {"guarantee": "1", "limit": "4"},
                "memory": {"guarantee": "2Gi", "limit": "8Gi"},
            },
        ],
        "tenants": [
            {
                "name": tenant_of(t, tenants),
                "display_name": f"Team {t}",
                # cpu and memory unlimited; room for twice the tenant's members
                "quota": {"servers": 2 * per_tenant},
                "members": [
                    {"user": name, "role": "member"}
                    for i, name in enumerate(names)
                    if i % tenants == t
                ],
                "profiles": list(PROFILES),
            }
            for t in range(tenants)
        ],
        "culling": {"enabled": False},
    }
    # JSON is YAML
    return json.dumps(config, indent=1)


def hub_config(
    variant: str,
    workdir: Path,
    *,
    chp: str,
    server_url: str,
    token: str,
    proxy_port: int,
    proxy_api_port: int,
    hub_port: int,
    tenanthub_config: Path | None,
    tenant_spawner: str = "noop_spawner.BenchTenantSpawner",
) -> str:
    lines = [
        f"# spawn_throughput.py: {variant} variant",
        "c = get_config()  # noqa: F821",
        "c.JupyterHub.ip = '127.0.0.1'",
        f"c.JupyterHub.port = {proxy_port}",
        "c.JupyterHub.hub_ip = '127.0.0.1'",
        f"c.JupyterHub.hub_port = {hub_port}",
        f"c.ConfigurableHTTPProxy.command = [{chp!r}]",
        f"c.ConfigurableHTTPProxy.api_url = 'http://127.0.0.1:{proxy_api_port}'",
        f"c.ConfigurableHTTPProxy.pid_file = {str(workdir / 'proxy.pid')!r}",
        f"c.ConfigurableHTTPProxy.auth_token = {secrets.token_hex(32)!r}",
        f"c.JupyterHub.pid_file = {str(workdir / 'jupyterhub.pid')!r}",
        f"c.JupyterHub.cookie_secret_file = {str(workdir / 'cookie_secret')!r}",
        # the service token is random: skip the 16384-round hash JupyterHub otherwise
        # does on every request made with it (a cost of the client, not of spawning)
        "c.JupyterHub.trust_user_provided_tokens = True",
        "c.JupyterHub.authenticator_class = 'null'",
        "c.Authenticator.allow_all = True",
        # nothing to clean up: the servers are one shared endpoint; stopping 500 no-op
        # servers would only slow the shutdown down
        "c.JupyterHub.cleanup_servers = False",
        f"c.NoopSpawner.server_url = {server_url!r}",
        f"c.JupyterHub.services = [{{'name': 'spawn-bench', 'api_token': {token!r}}}]",
        "c.JupyterHub.load_roles = [{'name': 'spawn-bench', "
        "'scopes': ['admin:users', 'admin:servers'], 'services': ['spawn-bench']}]",
    ]
    if variant == "plain":
        lines += [
            f"c.JupyterHub.db_url = {'sqlite:///' + str(workdir / 'jupyterhub.sqlite')!r}",
            "c.JupyterHub.spawner_class = 'noop_spawner.NoopSpawner'",
        ]
    else:
        assert tenanthub_config is not None
        lines += [
            "from hub.app.context import get_context",
            f"platform = get_context({str(tenanthub_config)!r})",
            "platform.prepare_database()",
            "c.JupyterHub.db_url = platform.db_url  # one database, as TenantHub runs it",
            f"c.JupyterHub.spawner_class = {tenant_spawner!r}",
            f"c.{tenant_spawner.rsplit('.', 1)[-1]}.tenanthub_config_file = "
            f"{str(tenanthub_config)!r}",
        ]
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- processes


def start_endpoint() -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "noop_spawner.py"), str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit("the always-up endpoint exited at once")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return proc, f"http://127.0.0.1:{port}"
        time.sleep(0.05)
    proc.kill()
    sys.exit("the always-up endpoint did not start")


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 20) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def stop_proxy(pid_file: Path, api_port: int) -> None:
    """Kill the proxy our hub started, if it outlived the hub (checked by its command line)."""
    try:
        pid = int(pid_file.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except (OSError, ValueError):
        return
    if "configurable-http-proxy" in cmdline and str(api_port) in cmdline:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, all its threads (not its children)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# ----------------------------------------------------------------------------- hubs


Body = dict[str, str] | None


@dataclass
class Result:
    """One variant in one round."""

    variant: str
    round: int
    users: int
    ok: int = 0
    failed: int = 0
    seconds: float = 0.0  # wall time of this variant's chunks
    hub_cpu: float = 0.0  # CPU seconds of the hub process during those chunks
    latencies: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    accepted_later: int = 0  # answered 202, ready after polling
    checked: str = ""
    hub_errors: int = 0

    @property
    def rate(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0

    @property
    def cpu_ms_per_spawn(self) -> float:
        return 1000 * self.hub_cpu / self.ok if self.ok else 0.0

    def fail(self, reason: str, count: int = 1) -> None:
        self.failed += count
        self.errors[reason] = self.errors.get(reason, 0) + count


@dataclass
class Hub:
    """One hub of a round: its files, process, API and what its spawns send."""

    variant: str
    workdir: Path
    config_file: Path
    api: str
    token: str
    proxy_api_port: int
    bodies: list[Body]
    expected: dict[str, dict[str, str]]  # tenant/profile each server must end up with
    proc: subprocess.Popen[bytes] | None = None
    spy: subprocess.Popen[bytes] | None = None


def setup_hub(variant: str, args: argparse.Namespace, chp: str, server_url: str) -> Hub:
    names = user_names(args.warmup + args.users)
    workdir = Path(tempfile.mkdtemp(prefix=f"spawnbench-{variant}-"))
    token = secrets.token_hex(32)
    ports = {"proxy_port": free_port(), "proxy_api_port": free_port(), "hub_port": free_port()}
    options = [
        {"tenant": tenant_of(i, args.tenants), "profile": profile_of(i)} for i in range(len(names))
    ]
    tenanthub_config = None
    expected: dict[str, dict[str, str]] = {}
    bodies: list[Body] = [None] * len(names)
    if variant == "tenanthub":
        tenanthub_config = workdir / "tenanthub.yaml"
        tenanthub_config.write_text(tenanthub_yaml(workdir / "data", names, args.tenants))
        expected = dict(zip(names, options, strict=True))
        bodies = list(options)
    else:
        if args.plain_body == "same":
            # the same request: JupyterHub stores the options (one more commit per spawn,
            # with the fsync of SQLite's WAL) whatever the spawner; NoopSpawner accepts them
            bodies = list(options)
        if args.plain_journal == "wal":
            # TenantHub's engine puts the shared SQLite file in WAL mode (a persistent
            # setting JupyterHub's own connection then uses too); do the same here so
            # the difference measured is the hooks, not the journal mode
            with contextlib.closing(sqlite3.connect(workdir / "jupyterhub.sqlite")) as conn:
                conn.execute("PRAGMA journal_mode=WAL")
    config_file = workdir / "jupyterhub_config.py"
    config_file.write_text(
        hub_config(
            variant,
            workdir,
            chp=chp,
            server_url=server_url,
            token=token,
            tenanthub_config=tenanthub_config,
            tenant_spawner=args.tenant_spawner,
            **ports,
        )
    )
    return Hub(
        variant=variant,
        workdir=workdir,
        config_file=config_file,
        api=f"http://127.0.0.1:{ports['hub_port']}/hub/api",
        token=token,
        proxy_api_port=ports["proxy_api_port"],
        bodies=bodies,
        expected=expected,
    )


def launch_hub(hub: Hub) -> None:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(HERE), str(REPO), env.get("PYTHONPATH", "")) if p
    )
    env.pop("TENANTHUB_CONFIG", None)
    with (hub.workdir / "hub.log").open("wb") as log:
        hub.proc = subprocess.Popen(
            [sys.executable, "-m", "jupyterhub", "-f", str(hub.config_file)],
            cwd=hub.workdir,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def stop_hub(hub: Hub, result: Result, keep: bool) -> None:
    if hub.spy is not None:
        stop_py_spy(hub.spy)
    if hub.proc is not None:
        stop_process(hub.proc)
    stop_proxy(hub.workdir / "proxy.pid", hub.proxy_api_port)
    log = (hub.workdir / "hub.log").read_text(errors="replace")
    result.hub_errors = sum(1 for line in log.splitlines() if line.startswith("[E "))
    if keep or result.failed:
        print(f"  (kept {hub.workdir}: hub.log, configs)", flush=True)
    else:
        shutil.rmtree(hub.workdir, ignore_errors=True)


def start_py_spy(args: argparse.Namespace, hub: Hub, index: int) -> None:
    """Sample the hub (all threads, on-CPU only) while it spawns: collapsed stacks."""
    if not args.py_spy or hub.proc is None:
        return
    out = Path(args.py_spy_dir) / f"{hub.variant}-{index}.txt"
    hub.spy = subprocess.Popen(
        [
            args.py_spy,
            "record",
            "--pid",
            str(hub.proc.pid),
            "--threads",
            "--rate",
            "100",
            "--format",
            "raw",
            "--output",
            str(out),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def stop_py_spy(spy: subprocess.Popen[bytes]) -> None:
    if spy.poll() is None:
        spy.send_signal(signal.SIGINT)  # py-spy writes its output on Ctrl-C
        try:
            spy.wait(30)
        except subprocess.TimeoutExpired:
            spy.kill()


# ----------------------------------------------------------------------------- driving


async def wait_for_hub(session: aiohttp.ClientSession, hub: Hub, within: float) -> None:
    assert hub.proc is not None
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if hub.proc.poll() is not None:
            raise RuntimeError(f"the {hub.variant} hub exited with {hub.proc.returncode}")
        with contextlib.suppress(aiohttp.ClientError, OSError):
            async with session.get(f"{hub.api}/") as resp:
                if resp.status == 200:
                    return
        await asyncio.sleep(0.2)
    raise RuntimeError(f"the {hub.variant} hub did not answer within {within:.0f}s")


async def start_hub(session: aiohttp.ClientSession, hub: Hub, names: list[str]) -> None:
    await wait_for_hub(session, hub, within=90)
    async with session.post(f"{hub.api}/users", json={"usernames": names}) as resp:
        if resp.status != 201:
            raise RuntimeError(f"creating users: {resp.status} {await resp.text()}")


async def spawn_chunk(
    session: aiohttp.ClientSession,
    hub: Hub,
    work: list[tuple[str, Body]],
    result: Result,
    concurrency: int,
    within: float,
) -> None:
    """Spawn ``work`` (name, body) with ``concurrency`` in flight; add to ``result``."""
    queue: asyncio.Queue[tuple[str, Body]] = asyncio.Queue()
    for item in work:
        queue.put_nowait(item)
    done = 0

    async def one(name: str, body: Body) -> None:
        started = time.perf_counter()
        kwargs: dict[str, Any] = {"json": body} if body is not None else {}
        async with session.post(f"{hub.api}/users/{name}/server", **kwargs) as resp:
            text = await resp.text()
            status = resp.status
        if status == 202:
            result.accepted_later += 1
            while True:
                await asyncio.sleep(0.05)
                async with session.get(f"{hub.api}/users/{name}") as resp:
                    model = await resp.json()
                server = model.get("servers", {}).get("")
                if server and server.get("ready"):
                    break
                if not server or not server.get("pending"):
                    result.fail("202, then neither ready nor pending")
                    return
        elif status != 201:
            result.fail(f"{status}: {text.strip()[:200]}")
            return
        result.ok += 1
        result.latencies.append(time.perf_counter() - started)

    async def worker() -> None:
        nonlocal done
        while not queue.empty():
            name, body = queue.get_nowait()
            try:
                await one(name, body)
            except (aiohttp.ClientError, OSError, ValueError) as exc:
                result.fail(f"{type(exc).__name__}: {exc}")
            done += 1

    assert hub.proc is not None
    cpu0 = cpu_seconds(hub.proc.pid)
    t0 = time.perf_counter()
    workers = [asyncio.create_task(worker()) for _ in range(concurrency)]
    try:
        await asyncio.wait_for(asyncio.gather(*workers), within)
    except TimeoutError:
        result.fail(f"not done within the time left ({within:.0f}s)", len(work) - done)
    finally:
        result.seconds += time.perf_counter() - t0
        result.hub_cpu += cpu_seconds(hub.proc.pid) - cpu0


async def check_servers(session: aiohttp.ClientSession, hub: Hub, names: list[str]) -> str:
    """After the run: every server ready, and (tenanthub) with the tenant/profile asked for."""
    models: dict[str, Any] = {}
    offset = 0
    while True:
        params = {"offset": offset, "limit": 200}
        async with session.get(f"{hub.api}/users", params=params) as resp:
            page = await resp.json()
        items = page["items"] if isinstance(page, dict) else page
        for model in items:
            models[model["name"]] = model
        if not items or (isinstance(page, dict) and not page.get("_pagination", {}).get("next")):
            break
        offset += len(items)
    ready = 0
    wrong = 0
    for name in names:
        server = models.get(name, {}).get("servers", {}).get("")
        if server and server.get("ready"):
            ready += 1
        want = hub.expected.get(name)
        if want:
            got = (server or {}).get("user_options") or {}
            wrong += {k: got.get(k) for k in want} != want
    note = f"{ready}/{len(names)} ready"
    if hub.expected:
        note += f", {len(names) - wrong}/{len(names)} with the tenant/profile asked for"
    return note


async def run_round(
    index: int, args: argparse.Namespace, chp: str, server_url: str, deadline: float
) -> dict[str, Result]:
    names = user_names(args.warmup + args.users)  # the first --warmup ones are not timed
    results = {v: Result(v, index, args.users) for v in VARIANTS}
    hubs = {v: setup_hub(v, args, chp, server_url) for v in VARIANTS}
    sessions: dict[str, aiohttp.ClientSession] = {}
    keep = args.keep
    try:
        for hub in hubs.values():
            launch_hub(hub)
        for v, hub in hubs.items():
            sessions[v] = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=args.concurrency + 4),
                headers={"Authorization": f"token {hub.token}"},
                timeout=aiohttp.ClientTimeout(total=120),
            )
        await asyncio.gather(*(start_hub(sessions[v], hubs[v], names) for v in VARIANTS))
        await asyncio.sleep(1.0)  # let both hubs finish their start-up work
        for hub in hubs.values():
            start_py_spy(args, hub, index)
        if args.py_spy:
            await asyncio.sleep(1.0)  # let py-spy attach
        # odd rounds start with plain, even rounds with tenanthub; within a round the
        # order alternates per chunk (P T, T P, P T, ...): neither always goes first
        first = VARIANTS if index % 2 == 1 else VARIANTS[::-1]
        for v in first:
            # untimed warm-up: the first spawns of a fresh hub pay one-time costs (caches,
            # compiled statements, TenantHub's ledger load) that a running hub has behind it
            warm = Result(v, index, args.warmup)
            work = [(names[i], hubs[v].bodies[i]) for i in range(args.warmup)]
            await spawn_chunk(sessions[v], hubs[v], work, warm, args.concurrency, 120)
            for reason, count in warm.errors.items():
                results[v].fail(f"warm-up: {reason}", count)
        chunks = [
            list(range(i, min(i + args.chunk, len(names))))
            for i in range(args.warmup, len(names), args.chunk)
        ]
        for k, chunk in enumerate(chunks):
            for v in first if k % 2 == 0 else first[::-1]:
                left = deadline - time.monotonic()
                if left < 1:
                    results[v].fail("not started: --max-seconds reached", len(chunk))
                    continue
                work = [(names[i], hubs[v].bodies[i]) for i in chunk]
                await spawn_chunk(sessions[v], hubs[v], work, results[v], args.concurrency, left)
        for hub in hubs.values():
            if hub.spy is not None:
                stop_py_spy(hub.spy)
                hub.spy = None
        for v in VARIANTS:
            results[v].checked = await check_servers(sessions[v], hubs[v], names)
    except Exception as exc:
        keep = True
        for result in results.values():
            result.fail(f"round aborted: {exc}", len(names) - result.ok - result.failed)
    finally:
        for session in sessions.values():
            await session.close()
        for v in VARIANTS:
            stop_hub(hubs[v], results[v], keep)
    return results


# ----------------------------------------------------------------------------- report


def machine_note() -> str:
    cpu = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    import jupyterhub

    return (
        f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, "
        f"JupyterHub {jupyterhub.__version__}, SQLite, {platform.system()}"
    )


def load_note() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def describe(result: Result) -> str:
    lat = sorted(result.latencies)
    p50 = statistics.median(lat) * 1000 if lat else 0.0
    p95 = lat[int(0.95 * (len(lat) - 1))] * 1000 if lat else 0.0
    line = (
        f"  {result.variant:<9} round {result.round}: {result.ok}/{result.users} spawned, "
        f"{result.failed} failed, {result.seconds:6.2f}s, {result.rate:5.1f} spawns/s, "
        f"hub CPU {result.cpu_ms_per_spawn:4.1f} ms/spawn\n"
        f"            latency p50 {p50:.0f} ms, p95 {p95:.0f} ms; {result.accepted_later} via 202;"
        f" {result.checked}; {result.hub_errors} hub error lines"
    )
    for reason, count in sorted(result.errors.items(), key=lambda kv: -kv[1])[:5]:
        line += f"\n      {count} x {reason}"
    return line


def summarize(results: list[Result]) -> bool:
    """Print the comparison; True when no spawn failed."""
    by = {v: [r for r in results if r.variant == v] for v in VARIANTS}
    rates = {v: [r.rate for r in by[v]] for v in VARIANTS}
    cpu = {v: [r.cpu_ms_per_spawn for r in by[v]] for v in VARIANTS}
    failed = {v: sum(r.failed for r in by[v]) for v in VARIANTS}
    plain, tenant = statistics.median(rates["plain"]), statistics.median(rates["tenanthub"])
    # each round's two hubs ran interleaved under the same outside load: compare within
    # rounds, then take the median over rounds
    paired = [t / p for p, t in zip(rates["plain"], rates["tenanthub"], strict=True) if p]
    ratio = statistics.median(paired) if paired else 0.0

    def listed(values: list[float]) -> str:
        return ", ".join(f"{x:.1f}" for x in values)

    print()
    print(
        f"plain JupyterHub:        {plain:5.1f} spawns/s (median of {listed(rates['plain'])}); "
        f"failed spawns: {failed['plain']}"
    )
    print(
        f"with TenantHub's hooks:  {tenant:5.1f} spawns/s (median of "
        f"{listed(rates['tenanthub'])}); failed spawns: {failed['tenanthub']}"
    )
    print(
        f"ratio tenanthub/plain:   {ratio:.3f}x (median of the rounds' ratios "
        f"{', '.join(f'{x:.2f}' for x in paired)}; ratio of the median rates "
        f"{tenant / plain if plain else 0:.2f}x); goal >= {GOAL}x: "
        f"{'met' if ratio >= GOAL else 'NOT met'}"
    )
    plain_cpu, tenant_cpu = statistics.median(cpu["plain"]), statistics.median(cpu["tenanthub"])
    print(
        f"hub CPU per spawn:       plain {plain_cpu:.1f} ms, tenanthub {tenant_cpu:.1f} ms "
        f"({tenant_cpu - plain_cpu:+.1f} ms; plain/tenanthub "
        f"{plain_cpu / tenant_cpu if tenant_cpu else 0:.2f}x)"
    )
    valid = not failed["plain"] and not failed["tenanthub"]
    if not valid:
        print("INVALID: some spawns failed; the rates above do not compare like with like")
    return valid


async def main_async(args: argparse.Namespace) -> int:
    chp = find_chp()
    started = time.monotonic()
    deadline = started + args.max_seconds
    print(
        f"spawn throughput: {args.users} users (+{args.warmup} untimed warm-up), {args.rounds} "
        f"round(s), chunks of {args.chunk} alternating between the hubs, {args.concurrency} "
        f"spawns in flight, {args.tenants} "
        f"tenants; plain hub: SQLite journal {args.plain_journal}, request body "
        f"{args.plain_body}",
        flush=True,
    )
    print(f"machine: {machine_note()}; {load_note()}", flush=True)
    endpoint, server_url = start_endpoint()
    results: list[Result] = []
    try:
        longest = 30.0
        for index in range(1, args.rounds + 1):
            # a round cut short by the deadline would compare unequal halves: only start
            # one when there is clearly time for it
            if deadline - time.monotonic() < 1.3 * longest:
                print(
                    f"  stopping early: not enough of --max-seconds {args.max_seconds:.0f} "
                    f"left for another round (the longest took {longest:.0f}s)",
                    flush=True,
                )
                break
            round_started = time.monotonic()
            round_results = await run_round(index, args, chp, server_url, deadline)
            longest = max(longest, time.monotonic() - round_started)
            for v in VARIANTS:
                results.append(round_results[v])
                print(describe(round_results[v]), flush=True)
    finally:
        stop_process(endpoint, timeout=5)
    if not results:
        print("no round ran")
        return 1
    valid = summarize(results)
    print(f"total time: {time.monotonic() - started:.0f}s; {load_note()}")
    return 0 if valid else 1


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--users", type=int, default=500, help="servers spawned per hub and round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds (fresh hubs each)")
    parser.add_argument(
        "--warmup",
        type=int,
        default=20,
        help="extra users per hub spawned untimed before each round's timed chunks",
    )
    parser.add_argument(
        "--chunk", type=int, default=100, help="users spawned before switching hubs"
    )
    parser.add_argument("--concurrency", type=int, default=20, help="spawn requests in flight")
    parser.add_argument("--tenants", type=int, default=10, help="tenants the users are spread over")
    parser.add_argument(
        "--max-seconds", type=float, default=600, help="time limit of the whole run"
    )
    parser.add_argument(
        "--plain-journal",
        choices=("wal", "delete"),
        default="wal",
        help="SQLite journal mode of the plain hub's database: wal (default), as TenantHub's "
        "engine sets it on the shared database, so only the hooks differ; delete: SQLite's "
        "and JupyterHub's default",
    )
    parser.add_argument(
        "--plain-body",
        choices=("none", "same"),
        default="same",
        help="what the plain hub's spawn requests carry: same (default: the tenant/profile "
        "options the tenanthub hub gets, which JupyterHub stores whatever the spawner, so "
        "the requests and JupyterHub's work on them are identical and only the hooks "
        "differ), or none (no options: then the ratio also includes JupyterHub's own cost "
        "of saving user_options, about 10%% on SQLite, measured with no hooks at all)",
    )
    parser.add_argument(
        "--tenant-spawner",
        default="noop_spawner.BenchTenantSpawner",
        help="spawner class of the tenanthub variant (to try another implementation of the "
        "hooks; its module must be importable, e.g. via PYTHONPATH)",
    )
    parser.add_argument("--keep", action="store_true", help="keep each hub's temp dir and log")
    parser.add_argument(
        "--py-spy", metavar="PY_SPY", help="sample each hub with this py-spy while it spawns"
    )
    parser.add_argument(
        "--py-spy-dir", default="spawnbench-profiles", help="where --py-spy writes its stacks"
    )
    args = parser.parse_args(argv)
    if min(args.users, args.rounds, args.concurrency, args.tenants, args.chunk) < 1:
        parser.error("--users, --rounds, --chunk, --concurrency and --tenants must be >= 1")
    if args.warmup < 0:
        parser.error("--warmup must be >= 0")
    if args.py_spy:
        Path(args.py_spy_dir).mkdir(parents=True, exist_ok=True)
    return args


def main(argv: list[str] | None = None) -> int:
    return asyncio.run(main_async(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
