"""Checkpoint before stop: the request the spawner sends, the checkpointer's checks of it,
and the managed services the hub runs for checkpoints on one machine."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from checkpointer.endpoint import MAX_BODY, StopRequest, parse_stop_request, token_matches
from hub.app.checkpoint_services import checkpoint_services, registry_config
from hub.app.context import PlatformContext
from hub.app.traits import hub_traits
from hub.config.loader import ConfigError, parse_config
from spawner.stop_checkpoint import StopCheckpoint, describe, plan_stop_checkpoint

PLAN = dict(
    enabled=True, profile_checkpoints=True, supported=True, node_host="127.0.0.1",
    port=8004, wait=120.0, user="alice", server="",
)  # fmt: skip


def test_the_spawner_asks_the_node_of_the_server_with_the_configured_bound() -> None:
    assert plan_stop_checkpoint(**PLAN) == StopCheckpoint(
        "http://127.0.0.1:8004/checkpoint", "alice", "", 120.0
    )
    ipv6 = plan_stop_checkpoint(**{**PLAN, "node_host": "fd00::1"})
    assert isinstance(ipv6, StopCheckpoint) and ipv6.url == "http://[fd00::1]:8004/checkpoint"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"supported": False}, "runs processes"),
        ({"enabled": False}, "checkpoint.enabled"),
        ({"profile_checkpoints": False}, "profile does not checkpoint"),
        ({"wait": 0.0}, "stop_wait is 0"),
        ({"node_host": None}, "node is unknown"),
    ],
)
def test_no_request_when_there_is_nothing_to_ask(change: dict, reason: str) -> None:
    said = plan_stop_checkpoint(**{**PLAN, **change})
    assert isinstance(said, str) and reason in said


def test_the_log_line_says_what_happened() -> None:
    assert describe({"outcome": "ready", "checkpoint": {"id": 7}}) == "checkpoint 7 ready"
    assert describe({"outcome": "skipped", "message": "Not saved: too big"}) == (
        "skipped: Not saved: too big"
    )
    assert describe({}) == "unknown"


def test_stop_requests_are_parsed_strictly() -> None:
    ok = parse_stop_request(json.dumps({"user": "alice", "server": "gpu"}).encode())
    assert ok == StopRequest("alice", "gpu")
    assert parse_stop_request(b'{"user": "alice"}') == StopRequest("alice", "")
    bad = {
        b"": "JSON object",
        b"[1]": "JSON object",
        b"{nope": "not JSON",
        b'{"user": ""}': "user must be",
        b'{"user": "../etc"}': "user must be",
        b'{"user": "a", "server": "x/y"}': "server must be",
        b'{"user": "a", "server": 3}': "server must be",
        b'{"user": "a", "image": "evil"}': "unknown field(s): image",
        b"{" + b" " * (MAX_BODY + 1) + b"}": "over",
    }
    for body, reason in bad.items():
        said = parse_stop_request(body)
        assert isinstance(said, str) and reason in said, (body[:40], said)


def test_only_the_checkpointer_token_is_accepted() -> None:
    assert token_matches("token s3cret", "s3cret")
    assert token_matches("Bearer s3cret", "s3cret")
    assert not token_matches("token s3cret2", "s3cret")
    assert not token_matches("token ", "s3cret")
    assert not token_matches("Basic s3cret", "s3cret")
    assert not token_matches(None, "s3cret")
    assert not token_matches("token anything", "")


def _services(tmp_path: Path, backend: str, **checkpoint: object) -> dict[str, dict]:
    config = parse_config({"hub": {"data_dir": str(tmp_path)}, "checkpoint": checkpoint})
    traits = hub_traits(PlatformContext(config), backend)["JupyterHub"]
    return {s["name"]: s for s in traits["services"]}


def test_on_docker_the_hub_runs_the_checkpointer_with_its_own_token(tmp_path: Path) -> None:
    services = _services(tmp_path, "docker")
    checkpointer = services["tenanthub-checkpointer"]
    assert checkpointer["command"][1:] == ["-m", "checkpointer"]
    assert checkpointer["api_token"]  # the same service entry: one token, one role
    assert "tenanthub-registry" not in services
    name = "tenanthub-checkpointer"
    assert "command" not in _services(tmp_path, "docker", run_daemon=False)[name]
    assert "command" not in _services(tmp_path, "docker", enabled=False)[name]
    # on Kubernetes the DaemonSet runs it, on the local backend there is nothing to save
    assert "command" not in _services(tmp_path, "kubernetes")[name]
    assert "command" not in _services(tmp_path, "local")[name]


def test_a_local_registry_is_loopback_only(tmp_path: Path) -> None:
    config = parse_config({"checkpoint": {"local_registry": True, "registry": "127.0.0.1:5123"}})
    [registry, _] = checkpoint_services(config, "docker", tmp_path, None)
    assert registry["name"] == "tenanthub-registry"
    config_file = str(tmp_path / "registry" / "config.yml")
    assert registry["command"][-2:] == ["serve", config_file]
    # it dies with the hub even when the hub is killed (util-linux is on every Debian)
    assert registry["command"][1:3] == ["--pdeathsig", "TERM"]
    text = (tmp_path / "registry" / "config.yml").read_text()
    assert "addr: 127.0.0.1:5123" in text and str(tmp_path / "registry" / "data") in text
    assert (tmp_path / "registry" / "config.yml").stat().st_mode & 0o077 == 0
    with pytest.raises(ConfigError, match="loopback"):
        parse_config({"checkpoint": {"local_registry": True, "registry": "reg.example.com"}})
    assert "delete:\n    enabled: true" in registry_config(tmp_path, 5000, "x")
