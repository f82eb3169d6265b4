"""The NativeAuthenticator statsd shim is still needed (hub/auth/native.py).

When a test here fails, upstream has fixed the incompatibility: delete
``_StatsdShim``, ``_NoopStatsd``, ``_NoopTimer``, ``needs_statsd_shim`` and the
``get_handlers`` override from hub/auth/native.py, then delete this file.
"""

from __future__ import annotations

import inspect

from jupyterhub.handlers.base import BaseHandler
from nativeauthenticator.handlers import LoginHandler

from hub.auth.native import TenantNativeAuthenticator, _StatsdShim, needs_statsd_shim

DELETE_THE_SHIM = (
    "upstream changed: the statsd shim in hub/auth/native.py is no longer needed. "
    "Delete _StatsdShim/_NoopStatsd/_NoopTimer/needs_statsd_shim and the get_handlers "
    "override there, and delete tests/unit/test_native_shim.py."
)


def test_jupyterhub_handlers_still_lack_statsd() -> None:
    assert not hasattr(BaseHandler, "statsd"), DELETE_THE_SHIM
    assert needs_statsd_shim(), DELETE_THE_SHIM


def test_nativeauthenticator_login_still_calls_self_statsd() -> None:
    source = inspect.getsource(LoginHandler.post)
    assert "self.statsd" in source, DELETE_THE_SHIM


def test_shim_gives_the_login_handler_a_working_noop_statsd() -> None:
    assert issubclass(_StatsdShim, LoginHandler)
    timer = _StatsdShim.statsd.timer("login.authenticate-user").start()
    assert timer.stop(send=False) is None
    assert _StatsdShim.statsd.incr("login.success") is None


def test_authenticator_swaps_in_the_shim_for_the_login_handler() -> None:
    authenticator = TenantNativeAuthenticator()
    handlers = dict(authenticator.get_handlers(app=None))
    assert _StatsdShim in handlers.values()
    assert LoginHandler not in handlers.values()
