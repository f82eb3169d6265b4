"""LDAP sign-in (jupyterhub-ldapauthenticator, ldap3) with tenant memberships from groups.

Two layers, so upstream's checks stay exactly as they are:

``DirectoryLDAPAuthenticator`` is ``LDAPAuthenticator`` with what TenantHub
needs around it. Upstream still does the login: the username regex, "no empty
password" before any bind, ``escape_rdn`` in bind DNs, ``escape_filter_chars``
in its searches, ``allowed_groups``. Added:

* the user's DN and group names, searched right after the bind on the same
  connection (bound as the user) under ``group_search_base``, both values
  escaped into the filter, paged; kept in the auth model's ``auth_state``;
* the whole LDAP conversation on a small thread pool: upstream's
  ``authenticate`` is ``async`` but calls ldap3 synchronously, which would
  stall the hub's event loop for every bind;
* every connection a login opened is unbound at its end (upstream leaves them
  to the garbage collector, which keeps sockets open on a busy hub), and none
  reads the server's schema (ldap3's default, ~20 ms of CPU per bind);
* a directory that cannot be reached (or TLS that fails) is a 503 that says
  so, instead of a 500;
* the typed name is lower-cased (JupyterHub's ``normalize_username``) before
  upstream's regex sees it, so ``Alice`` can log in as ``alice``; a name with
  a control character (NUL above all) is refused whatever that regex allows;
* the search user's password comes from a file, read once, never logged.

``TenantLDAPAuthenticator`` puts ``TenantAuthMixin`` in front: the group names
become tenant memberships with source ``ldap`` at every login (added and
removed; other sources untouched), ``admin_groups`` make platform admins.

``ldap_traits`` turns ``auth.ldap`` into these traits. TLS always verifies the
server certificate: ldap3's ``Tls`` defaults to ``CERT_NONE``, which would send
passwords to whoever answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import ssl
import string
from concurrent.futures import ThreadPoolExecutor
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import ldap3
from ldap3.core.exceptions import LDAPBindError, LDAPException
from ldap3.core.tls import Tls
from ldap3.utils.conv import escape_filter_chars
from ldapauthenticator import LDAPAuthenticator
from ldapauthenticator.ldapauthenticator import TlsStrategy
from tornado import web
from traitlets import Integer, List, Unicode, default

from hub.auth.tenancy import TenantAuthMixin
from hub.config.schema import LdapSettings, PlatformConfig

log = logging.getLogger(__name__)

#: auth_state keys this module adds (upstream's own: ``ldap_groups``, ``user_attributes``)
USER_DN_KEY = "user_dn"
GROUPS_KEY = "directory_groups"

CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")
PAGED_RESULTS_OID = "1.2.840.113556.1.4.319"
UNAVAILABLE = (
    "The directory (LDAP) could not be reached to check your login. "
    "Try again in a minute; if it keeps happening, tell your platform admin."
)


class GroupLookupError(LDAPException):
    """The group search failed (bad base, no permission): the login must not go on."""


# ----------------------------------------------------------------------------- pure helpers


def upstream_group_filter(template: str) -> str:
    """Config placeholders -> ldapauthenticator's: ``{username}`` is its ``{uid}``.

    One filter serves both upstream's ``allowed_groups`` check and the group
    search here, so both see the user the same way.
    """
    out = []
    for literal, name, spec, conversion in string.Formatter().parse(template):
        out.append(literal.replace("{", "{{").replace("}", "}}"))
        if name is not None:
            name = "uid" if name == "username" else name
            out.append("{" + name + (f"!{conversion}" if conversion else ""))
            out.append((f":{spec}" if spec else "") + "}")
    return "".join(out)


def group_filter(template: str, user_dn: str, directory_name: str) -> str:
    """The group search filter of one user; both values escaped (RFC 4515: ``*()\\`` NUL).

    A NUL is refused outright: escaped as ``\\00`` it is still cut off by
    OpenLDAP's IA5String matching (``memberUid``), so ``alice\\00x`` would
    match alice's groups (tests/integration/test_auth_ldap.py shows it).
    """
    if "\x00" in user_dn or "\x00" in directory_name:
        raise ValueError("a NUL character cannot be part of an LDAP filter value")
    return template.format(
        userdn=escape_filter_chars(user_dn), uid=escape_filter_chars(directory_name)
    )


def tls_kwargs(settings: LdapSettings) -> dict[str, Any]:
    """ldap3 ``Tls`` arguments: verify the server certificate whenever TLS is used."""
    if settings.tls_strategy == "insecure":
        return {}
    kwargs: dict[str, Any] = {"validate": ssl.CERT_REQUIRED}
    if settings.ca_file is not None:
        kwargs["ca_certs_file"] = str(settings.ca_file)
    return kwargs


def ldap_traits(config: PlatformConfig, data_dir: Path) -> dict[str, dict[str, Any]]:
    """``{Class: {trait: value}}`` for ``auth.kind: ldap``.

    Who may log in: anyone who binds, or with ``allowed_groups`` only their
    members (platform admins always). ``allow_existing_users`` stays off, so
    leaving an allowed group locks the user out even after earlier logins.
    The search password stays in its file; only the path is a trait.
    """
    ldap = config.auth.ldap
    for key in ("ca_file", "lookup_dn_search_password_file"):
        path = getattr(ldap, key)
        if path is not None and not Path(path).is_file():
            raise ValueError(f"auth.ldap.{key}: no such file: {path}")
    if not ldap.group_search_base and any(t.group_mappings for t in config.tenants):
        log.warning(
            "auth.ldap.group_search_base is empty: the tenants' group_mappings are not applied"
        )
    upstream: dict[str, Any] = {
        "server_address": ldap.server_address,
        "tls_strategy": ldap.tls_strategy,
        "tls_kwargs": tls_kwargs(ldap),
        "lookup_dn": ldap.lookup_dn,
        "user_search_base": ldap.user_search_base or None,
        "user_attribute": ldap.user_attribute,
        "lookup_dn_search_user": ldap.lookup_dn_search_user or None,
        "lookup_dn_user_dn_attribute": ldap.lookup_dn_user_dn_attribute or ldap.user_attribute,
        "use_lookup_dn_username": False,
        "valid_username_regex": ldap.valid_username_regex,
        "group_search_filter": upstream_group_filter(ldap.group_search_filter),
    }
    if ldap.server_port is not None:
        upstream["server_port"] = ldap.server_port
    if ldap.bind_dn_template:
        upstream["bind_dn_template"] = list(ldap.bind_dn_template)
    if ldap.allowed_groups:
        upstream["allowed_groups"] = list(ldap.allowed_groups)
    return {
        "Authenticator": {
            "admin_users": set(config.auth.admin_users),
            "allow_all": not ldap.allowed_groups,
            "allow_existing_users": False,
        },
        "LDAPAuthenticator": upstream,
        "DirectoryLDAPAuthenticator": {
            "group_search_base": ldap.group_search_base,
            "group_name_attribute": ldap.group_name_attribute,
            "directory_admin_groups": list(ldap.admin_groups),
            "lookup_dn_search_password_file": str(ldap.lookup_dn_search_password_file or ""),
        },
    }


# ----------------------------------------------------------------------------- LDAP I/O


def search_group_names(
    conn: Any, base: str, search_filter: str, name_attribute: str, page_size: int = 500
) -> list[str]:
    """Names (``name_attribute`` values) of the groups ``search_filter`` finds under ``base``.

    Paged (a directory's size limit would otherwise cut a long list short and
    silently drop memberships); any result other than success raises, since
    a login with unknown groups would sync the wrong memberships.
    """
    names: set[str] = set()
    cookie: bytes | None = None
    while True:
        conn.search(
            search_base=base,
            search_filter=search_filter,
            search_scope=ldap3.SUBTREE,
            attributes=[name_attribute],
            paged_size=page_size,
            paged_cookie=cookie,
        )
        result = conn.result or {}
        if result.get("result") != 0:
            raise GroupLookupError(
                f"group search under {base!r} failed: {result.get('description')} "
                f"{result.get('message') or ''}".strip()
            )
        for entry in conn.response or []:
            if entry.get("type") != "searchResEntry":
                continue
            value = entry.get("attributes", {}).get(name_attribute)
            values = value if isinstance(value, list) else [value]
            names.update(str(v) for v in values if v)
        controls = result.get("controls") or {}
        cookie = controls.get(PAGED_RESULTS_OID, {}).get("value", {}).get("cookie")
        if not cookie:
            return sorted(names)


@dataclass
class _Login:
    """What one login learns on its thread; reached through ``_current``."""

    directory_name: str
    user_dn: str | None = None
    groups: list[str] | None = None
    connections: list[Any] = field(default_factory=list)


_current: ContextVar[_Login | None] = ContextVar("tenanthub_ldap_login", default=None)


class DirectoryLDAPAuthenticator(LDAPAuthenticator):
    """LDAPAuthenticator off the event loop, with the user's DN and groups in auth_state."""

    group_search_base = Unicode(
        "",
        config=True,
        help="Where the user's groups are searched after the bind; empty: no group lookup "
        "(auth_state has no groups, so tenant memberships are not synced).",
    )
    group_name_attribute = Unicode(
        "cn", config=True, help="Attribute whose values name a group (group_mappings use them)."
    )
    directory_admin_groups = List(
        Unicode(), config=True, help="Group names whose members are platform admins."
    )
    lookup_dn_search_password_file = Unicode(
        "",
        config=True,
        help="File holding lookup_dn_search_user's password (trailing newline dropped).",
    )
    ldap_threads = Integer(
        8, config=True, help="Logins that talk to the directory at the same time."
    )

    @default("lookup_dn_search_password")
    def _search_password_from_file(self) -> str | None:
        if not self.lookup_dn_search_password_file:
            return None
        text = Path(self.lookup_dn_search_password_file).read_text(encoding="utf-8")
        return text.rstrip("\r\n")

    def _pool(self) -> ThreadPoolExecutor:
        pool = self.__dict__.get("_ldap_pool")
        if pool is None:
            pool = ThreadPoolExecutor(self.ldap_threads, thread_name_prefix="tenanthub-ldap")
            self.__dict__["_ldap_pool"] = pool
        return pool

    async def authenticate(self, handler: Any, data: dict[str, Any]) -> dict[str, Any] | None:
        data = {**data, "username": self.normalize_username(data.get("username") or "")}
        if CONTROL_CHARACTERS.search(data["username"]):
            self.log.warning("LDAP login refused: control character in %r", data["username"])
            return None
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._pool(), self._authenticate_blocking, data)
        except LDAPException as exc:
            self.log.error(
                "LDAP login of %r failed on %s:%s: %s: %s",
                data["username"],
                self.server_address,
                self.server_port,
                type(exc).__name__,
                exc,
            )
            raise web.HTTPError(503, UNAVAILABLE) from None

    def _authenticate_blocking(self, data: dict[str, Any]) -> dict[str, Any] | None:
        """Upstream's login on this thread; its hooks below record into ``_current``."""
        login = _Login(directory_name=data["username"])
        token = _current.set(login)
        try:
            model = asyncio.run(super().authenticate(None, data))
        finally:
            _current.reset(token)
            for conn in login.connections:
                with contextlib.suppress(Exception):
                    conn.unbind()
        if model is None:
            return None
        model = dict(model)
        model["name"] = self.normalize_username(model["name"])
        model["auth_state"] = {
            **(model.get("auth_state") or {}),
            USER_DN_KEY: login.user_dn,
            GROUPS_KEY: login.groups,
        }
        if not self.directory_allows(model):
            # refused here, not only in check_allowed (which JupyterHub calls after
            # authenticate): TenantAuthMixin would already have synced memberships
            self.log.warning("LDAP login of %r refused: in none of allowed_groups", model["name"])
            return None
        return model

    def directory_allows(self, model: dict[str, Any]) -> bool:
        """With ``allowed_groups``: members of one, platform admins (admin_users, admin groups)."""
        if not self.allowed_groups:
            return True
        state = model.get("auth_state") or {}
        if state.get("ldap_groups") or model["name"] in self.admin_users:
            return True
        have = {g.casefold() for g in state.get(GROUPS_KEY) or []}
        return any(g.casefold() in have for g in self.directory_admin_groups)

    async def check_allowed(self, username: str, auth_model: dict[str, Any] | None = None) -> bool:
        """The same rule as ``directory_allows`` (JupyterHub asks again after authenticate)."""
        if self.allow_all:
            return True
        return bool(auth_model) and self.directory_allows({"name": username, **(auth_model or {})})

    # upstream's steps, each recording what this login needs

    def get_connection(self, userdn: str | None, password: str | None) -> Any:
        """Upstream's connection, minus the schema read, recorded for the unbind.

        ldapauthenticator builds ``ldap3.Server`` with ldap3's default
        ``get_info=SCHEMA``: every connection then reads and parses the
        server's whole schema, ~20 ms of hub CPU per bind here (more than
        the rest of a login; benchmarks/RESULTS.md), for nothing this login
        uses. The rest is upstream's code: TLS strategy, bind errors -> None.
        """
        if self.tls_strategy == TlsStrategy.on_connect:
            use_ssl, auto_bind = True, ldap3.AUTO_BIND_NO_TLS
        elif self.tls_strategy == TlsStrategy.before_bind:
            use_ssl, auto_bind = False, ldap3.AUTO_BIND_TLS_BEFORE_BIND
        else:
            use_ssl, auto_bind = False, ldap3.AUTO_BIND_NO_TLS
        server = ldap3.Server(
            self.server_address,
            port=self.server_port,
            use_ssl=use_ssl,
            tls=Tls(**self.tls_kwargs),
            get_info=ldap3.NONE,
        )
        try:
            conn = ldap3.Connection(server, user=userdn, password=password, auto_bind=auto_bind)
        except LDAPBindError as exc:
            self.log.debug("Failed to bind %s: %s", userdn, exc.args[0] if exc.args else "")
            conn = None
        login = _current.get()
        if conn is not None and login is not None:
            login.connections.append(conn)
        return conn

    def resolve_username(self, username_supplied_by_user: str) -> tuple[str | None, str | None]:
        name, dn = super().resolve_username(username_supplied_by_user)
        login = _current.get()
        if login is not None and name:
            login.directory_name = name
        return name, dn

    def get_user_attributes(self, conn: Any, userdn: str) -> dict[str, Any]:
        """Called once, right after a successful bind: look the groups up on that connection."""
        attributes: dict[str, Any] = super().get_user_attributes(conn, userdn)
        login = _current.get()
        if login is not None:
            login.user_dn = userdn
            if self.group_search_base:
                login.groups = search_group_names(
                    conn,
                    self.group_search_base,
                    group_filter(self.group_search_filter, userdn, login.directory_name),
                    self.group_name_attribute,
                )
        return attributes


class TenantLDAPAuthenticator(TenantAuthMixin, DirectoryLDAPAuthenticator):
    """LDAP logins whose groups are the user's tenant memberships (source ``ldap``)."""

    membership_source: ClassVar[str | None] = "ldap"

    async def directory_groups(self, auth_model: dict[str, Any]) -> list[str] | None:
        """Groups found at this login; None without a fresh lookup (refresh_user)."""
        groups = (auth_model.get("auth_state") or {}).get(GROUPS_KEY)
        return None if groups is None else list(groups)

    def platform_admin_group_names(self) -> list[str]:
        return list(self.directory_admin_groups)
