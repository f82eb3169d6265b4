"""Platform config ``auth:`` -> the authenticator's JupyterHub traits.

One function per kind, each next to its authenticator (``hub/auth/<kind>.py``
defines ``<kind>_traits``); this module only dispatches, so the hub's trait
builder stays one place and each kind keeps its own details.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hub.config.schema import PlatformConfig

AUTHENTICATOR_CLASSES = {
    "native": "hub.auth.native.TenantNativeAuthenticator",
    "ldap": "hub.auth.ldap.TenantLDAPAuthenticator",
    "oauth": "hub.auth.oauth.TenantOAuthenticator",
}


def native_traits(config: PlatformConfig, data_dir: Path) -> dict[str, dict[str, Any]]:
    return {
        "Authenticator": {
            "admin_users": set(config.auth.admin_users),
            # NativeAuthenticator only lets approved accounts in; that is the allow list
            "allow_all": True,
        },
        "NativeAuthenticator": {
            "open_signup": config.auth.native.open_signup,
            "minimum_password_length": config.auth.native.minimum_password_length,
        },
        "TenantNativeAuthenticator": {
            "seed_users_file": str(config.auth.native.seed_users_file or ""),
        },
    }


def auth_traits(config: PlatformConfig, data_dir: Path) -> dict[str, dict[str, Any]]:
    """``{Class: {trait: value}}`` for ``config.auth.kind`` (the class is set by the caller)."""
    kind = config.auth.kind
    if kind == "ldap":
        from hub.auth.ldap import ldap_traits

        return ldap_traits(config, data_dir)
    if kind == "oauth":
        from hub.auth.oauth import oauth_traits

        return oauth_traits(config, data_dir)
    return native_traits(config, data_dir)
