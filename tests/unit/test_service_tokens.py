"""TenantHub's external services: stable 0600 tokens and exactly their least-privilege roles."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from jupyterhub.scopes import define_custom_scopes, expand_scopes

from hub.app.context import PlatformContext
from hub.app.service_tokens import (
    CHECKPOINTER,
    PLATFORM,
    SERVICES,
    platform_services,
    service_token,
    token_path,
)
from hub.app.traits import CUSTOM_SCOPES, hub_traits
from hub.config.loader import parse_config

NAMES = ["tenanthub", "tenanthub-checkpointer"]
#: as the hub does at start (JupyterHub.custom_scopes), so expand_scopes knows TenantHub's
define_custom_scopes(CUSTOM_SCOPES)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_tokens_are_created_once_private_and_distinct(tmp_path: Path) -> None:
    services, _roles = platform_services(tmp_path)
    assert [s["name"] for s in services] == NAMES
    tokens = {s["name"]: s["api_token"] for s in services}
    assert len(set(tokens.values())) == 2
    assert mode(tmp_path / "secrets") == 0o700
    for name, token in tokens.items():
        assert len(token) == 64
        assert mode(token_path(tmp_path, name)) == 0o600
        assert token_path(tmp_path, name).read_text() == token
    again, _ = platform_services(tmp_path)
    assert {s["name"]: s["api_token"] for s in again} == tokens


def test_a_too_open_secrets_folder_or_file_is_tightened(tmp_path: Path) -> None:
    first = service_token(tmp_path, "tenanthub-checkpointer")
    (tmp_path / "secrets").chmod(0o755)
    token_path(tmp_path, "tenanthub-checkpointer").chmod(0o644)
    assert service_token(tmp_path, "tenanthub-checkpointer") == first
    assert mode(tmp_path / "secrets") == 0o700
    assert mode(token_path(tmp_path, "tenanthub-checkpointer")) == 0o600


def test_services_are_external_and_roles_assign_only_services(tmp_path: Path) -> None:
    services, roles = platform_services(tmp_path)
    # the hub adds command and url to the platform service only (see the next test)
    assert all(set(s) == {"name", "api_token"} for s in services)
    # with manage_roles, load_roles may not name users or groups (JupyterHub refuses)
    assert all(set(r) == {"name", "description", "scopes", "services"} for r in roles)
    assert {r["name"]: r["services"] for r in roles} == {n: [n] for n in NAMES}


def test_least_privilege_scopes() -> None:
    assert set(PLATFORM.scopes) == {
        "list:users", "read:users", "list:groups", "read:groups", "groups",
        "read:servers", "delete:servers",
    }  # fmt: skip
    assert set(CHECKPOINTER.scopes) == {
        "read:users:activity", "read:servers",
        "access:services!service=tenanthub", "custom:tenanthub:checkpoints",
    }  # fmt: skip


def test_no_service_can_act_as_or_promote_a_user() -> None:
    dangerous = {
        "admin:users", "admin:servers", "admin:auth_state", "admin:groups", "tokens",
        "access:servers", "servers", "start:servers", "users", "delete:users", "shares",
    }  # fmt: skip
    for spec in SERVICES:
        assert not expand_scopes(set(spec.scopes)) & dangerous, spec.name


def test_hub_traits_list_the_services_next_to_the_others(tmp_path: Path) -> None:
    config = parse_config({"hub": {"data_dir": str(tmp_path)}, "culling": {"enabled": True}})
    traits = hub_traits(PlatformContext(config), "local")["JupyterHub"]
    names = [s["name"] for s in traits["services"]]
    assert names[-2:] == NAMES and "idle-culler" in names
    roles = {r["name"]: r for r in traits["load_roles"]}
    assert roles["tenanthub-checkpointer"]["scopes"] == list(CHECKPOINTER.scopes)
    assert "tenanthub-idle-culler" in roles
    platform, checkpointer = traits["services"][-2], traits["services"][-1]
    assert platform["command"][1:] == ["-m", "hub.service"]
    assert platform["url"] == "http://127.0.0.1:8003"  # hub.port + 3
    assert platform["oauth_client_allowed_scopes"] == ["custom:tenanthub:admin"]
    assert platform["environment"]["TENANTHUB_BACKEND"] == "local"  # job runs go there too
    # the hub's own PID, so the service stops when the hub dies (hub.service.lifecycle)
    assert platform["environment"]["TENANTHUB_HUB_PID"] == str(os.getpid())
    assert "custom:tenanthub:admin" in traits["custom_scopes"]
    assert "command" not in checkpointer and "url" not in checkpointer


def test_the_checkpointer_scope_is_declared_and_is_the_one_the_api_checks() -> None:
    from hub.app.traits import CHECKPOINTS_SCOPE
    from hub.service.policy import CHECKPOINTS_SCOPE as CHECKED

    assert CHECKPOINTS_SCOPE == CHECKED == "custom:tenanthub:checkpoints"
    assert CHECKED in CUSTOM_SCOPES and CUSTOM_SCOPES[CHECKED]["description"]
    # no other service (and no user role) carries it
    assert [s.name for s in SERVICES if CHECKED in s.scopes] == ["tenanthub-checkpointer"]
