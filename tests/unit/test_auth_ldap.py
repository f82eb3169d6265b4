"""LDAP glue without a server: traits from the config, filter escaping, refusals before I/O.

(Everything that talks to a directory is in tests/integration/test_auth_ldap.py,
against a real slapd.)
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hub.auth.ldap import (
    GROUPS_KEY,
    DirectoryLDAPAuthenticator,
    TenantLDAPAuthenticator,
    group_filter,
    ldap_traits,
    tls_kwargs,
    upstream_group_filter,
)
from hub.config.loader import ConfigError, load_config, parse_config
from hub.config.schema import LdapSettings

PEOPLE = "ou=people,dc=example,dc=org"
DEFAULT_FILTER = LdapSettings().group_search_filter


def ldap_config(tmp_path: Path, **ldap: Any) -> Any:
    return parse_config(
        {
            "auth": {
                "kind": "ldap",
                "admin_users": ["root-admin"],
                "ldap": {"server_address": "ldap.example.org", **ldap},
            },
            "tenants": [{"name": "vision", "group_mappings": [{"group": "ds-vision"}]}],
        },
        base_dir=tmp_path,
    )


# ----------------------------------------------------------------------------- filters


def test_config_placeholders_become_ldapauthenticators() -> None:
    assert upstream_group_filter(DEFAULT_FILTER) == (
        "(|(member={userdn})(uniqueMember={userdn})(memberUid={uid}))"
    )
    # literal braces survive the round trip
    assert upstream_group_filter("(&(cn={{x}})(memberUid={username}))") == (
        "(&(cn={{x}})(memberUid={uid}))"
    )


def test_group_filter_escapes_every_filter_metacharacter_in_both_values() -> None:
    template = upstream_group_filter(DEFAULT_FILTER)
    assert group_filter(template, "uid=*,ou=people", "alice)(uid=*") == (
        r"(|(member=uid=\2a,ou=people)(uniqueMember=uid=\2a,ou=people)"
        r"(memberUid=alice\29\28uid=\2a))"
    )
    assert group_filter("(memberUid={uid})", "", "a\\b") == r"(memberUid=a\5cb)"
    assert group_filter("(memberUid={uid})", "", "*") == r"(memberUid=\2a)"


def test_nul_is_refused_in_filter_values() -> None:
    # escaped as \00 it would still be cut off by OpenLDAP's IA5 matching (see integration)
    for dn, name in (("uid=a\x00,o=x", "a"), ("uid=a,o=x", "a\x00b")):
        with pytest.raises(ValueError, match="NUL"):
            group_filter(DEFAULT_FILTER, dn, name)


def test_group_search_filter_placeholders_are_checked_with_their_key_path() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(
            {
                "auth": {
                    "kind": "ldap",
                    "ldap": {
                        "server_address": "x",
                        "bind_dn_template": ["uid={username},o=x"],
                        "group_search_filter": "(memberUid={uid})",
                        "valid_username_regex": "([a-z]",
                    },
                }
            }
        )
    messages = {issue.path: issue.message for issue in info.value.issues}
    assert "unknown placeholder(s) ['uid']" in messages["auth.ldap.group_search_filter"]
    assert "not a regular expression" in messages["auth.ldap.valid_username_regex"]


# ----------------------------------------------------------------------------- traits


def test_traits_for_a_search_then_bind_directory_over_starttls(tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text("not read here\n")
    (tmp_path / "search-password").write_text("s3cret-search\n")
    config = ldap_config(
        tmp_path,
        server_port=3389,
        ca_file="ca.pem",
        lookup_dn=True,
        user_search_base=PEOPLE,
        lookup_dn_search_user="cn=reader,dc=example,dc=org",
        lookup_dn_search_password_file="search-password",
        allowed_groups=["cn=hub-users,ou=groups,dc=example,dc=org"],
        group_search_base="ou=groups,dc=example,dc=org",
        admin_groups=["hub-admins"],
    )
    traits = ldap_traits(config, tmp_path / "data")
    assert traits == {
        "Authenticator": {
            "admin_users": {"root-admin"},
            "allow_all": False,
            "allow_existing_users": False,
        },
        "LDAPAuthenticator": {
            "server_address": "ldap.example.org",
            "server_port": 3389,
            "tls_strategy": "before_bind",
            "tls_kwargs": {
                "validate": ssl.CERT_REQUIRED,
                "ca_certs_file": str(tmp_path / "ca.pem"),
            },
            "lookup_dn": True,
            "user_search_base": PEOPLE,
            "user_attribute": "uid",
            "lookup_dn_search_user": "cn=reader,dc=example,dc=org",
            "lookup_dn_user_dn_attribute": "uid",
            "use_lookup_dn_username": False,
            "valid_username_regex": r"^[a-z][.a-z0-9_-]*$",
            "group_search_filter": "(|(member={userdn})(uniqueMember={userdn})(memberUid={uid}))",
            "allowed_groups": ["cn=hub-users,ou=groups,dc=example,dc=org"],
        },
        "DirectoryLDAPAuthenticator": {
            "group_search_base": "ou=groups,dc=example,dc=org",
            "group_name_attribute": "cn",
            "directory_admin_groups": ["hub-admins"],
            "lookup_dn_search_password_file": str(tmp_path / "search-password"),
        },
    }
    # the search password stays in its file: no trait holds it
    assert "s3cret-search" not in repr(traits)


def test_without_allowed_groups_anyone_who_binds_may_log_in(tmp_path: Path) -> None:
    config = ldap_config(
        tmp_path, bind_dn_template=[f"uid={{username}},{PEOPLE}"], tls_strategy="insecure"
    )
    traits = ldap_traits(config, tmp_path)
    assert traits["Authenticator"]["allow_all"] is True
    assert traits["LDAPAuthenticator"]["bind_dn_template"] == [f"uid={{username}},{PEOPLE}"]
    assert "allowed_groups" not in traits["LDAPAuthenticator"]
    assert traits["LDAPAuthenticator"]["tls_kwargs"] == {}


def test_tls_always_verifies_the_server_certificate() -> None:
    # ldap3's Tls() default is CERT_NONE: a man in the middle would get the passwords
    for strategy in ("before_bind", "on_connect"):
        settings = LdapSettings(server_address="x", tls_strategy=strategy)
        assert tls_kwargs(settings) == {"validate": ssl.CERT_REQUIRED}


def test_missing_secret_files_stop_the_hub_with_their_key(tmp_path: Path) -> None:
    config = ldap_config(tmp_path, lookup_dn=True, user_search_base=PEOPLE, ca_file="nope.pem")
    with pytest.raises(ValueError, match=r"auth\.ldap\.ca_file: no such file"):
        ldap_traits(config, tmp_path)


def test_relative_secret_paths_resolve_against_the_config_folder(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    path = tmp_path / "etc" / "tenanthub.yaml"
    path.write_text(
        "auth:\n  kind: ldap\n  ldap:\n    server_address: x\n    lookup_dn: true\n"
        "    user_search_base: o=x\n    ca_file: certs/ca.pem\n"
        "    lookup_dn_search_password_file: ../secrets/search\n"
    )
    ldap = load_config(path).auth.ldap
    assert ldap.ca_file == tmp_path / "etc" / "certs" / "ca.pem"
    assert ldap.lookup_dn_search_password_file == tmp_path / "secrets" / "search"


def test_search_password_is_read_from_its_file(tmp_path: Path) -> None:
    (tmp_path / "pw").write_text("line one  \n")
    auth = DirectoryLDAPAuthenticator(
        lookup_dn=True, user_search_base=PEOPLE, lookup_dn_search_password_file=str(tmp_path / "pw")
    )
    assert auth.lookup_dn_search_password == "line one  "  # only the newline is dropped
    assert DirectoryLDAPAuthenticator(lookup_dn=True).lookup_dn_search_password is None


# ----------------------------------------------------------------------------- refusals before I/O


@pytest.fixture
def silent_server() -> Iterator[socket.socket]:
    """A listening socket nobody accepts on: any connection attempt would be seen."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        sock.setblocking(False)
        yield sock


def nobody_connected(sock: socket.socket) -> bool:
    try:
        conn, _ = sock.accept()
    except BlockingIOError:
        return True
    conn.close()
    return False


def authenticator_for(sock: socket.socket, **traits: Any) -> DirectoryLDAPAuthenticator:
    return DirectoryLDAPAuthenticator(
        server_address="127.0.0.1",
        server_port=sock.getsockname()[1],
        tls_strategy="insecure",
        bind_dn_template=[f"uid={{username}},{PEOPLE}"],
        **traits,
    )


@pytest.mark.parametrize("password", ["", "   ", "\t\n", None])
async def test_empty_password_is_refused_without_contacting_the_directory(
    silent_server: socket.socket, password: str | None
) -> None:
    # an LDAP server takes a DN with an empty password as an anonymous bind (RFC 4513 5.1.2)
    auth = authenticator_for(silent_server)
    assert await auth.authenticate(None, {"username": "alice", "password": password}) is None
    assert nobody_connected(silent_server)


@pytest.mark.parametrize(
    "username", ["*", "al*", "alice)(uid=*", "alice)(|(uid=*", "(", ")", "alice\\", "alice\x00", ""]
)
async def test_filter_metacharacters_in_names_are_refused_before_any_bind(
    silent_server: socket.socket, username: str
) -> None:
    # the default valid_username_regex; escaping is the second line (integration tests)
    auth = authenticator_for(silent_server)
    assert await auth.authenticate(None, {"username": username, "password": "pw"}) is None
    assert nobody_connected(silent_server)


def test_jupyterhub_itself_accepts_such_names() -> None:
    """Why the LDAP layer must refuse or escape them: JupyterHub's own check lets them by."""
    auth = DirectoryLDAPAuthenticator(bind_dn_template=[f"uid={{username}},{PEOPLE}"])
    for name in ("*", "alice)(uid=*", "alice\\", "a(b"):
        assert auth.validate_username(auth.normalize_username(name))


# ----------------------------------------------------------------------------- tenancy hooks


async def test_groups_come_from_this_logins_auth_state_only() -> None:
    auth = TenantLDAPAuthenticator(
        bind_dn_template=[f"uid={{username}},{PEOPLE}"], directory_admin_groups=["hub-admins"]
    )
    assert await auth.directory_groups({"name": "a", "auth_state": {GROUPS_KEY: ["g"]}}) == ["g"]
    assert await auth.directory_groups({"name": "a", "auth_state": {GROUPS_KEY: []}}) == []
    # refresh_user has no fresh lookup: unknown, so nothing is synced
    assert await auth.directory_groups({"name": "a"}) is None
    assert await auth.directory_groups({"name": "a", "auth_state": {GROUPS_KEY: None}}) is None
    assert auth.platform_admin_group_names() == ["hub-admins"]
    assert TenantLDAPAuthenticator.membership_source == "ldap"


async def test_allowed_groups_admit_members_and_platform_admins_only() -> None:
    auth = TenantLDAPAuthenticator(
        bind_dn_template=[f"uid={{username}},{PEOPLE}"],
        allowed_groups=["cn=hub-users,ou=groups,dc=example,dc=org"],
        allow_all=False,
        admin_users={"root-admin"},
        directory_admin_groups=["hub-admins"],
    )

    def model(name: str, allowed: list[str], groups: list[str]) -> dict[str, Any]:
        return {"name": name, "auth_state": {"ldap_groups": allowed, GROUPS_KEY: groups}}

    member = model("a", ["cn=hub-users,ou=groups,dc=example,dc=org"], ["hub-users"])
    assert auth.directory_allows(member) and await auth.check_allowed("a", member)
    outsider = model("b", [], ["ds-vision"])
    assert not auth.directory_allows(outsider) and not await auth.check_allowed("b", outsider)
    assert auth.directory_allows(model("root-admin", [], []))
    assert auth.directory_allows(model("p", [], ["HUB-ADMINS"]))
    # without allowed_groups anyone who binds
    assert TenantLDAPAuthenticator(bind_dn_template=["x={username}"]).directory_allows(outsider)


@pytest.mark.parametrize("username", ["alice\x00", "alice\x00x", "ali\nce", "alice\x7f"])
async def test_control_characters_are_refused_whatever_the_name_rule(
    silent_server: socket.socket, username: str
) -> None:
    auth = authenticator_for(silent_server, valid_username_regex=r"^.*$")
    assert await auth.authenticate(None, {"username": username, "password": "pw"}) is None
    assert nobody_connected(silent_server)
