"""The ``tenanthub`` command (the installed console script) against a real hub + service:
tenants, quotas, members and usage, as a table and as JSON, with the API's errors."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import need
from tests.integration.conftest import BASE_CONFIG, PASSWORDS, PROXY_MISSING
from tests.integration.hubrunner import RunningHub, api_tokens, write_hub

pytestmark = pytest.mark.integration

TENANTHUB = Path(sys.executable).with_name("tenanthub")
CONFIG: dict[str, Any] = {**BASE_CONFIG, "backend": {"kind": "local"}}


@dataclass
class Cli:
    hub: RunningHub
    home: Path
    tokens: dict[str, str]

    def env(self, user: str = "admin", **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TENANTHUB_")}
        env.update(HOME=str(self.home), TENANTHUB_URL=self.hub.url)
        env.pop("XDG_CONFIG_HOME", None)
        env["TENANTHUB_TOKEN"] = self.tokens[user]
        env.update(extra)
        return env

    def run(
        self, *args: str, user: str = "admin", env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [str(TENANTHUB), *args],
            env=env or self.env(user),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        for token in self.tokens.values():
            assert token not in done.stdout + done.stderr, "a token was printed"
        return done

    def ok(self, *args: str, user: str = "admin") -> str:
        done = self.run(*args, user=user)
        assert done.returncode == 0, f"tenanthub {' '.join(args)}: {done.stderr}"
        return done.stdout

    def json(self, *args: str, user: str = "admin") -> Any:
        return json.loads(self.ok(*args, "--json", user=user))

    def fails(self, *args: str, user: str = "admin", env: dict[str, str] | None = None) -> str:
        done = self.run(*args, user=user, env=env)
        assert done.returncode == 1, f"expected exit 1: {done.stdout} {done.stderr}"
        assert done.stdout == ""
        return done.stderr


@pytest.fixture(scope="module")
def cli(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cli]:
    if PROXY_MISSING:
        need(PROXY_MISSING)
    assert TENANTHUB.exists(), f"no tenanthub command next to {sys.executable}"
    root = tmp_path_factory.mktemp("cli")
    hub = write_hub(root / "hub", CONFIG, PASSWORDS)
    try:
        hub.start()
        hub.wait_for_service()
        tokens = api_tokens(hub, ("admin", "dan"), "cli test")
        home = root / "home"
        home.mkdir()
        yield Cli(hub, home, tokens)
    finally:
        hub.shutdown()


def rows(table: str) -> list[list[str]]:
    return [line.split() for line in table.splitlines()[1:]]


def test_platform_admin_creates_a_tenant_sets_its_quota_manages_members_and_deletes_it(cli):
    created = cli.ok(
        "tenant", "create", "geo", "--display-name", "Geo", "--cpu", "2", "--servers", "3"
    )
    header = created.splitlines()[0].split()
    assert header[:2] == ["NAME", "DISPLAY"] and "CPU" in header
    assert rows(created)[0][:2] == ["geo", "Geo"]

    quota = cli.ok("quota", "set", "geo", "--memory", "16Gi", "--servers", "5", "--gpu", "1")
    assert rows(quota)[:4] == [["cpu", "2"], ["memory", "16Gi"], ["gpu", "1"], ["servers", "5"]]
    assert cli.json("quota", "get", "geo") == {
        "cpu": "2",  # kept: only the given flags change
        "memory": "16Gi",
        "gpu": 1,
        "servers": 5,
        "storage": None,
        "running_jobs": None,
    }
    cleared = cli.json("quota", "set", "geo", "--gpu", "none")
    assert cleared["gpu"] is None and cleared["cpu"] == "2"
    assert ["gpu", "no", "limit"] in rows(cli.ok("quota", "get", "geo"))

    refused = cli.fails("quota", "set", "geo", "--cpu", "-1")
    assert refused.startswith("error: Invalid request body: cpu:")
    assert "is not a Kubernetes quantity" in refused
    assert cli.json("quota", "get", "geo")["cpu"] == "2"  # nothing changed

    added = cli.ok("member", "add", "geo", "carol", "--role", "admin")
    assert rows(added) == [["carol", "admin", "manual"]]
    assert cli.json("member", "list", "geo") == [
        {
            "user": "carol",
            "role": "admin",
            "sources": ["manual"],
            "source_roles": {"manual": "admin"},
        }
    ]
    again = cli.fails("member", "add", "geo", "carol")
    assert "was already added to tenant 'geo'" in again
    assert cli.ok("member", "remove", "geo", "carol").strip() == "removed carol from tenant geo"
    assert cli.json("member", "list", "geo") == []
    assert "is not a member of tenant 'geo'" in cli.fails("member", "remove", "geo", "carol")

    listed = cli.ok("tenant", "list")
    assert [r[0] for r in rows(listed)] == ["geo", "nlp", "vision"]
    assert [t["name"] for t in cli.json("tenant", "list", "--search", "vis")] == ["vision"]

    live = cli.json("usage", "geo")
    assert live["tenant"] == "geo"
    assert {r["resource"]: r["limit"] for r in live["resources"]}["cpu"] == 2000  # millicores
    table = cli.ok("usage", "geo")
    assert table.startswith("tenant geo, measured ")
    usage_rows = rows(table.split("\n", 1)[1])
    assert ["servers", "0", "5", "0%"] in usage_rows
    assert ["cpu", "0", "CPU", "2", "CPU", "0%"] in usage_rows
    overview = rows(cli.ok("usage"))
    assert [r[0] for r in overview] == ["geo", "nlp", "vision"]
    assert overview[0][1:3] == ["0", "CPU/2"]  # geo: cpu used/limit
    assert [u["tenant"] for u in cli.json("usage")] == ["geo", "nlp", "vision"]

    unconfirmed = cli.fails("tenant", "delete", "geo")
    assert "repeat its name to confirm: --confirm geo" in unconfirmed
    assert "repeat its name" in cli.fails("tenant", "delete", "geo", "--confirm", "vision")
    deleted = cli.ok("tenant", "delete", "geo", "--confirm", "geo")
    assert deleted.startswith("tenant geo deleted (")
    assert "data kept: " in deleted
    assert [t["name"] for t in cli.json("tenant", "list")] == ["nlp", "vision"]


def test_a_member_gets_the_apis_refusals(cli):
    assert [t["name"] for t in cli.json("tenant", "list", user="dan")] == ["nlp"]
    assert rows(cli.ok("quota", "get", "nlp", user="dan"))[3] == ["servers", "1"]
    refused = cli.fails("quota", "set", "nlp", "--servers", "9", user="dan")
    assert refused.strip() == "error: Only platform admins may do this (quota:write)."
    hidden = cli.fails("quota", "get", "vision", user="dan")
    assert hidden.strip() == "error: No tenant 'vision' (or you are not one of its members)."
    assert "Only platform admins" in cli.fails("usage", user="dan")


def test_url_and_token_come_from_a_private_config_file(cli, tmp_path):
    config = tmp_path / "tenanthub" / "config"
    config.parent.mkdir()
    config.write_text(f"# TenantHub CLI\nurl = {cli.hub.url}\ntoken = {cli.tokens['dan']}\n")
    config.chmod(0o600)
    env = {k: v for k, v in cli.env().items() if not k.startswith("TENANTHUB_")}
    env["XDG_CONFIG_HOME"] = str(tmp_path)
    done = cli.run("tenant", "list", "--json", env=env)
    assert done.returncode == 0, done.stderr
    assert [t["name"] for t in json.loads(done.stdout)] == ["nlp"]

    config.chmod(0o644)
    refused = cli.fails("tenant", "list", env=env)
    assert f"chmod 600 {config}" in refused


def test_a_bad_token_or_an_unreachable_hub_is_said_plainly(cli):
    bad = cli.fails("tenant", "list", env=cli.env(TENANTHUB_TOKEN="not-a-token"))
    assert "Authorization: token" in bad
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/"
    gone = cli.fails("tenant", "list", env=cli.env(TENANTHUB_URL=url))
    assert f"Cannot reach the TenantHub API at {url}services/tenanthub/api/v1/" in gone
    assert "(URL from TENANTHUB_URL)" in gone
