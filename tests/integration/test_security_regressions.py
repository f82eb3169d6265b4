"""Regression tests for JupyterHub advisory classes, on a real TenantHub (local backend).

Each test names the advisory class it guards and says how it was checked to
fail without the protection. Those checks ran the same tests with a
``sitecustomize.py`` on PYTHONPATH that patched the protection out of the
hub process (the tree was not changed), e.g. ``TH_REMOVE=xsrf`` replaced
JupyterHub's ``check_xsrf_cookie`` with a no-op; the hub, started by the test,
inherits PYTHONPATH and so runs without that one protection.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

import pytest
import requests

from hub.app.log_safety import MAX_MESSAGE_CHARS
from tests.integration.conftest import BASE_CONFIG, PASSWORDS
from tests.integration.hubrunner import Browser, RunningHub

pytestmark = pytest.mark.integration

LOCAL = {**BASE_CONFIG, "backend": {"kind": "local"}}


def with_token(hub: RunningHub, token: str, method: str, path: str, **kw: Any) -> Any:
    headers = {"Authorization": f"token {token}"}
    return requests.request(method, hub.url + "hub/api/" + path, headers=headers, timeout=60, **kw)


def token_of(browser: Browser) -> str:
    made = browser.api("POST", f"users/{browser.user}/tokens", json={"note": "test"})
    assert made.status_code == 201, made.text
    return str(made.json()["token"])


# ----------------------------------------------------------------------------- open redirect

#: ``next`` values that try to leave the hub (CVE-2019-10255, CVE-2026-33709 class):
#: scheme-relative, absolute, backslashes browsers read as slashes, control
#: characters browsers strip, and look-alike hosts.
EVIL_NEXT = [
    "//evil.example",
    "//evil.example/hub/",
    "https://evil.example",
    "http://evil.example/hub/home",
    "https:evil.example",
    "http:/evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "\\/evil.example",
    "/\\/evil.example",
    "///evil.example",
    "////evil.example/",
    "/\t/evil.example",
    "/\n/evil.example",
    " //evil.example",
    "\t//evil.example",
    "%2F%2Fevil.example",
    "/%2F/evil.example",
    "javascript:alert(document.domain)",
    "data:text/html,<script>alert(1)</script>",
    "//{host}@evil.example/",
    "http://{host}@evil.example/",
    "http://{host}.evil.example/",
    "//evil.example\\@{host}/",
]


def browser_destination(base: str, location: str) -> str:
    """Where a browser goes for a ``Location`` header: like the WHATWG URL parser, it
    strips leading/trailing spaces and control characters, drops tabs and newlines
    anywhere and reads ``\\`` as ``/`` in http(s) URLs; then resolves against ``base``."""
    cleaned = location.strip("".join(map(chr, range(0x21))))
    cleaned = re.sub(r"[\t\n\r]", "", cleaned).replace("\\", "/")
    return urljoin(base, cleaned)


def assert_stays_on_hub(hub: RunningHub, response: requests.Response, sent: str) -> None:
    assert response.status_code in (301, 302, 303, 307), (sent, response.status_code)
    location = response.headers["Location"]
    target = urlsplit(browser_destination(response.url, location))
    assert target.scheme == "http" and target.netloc == urlsplit(hub.url).netloc, (
        f"next={sent!r} redirected to {location!r}"
    )


def test_login_next_cannot_redirect_off_the_hub(hub_factory):
    """Open redirect through ``next`` (CVE-2019-10255, CVE-2026-33709): after a login,
    and when a logged-in user opens /hub/login, the redirect stays on the hub.

    Checked to fail: with ``BaseHandler._validate_next_url`` patched to return its
    input, the first payload already redirected to //evil.example.
    """
    hub = hub_factory(config=LOCAL)
    host = urlsplit(hub.url).netloc
    for template in EVIL_NEXT:
        sent = template.replace("{host}", host)
        bob = Browser(hub, "bob")
        bob.session.get(hub.url + "hub/login", params={"next": sent}, timeout=10)
        login = bob.session.post(
            hub.url + "hub/login",
            params={"next": sent},
            data={"username": "bob", "password": PASSWORDS["bob"], "_xsrf": bob.hub_xsrf()},
            allow_redirects=False,
            timeout=30,
        )
        assert login.status_code == 302, (sent, login.text[-500:])
        assert_stays_on_hub(hub, login, sent)
        again = bob.session.get(
            hub.url + "hub/login", params={"next": sent}, allow_redirects=False, timeout=30
        )
        assert_stays_on_hub(hub, again, sent)


def test_next_on_the_hub_is_still_followed(hub_factory):
    """The protection is not a blanket refusal: a path on the hub is kept."""
    hub = hub_factory(config=LOCAL)
    bob = Browser(hub, "bob")
    bob.session.get(hub.url + "hub/login", timeout=10)
    login = bob.session.post(
        hub.url + "hub/login",
        params={"next": "/hub/token"},
        data={"username": "bob", "password": PASSWORDS["bob"], "_xsrf": bob.hub_xsrf()},
        allow_redirects=False,
        timeout=30,
    )
    assert login.headers["Location"] == "/hub/token"


# ----------------------------------------------------------------------------- XSRF


def test_state_changes_with_the_cookie_but_no_xsrf_token_are_refused(hub_factory):
    """Cross-site request forgery (CVE-2020-36191, CVE-2026-40864 class): JupyterHub's
    API accepts cookie auth only with the XSRF token, and so do the hub's and
    NativeAuthenticator's forms. Every request here carries a valid login cookie.

    Checked to fail: with ``jupyterhub.handlers.base.check_xsrf_cookie`` patched to
    a no-op, the cookie-only POST started bob's server (202 instead of 403), and
    the new-token and stop requests went through as well.
    """
    hub = hub_factory(config=LOCAL)
    bob, alice, admin = Browser(hub, "bob"), Browser(hub, "alice"), Browser(hub, "admin")
    for browser in (bob, alice, admin):
        assert browser.login().status_code == 302
    url = hub.url + "hub/"
    no_xsrf = bob.session

    refused = {
        "start server": no_xsrf.post(url + "api/users/bob/server", json={"tenant": "nlp"}),
        "start named": no_xsrf.post(url + "api/users/bob/servers/nlp", json={}),
        "new token": no_xsrf.post(url + "api/users/bob/tokens", json={}),
        "delete token list": no_xsrf.delete(url + "api/users/bob/server"),
        "spawn form": no_xsrf.post(url + "spawn", data={"tenant": "nlp", "profile-nlp": "small"}),
        "spawn form named": no_xsrf.post(url + "spawn/bob/nlp", data={"tenant": "nlp"}),
        "change password": no_xsrf.post(
            url + "change-password",
            data={"old_password": PASSWORDS["bob"], "new_password": "bob-new-password-9"},
        ),
        "another user's token": no_xsrf.post(
            url + "api/users/bob/server",
            json={"tenant": "nlp"},
            headers={"X-XSRFToken": alice.hub_xsrf()},
        ),
        "cross-site form post": no_xsrf.post(
            url + "api/users/bob/server",
            data='{"tenant": "nlp"}',
            headers={"Content-Type": "text/plain", "Origin": "https://evil.example"},
        ),
        "cross-site read": no_xsrf.get(
            url + "api/users/bob",
            headers={"Sec-Fetch-Mode": "cors", "Sec-Fetch-Site": "cross-site"},
        ),
        "admin patch": admin.session.patch(url + "api/users/bob", json={"admin": True}),
        "admin sets a password": admin.session.post(
            url + "change-password/bob", data={"new_password": "bob-new-password-9"}
        ),
    }
    wrong = {what: r.status_code for what, r in refused.items() if r.status_code != 403}
    assert not wrong, wrong

    # nothing happened
    model = admin.api("GET", "users/bob").json()
    assert model["servers"] == {} and model["admin"] is False
    assert Browser(hub, "bob").login().status_code == 302  # old password still works
    assert not (hub.data_dir / "tenants" / "nlp" / "home" / "bob").exists()
    # and the same requests with the token go through (the 403s were the XSRF check)
    assert bob.api("POST", "users/bob/tokens", json={}).status_code == 201
    with_xsrf = bob.api("POST", "users/bob/servers/nlp", json={})
    assert with_xsrf.status_code in (201, 202), with_xsrf.text


def test_account_approval_cannot_be_toggled_by_a_cross_site_link(hub_factory):
    """nativeauthenticator 1.3.0 approves/revokes accounts with a plain GET
    (/hub/authorize/<user>, /hub/discard/<user>) and JupyterHub skips XSRF checks on
    GET, so TenantHub accepts those links only from the hub's own pages.
    Checked to fail: without the same-origin check this test was a strict xfail."""
    hub = hub_factory(config=LOCAL)
    admin = Browser(hub, "admin")
    admin.login()
    admin.session.get(
        hub.url + "hub/authorize/alice",
        headers={"Sec-Fetch-Mode": "navigate", "Sec-Fetch-Site": "cross-site"},
        allow_redirects=False,
        timeout=30,
    )
    assert Browser(hub, "alice").login().status_code == 302  # still approved
    # the same link followed from the hub's own authorize page works
    toggled = admin.session.get(
        hub.url + "hub/authorize/alice",
        headers={"Sec-Fetch-Mode": "navigate", "Sec-Fetch-Site": "same-origin"},
        allow_redirects=False,
        timeout=30,
    )
    assert toggled.status_code == 302
    assert Browser(hub, "alice").login().status_code != 302  # approval revoked


# ----------------------------------------------------------------------------- admin escalation

USER_CHANGING_SCOPES = {
    "admin:users", "users", "delete:users", "admin:auth_state", "admin:servers", "servers",
    "start:servers", "access:servers", "admin:groups", "groups", "delete:groups", "tokens",
    "roles", "admin:roles", "shares", "users:shares",
}  # fmt: skip


def test_users_and_tenant_admins_cannot_grant_admin(hub_factory):
    """Privilege escalation through the users API (CVE-2024-41942 class): neither a member
    nor a tenant admin can make anyone (themself included) a platform admin, or mint
    a token with more than they have.

    Checked to fail: with ``admin:users`` added to the tenant-admin scopes and
    JupyterHub's "Only admins can grant admin permissions" check removed (the
    pre-fix behaviour), alice's PATCHes made her and bob admins (200). With only
    the scope added (JupyterHub's check still there) it failed too: alice could
    rename bob (200).
    """
    hub = hub_factory(config=LOCAL)
    bob, alice, admin = Browser(hub, "bob"), Browser(hub, "alice"), Browser(hub, "admin")
    for browser in (bob, alice, admin):
        browser.login()
    bob_token, alice_token = token_of(bob), token_of(alice)

    attempts = {
        "bob/self token": with_token(hub, bob_token, "PATCH", "users/bob", json={"admin": True}),
        "bob/self cookie": bob.api("PATCH", "users/bob", json={"admin": True}),
        "alice/self": with_token(hub, alice_token, "PATCH", "users/alice", json={"admin": True}),
        "alice/bob": with_token(hub, alice_token, "PATCH", "users/bob", json={"admin": True}),
        "alice/cookie": alice.api("PATCH", "users/alice", json={"admin": True}),
        "alice/rename": with_token(hub, alice_token, "PATCH", "users/bob", json={"name": "x"}),
        "alice/new user": with_token(
            hub, alice_token, "POST", "users/mallory", json={"admin": True}
        ),
        "alice/admin role token": with_token(
            hub, alice_token, "POST", "users/alice/tokens", json={"roles": ["admin"]}
        ),
        "alice/admin scope token": with_token(
            hub, alice_token, "POST", "users/alice/tokens", json={"scopes": ["admin:users"]}
        ),
        "alice/token for bob": with_token(hub, alice_token, "POST", "users/bob/tokens", json={}),
    }
    wrong = {what: r.status_code for what, r in attempts.items() if r.status_code not in (400, 403)}
    assert not wrong, wrong
    for user in ("alice", "bob"):
        assert admin.api("GET", f"users/{user}").json()["admin"] is False
    assert admin.api("GET", "users/mallory").status_code == 404

    # TenantHub's part: beyond her own user, a tenant admin holds only group-filtered
    # scopes, none of which can change users, roles, groups or tokens
    scopes = with_token(hub, alice_token, "GET", "user").json()["scopes"]
    # (and signing in to TenantHub's own service, which decides by itself what she sees)
    others = [
        s
        for s in scopes
        if not s.endswith("!user=alice") and s != "access:services!service=tenanthub"
    ]
    assert all(s.endswith("!group=tenant-vision") for s in others), others
    assert not {s.split("!")[0] for s in others} & USER_CHANGING_SCOPES, others


# ----------------------------------------------------------------------------- log injection

FORGED = "[W 2026-01-01 00:00:00.000 JupyterHub base:1] FORGED"
#: raw characters of the payloads that must never reach the hub's records
RAW = ["\r", "\x00", "\x1b", "\x7f", "\x9b", "\u2028", "\u202e"]
#: configurable-http-proxy's own lines (it colours them with ANSI escapes itself)
PROXY_LINE = re.compile(r"^\d{4}-\d\d-\d\dT[\d:.]+Z \[ConfigProxy\] ")


def raw_log(hub: RunningHub) -> str:
    """The hub log as written (``RunningHub.log`` reads text mode, which turns \\r into \\n)."""
    return hub.log_path.read_bytes().decode("utf-8", errors="replace")


def assert_log_is_safe(hub: RunningHub, since: int) -> None:
    """No raw control characters, no forged record, no unbounded line since ``since``."""
    text = raw_log(hub)[since:]
    lines = text.split("\n")  # only \n: a \r inside a line stays visible, as in a log shipper
    ours = [line for line in lines if not PROXY_LINE.match(line)]
    for raw in RAW:
        assert not [line for line in ours if raw in line], f"raw {raw!r} in the hub log"
    for line in lines:
        if "FORGED" in line:
            assert line.startswith(("[I ", "[W ", "[E ", "    ")), line[:200]
            assert not line.startswith("[W 2026-01-01"), line[:200]
    assert "--- Logging error ---" not in text  # a record the handler could not write
    longest = max(len(line) for line in ours)
    assert longest < MAX_MESSAGE_CHARS + 200, f"a {longest}-character line in the hub log"
    assert "m" * (MAX_MESSAGE_CHARS + 1) not in text and "q" * (MAX_MESSAGE_CHARS + 1) not in text


ODD_USERNAMES = [
    "eve\rforged",
    "eve\nforged",
    "eve\r" + FORGED,
    "eve\n" + FORGED,
    "eve\x1b[31mred",
    "eve\x7fdel",
    "eve\x9bcsi",
    "eve\u2028" + FORGED.replace(" ", ""),
    "eve\u202eevil",
    "eve\ttab",
    "m" * 10_000,
]


def test_odd_usernames_are_refused_and_never_reach_the_log(hub_factory):
    """Huge or odd usernames in logs (CVE-2026-54338 class). Sign-up with a 10 kB name or
    one with CR/LF/ANSI/DEL/C1/line-separator/bidi characters is refused; logins with
    them fail; the hub log gets no raw control characters, no forged line and no
    unbounded line.

    Checked to fail: with ``hub.auth.native.acceptable_username`` patched to accept
    everything (NativeAuthenticator's own rules, as before this change), the
    sign-ups with CR, LF, DEL, C1 CSI, line separator, bidi override, tab and the
    10 kB name were accepted (only names with spaces, or with ESC, which tornado
    turns into a space, were refused); an approved ``cr\\rx`` or 10 kB
    account was written raw into the log at each login ("User logged in: %s").
    """
    hub = hub_factory(config=LOCAL)
    since = len(raw_log(hub))
    accepted = []
    for name in ODD_USERNAMES:
        eve = Browser(hub, "eve")
        eve.session.get(hub.url + "hub/signup", timeout=10)
        signup = eve.session.post(
            hub.url + "hub/signup",
            data={
                "username": name,
                "signup_password": "eve-password-12345",
                "signup_password_confirmation": "eve-password-12345",
                "_xsrf": eve.hub_xsrf(),
            },
            timeout=30,
        )
        assert signup.status_code == 200
        if "alert-success" in signup.text or "information has been sent" in signup.text:
            accepted.append(name[:20])
        login = eve.session.post(
            hub.url + "hub/login",
            data={"username": name, "password": "eve-password-12345", "_xsrf": eve.hub_xsrf()},
            allow_redirects=False,
            timeout=30,
        )
        assert login.status_code == 200  # the login page again, with an error
    assert not accepted, accepted
    admin = Browser(hub, "admin")
    admin.login()
    pending = admin.session.get(hub.url + "hub/authorize", timeout=30).text
    assert "eve" not in pending
    # the API refuses them too (JupyterHub asks the authenticator's validate_username)
    created = admin.api("POST", "users", json={"usernames": ["eve\rx", "m" * 300]})
    assert created.status_code == 400
    assert_log_is_safe(hub, since)


def test_log_lines_stay_single_and_bounded_whatever_users_send(hub_factory):
    """The same advisory class, for values that are not usernames. JupyterHub 6.1.1 logs
    a server's new display name raw (an f-string) and request URIs in full, so a
    member could write CR/ANSI-laden or 10 kB lines into the hub log; TenantHub's
    log records are sanitized (hub/app/log_safety.py).

    Checked to fail: with ``hub.app.log_safety.install`` patched to a no-op, the log
    held the display name's raw ``\\r``, NUL, ``\\x1b[31m`` and bidi override (the test
    stopped at the first), and before log_safety existed the same requests wrote a
    10,115-character access-log line.
    """
    hub = hub_factory(config=LOCAL)
    bob = Browser(hub, "bob")
    bob.login()
    since = len(raw_log(hub))
    created = bob.api("PUT", "users/bob/servers/x", json={"display_name": "ok"})
    assert created.status_code == 201, created.text
    display_name = "b\r\n" + FORGED + "\x1b[31m\x00\u202e\u2028" + "z" * 5000
    bob.api(
        "POST",
        "users/bob/servers/x",
        data=json.dumps({"display_name": display_name}),
        headers={"Content-Type": "application/json"},
    )
    bob.session.get(hub.url + "hub/login", params={"next": "//evil" + "q" * 10_000}, timeout=30)
    bob.api("GET", "users/" + quote("m" * 10_000))
    stranger = Browser(hub, "m" * 10_000)
    assert stranger.login("x").status_code == 200  # refused: the login page again
    assert_log_is_safe(hub, since)
    text = raw_log(hub)[since:]
    assert "Updating display_name for bob:x" in text  # it was logged, escaped
    assert "\\x1b[31m" in text and "FORGED" in text
