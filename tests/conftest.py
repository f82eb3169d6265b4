"""Session-wide test services and the rule that CI skips nothing.

``make test`` sets TENANTHUB_STRICT_SKIPS=1: a test that would be skipped
because a service is missing fails instead, since CI installs everything.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.scheduling import SharedEngineScheduling, run_order
from tests.services.postgres import PostgresServer, PostgresUnavailable, start_postgres
from tests.services.registry import RegistryServer, RegistryUnavailable, start_registry
from tests.services.s3 import S3Server, S3Unavailable, start_s3

STRICT = os.environ.get("TENANTHUB_STRICT_SKIPS") == "1"


def need(reason: str) -> None:
    """Skip (or, under make test, fail) because a real service is missing."""
    if STRICT:
        pytest.fail(f"required service missing under make test: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    try:
        server = start_postgres()
    except PostgresUnavailable as exc:
        need(str(exc))
        raise  # unreachable: need() raises
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def registry() -> Iterator[RegistryServer]:
    """A Docker registry on loopback (Debian's docker-registry), manifest deletion enabled."""
    try:
        server = start_registry()
    except RegistryUnavailable as exc:
        need(str(exc))
        raise  # unreachable: need() raises
    try:
        yield server
    finally:
        server.stop()


_counter = itertools.count()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path) -> str:  # type: ignore[no-untyped-def]
    """A fresh, empty database URL: once on SQLite, once on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'tenanthub.sqlite'}"
    server: PostgresServer = request.getfixturevalue("postgres")
    return server.create_database(f"th_test_{os.getpid()}_{next(_counter)}")


@pytest.fixture
def make_db_url(request: pytest.FixtureRequest, tmp_path) -> Callable[[str], str]:  # type: ignore[no-untyped-def]
    """Factory for extra fresh databases of a given kind ('sqlite' | 'postgresql')."""

    def make(kind: str) -> str:
        if kind == "sqlite":
            return f"sqlite:///{tmp_path / f'extra{next(_counter)}.sqlite'}"
        server: PostgresServer = request.getfixturevalue("postgres")
        return server.create_database(f"th_test_{os.getpid()}_{next(_counter)}")

    return make


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    """A moto S3 server on loopback for one test module (signatures and IAM enforced; see
    tests/services/s3.py). A module that needs its own data defines its own ``s3``."""
    try:
        server = start_s3()
    except S3Unavailable as exc:
        need(str(exc))
        raise  # unreachable: need() raises
    try:
        yield server
    finally:
        server.stop()


def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    """The shared engines' tests first, the log scan (tests/integration/test_log_secrets.py)
    after everything else, so in a run in one process it sees the logs of every hub the
    run started (on workers, scripts/run-tests.sh runs it after them). See
    tests/scheduling.py."""
    items.sort(key=lambda item: run_order(item.nodeid, bool(item.get_closest_marker("log_scan"))))


@pytest.hookimpl(optionalhook=True)  # a hook of pytest-xdist, which `-p no:xdist` leaves out
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """With ``--dist loadscope``, tests/scheduling.py's scopes (shared engines, modules)."""
    if config.getoption("dist", None) == "loadscope":
        return SharedEngineScheduling(config, log)
    return None
