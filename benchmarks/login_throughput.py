"""Login throughput: TenantHub's LDAP sign-in against its native accounts, in one run.

    .venv/bin/python benchmarks/login_throughput.py [--logins 200] [--concurrency 10]

Three real TenantHubs (``tenanthub run``, local backend, each with its own
proxy and SQLite database) are started side by side; every login goes
through the proxy like a browser's: ``GET /hub/login`` (the _xsrf cookie),
then ``POST /hub/login`` with the form, which must answer 302.

* native: TenantNativeAuthenticator; every user is a config member of two
  tenants (bcrypt hashes with 4 rounds, as the tests seed them: this measures
  the hub, not password hashing; the default 12 rounds cost ~0.2 s a login).
* ldap: TenantLDAPAuthenticator against a real slapd on loopback (this
  script starts it, loaded with the same users; {SSHA} passwords), bind by DN
  template, then the group search and the membership sync with source
  ``ldap`` (two tenants per user through group_mappings).
* ldap-nosync: the same directory and hub without ``group_search_base``:
  bind only, no group search, no sync; the users get the same two tenants
  from the config instead, so JupyterHub handles the same groups and roles.
  ``ldap`` minus this = what the group search and membership sync cost a login.

Every user logs in once untimed first (JupyterHub creates the user, the
first sync adds the memberships); the timed logins (``--logins`` per variant,
cycling over ``--users`` users, ``--concurrency`` in flight) are the steady
state: each LDAP login searches the groups and compares them with the
database. Logins run in chunks of ``--chunk`` that rotate between the
variants, so a burst of outside load hits all alike. Reported per variant:
logins/s over its own chunks, median and p95 latency, and the hub's CPU time
per login (all threads, from /proc during its chunks); for LDAP also slapd's.

Everything listens on 127.0.0.1; the only processes stopped are the ones
this script started (by PID); the run is bounded by ``--max-seconds``.
``--results`` appends a row to benchmarks/RESULTS.md. Exit status 1 if any
login failed.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import os
import platform
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))

from tests.integration.hubrunner import RunningHub, write_hub  # noqa: E402
from tests.services.slapd import SUFFIX, SlapdServer, start_slapd  # noqa: E402

VARIANTS = ("native", "ldap", "ldap-nosync")
TENANTS = 10
PEOPLE = f"ou=people,{SUFFIX}"
GROUPS = f"ou=groups,{SUFFIX}"
CLK_TCK = os.sysconf("SC_CLK_TCK")
ROWS_MARKER = "<!-- login_throughput.py appends rows above this line -->\n"
SECTION = """## Login throughput (`benchmarks/login_throughput.py`)

Logins through the hub's login form (GET the form, POST it, 302), three
TenantHubs side by side on the local backend: native accounts (config
memberships, bcrypt 4 rounds), LDAP against a loopback slapd with the group
search and membership sync (two tenants per user through group_mappings),
and the same LDAP hub without group lookup ("no sync": the same two tenants
come from the config, so JupyterHub handles the same groups). Timed logins
are steady state (every user logged in once before, untimed), in rotating
chunks of 50. "Sync cost" = LDAP minus LDAP without sync: hub CPU per login
and median latency.

"""
HEADER = ("Date", "What", "Native", "LDAP (with sync)", "LDAP, no sync", "LDAP / native")
SECTION += "| " + " | ".join((*HEADER, "Sync cost per login", "Machine")) + " |\n"
SECTION += "|---" * (len(HEADER) + 2) + "|\n"


def user_names(count: int) -> list[str]:
    return [f"user{i:04d}" for i in range(count)]


def password_of(user: str) -> str:
    return f"{user}-password-1"


def tenants_of(index: int) -> tuple[str, str]:
    """Two tenants per user (adjacent ones), the same in the config and the directory."""
    return f"team{index % TENANTS}", f"team{(index + 1) % TENANTS}"


def directory_ldif(names: list[str]) -> str:
    """Users with {SSHA} passwords (as slapd stores them) and one group per tenant."""
    import base64
    import hashlib

    def ssha(secret: str) -> str:
        salt = os.urandom(8)
        digest = hashlib.sha1(secret.encode() + salt).digest()  # noqa: S324 - LDAP's {SSHA}
        return "{SSHA}" + base64.b64encode(digest + salt).decode()

    parts = [
        f"dn: {SUFFIX}\nobjectClass: dcObject\nobjectClass: organization\ndc: tenanthub\no: b\n",
        f"dn: {PEOPLE}\nobjectClass: organizationalUnit\nou: people\n",
        f"dn: {GROUPS}\nobjectClass: organizationalUnit\nou: groups\n",
    ]
    members: dict[str, list[str]] = {f"team{t}": [] for t in range(TENANTS)}
    for i, name in enumerate(names):
        parts.append(
            f"dn: uid={name},{PEOPLE}\nobjectClass: inetOrgPerson\nuid: {name}\ncn: {name}\n"
            f"sn: {name}\nuserPassword: {ssha(password_of(name))}\n"
        )
        for tenant in tenants_of(i):
            members[tenant].append(f"uid={name},{PEOPLE}")
    for tenant, dns in members.items():
        lines = "".join(f"member: {dn}\n" for dn in dns)
        parts.append(
            f"dn: cn=ds-{tenant},{GROUPS}\nobjectClass: groupOfNames\ncn: ds-{tenant}\n{lines}"
        )
    return "\n".join(parts)


def hub_config(variant: str, names: list[str], slapd: SlapdServer) -> dict[str, Any]:
    tenants: list[dict[str, Any]] = []
    for t in range(TENANTS):
        tenant: dict[str, Any] = {"name": f"team{t}", "quota": {"servers": len(names)}}
        if variant != "ldap":  # the same memberships, from the config: same JupyterHub groups
            tenant["members"] = [
                {"user": name} for i, name in enumerate(names) if f"team{t}" in tenants_of(i)
            ]
        else:
            tenant["group_mappings"] = [{"group": f"ds-team{t}"}]
        tenants.append(tenant)
    auth: dict[str, Any] = {"kind": "native"}
    if variant != "native":
        ldap: dict[str, Any] = {
            "server_address": "127.0.0.1",
            "server_port": slapd.port,
            "tls_strategy": "insecure",
            "bind_dn_template": [f"uid={{username}},{PEOPLE}"],
        }
        if variant == "ldap":
            ldap["group_search_base"] = GROUPS
        auth = {"kind": "ldap", "ldap": ldap}
    return {
        "auth": auth,
        "profiles": [{"name": "small", "cpu": {"limit": "1"}, "memory": {"limit": "1Gi"}}],
        "tenants": tenants,
        "culling": {"enabled": False},
    }


# ----------------------------------------------------------------------------- measuring


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


@dataclass
class Tally:
    logins: int = 0
    failures: list[str] = field(default_factory=list)
    wall: float = 0.0
    hub_cpu: float = 0.0
    slapd_cpu: float = 0.0
    latencies: list[float] = field(default_factory=list)

    def rate(self) -> float:
        return self.logins / self.wall if self.wall else 0.0

    def p(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


async def one_login(url: str, user: str) -> tuple[bool, float, str]:
    start = time.perf_counter()
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar) as session:
        async with session.get(url + "hub/login") as response:
            await response.read()
        xsrf = next((c.value for c in jar if c.key == "_xsrf"), "")
        async with session.post(
            url + "hub/login",
            data={"username": user, "password": password_of(user), "_xsrf": xsrf},
            allow_redirects=False,
        ) as response:
            await response.read()
            ok = response.status == 302
            detail = "" if ok else f"{user}: HTTP {response.status}"
    return ok, time.perf_counter() - start, detail


async def run_logins(url: str, users: list[str], concurrency: int) -> list[tuple[bool, float, str]]:
    gate = asyncio.Semaphore(concurrency)

    async def bounded(user: str) -> tuple[bool, float, str]:
        async with gate:
            return await one_login(url, user)

    return await asyncio.gather(*(bounded(u) for u in users))


async def timed_chunk(
    hub: RunningHub, slapd: SlapdServer, users: list[str], concurrency: int, tally: Tally
) -> None:
    assert hub.proc is not None
    cpu0, ldap0 = cpu_seconds(hub.proc.pid), cpu_seconds(slapd.proc.pid)
    start = time.perf_counter()
    results = await run_logins(hub.url, users, concurrency)
    tally.wall += time.perf_counter() - start
    tally.hub_cpu += cpu_seconds(hub.proc.pid) - cpu0
    tally.slapd_cpu += cpu_seconds(slapd.proc.pid) - ldap0
    for ok, latency, detail in results:
        tally.logins += ok
        tally.latencies.append(latency)
        if not ok:
            tally.failures.append(detail)


# ----------------------------------------------------------------------------- main


def append_result(args: argparse.Namespace, tallies: dict[str, Tally], load: str) -> None:
    native, ldap, nosync = (tallies[v] for v in VARIANTS)
    sync_ms = (ldap.hub_cpu / ldap.logins - nosync.hub_cpu / nosync.logins) * 1000
    row = (
        f"| {args.date} | {args.logins} logins x3, {args.concurrency} in flight, "
        f"{args.users} users | {native.rate():.1f}/s, p50 {native.p(0.5) * 1000:.0f} ms, "
        f"{native.hub_cpu / native.logins * 1000:.1f} ms CPU "
        f"| {ldap.rate():.1f}/s, p50 {ldap.p(0.5) * 1000:.0f} ms, "
        f"{ldap.hub_cpu / ldap.logins * 1000:.1f} ms CPU (+ slapd "
        f"{ldap.slapd_cpu / ldap.logins * 1000:.1f} ms) "
        f"| {nosync.rate():.1f}/s, {nosync.hub_cpu / nosync.logins * 1000:.1f} ms CPU "
        f"| **{ldap.rate() / native.rate():.2f}x** "
        f"| {sync_ms:+.1f} ms hub CPU, {(ldap.p(0.5) - nosync.p(0.5)) * 1000:+.0f} ms p50 "
        f"| {load} |\n"
    )
    path = HERE / "RESULTS.md"
    text = path.read_text()
    if ROWS_MARKER not in text:
        text = text.rstrip("\n") + "\n\n" + SECTION + ROWS_MARKER
    path.write_text(text.replace(ROWS_MARKER, row + ROWS_MARKER, 1))
    print(f"appended to {path}")


async def measure(args: argparse.Namespace, hubs: dict[str, RunningHub], slapd: SlapdServer) -> int:
    names = user_names(args.users)
    deadline = time.monotonic() + args.max_seconds
    print(f"hubs up; slapd on {slapd.url}; warming up ({len(names)} users each)")
    for variant, hub in hubs.items():
        warm = await run_logins(hub.url, names, args.concurrency)
        failed = [d for ok, _, d in warm if not ok]
        if failed:
            print(f"{variant}: warm-up logins failed: {failed[:5]}\n{hub.log()[-3000:]}")
            return 1
    tallies = {v: Tally() for v in VARIANTS}
    order = list(VARIANTS)
    sent = 0
    chunk_index = 0
    while sent < args.logins:
        if time.monotonic() > deadline:
            print(f"stopped at --max-seconds {args.max_seconds}")
            break
        size = min(args.chunk, args.logins - sent)
        users = [names[(sent + i) % len(names)] for i in range(size)]
        rotation = order[chunk_index % 3 :] + order[: chunk_index % 3]
        for variant in rotation:
            await timed_chunk(hubs[variant], slapd, users, args.concurrency, tallies[variant])
        sent += size
        chunk_index += 1
    return report(args, tallies)


def report(args: argparse.Namespace, tallies: dict[str, Tally]) -> int:
    load = "load " + " ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"\n{args.logins} logins per variant, {args.concurrency} in flight ({load})")
    print(f"{'variant':<12} {'logins/s':>9} {'p50 ms':>8} {'p95 ms':>8} {'hub CPU ms':>11}")
    for variant, t in tallies.items():
        extra = f"  (slapd {t.slapd_cpu / max(t.logins, 1) * 1000:.1f} ms CPU/login)"
        print(
            f"{variant:<12} {t.rate():>9.1f} {t.p(0.5) * 1000:>8.0f} {t.p(0.95) * 1000:>8.0f} "
            f"{t.hub_cpu / max(t.logins, 1) * 1000:>11.1f}" + (extra if variant != "native" else "")
        )
    native, ldap, nosync = (tallies[v] for v in VARIANTS)
    if min(native.logins, ldap.logins, nosync.logins) == 0:
        print("no successful logins to compare")
        return 1
    print(f"\nLDAP / native: {ldap.rate() / native.rate():.2f}x")
    sync_cpu = (ldap.hub_cpu / ldap.logins - nosync.hub_cpu / nosync.logins) * 1000
    print(
        f"membership sync per login (ldap - ldap-nosync): {sync_cpu:+.1f} ms hub CPU, "
        f"{(ldap.p(0.5) - nosync.p(0.5)) * 1000:+.0f} ms median latency, "
        f"{(1 / ldap.rate() - 1 / nosync.rate()) * 1000:+.1f} ms wall per login"
    )
    failures = [f for t in tallies.values() for f in t.failures]
    if failures:
        print(f"{len(failures)} logins failed, e.g. {failures[:5]}")
    if args.results and not failures:
        append_result(args, tallies, load)
    return 1 if failures else 0


def run(args: argparse.Namespace) -> int:
    """Start slapd and the three hubs, measure, and stop everything this started."""
    names = user_names(args.users)
    root = Path(tempfile.mkdtemp(prefix="tenanthub-bench-login-"))
    slapd = start_slapd(directory_ldif(names), log_operations=False)
    hubs: dict[str, RunningHub] = {}
    try:
        passwords = {name: password_of(name) for name in names}
        for variant in VARIANTS:
            hub = write_hub(root / variant, hub_config(variant, names, slapd), passwords)
            hubs[variant] = hub
            hub.start(timeout=120)
        return asyncio.run(measure(args, hubs, slapd))
    finally:
        for hub in hubs.values():
            hub.shutdown()
        slapd.stop()
        shutil.rmtree(root, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--logins", type=int, default=200, help="timed logins per variant")
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--users", type=int, default=50, help="distinct users (cycled)")
    parser.add_argument("--chunk", type=int, default=50, help="logins per chunk")
    parser.add_argument("--max-seconds", type=int, default=600)
    parser.add_argument("--results", action="store_true", help="append to RESULTS.md")
    parser.add_argument("--date", default=datetime.date.today().isoformat())
    args = parser.parse_args()
    print(f"{platform.node()}: python {platform.python_version()}")
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
