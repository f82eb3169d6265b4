"""auth.kind oauth: claim paths, discovery parsing, the traits, who may sign in, config errors."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import pytest
from oauthenticator.oauth2 import OAuthenticator
from traitlets.config import Config

from hub.auth.oauth import (
    CRYPT_KEY_ENV,
    CRYPT_KEY_FILE,
    Endpoints,
    OAuthConfigError,
    TenantOAuthenticator,
    _mark_cookie_authenticated,
    claim_at,
    groups_from_claim,
    needs_refresh_shim,
    oauth_traits,
    parse_discovery,
    resolve_endpoints,
)
from hub.config.loader import ConfigError, load_config, parse_config
from hub.config.schema import PlatformConfig

ISSUER = "https://id.example.org/realms/ds"
DOCUMENT = {
    "issuer": ISSUER,
    "authorization_endpoint": f"{ISSUER}/protocol/openid-connect/auth",
    "token_endpoint": f"{ISSUER}/protocol/openid-connect/token",
    "userinfo_endpoint": f"{ISSUER}/protocol/openid-connect/userinfo",
    "jwks_uri": f"{ISSUER}/protocol/openid-connect/certs",
}
FOUND = Endpoints(
    DOCUMENT["authorization_endpoint"], DOCUMENT["token_endpoint"], DOCUMENT["userinfo_endpoint"]
)


def oauth_config(tmp_path: Path, **oauth: Any) -> PlatformConfig:
    (tmp_path / "client-secret").write_text("  the-secret \n")
    settings = {
        "issuer": ISSUER,
        "client_id": "tenanthub",
        "client_secret_file": "client-secret",
        "callback_url": "https://hub.example.org/hub/oauth_callback",
        **oauth,
    }
    return parse_config(
        {"hub": {"data_dir": "data"}, "auth": {"kind": "oauth", "oauth": settings}},
        base_dir=tmp_path,
    )


def discovered(issuer: str, timeout: float, ca_file: Path | None) -> dict[str, Any]:
    return DOCUMENT


def no_network(issuer: str, timeout: float, ca_file: Path | None) -> Any:
    raise AssertionError("discovery must not be fetched")


# ----------------------------------------------------------------------------- claims


def test_claim_paths_walk_nested_claims() -> None:
    claims = {"realm_access": {"roles": ["a"]}, "groups": ["g"], "flat": "x"}
    assert claim_at(claims, "groups") == ["g"]
    assert claim_at(claims, "realm_access.roles") == ["a"]
    assert claim_at(claims, "realm_access.missing") is None
    assert claim_at(claims, "flat.deeper") is None  # not a mapping: absent, not an error


def test_group_claims_are_lists_of_names_a_single_name_or_absent() -> None:
    assert groups_from_claim(["b", "a", "b"], "groups") == ["a", "b"]
    assert groups_from_claim("admins", "groups") == ["admins"]  # not {'a', 'd', 'm', ...}
    assert groups_from_claim("", "groups") == []
    assert groups_from_claim(None, "groups") == []
    with pytest.raises(ValueError, match=r"'org\.groups' must be a list of group names, not dict"):
        groups_from_claim({"a": 1}, "org.groups")
    with pytest.raises(ValueError, match=r"check auth\.oauth\.groups_claim"):
        groups_from_claim(["a", 3], "groups")


# ----------------------------------------------------------------------------- discovery


def test_discovery_gives_the_three_endpoints() -> None:
    assert parse_discovery(DOCUMENT, ISSUER) == FOUND
    assert parse_discovery(DOCUMENT, ISSUER + "/") == FOUND  # a trailing slash is the same issuer


def test_discovery_of_another_issuer_is_refused_with_the_value_to_use() -> None:
    with pytest.raises(OAuthConfigError, match=r"set auth\.oauth\.issuer to exactly that value"):
        parse_discovery(DOCUMENT, "https://id.example.org/realms/other")


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([], "is not a JSON object"),
        ({**DOCUMENT, "userinfo_endpoint": None}, "no usable userinfo_endpoint"),
        ({**DOCUMENT, "token_endpoint": "ftp://x"}, "no usable token_endpoint"),
    ],
)
def test_unusable_discovery_documents_say_what_is_missing(document: Any, message: str) -> None:
    with pytest.raises(OAuthConfigError, match=message):
        parse_discovery(document, ISSUER)


def test_explicit_endpoints_need_no_discovery(tmp_path: Path) -> None:
    config = oauth_config(
        tmp_path,
        issuer=None,
        authorize_url="https://a.example/auth",
        token_url="https://a.example/token",
        userdata_url="https://a.example/me",
    )
    assert resolve_endpoints(config.auth.oauth, no_network) == Endpoints(
        "https://a.example/auth", "https://a.example/token", "https://a.example/me"
    )


def test_an_explicit_endpoint_wins_over_discovery(tmp_path: Path) -> None:
    seen: list[tuple[str, float]] = []

    def discover(issuer: str, timeout: float, ca_file: Path | None) -> dict[str, Any]:
        seen.append((issuer, timeout))
        return DOCUMENT

    config = oauth_config(tmp_path, userdata_url="https://a.example/me", discovery_timeout="5s")
    endpoints = resolve_endpoints(config.auth.oauth, discover)
    assert endpoints == Endpoints(FOUND.authorize_url, FOUND.token_url, "https://a.example/me")
    assert seen == [(ISSUER, 5.0)]


# ----------------------------------------------------------------------------- traits


def test_traits_set_pkce_auth_state_refresh_and_the_claim_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(CRYPT_KEY_ENV, raising=False)
    config = oauth_config(
        tmp_path,
        groups_claim="realm_access.groups",
        admin_groups=["platform-admins"],
        allowed_groups=["ds"],
        refresh_every="2m",
    )
    traits = oauth_traits(config, config.hub.data_dir, discovered)
    generic = traits["GenericOAuthenticator"]
    assert generic["client_secret"] == "the-secret"
    assert generic["enable_pkce"] is True
    assert generic["basic_auth"] is True
    assert (generic["authorize_url"], generic["token_url"], generic["userdata_url"]) == (
        FOUND.authorize_url,
        FOUND.token_url,
        FOUND.userdata_url,
    )
    assert generic["auth_state_groups_key"] == "oauth_user.realm_access.groups"
    assert generic["allowed_groups"] == {"ds"}
    assert traits["Authenticator"] == {
        "admin_users": set(),
        "allow_all": False,
        "enable_auth_state": True,
        "auth_refresh_age": 120,
        "refresh_pre_spawn": True,
    }
    assert traits["TenantOAuthenticator"] == {"platform_admin_groups": {"platform-admins"}}

    # they configure a real authenticator (names, types, upstream's manage_groups checks)
    auth = TenantOAuthenticator(config=Config(traits))
    assert auth.enable_pkce and auth.enable_auth_state and auth.manage_groups
    assert auth.platform_admin_group_names() == ["platform-admins"]


def test_without_allowed_groups_anyone_the_provider_signs_in_may_enter(tmp_path: Path) -> None:
    traits = oauth_traits(oauth_config(tmp_path), tmp_path / "data", discovered)
    assert traits["Authenticator"]["allow_all"] is True
    post = oauth_traits(
        oauth_config(tmp_path, token_endpoint_auth="client_secret_post"),
        tmp_path / "data",
        discovered,
    )
    assert post["GenericOAuthenticator"]["basic_auth"] is False


def test_the_crypt_key_is_made_once_private_and_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(CRYPT_KEY_ENV, raising=False)
    config = oauth_config(tmp_path)
    first = oauth_traits(config, config.hub.data_dir, discovered)["CryptKeeper"]["keys"]
    key_file = config.hub.data_dir / CRYPT_KEY_FILE
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert len(bytes.fromhex(first[0])) == 32
    again = oauth_traits(config, config.hub.data_dir, discovered)["CryptKeeper"]["keys"]
    assert again == first


def test_an_operator_crypt_key_in_the_environment_is_left_to_jupyterhub(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CRYPT_KEY_ENV, "ab" * 32)
    config = oauth_config(tmp_path)
    assert "CryptKeeper" not in oauth_traits(config, config.hub.data_dir, discovered)
    assert not (config.hub.data_dir / CRYPT_KEY_FILE).exists()


def test_a_missing_client_secret_file_names_the_setting(tmp_path: Path) -> None:
    config = oauth_config(tmp_path, client_secret_file="nowhere")
    with pytest.raises(OAuthConfigError, match=r"auth.oauth.client_secret_file: cannot read .*"):
        oauth_traits(config, tmp_path / "data", discovered)


# ----------------------------------------------------------------------------- config


def test_relative_secret_and_ca_files_resolve_next_to_the_config(tmp_path: Path) -> None:
    path = tmp_path / "conf" / "tenanthub.yaml"
    path.parent.mkdir()
    path.write_text(
        "auth:\n  kind: oauth\n  oauth:\n    issuer: https://id.example.org\n"
        "    client_id: hub\n    callback_url: https://hub.example.org/hub/oauth_callback\n"
        "    client_secret_file: secrets/client\n    ca_file: /etc/ssl/ca.pem\n"
    )
    oauth = load_config(path).auth.oauth
    assert oauth.client_secret_file == tmp_path / "conf" / "secrets" / "client"
    assert oauth.ca_file == Path("/etc/ssl/ca.pem")


@pytest.mark.parametrize(
    ("oauth", "where", "message"),
    [
        ({"groups_claim": "a..b"}, "auth.oauth.groups_claim", "should match pattern"),
        ({"token_endpoint_auth": "private_key_jwt"}, "auth.oauth.token_endpoint_auth", "Input"),
        ({"refresh_every": "0s"}, "auth.oauth.refresh_every", "greater than or equal to 1"),
        ({"issuer": None}, "auth", "needs oauth.issuer (OIDC discovery) or all of"),
        ({"callback_url": ""}, "auth", "needs oauth.client_id and oauth.callback_url"),
    ],
)
def test_oauth_config_errors_name_the_key(
    tmp_path: Path, oauth: dict[str, Any], where: str, message: str
) -> None:
    settings = {
        "issuer": ISSUER,
        "client_id": "hub",
        "callback_url": "https://hub.example.org/hub/oauth_callback",
        **oauth,
    }
    with pytest.raises(ConfigError) as info:
        parse_config({"auth": {"kind": "oauth", "oauth": settings}})
    assert any(i.path == where and message in i.message for i in info.value.issues), str(info.value)


# ----------------------------------------------------------------------------- sign-in rules


def authenticator(**traits: Any) -> TenantOAuthenticator:
    base: dict[str, Any] = {
        "auth_state_groups_key": "oauth_user.org.groups",
        "allowed_groups": {"ds-vision"},
        "platform_admin_groups": {"platform-admins"},
    }
    return TenantOAuthenticator(**{**base, **traits})


def model(name: str, provider_groups: Any, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "auth_state": {"oauth_user": {"org": {"groups": provider_groups}}},
        **extra,
    }


async def test_allowed_groups_are_checked_against_the_providers_groups() -> None:
    auth = authenticator()
    # by now the model's groups are tenant groups; they must not matter
    assert await auth.check_allowed("a", model("a", ["ds-vision"], groups=["tenant-x"]))
    assert not await auth.check_allowed("b", model("b", ["other"], groups=["ds-vision"]))
    assert await auth.check_allowed("c", model("c", ["platform-admins"]))
    assert await auth.check_allowed("d", model("d", [], admin=True))  # made admin in JupyterHub
    assert await authenticator(admin_users={"e"}).check_allowed("e", model("e", []))
    assert await authenticator(allow_all=True).check_allowed("f", model("f", None))


async def test_a_refused_login_has_no_directory_groups_so_nothing_is_synced() -> None:
    auth = authenticator()
    assert await auth.directory_groups(model("a", ["ds-vision", "x"])) == ["ds-vision", "x"]
    assert await auth.directory_groups(model("b", ["x"])) is None
    assert await auth.directory_groups({"name": "c"}) is None  # no auth_state: no directory


async def test_upstreams_unknown_admin_status_is_dropped_so_the_mixin_keeps_jupyterhubs() -> None:
    auth = authenticator()
    assert "admin" not in await auth.update_auth_model({"name": "a", "admin": None})
    assert (await auth.update_auth_model({"name": "a", "admin": True}))["admin"] is True


# ----------------------------------------------------------------------------- upstream facts


def test_upstream_still_applies_provider_groups_where_tenanthub_overrides_it() -> None:
    """Why the ``_apply_managed_groups`` override exists: upstream would make the raw
    provider groups JupyterHub's groups (and apply its own ``admin_groups``), replacing
    the tenant groups. If upstream stops calling it there, revisit the override."""
    assert "_apply_managed_groups" in inspect.getsource(OAuthenticator._token_to_auth_model)
    assert "admin_groups" in OAuthenticator.class_traits()


def test_jupyterhub_still_needs_the_refresh_shim() -> None:
    """When this fails, JupyterHub gave ``_token_authenticated`` a default: delete
    ``_mark_cookie_authenticated`` in hub/auth/oauth.py and this test."""
    assert needs_refresh_shim()


def test_the_refresh_shim_marks_only_cookie_requests() -> None:
    class Handler:
        pass

    cookie, token = Handler(), Handler()
    token._token_authenticated = True  # type: ignore[attr-defined]
    _mark_cookie_authenticated(cookie)
    _mark_cookie_authenticated(token)
    assert cookie._token_authenticated is False  # type: ignore[attr-defined]
    assert token._token_authenticated is True  # type: ignore[attr-defined]
