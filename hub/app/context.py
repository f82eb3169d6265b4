"""The platform as seen from inside the hub process: config, database, live usage.

One context per config file, shared by the JupyterHub config builder, the
spawner and the authenticator in the same process. Database calls go through
``run`` so they happen on a worker thread, never on the hub's event loop; the
one exception is ``read``, for short reads of a local SQLite file (see there).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import ParamSpec, TypeVar

from hub.config.loader import load_config
from hub.config.schema import PlatformConfig
from hub.tenancy import db
from hub.tenancy.store import TenantStore
from hub.tenancy.usage import UsageLedger

P = ParamSpec("P")
T = TypeVar("T")
CONFIG_ENV = "TENANTHUB_CONFIG"
log = logging.getLogger("tenanthub")


class PlatformContext:
    def __init__(self, config: PlatformConfig, config_path: Path | None = None) -> None:
        self.config = config
        self.config_path = config_path
        self.data_dir = config.hub.data_dir
        self.db_url = db.normalize_db_url(config.hub.db_url or db.default_db_url(self.data_dir))
        self.engine = db.make_engine(self.db_url)
        self.inline_reads = self.engine.dialect.name == "sqlite"
        self.store = TenantStore(self.engine)
        self.ledger = UsageLedger()
        self._executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="tenanthub-db")

    async def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run blocking work (DB) on the context's worker threads."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, lambda: fn(*args, **kwargs))

    async def read(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run a short read (one indexed query): inline on SQLite, else like ``run``.

        A read of the local SQLite file (WAL mode: readers never wait for
        writers) takes about 0.1 ms, less than handing it to a worker thread
        and back; JupyterHub runs its own SQLite queries on the event loop the
        same way. A server database (PostgreSQL) is a network round trip away,
        so reads of it still go to the worker threads.
        """
        if self.inline_reads:
            return fn(*args, **kwargs)
        return await self.run(fn, *args, **kwargs)

    def prepare_database(self) -> None:
        """Migrate the platform tables and seed tenants from the config (idempotent)."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        db.upgrade(self.engine)
        self.store.seed(self.config)


_contexts: dict[str, PlatformContext] = {}


def config_path_from_env() -> Path:
    value = os.environ.get(CONFIG_ENV)
    if not value:
        raise RuntimeError(f"{CONFIG_ENV} is not set: start the hub with `tenanthub run CONFIG`")
    return Path(value).resolve()


def get_context(config_path: str | Path) -> PlatformContext:
    """The process-wide context for ``config_path`` (loaded and validated once)."""
    given = str(config_path)
    context = _contexts.get(given)  # an absolute path as given: no resolving per spawner
    if context is not None:
        return context
    key = str(Path(config_path).resolve())
    context = _contexts.get(key)
    if context is None:
        context = PlatformContext(load_config(key), Path(key))
        _contexts[key] = context
    if os.path.isabs(given):
        _contexts[given] = context
    return context
