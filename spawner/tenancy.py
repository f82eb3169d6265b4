"""TenantSpawnerMixin: the tenancy hooks every TenantHub spawner shares.

Mixed in front of a JupyterHub spawner class (local, Docker, Kubernetes, or a
no-op one in the benchmark), it adds the spawn form, and before the backend
creates anything: membership lookup, profile resolution and the quota
pre-check. Refusals are raised as HTTP errors whose message JupyterHub shows
on the spawn page and returns from its REST API.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import logging
import socket
import time
import weakref
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import text
from tornado import web
from traitlets import HasTraits, Unicode, default

from hub import logs
from hub.app.context import PlatformContext, config_path_from_env, get_context
from hub.app.service_tokens import CHECKPOINTER, service_token
from hub.tenancy.checkpoint_store import CheckpointStore
from hub.tenancy.quota import quota_message
from hub.tenancy.usage import Allocation
from spawner import metrics as spawn_metrics
from spawner.admission import AdmissionRefused, admit
from spawner.form import parse_form, render_form
from spawner.plan import SpawnPlan, make_plan
from spawner.plan.checkpoint import (
    Candidate,
    ImageChoice,
    candidate,
    choose_image,
    not_saved_notice,
    parse_answer,
    with_image,
)
from spawner.stop_checkpoint import ask as ask_checkpointer
from spawner.stop_checkpoint import plan_stop_checkpoint

#: the spawn event lines ("tenanthub" is routed into JupyterHub's handlers: hub.app.logs)
spawn_log = logging.getLogger("tenanthub.spawn")
#: failure reasons that are a refusal of the request, not a failure of the platform
REFUSALS = frozenset({"quota", "conflict", "not_allowed"})


class TenancyRefused(web.HTTPError):
    """A spawn refused by tenancy rules; the message is for the user."""

    def __init__(self, status: int, message: str, why: str | None = None) -> None:
        super().__init__(status, message.replace("%", "%%"))
        self.jupyterhub_message = message
        #: the spawn failure's metrics reason when the status alone does not say it
        self.metrics_reason = why


#: this hub process's spawners by ledger key. JupyterHub saves a server's row before it
#: calls start(), so the ledger's rebuild from the rows skips the ones whose spawn is still
#: pending here: their own admission decides them (counted, they refused one another)
_SPAWNERS: weakref.WeakValueDictionary[str, Any] = weakref.WeakValueDictionary()

_RUNNING_SERVERS = text(
    "SELECT u.name AS username, s.name AS server, s.user_options AS options, s.state AS state "
    "FROM spawners s JOIN users u ON s.user_id = u.id WHERE s.server_id IS NOT NULL"
)
STATE_KEY = "tenanthub"


def _json(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        value = json.loads(value or "{}")
    return value if isinstance(value, dict) else {}


USER_OPTION_KEYS = frozenset({"tenant", "profile", "checkpoint"})


async def _accepts_connections(host: str, port: int) -> bool:
    """One TCP connect to ``host:port`` on a bare non-blocking socket: was it accepted?"""
    loop = asyncio.get_running_loop()
    sock = None
    try:
        try:
            ip = ipaddress.ip_address(host)
            family = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
            address: Any = (host, port)
        except ValueError:  # a host name (resolved off the event loop, as asyncio does)
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            family, _type, _proto, _name, address = infos[0]
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setblocking(False)
        await loop.sock_connect(sock, address)
        return True
    except OSError:
        return False
    finally:
        if sock is not None:
            sock.close()


def _check_user_options(_spawner: Any, options: dict[str, Any]) -> None:
    """Refuse user_options TenantHub does not understand (they would be silently ignored)."""
    unknown = sorted(set(options) - USER_OPTION_KEYS)
    if unknown:
        raise TenancyRefused(
            400,
            f"Unknown server options: {', '.join(map(str, unknown))}. "
            "Allowed: tenant, profile, checkpoint.",
        )
    for key in USER_OPTION_KEYS & set(options):
        value = options[key]
        if not isinstance(value, str) or len(value) > 63:
            raise TenancyRefused(400, f"Server option {key!r} must be a name (a short string).")
    try:
        parse_answer(options.get("checkpoint"))
    except ValueError as exc:
        raise TenancyRefused(400, f"Server option {exc}.") from None


class TenantSpawnerMixin(HasTraits):
    """Goes before the backend class: ``class X(TenantSpawnerMixin, LocalProcessSpawner)``."""

    tenanthub_config_file = Unicode(
        "",
        config=True,
        help="Path of tenanthub.yaml; default: the TENANTHUB_CONFIG environment variable.",
    )

    # provided by jupyterhub.spawner.Spawner
    user: Any
    name: str
    user_options: dict[str, Any]
    log: Any
    #: the backend's name in the spawn metrics' ``backend`` label
    metrics_backend = "other"
    tenancy_plan: SpawnPlan | None = None
    #: what the last start chose to start from (a checkpoint or the profile's image)
    image_choice: ImageChoice | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if getattr(self, "user", None) is not None:
            _SPAWNERS[self.ledger_key] = self

    @property
    def platform(self) -> PlatformContext:
        context = self.__dict__.get("_tenancy_context")
        if context is None:
            context = get_context(self.tenanthub_config_file or config_path_from_env())
            self.__dict__["_tenancy_context"] = context
        return context

    @property
    def ledger_key(self) -> str:
        return f"{self.user.name}/{self.name}"

    @default("options_form")
    def _tenancy_options_form(self) -> Any:
        return self._render_tenancy_form

    async def _render_tenancy_form(self, _spawner: Any) -> str:
        platform = self.platform
        memberships = await platform.read(platform.store.memberships_of, self.user.name)
        return render_form(
            memberships,
            platform.config.profiles,
            self.name,
            self.local_backend_warning,
            await self._restore_offers(),
            await self._not_saved_notice(),
        )

    async def _not_saved_notice(self) -> str | None:
        if not (self.platform.config.checkpoint.enabled and self.checkpoints_supported):
            return None
        attempt = await self.platform.read(
            self.checkpoint_store.newest_attempt, self.user.name, self.name
        )
        if attempt is None:
            return None
        return not_saved_notice(attempt.state, attempt.size_bytes, attempt.message)

    local_backend_warning = False

    @property
    def checkpoints_supported(self) -> bool:
        """Servers run from images (Docker, Kubernetes): the local backend runs processes,
        which have no image to checkpoint or restore."""
        return not self.local_backend_warning

    @property
    def checkpoint_store(self) -> CheckpointStore:
        store = self.platform.__dict__.get("_checkpoint_store")
        if store is None:
            store = CheckpointStore(self.platform.engine)
            self.platform.__dict__["_checkpoint_store"] = store
        return store

    async def _restore_offers(self) -> dict[tuple[str, str], Candidate]:
        """Checkpoints of an older image of a profile: the form asks restore or fresh."""
        config = self.platform.config
        if not (config.checkpoint.enabled and self.checkpoints_supported):
            return {}
        newest = await self.platform.read(
            self.checkpoint_store.newest_ready_per_profile, self.user.name, self.name
        )
        offers = {}
        for checkpoint in newest:
            profile = config.profile(checkpoint.profile)
            offer = candidate(checkpoint)
            if profile is None or not profile.checkpoint or offer is None:
                continue
            if checkpoint.base_image != profile.image:
                offers[(checkpoint.tenant, checkpoint.profile)] = offer
        return offers

    async def choose_start_image(self, plan: SpawnPlan, answer: Any) -> SpawnPlan:
        """The plan with the image to start from: the latest checkpoint, or the profile's."""
        enabled = (
            self.platform.config.checkpoint.enabled and plan.checkpoint
        ) and self.checkpoints_supported
        latest = newest = None
        if enabled:
            latest, newest = await self.platform.read(
                self.checkpoint_store.restore_candidates,
                plan.username,
                plan.server_name,
                plan.tenant,
                plan.profile,
                plan.image,
            )
        choice = choose_image(
            plan.image, enabled, candidate(latest), candidate(newest), parse_answer(answer)
        )
        self.image_choice = choice
        if choice.checkpoint is not None:
            self.log.info(
                "Starting %s from checkpoint %s (%s)", self.ledger_key, choice.checkpoint.id,
                choice.reason,
            )  # fmt: skip
        return with_image(plan, choice)

    @default("apply_user_options")
    def _tenancy_apply_user_options(self) -> Any:
        return _check_user_options

    def options_from_form(self, formdata: dict[str, list[str]]) -> dict[str, str]:
        return parse_form(formdata)

    async def _ensure_ledger(self) -> None:
        """After a hub restart, count the servers JupyterHub still runs."""
        platform = self.platform
        if platform.ledger.loaded:
            return

        def running() -> list[tuple[str, str, dict[str, Any]]]:
            with platform.engine.connect() as conn:
                rows = conn.execute(_RUNNING_SERVERS).all()
            out = []
            for username, server, options, state in rows:
                chosen = _json(state).get(STATE_KEY) or _json(options)
                out.append((username, server or "", chosen if isinstance(chosen, dict) else {}))
            return out

        servers = await platform.run(running)
        if platform.ledger.loaded:  # another spawn loaded it while we waited
            return
        for username, server, options in servers:
            spawner = _SPAWNERS.get(f"{username}/{server}")
            if spawner is not None and spawner.pending == "spawn":
                continue  # not running yet: its own admission counts it
            tenant, profile_name = options.get("tenant"), options.get("profile")
            profile = platform.config.profile(profile_name) if profile_name else None
            if not tenant or profile is None:
                continue
            plan = make_plan(tenant, profile, username, server)
            platform.ledger.record(
                Allocation(f"{username}/{server}", tenant, username, plan.resources)
            )
        platform.ledger.loaded = True

    async def tenancy_admit(self) -> SpawnPlan:
        """Decide tenant and profile and reserve quota; raise TenancyRefused when not allowed."""
        platform = self.platform
        options = self.user_options or {}
        memberships = await platform.read(platform.store.memberships_of, self.user.name)
        try:
            admission = admit(
                memberships,
                platform.config.profiles,
                options.get("tenant"),
                options.get("profile"),
                self.name,
            )
        except AdmissionRefused as exc:
            raise TenancyRefused(403, str(exc)) from None
        tenant = admission.membership.tenant
        plan = make_plan(tenant.name, admission.profile, self.user.name, self.name)
        plan = await self.choose_start_image(plan, options.get("checkpoint"))
        await self._ensure_ledger()
        observed = await self.observed_allocations(tenant.name)
        # no await from here to reserve(): check-and-add is atomic on the event loop
        other = platform.ledger.server_in_tenant(self.user.name, tenant.name, observed)
        if other is not None and other != self.ledger_key:
            server = other.split("/", 1)[1] or "(default)"
            raise TenancyRefused(
                409,
                f"You already have a server in tenant {tenant.name!r} (server {server}). "
                "Stop it first, or open it instead; one server per tenant.",
            )
        problems = platform.ledger.reserve(
            Allocation(self.ledger_key, tenant.name, self.user.name, plan.resources),
            tenant.limits,
            observed,
        )
        if problems:
            raise TenancyRefused(403, quota_message(tenant.name, problems), why="quota")
        self.user_options = {**options, "tenant": plan.tenant, "profile": plan.profile}
        # the resolved choice is also kept in the spawner state (see get_state), which
        # JupyterHub saves after every start: the ledger is rebuilt from it after a restart
        self.tenancy_plan = plan
        return plan

    async def observed_allocations(self, tenant: str) -> list[Allocation]:
        """Backend hook: servers of ``tenant`` the backend sees running (default: none).

        The Docker backend counts containers by label, so servers started by
        another hub process or before a restart count against the quota too.
        """
        return []

    def tenancy_release(self) -> None:
        self.platform.ledger.release(self.ledger_key)

    def apply_plan(self, plan: SpawnPlan) -> None:
        """Backend hook: turn the plan into this spawner's settings (before super().start())."""

    async def launch(self) -> Any:
        """Backend hook: start the server as the backend spawner does (after apply_plan)."""
        return await super().start()  # type: ignore[misc]

    async def start(self) -> Any:
        began = time.monotonic()
        try:
            plan = await self.tenancy_admit()
        except BaseException as exc:
            self._count_failure(exc, None)
            self._spawn_event(began, exc, None)
            raise
        try:
            self.apply_plan(plan)
            started = await self.launch()
            await self.wait_until_answering(started)
        except BaseException as exc:
            self.tenancy_release()
            self._count_failure(exc, plan.profile)
            self._spawn_event(began, exc, plan)
            raise
        spawn_metrics.SPAWN_DURATION.labels(self.metrics_backend, plan.profile).observe(
            time.monotonic() - began
        )
        self._spawn_event(began, None, plan)
        return started

    def _spawn_event(self, began: float, exc: BaseException | None, plan: SpawnPlan | None) -> None:
        """The spawn's event line (hub.logs): tenant, user, duration, outcome and why."""
        reason = None if exc is None else spawn_metrics.failure_reason(exc)
        outcome = "ok" if exc is None else "refused" if reason in REFUSALS else "failed"
        asked = str((self.user_options or {}).get("tenant") or "")[:64] or None
        logs.event(
            spawn_log, "spawn", outcome,
            tenant=plan.tenant if plan else asked,
            user=self.user.name, duration_s=time.monotonic() - began,
            server=self.name or None, backend=self.metrics_backend,
            profile=plan.profile if plan else None, reason=reason,
            level=logging.INFO if exc is None else logging.WARNING,
        )  # fmt: skip

    def _count_failure(self, exc: BaseException, profile: str | None) -> None:
        configured = {p.name for p in self.platform.config.profiles}
        asked = profile or (self.user_options or {}).get("profile")
        spawn_metrics.SPAWN_FAILURES.labels(
            self.metrics_backend,
            spawn_metrics.profile_label(asked, configured),
            spawn_metrics.failure_reason(exc),
        ).inc()

    async def wait_until_answering(self, started: Any, interval: float = 0.1) -> None:
        """Poll the new server every ``interval`` s until it accepts connections.

        JupyterHub's own check backs off exponentially with jitter (waits of up
        to 0.2, 0.4, 0.8 ... 5 s), so it noticed a server that was up about a
        second late on average. Returning once the server listens makes
        JupyterHub's first check succeed. A TCP connect is enough (tornado
        accepts only once it serves) and costs far less per spawn than an HTTP
        request; it is made on a bare non-blocking socket (asyncio streams cost
        three times as much hub CPU for the same connect). Bounded by
        ``start_timeout``; if the server never listens, JupyterHub's own wait
        reports it as usual.
        """
        if isinstance(started, tuple):
            host, port = str(started[0]), int(started[1])
        else:
            parsed = urlsplit(str(started))
            host, port = parsed.hostname or "127.0.0.1", int(parsed.port or 80)
        deadline = time.monotonic() + float(getattr(self, "start_timeout", 60))
        while time.monotonic() < deadline:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(2):
                    if await _accepts_connections(host, port):
                        return
            await asyncio.sleep(interval)

    async def stop(self, now: bool = False) -> Any:
        try:
            await self.checkpoint_before_stop()
            return await super().stop(now=now)  # type: ignore[misc]
        finally:
            self.tenancy_release()

    def checkpointer_node_host(self) -> str | None:
        """Backend hook: the address of the node running this server (where its
        checkpointer listens). One machine: loopback."""
        return "127.0.0.1"

    async def checkpoint_before_stop(self) -> None:
        """Ask the node's checkpointer to save the server, waiting at most ``stop_wait``."""
        config = self.platform.config
        profile_name = self.tenancy_plan.profile if self.tenancy_plan else self._state_profile
        profile = config.profile(profile_name) if profile_name else None
        plan = plan_stop_checkpoint(
            enabled=config.checkpoint.enabled,
            profile_checkpoints=bool(profile and profile.checkpoint),
            supported=self.checkpoints_supported,
            node_host=self.checkpointer_node_host(),
            port=config.checkpoint.port(config.hub),
            wait=float(config.checkpoint.stop_wait),
            user=self.user.name,
            server=self.name,
        )
        if isinstance(plan, str):
            self.log.debug("No checkpoint before stopping %s: %s", self.ledger_key, plan)
            return
        token = await asyncio.to_thread(service_token, self.platform.data_dir, CHECKPOINTER.name)
        started = time.monotonic()
        said = await ask_checkpointer(plan, token)
        self.log.info(
            "Checkpoint before stopping %s: %s (%.1f s)",
            self.ledger_key, said, time.monotonic() - started,
        )  # fmt: skip

    _state_profile: str | None = None

    def load_state(self, state: dict[str, Any]) -> None:
        super().load_state(state)  # type: ignore[misc]
        chosen = _json(state).get(STATE_KEY) or {}
        self._state_profile = chosen.get("profile") if isinstance(chosen, dict) else None

    def get_state(self) -> dict[str, Any]:
        state: dict[str, Any] = super().get_state()  # type: ignore[misc]
        if self.tenancy_plan is not None:
            plan = self.tenancy_plan
            state[STATE_KEY] = {"tenant": plan.tenant, "profile": plan.profile}
        return state

    def run_post_stop_hook(self) -> Any:
        # JupyterHub calls stop() only while poll() says the server runs; a server that
        # died on its own is only seen here, which JupyterHub always calls.
        self.tenancy_release()
        return super().run_post_stop_hook()  # type: ignore[misc]
