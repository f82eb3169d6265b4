"""LDAP sign-in against a real slapd (tests/services/slapd.py, tests/fixtures/ldap/directory.ldif).

First the authenticator on its own (binds, escaping, TLS, the search account),
then the whole platform: a real hub and proxy on the local backend whose login
form talks to that slapd, with tenant memberships following the groups.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Iterator
from typing import Any

import ldap3
import pytest
import requests
from sqlalchemy import create_engine, select
from tornado import web

from hub.auth.ldap import GROUPS_KEY, DirectoryLDAPAuthenticator, group_filter, search_group_names
from hub.tenancy.models import MembershipRow, TenantRow
from tests.conftest import need
from tests.integration.hubrunner import Browser, RunningHub
from tests.services.slapd import SlapdServer, SlapdUnavailable, start_slapd

pytestmark = pytest.mark.integration

BASE = "dc=tenanthub,dc=test"
PEOPLE = f"ou=people,{BASE}"
GROUPS = f"ou=groups,{BASE}"
TEMPLATE = f"uid={{username}},{PEOPLE}"
FILTER = "(|(member={userdn})(uniqueMember={userdn})(memberUid={uid}))"
PERMISSIVE = r"^[^/]+$"  # lets LDAP metacharacters through to show the escaping


def password(user: str) -> str:
    return ("star" if user == "*" else user) + "-password-1"


@pytest.fixture(scope="session")
def slapd() -> Iterator[SlapdServer]:
    try:
        server = start_slapd()
    except SlapdUnavailable as exc:
        need(str(exc))
        raise  # unreachable: need() raises
    try:
        yield server
    finally:
        server.stop()


def binds_since(slapd: SlapdServer, offset: int) -> list[str]:
    """DNs slapd saw a BIND for after ``offset`` of its log ("" is an anonymous bind)."""
    return re.findall(r' BIND dn="([^"]*)" method=', slapd.log_since(offset))


async def settled_log(slapd: SlapdServer, offset: int) -> str:
    """slapd's log since ``offset`` once every connection in it is closed (it logs late)."""
    for _ in range(50):
        log = slapd.log_since(offset)
        if log.count(" ACCEPT ") == log.count(" closed"):
            return log
        await asyncio.sleep(0.05)
    raise AssertionError(f"connections left open:\n{log}")


def directory(slapd: SlapdServer, **traits: Any) -> DirectoryLDAPAuthenticator:
    settings: dict[str, Any] = {
        "server_address": "127.0.0.1",
        "server_port": slapd.port,
        "tls_strategy": "insecure",
        "bind_dn_template": [TEMPLATE],
        "group_search_base": GROUPS,
        **traits,
    }
    return DirectoryLDAPAuthenticator(**settings)


async def login(auth: DirectoryLDAPAuthenticator, user: str, pw: str | None) -> Any:
    return await auth.authenticate(None, {"username": user, "password": pw})


# ----------------------------------------------------------------------------- the authenticator


async def test_bind_finds_the_users_dn_and_group_names(slapd: SlapdServer) -> None:
    offset = slapd.log_size()
    model = await login(directory(slapd), "alice", password("alice"))
    assert model["name"] == "alice"
    assert model["auth_state"]["user_dn"] == f"uid=alice,{PEOPLE}"
    # groupOfNames (member) and posixGroup (memberUid) alike
    assert model["auth_state"][GROUPS_KEY] == ["ds-nlp", "ds-vision", "hub-users", "staff"]
    assert await login(directory(slapd), "alice", "wrong") is None
    # one connection per login, each closed (settled_log), no schema read (ldap3's default)
    log = await settled_log(slapd, offset)
    assert log.count(" ACCEPT ") == 2 and 'base="cn=Subschema"' not in log
    # typed in capitals: the name is lower-cased first, as JupyterHub would
    again = await login(directory(slapd), "ALICE", password("alice"))
    assert again["name"] == "alice"


async def test_empty_password_never_reaches_the_server(slapd: SlapdServer) -> None:
    # this server takes a DN with an empty password as an anonymous bind...
    assert slapd.whoami(f"uid=alice,{PEOPLE}", "").stdout.strip() == "anonymous"
    # ...so the hub must refuse it itself, before any bind
    offset = slapd.log_size()
    for empty in ("", "  ", None):
        assert await login(directory(slapd), "alice", empty) is None
    assert binds_since(slapd, offset) == []


async def test_escaping_stops_names_from_widening_the_group_search(slapd: SlapdServer) -> None:
    conn = ldap3.Connection(
        ldap3.Server("127.0.0.1", port=slapd.port), f"uid=alice,{PEOPLE}", password("alice")
    )
    conn.bind()
    try:
        # unescaped, "*" would be a presence filter: every posixGroup
        raw = search_group_names(conn, GROUPS, "(memberUid=*)", "cn")
        assert raw == ["ds-nlp"]
        for name in ("*", "alice)(memberUid=*", "*)(cn=*", "alice\\", "alice)"):
            escaped = group_filter(FILTER, f"uid={name},{PEOPLE}", name)
            assert search_group_names(conn, GROUPS, escaped, "cn") == [], name
        # NUL: escaping is not enough. OpenLDAP cuts IA5String values (memberUid) at an
        # escaped NUL, so alice\00x is alice here; such names are refused instead
        assert search_group_names(conn, GROUPS, r"(memberUid=alice\00x)", "cn") == ["ds-nlp"]
        with pytest.raises(ValueError, match="NUL"):
            group_filter(FILTER, f"uid=x,{PEOPLE}", "alice\x00x")
        # an escaped DN still matches what it names
        found = group_filter(FILTER, f"uid=alice,{PEOPLE}", "alice")
        assert search_group_names(conn, GROUPS, found, "cn") == [
            "ds-nlp", "ds-vision", "hub-users", "staff",
        ]  # fmt: skip
    finally:
        conn.unbind()


async def test_a_directory_user_named_star_gets_no_ones_groups(slapd: SlapdServer) -> None:
    """uid "*" exists and binds; escaped, her group search finds her (empty) groups only."""
    model = await login(directory(slapd, valid_username_regex=PERMISSIVE), "*", password("*"))
    assert model["name"] == "*"
    assert model["auth_state"][GROUPS_KEY] == []


async def test_looked_up_names_cannot_be_wildcards_or_injections(slapd: SlapdServer) -> None:
    auth = directory(
        slapd,
        bind_dn_template=[],
        lookup_dn=True,
        user_search_base=PEOPLE,
        user_attribute="uid",
        lookup_dn_user_dn_attribute="uid",
        valid_username_regex=PERMISSIVE,
    )
    assert (await login(auth, "alice", password("alice")))["name"] == "alice"
    # unescaped, (uid=al*) finds exactly alice: "al*" would log in with her password
    offset = slapd.log_size()
    names = ("al*", "*", "alice)(uid=*", "alice)(|(uid=*", "alice\\")
    for name in names:
        assert await login(auth, name, password("alice")) is None, name
    log = slapd.log_since(offset)
    # what the server was asked: the values, not wildcards or extra filters (its hex is upper case)
    assert r'filter="(uid=al\2A)"' in log and r'filter="(uid=alice\29\28uid=\2A)"' in log
    # one anonymous lookup each; the only user bind is "*"'s own entry (found literally,
    # not as a wildcard), which alice's password does not open
    binds = binds_since(slapd, offset)
    assert binds.count("") == len(names) and set(binds) == {"", f"uid=*,{PEOPLE}"}
    # a control character never reaches the directory at all
    offset = slapd.log_size()
    for name in ("alice\x00", "alice\x00x", "al\nice"):
        assert await login(auth, name, password("alice")) is None
    assert "ACCEPT" not in slapd.log_since(offset)


async def test_bind_dn_values_are_escaped(slapd: SlapdServer) -> None:
    """A comma or equals in the name cannot climb out of the DN template's RDN."""
    auth = directory(slapd, valid_username_regex=PERMISSIVE)
    offset = slapd.log_size()
    assert await login(auth, "alice,ou=people", password("alice")) is None
    assert binds_since(slapd, offset) == [f"uid=alice\\2Cou\\3Dpeople,{PEOPLE}"]


async def test_search_account_password_comes_from_its_file(slapd: SlapdServer, tmp_path) -> None:
    secret = tmp_path / "search-password"
    secret.write_text("reader-password-1\n")
    settings = {
        "bind_dn_template": [],
        "lookup_dn": True,
        "user_search_base": PEOPLE,
        "user_attribute": "uid",
        "lookup_dn_user_dn_attribute": "uid",
        "lookup_dn_search_user": f"cn=reader,{BASE}",
        "lookup_dn_search_password_file": str(secret),
    }
    offset = slapd.log_size()
    assert (await login(directory(slapd, **settings), "bob", password("bob")))["name"] == "bob"
    assert binds_since(slapd, offset) == [f"cn=reader,{BASE}", f"uid=bob,{PEOPLE}"]
    secret.write_text("wrong\n")
    assert await login(directory(slapd, **settings), "bob", password("bob")) is None


async def test_tls_verifies_the_server_with_the_configured_ca(slapd: SlapdServer) -> None:
    tls = {"tls_kwargs": {"validate": 2, "ca_certs_file": str(slapd.ca_file)}}
    offset = slapd.log_size()
    starttls = directory(slapd, tls_strategy="before_bind", **tls)
    assert (await login(starttls, "alice", password("alice")))["name"] == "alice"
    ldaps = directory(slapd, tls_strategy="on_connect", server_port=slapd.tls_port, **tls)
    assert (await login(ldaps, "alice", password("alice")))["name"] == "alice"
    log = slapd.log_since(offset)
    assert "STARTTLS" in log and log.count("TLS established") == 2
    # a CA that did not sign it (the system's): refused before the password is sent
    offset = slapd.log_size()
    untrusted = directory(slapd, tls_strategy="before_bind", tls_kwargs={"validate": 2})
    with pytest.raises(web.HTTPError) as info:
        await login(untrusted, "alice", password("alice"))
    assert info.value.status_code == 503
    assert binds_since(slapd, offset) == []


async def test_an_unreachable_directory_is_a_503_saying_so() -> None:
    auth = DirectoryLDAPAuthenticator(
        server_address="127.0.0.1",
        server_port=1,
        tls_strategy="insecure",
        bind_dn_template=[TEMPLATE],
    )
    with pytest.raises(web.HTTPError) as info:
        await login(auth, "alice", "pw")
    assert info.value.status_code == 503 and "directory (LDAP)" in str(info.value.log_message)


async def test_a_bad_group_base_fails_the_login_instead_of_dropping_memberships(
    slapd: SlapdServer,
) -> None:
    auth = directory(slapd, group_search_base=f"ou=nowhere,{BASE}")
    with pytest.raises(web.HTTPError):
        await login(auth, "alice", password("alice"))


# ----------------------------------------------------------------------------- the platform


def platform_config(slapd: SlapdServer, **ldap: Any) -> dict[str, Any]:
    return {
        "auth": {
            "kind": "ldap",
            "ldap": {
                "server_address": "127.0.0.1",
                "server_port": slapd.port,
                "tls_strategy": "before_bind",
                "ca_file": str(slapd.ca_file),
                "bind_dn_template": [TEMPLATE],
                "group_search_base": GROUPS,
                "admin_groups": ["hub-admins"],
                **ldap,
            },
        },
        "profiles": [
            {"name": "small", "cpu": {"limit": "1"}, "memory": {"limit": "1Gi"}, "default": True}
        ],
        "tenants": [
            {
                "name": "vision",
                "group_mappings": [
                    {"group": "ds-vision", "role": "member"},
                    {"group": "ds-vision-admins", "role": "admin"},
                ],
            },
            {"name": "nlp", "group_mappings": [{"group": "ds-nlp"}]},
            {"name": "ops", "members": [{"user": "erin"}]},
        ],
        "culling": {"enabled": False},
    }


def form_login(hub: RunningHub, user: str, pw: str) -> tuple[Browser, requests.Response]:
    """The hub's login form, with exactly this password (Browser.login swaps in a default)."""
    browser = Browser(hub, user)
    browser.session.get(hub.url + "hub/login", timeout=10)
    response = browser.session.post(
        hub.url + "hub/login",
        data={"username": user, "password": pw, "_xsrf": browser.hub_xsrf()},
        allow_redirects=False,
        timeout=30,
    )
    return browser, response


def logged_in(hub: RunningHub, user: str) -> Browser:
    browser, response = form_login(hub, user, password(user))
    assert response.status_code == 302, f"{user}: {response.status_code}\n{hub.log()[-3000:]}"
    return browser


def me(browser: Browser) -> dict[str, Any]:
    response = browser.api("GET", f"users/{browser.user}")
    assert response.status_code == 200, response.text
    return dict(response.json())


def sources(hub: RunningHub, user: str) -> set[tuple[str, str, str]]:
    """(tenant, role, source) of ``user``'s memberships in the platform database."""
    engine = create_engine(f"sqlite:///{hub.data_dir / 'tenanthub.sqlite'}")
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                select(TenantRow.name, MembershipRow.role, MembershipRow.source)
                .join(TenantRow, MembershipRow.tenant_id == TenantRow.id)
                .where(MembershipRow.username == user)
            )
            return {(t, r, s) for t, r, s in rows}
    finally:
        engine.dispose()


@pytest.fixture
def ldap_hub(
    hub_factory: Callable[..., RunningHub], slapd: SlapdServer
) -> Callable[..., RunningHub]:
    def start(**ldap: Any) -> RunningHub:
        return hub_factory(platform_config(slapd, **ldap))

    return start


def test_directory_groups_become_tenants_groups_and_admins(ldap_hub) -> None:
    hub = ldap_hub()
    alice = logged_in(hub, "alice")
    form = alice.spawn_form()
    assert 'id="tenanthub-tenant"' in form.text  # two tenants: she chooses
    assert 'value="vision"' in form.text and 'value="nlp"' in form.text
    model = me(alice)
    assert sorted(model["groups"]) == ["tenant-nlp", "tenant-vision"] and model["admin"] is False
    assert sources(hub, "alice") == {("vision", "member", "ldap"), ("nlp", "member", "ldap")}

    bob = logged_in(hub, "bob")  # ds-vision-admins: tenant admin, not platform admin
    assert sources(hub, "bob") == {("vision", "admin", "ldap")}
    assert me(bob)["admin"] is False
    users = bob.api("GET", "users")  # his tenant-admin role sees the vision group's users
    assert users.status_code == 200
    assert {u["name"] for u in users.json()} == {"alice", "bob"}

    pat = logged_in(hub, "pat")  # hub-admins: platform admin, in no tenant
    assert me(pat)["admin"] is True
    admin_view = pat.api("GET", "users/alice").json()
    assert sorted(admin_view["groups"]) == ["tenant-nlp", "tenant-vision"]


def test_user_in_no_tenant_logs_in_and_is_told_why_at_spawn(ldap_hub) -> None:
    hub = ldap_hub()
    carol = logged_in(hub, "carol")
    assert "not a member of any tenant" in carol.spawn_form().text
    refused = carol.spawn({})
    assert refused.status_code == 403 and "not a member of any tenant" in refused.text
    assert me(carol)["groups"] == []


def test_memberships_follow_the_directory_at_every_login(ldap_hub, slapd: SlapdServer) -> None:
    hub = ldap_hub()
    erin = logged_in(hub, "erin")
    assert sorted(me(erin)["groups"]) == ["tenant-nlp", "tenant-ops", "tenant-vision"]
    assert sources(hub, "erin") == {
        ("nlp", "member", "ldap"), ("vision", "member", "ldap"), ("ops", "member", "config"),
    }  # fmt: skip

    # out of ds-nlp, into ds-vision-admins
    slapd.ldapmodify(
        f"dn: cn=ds-nlp,{GROUPS}\nchangetype: modify\ndelete: memberUid\nmemberUid: erin\n\n"
        f"dn: cn=ds-vision-admins,{GROUPS}\nchangetype: modify\nadd: member\n"
        f"member: uid=erin,{PEOPLE}\n"
    )
    try:
        again = logged_in(hub, "erin")
        assert sorted(me(again)["groups"]) == ["tenant-ops", "tenant-vision"]
        # nlp gone, vision now admin; the config membership untouched
        assert sources(hub, "erin") == {("vision", "admin", "ldap"), ("ops", "member", "config")}
        form = again.spawn_form()
        assert 'value="nlp"' not in form.text and 'value="ops"' in form.text
        assert "membership.remove" in hub.log() or "removed ['nlp']" in hub.log()
    finally:
        slapd.ldapmodify(
            f"dn: cn=ds-nlp,{GROUPS}\nchangetype: modify\nadd: memberUid\nmemberUid: erin\n\n"
            f"dn: cn=ds-vision-admins,{GROUPS}\nchangetype: modify\ndelete: member\n"
            f"member: uid=erin,{PEOPLE}\n"
        )


def test_login_form_refuses_empty_passwords_and_metacharacter_names(
    ldap_hub, slapd: SlapdServer
) -> None:
    hub = ldap_hub()
    offset = slapd.log_size()
    for pw in ("", "   "):  # an unauthenticated (anonymous) bind on this server
        _, response = form_login(hub, "alice", pw)
        assert response.status_code == 403
    for name in ("*", "al*", "alice)(uid=*", "alice\\"):
        _, response = form_login(hub, name, password("alice"))
        assert response.status_code == 403, name
    _, response = form_login(hub, "*", password("*"))
    assert response.status_code == 403
    assert binds_since(slapd, offset) == []  # all refused before the server was asked
    assert logged_in(hub, "alice")  # the form itself works


def test_escaped_names_through_the_hub_with_a_permissive_name_rule(
    ldap_hub, slapd: SlapdServer, tmp_path
) -> None:
    secret = tmp_path / "search-password"
    secret.write_text("reader-password-1\n")
    hub = ldap_hub(
        bind_dn_template=[],
        lookup_dn=True,
        user_search_base=PEOPLE,
        lookup_dn_search_user=f"cn=reader,{BASE}",
        lookup_dn_search_password_file=str(secret),
        valid_username_regex=PERMISSIVE,
    )
    for name in ("al*", "alice)(uid=*", "*)(uid=alice"):
        _, response = form_login(hub, name, password("alice"))
        assert response.status_code == 403, name
    star = logged_in(hub, "*")  # a real directory user: logs in, gets nobody's groups
    assert star.api("GET", "users/%2A").json()["groups"] == []
    assert logged_in(hub, "alice")


def test_allowed_groups_limit_who_logs_in_and_refused_logins_write_nothing(
    ldap_hub, slapd: SlapdServer
) -> None:
    hub = ldap_hub(allowed_groups=[f"cn=staff,{GROUPS}"])
    assert logged_in(hub, "alice") and logged_in(hub, "carol")  # both in staff
    _, bob = form_login(hub, "bob", password("bob"))  # ds-vision-admins, not in staff
    assert bob.status_code == 403
    assert sources(hub, "bob") == set()  # refused before any membership was synced
    pat = logged_in(hub, "pat")  # hub-admins, not in staff: platform admins may log in
    assert pat.api("GET", "users/bob").status_code == 404  # no JupyterHub user either
