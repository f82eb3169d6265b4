"""NativeAuthenticator for the load benchmark's plain JupyterHub: upstream, made to work.

The plain hub uses the same authenticator kind as TenantHub (native accounts,
bcrypt hashes) with nothing of TenantHub in it. Two things only:

* jupyterhub-nativeauthenticator 1.3.0 calls ``self.statsd`` in its login
  handler, which JupyterHub 6 removed, so every login would be a 500: its
  login handler gets a no-op statsd (the same fix TenantHub carries).
* the accounts exist, approved, at start (``seed_users_file``: JSON
  ``{username: bcrypt hash}``), as TenantHub's seed accounts do.

Imported by the plain hub process (``benchmarks/load`` on its ``PYTHONPATH``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from jupyterhub.handlers.base import BaseHandler
from nativeauthenticator import NativeAuthenticator
from nativeauthenticator.handlers import LoginHandler
from nativeauthenticator.orm import UserInfo
from traitlets import Unicode


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


class _LoginHandler(LoginHandler):
    statsd = _NoopStatsd()


class PlainNativeAuthenticator(NativeAuthenticator):
    seed_users_file = Unicode("", config=True, help="JSON {username: bcrypt hash}")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.seed_users_file:
            hashes = json.loads(Path(self.seed_users_file).read_text())
            for name, hashed in hashes.items():
                if UserInfo.find(self.db, name) is None:
                    account = UserInfo(username=name, password=hashed.encode(), is_authorized=True)
                    self.db.add(account)
            self.db.commit()

    def get_handlers(self, app: Any) -> list[tuple[str, Any]]:
        handlers: list[tuple[str, Any]] = super().get_handlers(app)
        if hasattr(BaseHandler, "statsd"):
            return handlers
        return [(route, _LoginHandler if cls is LoginHandler else cls) for route, cls in handlers]
