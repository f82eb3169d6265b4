"""Spawners for the spawn-throughput benchmark, and the one server they all point at.

``NoopSpawner`` starts nothing: ``start()`` returns the URL of a single
always-up HTTP endpoint that the benchmark runs once (``python
noop_spawner.py PORT``), which answers 200 to every path, including the
``/user/<name>/api`` readiness check JupyterHub makes after ``start()``.
``BenchTenantSpawner`` is the same spawner behind TenantHub's tenancy hooks
(membership lookup, profile resolution, quota pre-check), exactly as the real
backends mix them in.

This module is imported by the hub process (put ``benchmarks/`` on
``PYTHONPATH``); it is not a JupyterHub spawner anyone should deploy.
"""

from __future__ import annotations

import sys
from typing import Any

from jupyterhub.spawner import Spawner
from traitlets import Unicode, default

from spawner.tenancy import TenantSpawnerMixin


def _accept_options(_spawner: Any, _options: dict[str, Any]) -> None:
    """apply_user_options of the plain hub: nothing to apply."""


class NoopSpawner(Spawner):
    """A server that is "running" as soon as it is asked to start."""

    server_url = Unicode(
        "", config=True, help="URL of the always-up endpoint every server is said to be at."
    )

    _running = False

    @default("apply_user_options")
    def _accept_user_options(self) -> Any:
        # with --plain-body same, plain JupyterHub gets the tenant/profile options too;
        # accept them quietly, as a hub with such options would (without a hook,
        # JupyterHub logs a warning per spawn: a cost the other hub does not have)
        return _accept_options

    async def start(self) -> str:
        if not self.server_url:
            raise RuntimeError("NoopSpawner.server_url is not set")
        self._running = True
        return self.server_url

    async def poll(self) -> int | None:
        return None if self._running else 0

    async def stop(self, now: bool = False) -> None:
        self._running = False

    def get_state(self) -> dict[str, Any]:
        state: dict[str, Any] = super().get_state()
        if self._running:
            state["running"] = True
        return state

    def load_state(self, state: dict[str, Any]) -> None:
        super().load_state(state)
        self._running = bool(state.get("running"))

    def clear_state(self) -> None:
        super().clear_state()
        self._running = False


class BenchTenantSpawner(TenantSpawnerMixin, NoopSpawner):
    """NoopSpawner behind TenantHub's tenancy hooks."""


def serve(port: int) -> None:
    """Answer 200 to every request on 127.0.0.1:``port`` until killed."""
    import jupyterhub
    from tornado import ioloop, web

    class Always200(web.RequestHandler):
        def prepare(self) -> None:
            # the hub compares this with its own version after the readiness check
            self.set_header("X-JupyterHub-Version", jupyterhub.__version__)
            self.set_header("Content-Type", "application/json")
            self.finish(b"{}")

    app = web.Application([(r".*", Always200)], log_function=lambda _handler: None)
    app.listen(port, address="127.0.0.1")
    ioloop.IOLoop.current().start()


if __name__ == "__main__":
    serve(int(sys.argv[1]))
