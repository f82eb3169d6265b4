"""NativeAuthenticator as TenantHub's embedded default, with two small additions.

(Tenant memberships, JupyterHub groups and roles come from ``TenantAuthMixin``
as for every TenantHub authenticator; native accounts have no directory, so
their memberships come from the config and the console.)

1. A compatibility shim (``_StatsdShim``): jupyterhub-nativeauthenticator
   1.3.0, the newest release, calls ``self.statsd`` in its LoginHandler, and
   JupyterHub 6 removed ``statsd`` from handlers (jupyterhub PR #5407), so
   every login would be a 500. The shim gives only that handler a no-op
   statsd. ``needs_statsd_shim()`` tells when upstream no longer needs it
   (tests/unit/test_native_shim.py fails then, as a reminder to delete this).
2. Seed accounts: ``seed_users_file`` (JSON ``{username: bcrypt hash}``) makes
   accounts exist, approved, at start, so ``make demo`` can print working
   logins without ever storing a plain password.
3. Stricter usernames: at most ``MAX_USERNAME_LENGTH`` characters, all of them
   printable. NativeAuthenticator only refuses spaces, commas and slashes, so
   a sign-up as ``eve\rFORGED`` or as 10 kB of text waited for approval and,
   once approved, every login wrote it raw into the hub log ("User logged in:
   %s"). A login with such a name is refused before the account is looked up.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from jupyterhub.handlers.base import BaseHandler
from nativeauthenticator import NativeAuthenticator
from nativeauthenticator.handlers import DiscardHandler, LoginHandler, ToggleAuthorizationHandler
from nativeauthenticator.orm import UserInfo
from traitlets import Unicode

from hub.auth.tenancy import TenantAuthMixin


class _NoopTimer:
    def start(self) -> _NoopTimer:
        return self

    def stop(self, send: bool = True) -> None:
        return None


class _NoopStatsd:
    def timer(self, _name: str) -> _NoopTimer:
        return _NoopTimer()

    def incr(self, *_args: Any, **_kwargs: Any) -> None:
        return None


def needs_statsd_shim() -> bool:
    """True while JupyterHub handlers lack the ``statsd`` NativeAuthenticator calls."""
    return not hasattr(BaseHandler, "statsd")


#: The bound on usernames everywhere in the platform (hub.config.schema.Username,
#: the membership table's username column).
MAX_USERNAME_LENGTH = 255


def acceptable_username(username: str) -> bool:
    """Short enough, and no control, format or separator characters (but for the space,
    which NativeAuthenticator refuses itself)."""
    return 0 < len(username) <= MAX_USERNAME_LENGTH and username.isprintable()


class _StatsdShim(LoginHandler):
    statsd = _NoopStatsd()


def same_origin_navigation(headers: Any, host: str) -> bool:
    """True when a request comes from a page of the hub itself (or was typed in).

    NativeAuthenticator approves, revokes and discards accounts with plain GET
    links, and JupyterHub does not check XSRF on GET, so a link on another site
    followed by a logged-in admin would toggle an account. Browsers say where a
    navigation comes from (``Sec-Fetch-Site``; older ones only ``Referer``); a
    request that says neither is refused.
    """
    site = headers.get("Sec-Fetch-Site")
    if site is not None:
        return bool(site in ("same-origin", "none"))
    referer = headers.get("Referer")
    return bool(referer) and urlsplit(referer).netloc == host


class _SameOriginOnly:
    request: Any

    def prepare(self) -> Any:
        from tornado import web

        if not same_origin_navigation(self.request.headers, self.request.host):
            raise web.HTTPError(
                403, "Account approval links work only from the hub's own authorize page."
            )
        return super().prepare()  # type: ignore[misc]


class _SameOriginToggle(_SameOriginOnly, ToggleAuthorizationHandler):
    pass


class _SameOriginDiscard(_SameOriginOnly, DiscardHandler):
    pass


class TenantNativeAuthenticator(TenantAuthMixin, NativeAuthenticator):
    seed_users_file = Unicode(
        "",
        config=True,
        help="JSON file mapping username -> bcrypt hash; those accounts are created, "
        "approved, at start when missing. Existing accounts are never changed.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.seed_users_file:
            self.seed_accounts(Path(self.seed_users_file))

    def seed_accounts(self, path: Path) -> list[str]:
        hashes = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(hashes, dict):
            raise ValueError(f"{path}: expected a JSON object of username -> bcrypt hash")
        created = []
        for username, hashed in hashes.items():
            name = self.normalize_username(username)
            if UserInfo.find(self.db, name) is not None:
                continue
            self.db.add(UserInfo(username=name, password=hashed.encode(), is_authorized=True))
            created.append(name)
        self.db.commit()
        if created:
            self.log.info("Created seed accounts: %s", ", ".join(created))
        return created

    def validate_username(self, username: str) -> bool:
        """Sign-up, login and the users API all ask this (after normalizing)."""
        return acceptable_username(username) and bool(super().validate_username(username))

    async def authenticate(self, handler: Any, data: Any = None) -> Any:
        username = (data or {}).get("username")
        if not isinstance(username, str) or not acceptable_username(username):
            # refused unseen: JupyterHub logs "Failed login for" with a quoted, cut name
            return None
        return await super().authenticate(handler, data)

    def get_handlers(self, app: Any) -> list[tuple[str, Any]]:
        handlers: list[tuple[str, Any]] = super().get_handlers(app)
        replace: dict[Any, Any] = {
            ToggleAuthorizationHandler: _SameOriginToggle,
            DiscardHandler: _SameOriginDiscard,
        }
        if needs_statsd_shim():
            replace[LoginHandler] = _StatsdShim
        return [(route, replace.get(cls, cls)) for route, cls in handlers]
