"""OAuth 2.0 / OpenID Connect sign-in: oauthenticator's GenericOAuthenticator plus tenancy.

What TenantHub adds to the upstream authenticator, and why:

- **Endpoints from OIDC discovery.** oauthenticator 17 has no discovery, so
  the issuer's ``/.well-known/openid-configuration`` is read once while the
  hub loads its config, before it serves anything, bounded by
  ``auth.oauth.discovery_timeout``; a failure stops the hub saying what to
  fix. Explicit ``authorize_url``/``token_url``/``userdata_url`` win.
- **Groups from a claim path** (``auth.oauth.groups_claim``, dots for nested
  claims) of the userinfo become tenant memberships with source ``oauth``
  (``TenantAuthMixin``, through the tenants' ``group_mappings``);
  ``admin_groups`` make platform admins. JupyterHub's groups are the tenant
  groups (``tenant-<t>``), never the provider's raw groups.
- **allowed_groups is checked against the provider's groups.** Upstream
  compares JupyterHub groups, which here are tenant groups. A refused login
  writes nothing; a refresh that finds the user no longer allowed asks for a
  new login.
- **auth_state** (tokens and userinfo) is stored encrypted: JupyterHub's
  CryptKeeper gets a key generated at first start and kept in ``data_dir``
  (mode 0600) unless the operator set ``JUPYTERHUB_CRYPT_KEY``. The key goes
  into the CryptKeeper's config, not the environment, because the hub hands a
  copy of its environment to configurable-http-proxy. Tokens are refreshed by
  upstream's ``refresh_user`` (the refresh token is used once the access token
  is refused) every ``refresh_every`` and before each spawn.
- **PKCE** (S256) is always on (``enable_pkce``).
- A failed refresh of a browser session asks for a new login instead of
  raising in JupyterHub 6.1 (``_mark_cookie_authenticated``).
"""

from __future__ import annotations

import json
import os
import ssl
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from oauthenticator.generic import GenericOAuthenticator
from traitlets import Set, Unicode

from hub.app.proxy import secret_file
from hub.auth.groups import is_in_any
from hub.auth.tenancy import TenantAuthMixin
from hub.config.schema import OAuthSettings, PlatformConfig

#: JupyterHub's name for the encryption key of auth_state (operators may set it)
CRYPT_KEY_ENV = "JUPYTERHUB_CRYPT_KEY"
CRYPT_KEY_FILE = "jupyterhub_crypt_key"
MAX_DISCOVERY_BYTES = 1024 * 1024
#: where oauthenticator keeps the userinfo in auth_state (``user_auth_state_key``)
USERINFO_KEY = GenericOAuthenticator.user_auth_state_key


class OAuthConfigError(RuntimeError):
    """The OAuth setup cannot work; the message says which setting to fix."""


# ----------------------------------------------------------------------------- claims


def claim_at(data: Mapping[str, Any], path: str) -> Any:
    """The value at dot ``path`` (``realm_access.roles``) of ``data``; None when absent."""
    value: Any = data
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def groups_from_claim(value: Any, path: str) -> list[str]:
    """The group names a claim value holds.

    A list of strings is the usual form; a single string is one group (some
    providers send that for one group) rather than a set of characters, which
    is what upstream's ``set(value)`` would make of it. An absent claim means
    no groups. Anything else is a provider or ``groups_claim`` mistake and
    refuses the login instead of silently removing the user's memberships.
    """
    if value is None:
        return []
    if isinstance(value, str):
        return [value] if value else []
    if isinstance(value, list | tuple) and all(isinstance(g, str) for g in value):
        return sorted(set(value))
    raise ValueError(
        f"the groups claim {path!r} must be a list of group names, not {type(value).__name__}; "
        "check auth.oauth.groups_claim"
    )


# ----------------------------------------------------------------------------- discovery


@dataclass(frozen=True)
class Endpoints:
    authorize_url: str
    token_url: str
    userdata_url: str


def discovery_url(issuer: str) -> str:
    return issuer.rstrip("/") + "/.well-known/openid-configuration"


def parse_discovery(document: Any, issuer: str) -> Endpoints:
    """The endpoints of an OIDC discovery document, checked against the configured issuer.

    OIDC Discovery 1.0 section 4.3: the document's ``issuer`` must be the one
    it was fetched for, so a hub configured with the wrong host name (or a
    document served by something else) is an error here, not a puzzling token
    failure later. A trailing slash is the only difference tolerated.
    """
    where = f"the discovery document of {issuer}"
    if not isinstance(document, Mapping):
        raise OAuthConfigError(f"{where} is not a JSON object")
    said = document.get("issuer")
    if not isinstance(said, str) or said.rstrip("/") != issuer.rstrip("/"):
        raise OAuthConfigError(
            f"{where} names issuer {said!r}; set auth.oauth.issuer to exactly that value"
        )
    urls = {}
    for key in ("authorization_endpoint", "token_endpoint", "userinfo_endpoint"):
        value = document.get(key)
        if not isinstance(value, str) or not value.startswith(("https://", "http://")):
            raise OAuthConfigError(
                f"{where} has no usable {key} ({value!r}); set it explicitly in auth.oauth"
            )
        urls[key] = value
    return Endpoints(
        urls["authorization_endpoint"], urls["token_endpoint"], urls["userinfo_endpoint"]
    )


def fetch_discovery(issuer: str, timeout: float, ca_file: Path | None = None) -> Any:
    """GET the issuer's discovery document (blocking; the hub calls it once, at start)."""
    url = discovery_url(issuer)
    context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    request = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310
    hint = (
        "check auth.oauth.issuer (and ca_file), or set auth.oauth.authorize_url, "
        "token_url and userdata_url"
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=context) as response:  # noqa: S310
            body = response.read(MAX_DISCOVERY_BYTES + 1)
    except urllib.error.HTTPError as exc:
        raise OAuthConfigError(
            f"OIDC discovery failed: GET {url} answered {exc.code}; {hint}"
        ) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise OAuthConfigError(
            f"OIDC discovery failed: GET {url}: {reason} (waited up to {timeout:g}s); {hint}"
        ) from None
    if len(body) > MAX_DISCOVERY_BYTES:
        raise OAuthConfigError(f"OIDC discovery failed: {url} is larger than 1 MiB")
    try:
        return json.loads(body)
    except ValueError:
        raise OAuthConfigError(f"OIDC discovery failed: {url} is not JSON; {hint}") from None


Discover = Callable[[str, float, Path | None], Any]


def resolve_endpoints(settings: OAuthSettings, discover: Discover = fetch_discovery) -> Endpoints:
    """Explicit endpoints where configured, the rest from discovery (fetched only if needed)."""
    explicit = (settings.authorize_url, settings.token_url, settings.userdata_url)
    if all(explicit):
        return Endpoints(*(str(url) for url in explicit))
    if not settings.issuer:
        raise OAuthConfigError(
            "auth.oauth needs issuer, or all of authorize_url, token_url and userdata_url"
        )
    found = parse_discovery(
        discover(settings.issuer, float(settings.discovery_timeout), settings.ca_file),
        settings.issuer,
    )
    return Endpoints(
        settings.authorize_url or found.authorize_url,
        settings.token_url or found.token_url,
        settings.userdata_url or found.userdata_url,
    )


# ----------------------------------------------------------------------------- traits


def read_client_secret(path: Path | None) -> str:
    """The client secret from its file (empty for a public client without one)."""
    if path is None:
        return ""
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise OAuthConfigError(
            f"auth.oauth.client_secret_file: cannot read {path}: {exc.strerror}"
        ) from None


def crypt_key_traits(data_dir: Path) -> dict[str, dict[str, Any]]:
    """The auth_state key: the operator's ``JUPYTERHUB_CRYPT_KEY``, else one kept in data_dir."""
    if os.environ.get(CRYPT_KEY_ENV):
        return {}
    return {"CryptKeeper": {"keys": [secret_file(data_dir / CRYPT_KEY_FILE, 32)]}}


def oauth_traits(
    config: PlatformConfig, data_dir: Path, discover: Discover = fetch_discovery
) -> dict[str, dict[str, Any]]:
    """``{Class: {trait: value}}`` for ``auth.kind: oauth`` (reads the secret, may discover)."""
    settings = config.auth.oauth
    endpoints = resolve_endpoints(settings, discover)
    generic: dict[str, Any] = {
        "client_id": settings.client_id,
        "client_secret": read_client_secret(settings.client_secret_file),
        "oauth_callback_url": settings.callback_url,
        "authorize_url": endpoints.authorize_url,
        "token_url": endpoints.token_url,
        "userdata_url": endpoints.userdata_url,
        "scope": list(settings.scope),
        "username_claim": settings.username_claim,
        "login_service": settings.login_service,
        "enable_pkce": True,
        "basic_auth": settings.token_endpoint_auth == "client_secret_basic",  # noqa: S105
        "validate_server_cert": True,
        "auth_state_groups_key": f"{USERINFO_KEY}.{settings.groups_claim}",
        "allowed_groups": set(settings.allowed_groups),
    }
    if settings.ca_file is not None:
        generic["http_request_kwargs"] = {"ca_certs": str(settings.ca_file)}
    traits: dict[str, dict[str, Any]] = {
        "Authenticator": {
            "admin_users": set(config.auth.admin_users),
            "allow_all": not settings.allowed_groups,
            "enable_auth_state": True,
            "auth_refresh_age": settings.refresh_every,
            "refresh_pre_spawn": True,
        },
        "GenericOAuthenticator": generic,
        "TenantOAuthenticator": {"platform_admin_groups": set(settings.admin_groups)},
    }
    traits.update(crypt_key_traits(data_dir))
    return traits


# ----------------------------------------------------------------------------- authenticator


class TenantOAuthenticator(TenantAuthMixin, GenericOAuthenticator):
    """GenericOAuthenticator whose provider groups become tenant memberships."""

    membership_source = "oauth"

    platform_admin_groups = Set(
        Unicode(),
        config=True,
        help="Provider groups whose members are platform admins (JupyterHub admins). "
        "TenantHub decides admin itself at every login (set from auth.oauth.admin_groups); "
        "oauthenticator's own admin_groups trait is left unset.",
    )

    # -------------------------------------------------------------- TenantAuthMixin hooks

    def platform_admin_group_names(self) -> list[str]:
        return sorted(self.platform_admin_groups)

    async def directory_groups(self, auth_model: dict[str, Any]) -> list[str] | None:
        """The provider's groups of this user; None (nothing synced) for a refused login."""
        auth_state = auth_model.get("auth_state")
        if not auth_state:
            return None
        key = self.auth_state_groups_key
        if isinstance(key, str) and claim_at(auth_state, key) is None:
            self.log.warning(
                "No groups claim %r in the userinfo of %s (its claims: %s): no provider groups",
                key.removeprefix(f"{USERINFO_KEY}."),
                auth_model["name"],
                sorted(auth_state.get(USERINFO_KEY) or {}),
            )
        groups = sorted(await self.get_user_groups(auth_state))
        if not self.admits(auth_model["name"], groups, bool(auth_model.get("admin"))):
            return None
        return groups

    # -------------------------------------------------------------- oauthenticator hooks

    async def get_user_groups(self, auth_state: dict[str, Any]) -> set[str]:
        """The provider's groups at ``auth_state_groups_key`` (see ``groups_from_claim``)."""
        key = self.auth_state_groups_key
        if callable(key):
            return set(await super().get_user_groups(auth_state))
        return set(groups_from_claim(claim_at(auth_state, key), key))

    async def update_auth_model(self, auth_model: dict[str, Any]) -> dict[str, Any]:
        """Drop upstream's ``admin: None`` ("unchanged").

        TenantAuthMixin fills in the admin status JupyterHub already has only
        when the key is absent; left as None it would count as "not admin" and
        the admin role of an admin made in JupyterHub would be stripped.
        """
        if auth_model.get("admin") is None:
            auth_model.pop("admin", None)
        return auth_model

    async def _apply_managed_groups(self, auth_model: dict[str, Any]) -> dict[str, Any]:
        """Leave groups and admin to TenantAuthMixin.

        Upstream makes the raw provider groups JupyterHub's groups here (and
        applies its ``admin_groups`` trait); TenantHub's JupyterHub groups are the
        tenant groups, and the mixin sets them and the admin status at every login
        (tests/unit/test_auth_oauth.py checks that upstream still calls this method).
        """
        return auth_model

    # -------------------------------------------------------------- who may sign in

    def admits(self, username: str, groups: list[str], admin: bool = False) -> bool:
        """allow_all, admins (configured, in an admin group, or made in JupyterHub),
        allowed_users, or a member of an allowed group."""
        return (
            bool(self.allow_all)
            or admin
            or username in self.admin_users
            or username in self.allowed_users
            or is_in_any(groups, self.allowed_groups)
            or is_in_any(groups, self.platform_admin_groups)
        )

    async def check_allowed(self, username: str, auth_model: dict[str, Any] | None) -> bool:
        if auth_model is None:  # JupyterHub < 5 (see upstream)
            return True
        groups = sorted(await self.get_user_groups(auth_model.get("auth_state") or {}))
        return self.admits(username, groups, bool(auth_model.get("admin")))

    async def refresh_user(self, user: Any, handler: Any = None, **kwargs: Any) -> Any:
        """Upstream's token refresh plus tenancy; a user no longer allowed must log in again."""
        result = await super().refresh_user(user, handler, **kwargs)
        if isinstance(result, dict) and result.get("auth_state"):
            groups = sorted(await self.get_user_groups(result["auth_state"]))
            if not self.admits(user.name, groups, bool(result.get("admin"))):
                self.log.warning("%s is no longer allowed: a new login is required", user.name)
                result = False
        if result is False and handler is not None:
            _mark_cookie_authenticated(handler)
        return result


def needs_refresh_shim() -> bool:
    """True while JupyterHub's handlers lack a default for ``_token_authenticated``."""
    from jupyterhub.handlers.base import BaseHandler

    return not hasattr(BaseHandler, "_token_authenticated")


def _mark_cookie_authenticated(handler: Any) -> None:
    """Work around JupyterHub 6.1: ``refresh_auth`` reads ``handler._token_authenticated``
    when a refresh fails, but only token-authenticated requests set it, so a
    failed refresh of a browser (cookie) session raised AttributeError instead
    of asking for a new login ("Failed to get current user" in the log). Not set
    means cookie-authenticated, i.e. False. tests/unit/test_auth_oauth.py fails
    once upstream gives the attribute a default, as a reminder to delete this.
    """
    if needs_refresh_shim() and not hasattr(handler, "_token_authenticated"):
        handler._token_authenticated = False
