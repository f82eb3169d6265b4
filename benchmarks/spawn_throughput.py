"""Spawn throughput: plain JupyterHub against JupyterHub with TenantHub's tenancy hooks.

    .venv/bin/python benchmarks/spawn_throughput.py [--users 500] [--rounds 2]

For each variant a real hub (``python -m jupyterhub``, with
configurable-http-proxy) is started in a temporary directory, ``--users``
users are created through the REST API, and then every user's server is
started through the REST API (``POST /hub/api/users/<name>/server``) with
``--concurrency`` requests in flight. A spawn counts when the server is
ready (the API answered 201, or a 202 was followed by ``ready: true``).
The rate is spawns divided by the wall time from the first request to the
last server ready.

* plain: JupyterHub with ``NoopSpawner`` (see ``noop_spawner.py``: every
  server is one always-up HTTP endpoint this script starts once) and a fresh
  SQLite database of its own.
* tenanthub: the same hub with ``BenchTenantSpawner`` (TenantSpawnerMixin in
  front of NoopSpawner), a tenanthub.yaml with ``--tenants`` tenants holding
  the users as members, two profiles, quota for everyone, the platform
  database migrated and seeded by ``prepare_database()``, and JupyterHub on
  that same database, as TenantHub runs it. Each spawn names its tenant and
  profile in the request body.

Variants alternate (plain, tenanthub, plain, ...) because the machine is
noisy; the medians are compared. Everything listens on 127.0.0.1, the only
processes stopped are the ones this script started, and the run is bounded
by ``--max-seconds``. Exit status: 0 when every spawn succeeded, 1 otherwise
(the ratio goal is reported, not enforced).
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
            "c.JupyterHub.spawner_class = 'noop_spawner.BenchTenantSpawner'",
            f"c.BenchTenantSpawner.tenanthub_config_file = {str(tenanthub_config)!r}",
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


# ----------------------------------------------------------------------------- driving


@dataclass
class RoundResult:
    variant: str
    round: int
    users: int
    ok: int = 0
    failed: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    accepted_later: int = 0  # answered 202, ready after polling
    checked: str = ""
    hub_errors: int = 0

    @property
    def rate(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0


async def wait_for_hub(
    session: aiohttp.ClientSession, api: str, proc: subprocess.Popen[bytes], timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the hub exited with {proc.returncode} while starting")
        with contextlib.suppress(aiohttp.ClientError, OSError):
            async with session.get(f"{api}/") as resp:
                if resp.status == 200:
                    return
        await asyncio.sleep(0.2)
    raise RuntimeError(f"the hub did not answer within {timeout:.0f}s")


async def spawn_all(
    session: aiohttp.ClientSession,
    api: str,
    names: list[str],
    bodies: list[dict[str, str] | None],
    result: RoundResult,
    concurrency: int,
    timeout: float,
) -> None:
    queue: asyncio.Queue[tuple[str, dict[str, str] | None]] = asyncio.Queue()
    for item in zip(names, bodies, strict=True):
        queue.put_nowait(item)

    def fail(reason: str) -> None:
        result.failed += 1
        result.errors[reason] = result.errors.get(reason, 0) + 1

    async def one(name: str, body: dict[str, str] | None) -> None:
        started = time.perf_counter()
        kwargs: dict[str, Any] = {"json": body} if body is not None else {}
        async with session.post(f"{api}/users/{name}/server", **kwargs) as resp:
            text = await resp.text()
            status = resp.status
        if status == 202:
            result.accepted_later += 1
            while True:
                await asyncio.sleep(0.05)
                async with session.get(f"{api}/users/{name}") as resp:
                    model = await resp.json()
                server = model.get("servers", {}).get("")
                if server and server.get("ready"):
                    break
                if not server or not server.get("pending"):
                    fail("202, then not ready and not pending")
                    return
        elif status != 201:
            fail(f"{status}: {text.strip()[:200]}")
            return
        result.ok += 1
        result.latencies.append(time.perf_counter() - started)

    async def worker() -> None:
        while True:
            try:
                name, body = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            try:
                await one(name, body)
            except (aiohttp.ClientError, OSError, ValueError) as exc:
                fail(f"{type(exc).__name__}: {exc}")

    t0 = time.perf_counter()
    workers = [asyncio.create_task(worker()) for _ in range(concurrency)]
    try:
        await asyncio.wait_for(asyncio.gather(*workers), timeout)
    except TimeoutError:
        result.seconds = time.perf_counter() - t0
        unfinished = len(names) - result.ok - result.failed
        result.failed += unfinished
        result.errors[f"not done within {timeout:.0f}s"] = unfinished
        return
    result.seconds = time.perf_counter() - t0


async def check_servers(
    session: aiohttp.ClientSession,
    api: str,
    names: list[str],
    expected: dict[str, dict[str, str]],
) -> str:
    """After the run: every server ready, and (tenanthub) with the tenant/profile asked for."""
    models: dict[str, Any] = {}
    offset = 0
    while True:
        async with session.get(f"{api}/users", params={"offset": offset, "limit": 200}) as resp:
            page = await resp.json()
        items = page["items"] if isinstance(page, dict) else page
        for model in items:
            models[model["name"]] = model
        if not items or (isinstance(page, dict) and not page.get("_pagination", {}).get("next")):
            break
        offset += len(items)
    ready = 0
    wrong = []
    for name in names:
        server = models.get(name, {}).get("servers", {}).get("")
        if server and server.get("ready"):
            ready += 1
        want = expected.get(name)
        if want:
            got = (server or {}).get("user_options") or {}
            if {k: got.get(k) for k in want} != want:
                wrong.append(name)
    note = f"{ready}/{len(names)} ready"
    if expected:
        note += f", {len(names) - len(wrong)}/{len(names)} with the tenant/profile asked for"
    return note


async def run_round(
    variant: str,
    index: int,
    args: argparse.Namespace,
    chp: str,
    server_url: str,
    spawn_timeout: float,
) -> RoundResult:
    names = user_names(args.users)
    result = RoundResult(variant, index, len(names))
    workdir = Path(tempfile.mkdtemp(prefix=f"spawnbench-{variant}-"))
    token = secrets.token_hex(32)
    ports = {"proxy_port": free_port(), "proxy_api_port": free_port(), "hub_port": free_port()}
    tenanthub_config = None
    expected: dict[str, dict[str, str]] = {}
    bodies: list[dict[str, str] | None] = [None] * len(names)
    if variant == "tenanthub":
        tenanthub_config = workdir / "tenanthub.yaml"
        tenanthub_config.write_text(tenanthub_yaml(workdir / "data", names, args.tenants))
        for i, name in enumerate(names):
            expected[name] = {"tenant": tenant_of(i, args.tenants), "profile": profile_of(i)}
        bodies = [expected[name] for name in names]
    config_file = workdir / "jupyterhub_config.py"
    config_file.write_text(
        hub_config(
            variant,
            workdir,
            chp=chp,
            server_url=server_url,
            token=token,
            tenanthub_config=tenanthub_config,
            **ports,
        )
    )
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(HERE), str(REPO), env.get("PYTHONPATH", "")) if p
    )
    env.pop("TENANTHUB_CONFIG", None)
    hub_cmd = [sys.executable, "-m", "jupyterhub", "-f", str(config_file)]
    if args.cprofile:
        hub_cmd = [
            sys.executable,
            "-m",
            "cProfile",
            "-o",
            str(Path(args.cprofile) / f"{variant}-{index}.pstats"),
            "-m",
            "jupyterhub",
            "-f",
            str(config_file),
        ]
    log_path = workdir / "hub.log"
    api = f"http://127.0.0.1:{ports['hub_port']}/hub/api"
    keep = args.keep
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            hub_cmd, cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        connector = aiohttp.TCPConnector(limit=args.concurrency + 4)
        headers = {"Authorization": f"token {token}"}
        timeout = aiohttp.ClientTimeout(total=120)
        async with aiohttp.ClientSession(
            connector=connector, headers=headers, timeout=timeout
        ) as session:
            await wait_for_hub(session, api, proc, timeout=90)
            async with session.post(f"{api}/users", json={"usernames": names}) as resp:
                if resp.status != 201:
                    raise RuntimeError(f"creating users: {resp.status} {await resp.text()}")
            await spawn_all(
                session, api, names, bodies, result, args.concurrency, spawn_timeout
            )
            result.checked = await check_servers(session, api, names, expected)
    except Exception as exc:
        keep = True
        result.failed = len(names) - result.ok
        result.errors[f"round aborted: {exc}"] = 1
    finally:
        stop_process(proc)
        stop_proxy(workdir / "proxy.pid", ports["proxy_api_port"])
        log_text = log_path.read_text(errors="replace")
        result.hub_errors = sum(1 for line in log_text.splitlines() if line.startswith("[E "))
        if result.failed:
            keep = True
        if keep:
            print(f"  (kept {workdir}: hub.log, configs)", flush=True)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return result


# ----------------------------------------------------------------------------- report


def machine_note() -> str:
    cpu = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    import jupyterhub  # noqa: PLC0415

    return (
        f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, "
        f"JupyterHub {jupyterhub.__version__}, SQLite, {platform.system()}"
    )


def describe(result: RoundResult) -> str:
    lat = sorted(result.latencies)
    p50 = statistics.median(lat) * 1000 if lat else 0.0
    p95 = lat[int(0.95 * (len(lat) - 1))] * 1000 if lat else 0.0
    line = (
        f"  {result.variant:<9} round {result.round}: {result.ok}/{result.users} spawned, "
        f"{result.failed} failed, {result.seconds:6.2f}s, {result.rate:6.1f} spawns/s "
        f"(latency p50 {p50:.0f} ms, p95 {p95:.0f} ms; {result.accepted_later} via 202; "
        f"{result.checked}; {result.hub_errors} hub error lines)"
    )
    for reason, count in sorted(result.errors.items(), key=lambda kv: -kv[1])[:5]:
        line += f"\n      {count} x {reason}"
    return line


async def main_async(args: argparse.Namespace) -> int:
    chp = find_chp()
    started = time.monotonic()
    endpoint, server_url = start_endpoint()
    results: list[RoundResult] = []
    print(
        f"spawn throughput: {args.users} users, {args.rounds} round(s) per variant, "
        f"{args.concurrency} spawns in flight, {args.tenants} tenants",
        flush=True,
    )
    print(f"machine: {machine_note()}", flush=True)
    try:
        for index in range(1, args.rounds + 1):
            for variant in VARIANTS:
                left = args.max_seconds - (time.monotonic() - started)
                if left < 20:
                    print(f"  stopping early: --max-seconds {args.max_seconds} reached", flush=True)
                    break
                result = await run_round(
                    variant, index, args, chp, server_url, spawn_timeout=max(10.0, left - 15)
                )
                results.append(result)
                print(describe(result), flush=True)
            else:
                continue
            break
    finally:
        stop_process(endpoint, timeout=5)

    rates = {v: [r.rate for r in results if r.variant == v] for v in VARIANTS}
    failed = {v: sum(r.failed for r in results if r.variant == v) for v in VARIANTS}
    if not rates["plain"] or not rates["tenanthub"]:
        print("not enough rounds to compare")
        return 1
    plain = statistics.median(rates["plain"])
    tenant = statistics.median(rates["tenanthub"])
    ratio = tenant / plain if plain else 0.0
    valid = failed["plain"] == 0 and failed["tenanthub"] == 0
    print()
    print(f"plain JupyterHub:        {plain:6.1f} spawns/s (median of {len(rates['plain'])}: "
          f"{', '.join(f'{r:.1f}' for r in rates['plain'])}); failed spawns: {failed['plain']}")
    print(f"with TenantHub's hooks:  {tenant:6.1f} spawns/s (median of "
          f"{len(rates['tenanthub'])}: {', '.join(f'{r:.1f}' for r in rates['tenanthub'])}); "
          f"failed spawns: {failed['tenanthub']}")
    print(f"ratio tenanthub/plain:   {ratio:.2f}x (goal >= {GOAL}x: "
          f"{'met' if ratio >= GOAL else 'NOT met'})")
    if not valid:
        print("INVALID: some spawns failed; the rates above do not compare like with like")
    print(f"total time: {time.monotonic() - started:.0f}s")
    return 0 if valid else 1


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=500, help="servers spawned per round")
    parser.add_argument("--rounds", type=int, default=2, help="rounds per variant (alternating)")
    parser.add_argument("--concurrency", type=int, default=20, help="spawn requests in flight")
    parser.add_argument("--tenants", type=int, default=10, help="tenants the users are spread over")
    parser.add_argument(
        "--max-seconds", type=float, default=290, help="stop starting rounds after this long"
    )
    parser.add_argument("--keep", action="store_true", help="keep each round's temp dir and log")
    parser.add_argument(
        "--cprofile", metavar="DIR", help="run each hub under cProfile, stats into DIR"
    )
    args = parser.parse_args(argv)
    if args.users < 1 or args.rounds < 1 or args.concurrency < 1 or args.tenants < 1:
        parser.error("--users, --rounds, --concurrency and --tenants must be at least 1")
    if args.cprofile:
        Path(args.cprofile).mkdir(parents=True, exist_ok=True)
    return args


def main(argv: list[str] | None = None) -> int:
    return asyncio.run(main_async(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
