"""OAuth/OIDC sign-in through a real hub and a real OpenID provider (oidc-provider-mock).

Every login is the whole authorization-code flow a browser makes:
hub /hub/oauth_login -> provider /oauth2/authorize (its form, where the test
submits the user's ``sub``) -> hub /hub/oauth_callback, with PKCE checked by
the provider (see tests/services/oidc.py). The provider's claims carry the
groups at ``tenanthub.groups`` (a nested claim path).
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse, urlunparse

import pytest
import requests
import sqlalchemy
import yaml
from cryptography.fernet import Fernet
from tornado.web import create_signed_value, decode_signed_value

from tests.conftest import need
from tests.integration.conftest import PROXY_MISSING
from tests.integration.hubrunner import Browser, RunningHub, free_port, write_hub
from tests.services.oidc import (
    TOKEN_MAX_AGE,
    OidcProvider,
    oidc_provider_fixture,  # noqa: F401 - provides oidc_provider
)

pytestmark = pytest.mark.integration

STATE_COOKIE = "oauthenticator-state"
ALLOWED = ["ds-vision", "ds-vision-admins", "ds-nlp"]

CONFIG: dict[str, Any] = {
    "auth": {
        "kind": "oauth",
        "oauth": {
            "client_id": "tenanthub-test",
            "client_secret_file": "client-secret",
            "groups_claim": "tenanthub.groups",
            "admin_groups": ["platform-admins"],
            "allowed_groups": ALLOWED,
        },
    },
    "profiles": [{"name": "small", "cpu": {"limit": "1"}, "memory": {"limit": "1Gi"}}],
    "tenants": [
        {
            "name": "vision",
            "group_mappings": [
                {"group": "ds-vision", "role": "member"},
                {"group": "ds-vision-admins", "role": "admin"},
            ],
        },
        {
            "name": "nlp",
            "members": [{"user": "carol", "role": "member"}],
            "group_mappings": [{"group": "ds-nlp"}],
        },
    ],
    "culling": {"enabled": False},
}


def oauth_hub(root: Path, provider: OidcProvider, **oauth: Any) -> RunningHub:
    """Write an oauth hub (its callback URL needs the port write_hub picks) and start it."""
    config = json.loads(json.dumps(CONFIG))
    config["auth"]["oauth"].update({"issuer": provider.url, **oauth})
    hub = write_hub(root, config, {})
    written = yaml.safe_load(hub.config_path.read_text())
    written["auth"]["oauth"]["callback_url"] = hub.url + "hub/oauth_callback"
    hub.config_path.write_text(yaml.safe_dump(written))
    (root / "client-secret").write_text("s3cret-client-value\n")
    return hub


@pytest.fixture(scope="module")
def hub(
    oidc_provider: OidcProvider, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningHub]:
    if PROXY_MISSING:
        need(PROXY_MISSING)
    running = oauth_hub(tmp_path_factory.mktemp("oauth-hub"), oidc_provider)
    try:
        running.start()
        yield running
    finally:
        running.shutdown()


def start_login(hub: RunningHub, user: str) -> tuple[Browser, requests.Response]:
    """The browser at the provider's authorization form, after the hub sent it there."""
    browser = Browser(hub, user)
    page = browser.session.get(
        hub.url + "hub/oauth_login", params={"next": "/hub/home"}, timeout=30
    )
    assert page.status_code == 200 and "/oauth2/authorize" in page.url, page.text[:500]
    return browser, page


def login(
    hub: RunningHub, provider: OidcProvider, user: str, groups: list[str]
) -> tuple[Browser, requests.Response]:
    provider.set_user(user, {"preferred_username": user, "tenanthub": {"groups": groups}})
    browser, form = start_login(hub, user)
    return browser, browser.session.post(form.url, data={"sub": user}, timeout=30)


def me(browser: Browser) -> requests.Response:
    return browser.api("GET", "user")


def db(hub: RunningHub) -> sqlalchemy.Engine:
    return sqlalchemy.create_engine(f"sqlite:///{hub.data_dir / 'tenanthub.sqlite'}")


def memberships(hub: RunningHub, user: str) -> dict[tuple[str, str], str]:
    """``{(tenant, source): role}`` of ``user`` in the platform database."""
    engine = db(hub)
    with engine.connect() as conn:
        rows = conn.execute(
            sqlalchemy.text(
                "SELECT t.name, m.source, m.role FROM th_memberships m "
                "JOIN th_tenants t ON t.id = m.tenant_id WHERE m.username = :u"
            ),
            {"u": user},
        ).all()
    engine.dispose()
    return {(tenant, source): role for tenant, source, role in rows}


def stored_auth_state(hub: RunningHub, user: str) -> bytes | None:
    engine = db(hub)
    with engine.connect() as conn:
        value = conn.execute(
            sqlalchemy.text("SELECT encrypted_auth_state FROM users WHERE name = :u"), {"u": user}
        ).scalar()
    engine.dispose()
    return bytes(value) if value is not None else None


def decrypt_auth_state(hub: RunningHub, user: str) -> dict[str, Any]:
    """What JupyterHub stored, opened with the key TenantHub keeps in the data dir."""
    key = bytes.fromhex((hub.data_dir / "jupyterhub_crypt_key").read_text().strip())
    encrypted = stored_auth_state(hub, user)
    assert encrypted is not None
    return dict(json.loads(Fernet(base64.urlsafe_b64encode(key)).decrypt(encrypted)))


def admin_token(hub: RunningHub, provider: OidcProvider, scopes: list[str] | None = None) -> str:
    browser, done = login(hub, provider, "root", ["platform-admins"])
    assert done.status_code == 200, done.text[:500]
    body: dict[str, Any] = {"note": "test", "expires_in": 600}
    if scopes is not None:
        body["scopes"] = scopes
    created = browser.api("POST", "users/root/tokens", json=body)
    assert created.status_code == 201, created.text
    return str(created.json()["token"])


# ----------------------------------------------------------------------------- login


def test_login_runs_code_flow_with_pkce_and_maps_groups_to_memberships(
    hub: RunningHub,
    oidc_provider: OidcProvider,
) -> None:
    oidc_provider.set_user(
        "alice", {"preferred_username": "alice", "tenanthub": {"groups": ["ds-vision-admins"]}}
    )
    browser, form = start_login(hub, "alice")
    authorize = parse_qs(urlparse(form.url).query)
    assert authorize["code_challenge_method"] == ["S256"]
    assert len(authorize["code_challenge"][0]) == 43  # base64url of a SHA-256 digest
    assert authorize["redirect_uri"] == [hub.url + "hub/oauth_callback"]

    done = browser.session.post(form.url, data={"sub": "alice"}, timeout=30)
    assert done.status_code == 200 and done.url == hub.url + "hub/home", done.text[:500]
    # provider form -> (code) -> hub callback -> home
    assert [urlparse(r.url).path for r in done.history] == [
        "/oauth2/authorize",
        "/hub/oauth_callback",
    ]

    model = me(browser).json()
    assert model["name"] == "alice"
    assert model["groups"] == ["tenant-vision"]  # the tenant's group, not the provider's
    assert "tenant-admin-vision" in model["roles"]
    assert model["admin"] is False
    assert memberships(hub, "alice") == {("vision", "oauth"): "admin"}


def test_second_login_syncs_memberships_both_ways(
    hub: RunningHub,
    oidc_provider: OidcProvider,
) -> None:
    first, _ = login(hub, oidc_provider, "carol", ["ds-vision"])
    assert sorted(me(first).json()["groups"]) == ["tenant-nlp", "tenant-vision"]
    assert memberships(hub, "carol") == {("nlp", "config"): "member", ("vision", "oauth"): "member"}

    second, _ = login(hub, oidc_provider, "carol", ["ds-nlp", "ds-vision-admins"])
    assert sorted(me(second).json()["groups"]) == ["tenant-nlp", "tenant-vision"]
    assert "tenant-admin-vision" in me(second).json()["roles"]
    assert memberships(hub, "carol") == {
        ("nlp", "config"): "member",  # another source: never touched by the sync
        ("nlp", "oauth"): "member",
        ("vision", "oauth"): "admin",
    }

    third, _ = login(hub, oidc_provider, "carol", ["ds-nlp"])
    model = me(third).json()
    assert model["groups"] == ["tenant-nlp"]
    assert "tenant-admin-vision" not in model["roles"]
    assert memberships(hub, "carol") == {("nlp", "config"): "member", ("nlp", "oauth"): "member"}


def test_admin_group_gives_platform_admin_and_leaving_it_takes_it_away(
    hub: RunningHub,
    oidc_provider: OidcProvider,
) -> None:
    browser, _ = login(hub, oidc_provider, "erin", ["platform-admins"])
    model = me(browser).json()
    assert model["admin"] is True and "admin" in model["roles"]
    # admins may sign in without an allowed group, and have no tenant from that
    assert model["groups"] == []

    again, done = login(hub, oidc_provider, "erin", ["ds-nlp"])
    assert done.status_code == 200
    model = me(again).json()
    assert model["admin"] is False and "admin" not in model["roles"]
    assert model["groups"] == ["tenant-nlp"]


def test_allowed_groups_refuse_others_and_a_refused_login_writes_nothing(
    hub: RunningHub,
    oidc_provider: OidcProvider,
) -> None:
    browser, done = login(hub, oidc_provider, "mallory", ["contractors"])
    assert done.status_code == 403
    assert me(browser).status_code == 403
    assert memberships(hub, "mallory") == {}
    assert stored_auth_state(hub, "mallory") is None
    assert "User 'mallory' not allowed" in hub.log()


# ----------------------------------------------------------------------------- state and PKCE


def test_a_wrong_state_fails_the_login(hub: RunningHub, oidc_provider: OidcProvider) -> None:
    oidc_provider.set_user(
        "frank", {"preferred_username": "frank", "tenanthub": {"groups": ALLOWED}}
    )
    browser, form = start_login(hub, "frank")
    back = browser.session.post(form.url, data={"sub": "frank"}, allow_redirects=False, timeout=30)
    callback = urlparse(back.headers["location"])
    query = parse_qs(callback.query)
    forged = base64.urlsafe_b64encode(json.dumps({"state_id": "0" * 32}).encode()).decode()
    query["state"] = [forged]
    tampered = urlunparse(callback._replace(query=urlencode(query, doseq=True)))

    response = browser.session.get(tampered, timeout=30)
    assert response.status_code == 400 and "OAuth state mismatch" in response.text
    assert me(browser).status_code == 403
    assert stored_auth_state(hub, "frank") is None


def _rewrite_state_cookie(hub: RunningHub, browser: Browser, **changes: Any) -> None:
    """Re-sign the hub's state cookie with ``changes`` (None removes a key), as an attacker
    who could set cookies but not read the verifier would have to."""
    secret = bytes.fromhex((hub.data_dir / "jupyterhub_cookie_secret").read_text().strip())
    cookie = next(c for c in browser.session.cookies if c.name == STATE_COOKIE)
    raw = decode_signed_value(secret, STATE_COOKIE, (cookie.value or "").strip('"'))
    assert raw is not None
    state = json.loads(base64.urlsafe_b64decode(raw))
    assert state["code_verifier"]  # the hub made one
    for key, value in changes.items():
        if value is None:
            state.pop(key, None)
        else:
            state[key] = value
    encoded = base64.urlsafe_b64encode(json.dumps(state).encode()).decode()
    cookie.value = '"' + create_signed_value(secret, STATE_COOKIE, encoded).decode() + '"'


def test_a_missing_pkce_verifier_fails_the_login(
    hub: RunningHub,
    oidc_provider: OidcProvider,
) -> None:
    oidc_provider.set_user("gina", {"preferred_username": "gina", "tenanthub": {"groups": ALLOWED}})
    browser, form = start_login(hub, "gina")
    _rewrite_state_cookie(hub, browser, code_verifier=None)
    response = browser.session.post(form.url, data={"sub": "gina"}, timeout=30)
    assert response.status_code == 400 and "Missing code_verifier" in response.text
    assert me(browser).status_code == 403
    assert stored_auth_state(hub, "gina") is None


def test_a_wrong_pkce_verifier_is_refused_by_the_provider(
    hub: RunningHub,
    oidc_provider: OidcProvider,
) -> None:
    oidc_provider.set_user("hank", {"preferred_username": "hank", "tenanthub": {"groups": ALLOWED}})
    browser, form = start_login(hub, "hank")
    _rewrite_state_cookie(hub, browser, code_verifier=secrets.token_urlsafe(32))
    response = browser.session.post(form.url, data={"sub": "hank"}, timeout=30)
    assert response.status_code >= 400
    assert me(browser).status_code == 403
    assert stored_auth_state(hub, "hank") is None
    assert "PKCE code_verifier does not match" in hub.log()


# ----------------------------------------------------------------------------- auth_state


def test_auth_state_is_stored_encrypted_with_a_private_key(
    hub: RunningHub,
    oidc_provider: OidcProvider,
) -> None:
    login(hub, oidc_provider, "ivan", ["ds-nlp"])
    stored = stored_auth_state(hub, "ivan")
    assert stored is not None
    with pytest.raises(ValueError):
        json.loads(stored)
    state = decrypt_auth_state(hub, "ivan")
    assert state["access_token"] and state["refresh_token"]
    assert state["access_token"].encode() not in stored
    assert state["oauth_user"]["tenanthub"] == {"groups": ["ds-nlp"]}

    key_file = hub.data_dir / "jupyterhub_crypt_key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert key_file.read_text().strip() not in hub.log()
    assert "s3cret-client-value" not in hub.log()


def test_who_can_read_auth_state_over_the_api(
    hub: RunningHub,
    oidc_provider: OidcProvider,
) -> None:
    """JupyterHub returns auth_state only with the admin:auth_state scope. Its built-in
    admin role has that scope (inside admin:users), so a platform admin's full token
    does see the tokens; narrower tokens and tenant admins do not."""
    login(hub, oidc_provider, "judy", ["ds-vision"])

    def user_model(token: str) -> dict[str, Any]:
        response = requests.get(
            hub.url + "hub/api/users/judy",
            headers={"Authorization": f"token {token}"},
            timeout=30,
        )
        assert response.status_code == 200, response.text
        return dict(response.json())

    full = user_model(admin_token(hub, oidc_provider))
    assert full["auth_state"]["access_token"]  # JupyterHub's admin role: admin:users

    narrow = user_model(admin_token(hub, oidc_provider, ["read:users", "list:users"]))
    assert "auth_state" not in narrow and narrow["name"] == "judy"

    tenant_admin, _ = login(hub, oidc_provider, "kate", ["ds-vision-admins"])
    created = tenant_admin.api("POST", "users/kate/tokens", json={"expires_in": 600})
    assert created.status_code == 201, created.text
    as_tenant_admin = user_model(created.json()["token"])
    assert "auth_state" not in as_tenant_admin


# ----------------------------------------------------------------------------- refresh and start


def test_refresh_uses_the_refresh_token_and_resyncs_groups(
    oidc_provider: OidcProvider,
    tmp_path: Path,
) -> None:
    if PROXY_MISSING:
        need(PROXY_MISSING)
    hub = oauth_hub(tmp_path / "hub", oidc_provider, refresh_every=1)
    try:
        hub.start()
        browser, done = login(hub, oidc_provider, "dave", ["ds-nlp"])
        assert done.status_code == 200
        before = decrypt_auth_state(hub, "dave")

        oidc_provider.set_user(
            "dave", {"preferred_username": "dave", "tenanthub": {"groups": ["ds-vision"]}}
        )
        time.sleep(TOKEN_MAX_AGE + 0.5)  # the access token has expired at the provider
        model = me(browser).json()
        assert model["groups"] == ["tenant-vision"]
        assert memberships(hub, "dave") == {("vision", "oauth"): "member"}
        after = decrypt_auth_state(hub, "dave")
        assert after["access_token"] != before["access_token"]
        assert after["refresh_token"] == before["refresh_token"]
        assert "Refreshing oauth access token for dave" in hub.log()

        # no longer in an allowed group: the next refresh sends the user back to log in
        oidc_provider.set_user(
            "dave", {"preferred_username": "dave", "tenanthub": {"groups": ["contractors"]}}
        )
        time.sleep(1.2)
        assert me(browser).status_code == 403
        log = hub.log()
        assert "dave is no longer allowed" in log and "User dave has stale auth info" in log
        assert "Failed to get current user" not in log  # the JupyterHub 6.1 shim (see oauth.py)
    finally:
        hub.shutdown()


def test_failed_discovery_stops_the_hub_with_a_clear_error(
    oidc_provider: OidcProvider,
    tmp_path: Path,
) -> None:
    if PROXY_MISSING:
        need(PROXY_MISSING)
    closed = f"http://127.0.0.1:{free_port()}"
    hub = oauth_hub(tmp_path / "hub", oidc_provider, issuer=closed)
    try:
        with pytest.raises(RuntimeError, match="hub exited"):
            hub.start(timeout=60)
        assert f"OIDC discovery failed: GET {closed}/.well-known/openid-configuration" in hub.log()
        assert "check auth.oauth.issuer" in hub.log()
    finally:
        hub.shutdown()
