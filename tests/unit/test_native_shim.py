"""The NativeAuthenticator statsd shim is still needed (hub/auth/native.py).

When a test here fails, upstream has fixed the incompatibility: delete
``_StatsdShim``, ``_NoopStatsd``, ``_NoopTimer``, ``needs_statsd_shim`` and the
``get_handlers`` override from hub/auth/native.py, then delete this file.
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import bcrypt
import pytest
from jupyterhub.handlers.base import BaseHandler
from nativeauthenticator.handlers import LoginHandler
from nativeauthenticator.orm import UserInfo
from sqlalchemy import create_engine
from sqlalchemy.orm import sessionmaker

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


@pytest.fixture
def hub_db():  # type: ignore[no-untyped-def]
    """A real in-memory SQLite session; NativeAuthenticator creates its own table in it."""
    engine = create_engine("sqlite://")
    session = sessionmaker(engine)()
    yield session
    session.close()
    engine.dispose()


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_authenticator_swaps_in_the_shim_for_the_login_handler(hub_db) -> None:  # type: ignore[no-untyped-def]
    authenticator = TenantNativeAuthenticator(db=hub_db)
    handlers = dict(authenticator.get_handlers(app=None))
    assert handlers["/login"] is _StatsdShim
    assert LoginHandler not in handlers.values()


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_seed_accounts_creates_approved_accounts_and_never_changes_existing_ones(
    hub_db,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    def hashed(password: str) -> str:
        return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()

    seed = tmp_path / "seed-users.json"
    seed.write_text(json.dumps({"alice": hashed("first-password")}))
    authenticator = TenantNativeAuthenticator(db=hub_db, seed_users_file=str(seed))
    alice = UserInfo.find(hub_db, "alice")
    assert alice is not None and alice.is_authorized
    assert bcrypt.checkpw(b"first-password", alice.password)

    seed.write_text(json.dumps({"alice": hashed("other"), "bob": hashed("bob-password")}))
    assert authenticator.seed_accounts(seed) == ["bob"]
    alice = UserInfo.find(hub_db, "alice")
    assert bcrypt.checkpw(b"first-password", alice.password)  # not overwritten
