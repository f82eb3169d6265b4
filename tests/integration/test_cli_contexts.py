"""``tenanthub context``: several platforms (URL + token) as named contexts, against a real
hub + service. Which token a command uses is observable: the platform admin may create a
tenant, dan (a plain user) may not. The contexts file is private and tokens never shown."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.integration.test_cli_api import TENANTHUB, Cli
from tests.integration.test_cli_api import cli as cli

pytestmark = pytest.mark.integration


class Terminal:
    """A user's shell: own HOME and contexts file, no TENANTHUB_* unless given."""

    def __init__(self, cli: Cli, home: Path) -> None:
        self.cli = cli
        self.home = home
        self.contexts = home / "contexts.yaml"
        self.token_files = {}
        for user, token in cli.tokens.items():
            path = home / f"{user}.token"
            path.write_text(token + "\n")
            path.chmod(0o600)
            self.token_files[user] = path

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TENANTHUB_")}
        env.pop("XDG_CONFIG_HOME", None)
        env.update(HOME=str(self.home), TENANTHUB_CONTEXTS=str(self.contexts), **extra)
        return env

    def run(self, *args: str, stdin: str = "", **env: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([str(TENANTHUB), *args], env=self.env(**env), input=stdin,
                              capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
        for token in self.cli.tokens.values():
            assert token not in done.stdout + done.stderr, "a token was printed"
        return done

    def ok(self, *args: str, stdin: str = "", **env: str) -> str:
        done = self.run(*args, stdin=stdin, **env)
        assert done.returncode == 0, f"tenanthub {' '.join(args)}: {done.stderr}"
        return done.stdout

    def fails(self, *args: str, **env: str) -> str:
        done = self.run(*args, **env)
        assert done.returncode == 1, f"expected exit 1: {done.stdout} {done.stderr}"
        return done.stderr


@pytest.fixture
def term(cli: Cli, tmp_path: Path) -> Iterator[Terminal]:
    yield Terminal(cli, tmp_path)


def can_create_tenants(term: Terminal, name: str, *flags: str, **env: str) -> bool:
    """Whose token went out: a platform admin's creates the tenant, dan's is refused."""
    done = term.run("tenant", "create", name, *flags, **env)
    if done.returncode == 0:
        term.ok("tenant", "delete", name, "--confirm", name, *flags, **env)
        return True
    assert done.stderr == "error: Only platform admins may do this (tenant:create).\n"
    return False


def test_contexts_pick_the_platform_and_token_and_flags_and_environment_override(
    term: Terminal,
) -> None:
    url = term.cli.hub.url
    added = term.ok("context", "add", "ops", "--url", url,
                    "--token-file", str(term.token_files["admin"]))  # fmt: skip
    assert added.startswith("context ops (current):")
    term.ok("context", "add", "dan", "--url", url, "--token-stdin",
            stdin=term.cli.tokens["dan"] + "\n")  # fmt: skip
    assert stat.S_IMODE(term.contexts.stat().st_mode) == 0o600
    saved = yaml.safe_load(term.contexts.read_text())
    assert saved["current"] == "ops"
    assert saved["contexts"]["dan"] == {"url": url, "token": term.cli.tokens["dan"]}

    listed = term.ok("context", "list")
    assert [line.split() for line in listed.splitlines()] == [
        ["CURRENT", "NAME", "URL"], ["dan", url], ["*", "ops", url],
    ]  # fmt: skip
    assert json.loads(term.ok("context", "list", "--json")) == [
        {"name": "dan", "url": url, "current": False},
        {"name": "ops", "url": url, "current": True},
    ]

    # the current context, then --context NAME for one command
    assert can_create_tenants(term, "ctx-a")
    assert not can_create_tenants(term, "ctx-b", "--context", "dan")
    assert term.ok("context", "use", "dan").startswith("current context: dan")
    assert not can_create_tenants(term, "ctx-c")
    assert can_create_tenants(term, "ctx-d", "--context", "ops")

    # the environment beats the current context; --context beats the environment
    admin_env = {"TENANTHUB_TOKEN": term.cli.tokens["admin"]}
    assert can_create_tenants(term, "ctx-e", **admin_env)
    assert not can_create_tenants(term, "ctx-f", "--context", "dan", **admin_env)
    # --token-file beats everything
    assert can_create_tenants(term, "ctx-g", "--token-file", str(term.token_files["admin"]))

    # a context's token never goes to another URL
    elsewhere = term.fails("tenant", "list", "--url", "http://127.0.0.1:9/")
    assert "not sending it elsewhere" in elsewhere
    unknown = term.fails("tenant", "list", "--context", "nosuch")
    assert "no context 'nosuch'" in unknown and "dan, ops" in unknown

    again = term.fails("context", "add", "ops", "--url", url,
                       "--token-file", str(term.token_files["dan"]))  # fmt: skip
    assert "exists" in again

    term.contexts.chmod(0o644)
    exposed = term.fails("tenant", "list")
    assert "readable by other users" in exposed and "chmod 600" in exposed
    term.contexts.chmod(0o600)

    assert term.ok("context", "remove", "dan").strip() == "context dan removed"
    assert "dan" not in yaml.safe_load(term.contexts.read_text())["contexts"]
    nothing = term.fails("tenant", "list")  # no current context any more, no environment
    assert "No API URL or token" in nothing and "tenanthub context add" in nothing
    assert can_create_tenants(term, "ctx-h", "--context", "ops")
