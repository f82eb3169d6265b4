"""The checkpointer daemon of one node (Docker mode): idle servers become images.

Every ``check_every`` one tick looks at the TenantHub notebook containers on this
node's engine (by label, through the runtime driver), and for each running one:

1. reads its activity: the hub's ``last_activity`` (the checkpointer's token) and
   the server's own ``/api/status`` and ``/api/kernels`` (reached at the
   ``JUPYTERHUB_SERVICE_URL`` the spawner gave the container, with the
   container's own server token; see ``platform_client``);
2. asks the idle rule (``checkpointer.idle.decide``, clock injected);
3. when idle and the writable layer changed since this daemon's last checkpoint
   of it (the driver's cheap check), walks the lifecycle through the platform
   API: ``requested`` -> ``committing`` (commit with the checkpoint's labels) ->
   ``verifying`` -> ``pushing`` -> ``ready`` with image and digest; ``skipped``
   with a message the user reads when the diff is over ``max_diff_bytes`` or
   the new image's layer equals the previous checkpoint's; ``failed`` with the
   reason on any error (the half-made image is removed);
4. removes the images the API answers as expired (retention) and the images of
   checkpoints users deleted.

At start, ``recover`` (``checkpointer.lifecycle.recover``) finishes or fails what
a killed predecessor left on this node. Ticks handle containers concurrently, at
most ``concurrency`` at a time (commits and pushes load the node); every
blocking driver call runs on a worker thread, never on the event loop.

The decisions (which containers, idle or not, what to do about it, what the user
is told) are pure functions at the top of this module; the class below only does
the I/O in the order they say.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol, TypeVar
from urllib.parse import urlsplit, urlunsplit

from checkpointer import failpoints
from checkpointer import metrics as ckpt_metrics
from checkpointer.drivers.base import (
    ChangeMark,
    ContainerRef,
    DriverError,
    ImageInUse,
    ImageRef,
    NothingToSave,
    RuntimeDriver,
)
from checkpointer.idle import HubActivity, IdleDecision, ServerStatus, decide
from checkpointer.lifecycle import LocalImage, RecoveryPlan, State, recover
from checkpointer.names import (
    LABEL_CHECKPOINT_ID,
    base_image_of,
    checkpoint_labels,
    repository_for,
    tag_for,
)
from checkpointer.platform_client import Checkpoint, PlatformClient, PlatformError, ServerEndpoint
from checkpointer.sources import ContainerSource
from hub import logs

log = logging.getLogger("tenanthub.checkpointer")
T = TypeVar("T")

#: The labels every TenantHub notebook container carries (spawner.plan / spawner.docker.spec).
SELECTOR = {"app.kubernetes.io/managed-by": "tenanthub"}
LABEL_TENANT = "tenanthub.io/tenant"
LABEL_USERNAME = "tenanthub.io/username"
LABEL_SERVER = "tenanthub.io/server"
LABEL_PROFILE = "tenanthub.io/profile"
#: seconds a stopping daemon waits for engine copies still loading (a DaemonSet's
#: default grace period is 30 s; the rest is loaded at the next start)
LOADS_ON_STOP = 20.0


# ============================================================================ pure decisions


@dataclass(frozen=True)
class Settings:
    node: str
    registry: str
    repository_prefix: str
    idle_after: timedelta
    check_every: float
    max_diff_bytes: int
    #: profiles whose servers are checkpointed (``profiles[].checkpoint``); None: all
    profiles: frozenset[str] | None = None
    enabled: bool = True
    concurrency: int = 2
    #: after a failed checkpoint, wait this long before trying that server again
    retry_after: timedelta = timedelta(minutes=10)
    #: a checkpoint adds one layer to its container's image; engines refuse more than 127
    max_layers: int = 120


@dataclass(frozen=True)
class Server:
    """A notebook server as its container's labels describe it."""

    container: ContainerRef
    user: str
    server: str
    tenant: str
    profile: str
    base_image: str


def server_of(
    container: ContainerRef, image_labels: Mapping[str, str] | None, settings: Settings
) -> Server | str:
    """The server a container runs, or why the daemon leaves it alone (a sentence)."""
    labels = container.labels
    missing = [k for k in (LABEL_TENANT, LABEL_USERNAME, LABEL_PROFILE) if not labels.get(k)]
    if LABEL_SERVER not in labels:
        missing.append(LABEL_SERVER)
    if missing:
        return f"not a notebook server (no {', '.join(missing)} label)"
    if not container.running:
        return "not running"
    if not settings.enabled:
        return "checkpoints are off (checkpoint.enabled)"
    profile = labels[LABEL_PROFILE]
    if settings.profiles is not None and profile not in settings.profiles:
        return f"profile {profile!r} does not checkpoint (or is no longer configured)"
    base = base_image_of(container.image_name, image_labels)
    if not base:
        return "the container's image is unknown"
    return Server(
        container=container,
        user=labels[LABEL_USERNAME],
        server=labels[LABEL_SERVER],
        tenant=labels[LABEL_TENANT],
        profile=profile,
        base_image=base,
    )


@dataclass
class Memory:
    """What the daemon remembers of one container between ticks (lost on restart: then
    the first idle tick commits and the layer comparison drops an unchanged image)."""

    mark: ChangeMark | None = None
    #: the last checkpoint's image and its top layer digest (the fallback unchanged check)
    image: ImageRef | None = None
    top_layer: str | None = None
    failed_at: datetime | None = None


class Action(StrEnum):
    WAIT = "wait"  # not idle
    UNCHANGED = "unchanged"  # idle, but nothing written since the last checkpoint
    BACK_OFF = "back-off"  # idle, but the last attempt failed recently
    CHECKPOINT = "checkpoint"


def next_action(
    idle: IdleDecision, changed: bool | None, memory: Memory, now: datetime, settings: Settings
) -> Action:
    """What to do about one server this tick. ``changed`` is None when not asked (not idle)."""
    if not idle.idle:
        return Action.WAIT
    if memory.failed_at is not None and now - memory.failed_at < settings.retry_after:
        return Action.BACK_OFF
    if changed is False:
        return Action.UNCHANGED
    return Action.CHECKPOINT


def too_big_message(size: int, limit: int) -> str:
    """What the user reads when the environment is over ``max_diff_bytes``."""
    return (
        f"Not saved: your server's changes outside your home folder are {_size(size)}, over "
        f"the platform's checkpoint limit of {_size(limit)}. Your next start uses your previous "
        "checkpoint (or a fresh image). Remove large files outside your home (caches, "
        "downloaded data: keep data in your home folder) to be checkpointed again."
    )


def too_deep_message(layers: int, limit: int) -> str | None:
    """Why an image of ``layers`` layers cannot take one more checkpoint, or None (pure).

    Each checkpoint of a server restored from a checkpoint stacks one more layer;
    container engines refuse images of more than 127 layers, so the chain stops at
    ``limit`` with a message the user can act on, before the engine fails.
    """
    if layers + 1 <= limit:
        return None
    return (
        f"Not saved: your environment has been saved on top of itself so often that its "
        f"image has {layers} layers, and the platform stops at {limit} (container engines "
        "refuse more than 127). Your next start uses your latest checkpoint. To be "
        "checkpointed again, delete your checkpoints and start from the profile's image "
        "(your home folder stays), then reinstall what you need."
    )


def unchanged_message() -> str:
    return "Not saved: nothing changed since your last checkpoint, which stays the one restored."


def failed_message(step: str, problem: str) -> str:
    return (
        f"The checkpoint failed while {step}: {problem}. Your previous checkpoint stays the one "
        "restored; the checkpointer tries again the next time the server is idle."
    )


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"


def endpoint_from_env(env: Sequence[str], container_ip: str | None) -> ServerEndpoint | None:
    """The server's URL and token from the container's environment (set by the spawner).

    With host networking the URL is ``http://127.0.0.1:<port>/user/<name>/``; a server
    bound to all addresses inside its own network (bridge mode) is reached at the
    container's address instead.
    """
    values = dict(item.split("=", 1) for item in env if "=" in item)
    url, token = values.get("JUPYTERHUB_SERVICE_URL"), values.get("JUPYTERHUB_API_TOKEN")
    if not url or not token:
        return None
    parts = urlsplit(url)
    host = parts.hostname or ""
    if host in ("", "0.0.0.0", "::"):  # noqa: S104 - an address read, not bound
        if not container_ip:
            return None
        netloc = f"{container_ip}:{parts.port}" if parts.port else container_ip
        parts = parts._replace(netloc=netloc)
    path = parts.path if parts.path.endswith("/") else parts.path + "/"
    return ServerEndpoint(urlunsplit(parts._replace(path=path, query="", fragment="")), token)


def local_images(images: Sequence[ImageRef]) -> list[LocalImage]:
    """The driver's checkpoint images grouped per image id, as ``recover`` takes them."""
    by_id: dict[str, LocalImage] = {}
    for image in images:
        cid = image.labels.get(LABEL_CHECKPOINT_ID)
        if not cid:
            continue
        seen = by_id.get(image.id)
        refs = (image.ref,) if image.tag else ()
        tenant, user, server = (image.labels.get(k) for k in (LABEL_TENANT, LABEL_USERNAME,
                                                               LABEL_SERVER))  # fmt: skip
        owner = (tenant, user, server) if tenant and user and server is not None else None
        by_id[image.id] = LocalImage(cid, image.id, (seen.refs if seen else ()) + refs, owner)
    return list(by_id.values())


def image_ref(image: str, digest: str | None = None) -> ImageRef:
    repository, _, tag = image.rpartition(":")
    if not repository or "/" in tag:
        raise DriverError(f"{image!r} is not repository:tag")
    return ImageRef(repository, tag, digest=digest)


# ============================================================================ I/O


class ContainerDetails(Protocol):
    """What the daemon reads of a container beyond the driver's ContainerRef."""

    def endpoint(self, container: ContainerRef) -> ServerEndpoint | None: ...

    def image_labels(self, container: ContainerRef) -> Mapping[str, str]: ...


class DockerDetails:
    """ContainerDetails from the Docker engine (the container's env and image labels)."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def endpoint(self, container: ContainerRef) -> ServerEndpoint | None:
        info = self.client.api.inspect_container(container.id)
        env = (info.get("Config") or {}).get("Env") or []
        networks = ((info.get("NetworkSettings") or {}).get("Networks") or {}).values()
        ip = next((n.get("IPAddress") for n in networks if n.get("IPAddress")), None)
        return endpoint_from_env(env, ip)

    def image_labels(self, container: ContainerRef) -> Mapping[str, str]:
        info = self.client.api.inspect_image(container.image)
        return dict((info.get("Config") or {}).get("Labels") or {})


@dataclass(frozen=True)
class Outcome:
    """What one tick did about one container (for logs and tests)."""

    container: str
    action: str
    reason: str = ""
    checkpoint: Checkpoint | None = None
    expired: tuple[Checkpoint, ...] = ()


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Checkpointer:
    settings: Settings
    driver: RuntimeDriver
    api: PlatformClient
    details: ContainerDetails
    #: this node's notebook containers: the engine's by label, or the node's pods
    source: ContainerSource
    clock: Callable[[], datetime] = utcnow
    memory: dict[str, Memory] = field(default_factory=dict)
    #: ids of deleted checkpoints whose images are removed already
    removed: set[int] = field(default_factory=set)
    locks: dict[str, asyncio.Lock] = field(default_factory=dict)
    #: when the last tick began (health: a stuck loop stops advancing it)
    last_tick: datetime | None = None

    async def _io(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await asyncio.to_thread(fn, *args, **kwargs)

    # ------------------------------------------------------------------ the loop

    async def run(self, stop: asyncio.Event) -> None:
        await self.recover()
        while not stop.is_set():
            try:
                await self.tick()
            except Exception:  # one bad tick (hub down) must not end the daemon
                log.exception(
                    "checkpointer tick failed; next one in %s s", self.settings.check_every
                )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.settings.check_every)
        # engine copies of pushed checkpoints still loading: a stop (a rollout) lets
        # them finish for a while; what is left is loaded at the next start
        if not await self._io(self.driver.wait_loads, LOADS_ON_STOP):
            log.info("stopping with engine copies still loading; finished at the next start")

    async def _node_containers(self) -> list[ContainerRef]:
        """The TenantHub notebook containers of this node."""
        return await self.source.containers()

    def _lock(self, container_id: str) -> asyncio.Lock:
        """One checkpoint of a container at a time (a tick and a stop request may meet)."""
        return self.locks.setdefault(container_id, asyncio.Lock())

    async def tick(self) -> list[Outcome]:
        containers = await self._node_containers()
        live = {c.id for c in containers}
        for gone in set(self.memory) - live:
            del self.memory[gone]
        for gone in set(self.locks) - live:
            if not self.locks[gone].locked():
                del self.locks[gone]
        self.last_tick = self.clock()
        gate = asyncio.Semaphore(max(1, self.settings.concurrency))

        async def one(container: ContainerRef) -> Outcome:
            async with gate:
                try:
                    return await self.consider(container)
                except Exception as exc:
                    log.exception("container %s: checkpoint check failed", container.name)
                    return Outcome(container.name, "error", str(exc))

        outcomes = list(await asyncio.gather(*(one(c) for c in containers)))
        await self.remove_deleted()
        return outcomes

    async def consider(self, container: ContainerRef) -> Outcome:
        labels: Mapping[str, str] = {}
        if container.running:
            labels = await self._io(self.details.image_labels, container)
        server = server_of(container, labels, self.settings)
        if isinstance(server, str):
            return Outcome(container.name, "ignored", server)
        if self._lock(container.id).locked():
            return Outcome(container.name, "busy", "a checkpoint of it is running")
        async with self._lock(container.id):
            return await self._consider_idle(server)

    async def _consider_idle(self, server: Server) -> Outcome:
        container = server.container
        idle = await self.idleness(server)
        memory = self.memory.setdefault(container.id, Memory())
        now = self.clock()
        changed: bool | None = None
        if idle.idle and not (
            memory.failed_at and now - memory.failed_at < self.settings.retry_after
        ):
            changed = await self._io(self.driver.changed_since, container, memory.mark)
        action = next_action(idle, changed, memory, now, self.settings)
        if action is not Action.CHECKPOINT:
            return Outcome(container.name, action.value, idle.reason)
        return await self.checkpoint(server, memory)

    async def checkpoint_before_stop(self, user: str, server_name: str) -> Outcome:
        """The spawner is about to stop this server: checkpoint it now if it changed.

        Idleness does not matter (the server is going away) and neither does the
        back-off after a failure (this is the last chance). A checkpoint of the same
        container that a tick is making is waited for, then the change check decides
        whether anything is left to save. Returns ``not-here`` when this node runs no
        such server (the caller asked the wrong node or it stopped already).
        """
        for container in await self._node_containers():
            labels = container.labels
            if labels.get(LABEL_USERNAME) == user and labels.get(LABEL_SERVER) == server_name:
                break
        else:
            return Outcome(f"{user}/{server_name}", "not-here", "no such server on this node")
        image_labels: Mapping[str, str] = {}
        if container.running:
            image_labels = await self._io(self.details.image_labels, container)
        server = server_of(container, image_labels, self.settings)
        if isinstance(server, str):
            return Outcome(container.name, "ignored", server)
        async with self._lock(container.id):
            memory = self.memory.setdefault(container.id, Memory())
            if not await self._io(self.driver.changed_since, container, memory.mark):
                return Outcome(container.name, Action.UNCHANGED.value, unchanged_message())
            log.info("container %s: stopping; checkpoint before it goes", container.name)
            return await self.checkpoint(server, memory)

    async def idleness(self, server: Server) -> IdleDecision:
        now = self.clock()
        user = await self.api.hub_user(server.user)
        if user is None or server.server not in (user.get("servers") or {}):
            return IdleDecision(False, "the hub does not list this server (starting or stopping)")
        hub = HubActivity.from_api(user, server.server)
        endpoint = await self._io(self.details.endpoint, server.container)
        status: ServerStatus | None = None
        if endpoint is not None:
            try:
                body, kernels = await self.api.server_status(endpoint)
                status = ServerStatus.from_api(body, kernels)
            except PlatformError as exc:
                log.info("container %s: status unreadable: %s", server.container.name, exc)
        return decide(now, self.settings.idle_after, hub, status)

    # ------------------------------------------------------------------ one checkpoint

    async def checkpoint(self, server: Server, memory: Memory) -> Outcome:
        began = time.monotonic()
        labels = (server.tenant, server.profile)
        try:
            outcome = await self._checkpoint(server, memory)
        except Exception as exc:  # the platform API refused the record: nothing was made
            ckpt_metrics.CHECKPOINT_FAILURES.labels(*labels, "platform").inc()
            logs.event(
                log, "checkpoint", "failed", tenant=server.tenant, user=server.user,
                duration_s=time.monotonic() - began, server=server.server or None,
                profile=server.profile, reason=f"platform API: {type(exc).__name__}",
                level=logging.WARNING,
            )  # fmt: skip
            raise
        record = outcome.checkpoint
        logs.event(
            log, "checkpoint", outcome.action, tenant=server.tenant, user=server.user,
            duration_s=time.monotonic() - began, server=server.server or None,
            profile=server.profile, checkpoint=record.id if record else None,
            size_bytes=record.size_bytes if record and outcome.action == "ready" else None,
            level=logging.WARNING if outcome.action == "failed" else logging.INFO,
        )  # fmt: skip
        ckpt_metrics.CHECKPOINT_DURATION.labels(*labels, outcome.action).observe(
            time.monotonic() - began
        )
        if outcome.action == "ready" and outcome.checkpoint and outcome.checkpoint.size_bytes:
            ckpt_metrics.CHECKPOINT_SIZE.labels(*labels).observe(outcome.checkpoint.size_bytes)
        return outcome

    async def _checkpoint(self, server: Server, memory: Memory) -> Outcome:
        container = server.container
        record = await self.api.create(
            user=server.user,
            server=server.server,
            tenant=server.tenant,
            profile=server.profile,
            base_image=server.base_image,
            node=self.settings.node,
        )
        name = container.name
        log.info("container %s: idle and changed; checkpoint %s", name, record.id)
        failpoints.hit("created")
        step = "measuring the changes"
        made: ImageRef | None = None
        try:
            size = await self._io(self.driver.diff_size, container)
            too_deep = too_deep_message(
                await self._io(self.driver.layer_count, container.image),
                self.settings.max_layers,
            )
            if size > self.settings.max_diff_bytes or too_deep:
                done, _ = await self.api.step(
                    record.id,
                    State.SKIPPED,
                    size_bytes=size,
                    message=too_deep or too_big_message(size, self.settings.max_diff_bytes),
                )
                # the same container over the limit is not measured again every tick
                memory.mark = await self._io(self.driver.mark, container)
                return Outcome(name, "skipped", done.message, done)
            step = "committing the container"
            mark = await self._io(self.driver.mark, container)
            await self.api.step(record.id, State.COMMITTING)
            repository = repository_for(
                self.settings.registry, self.settings.repository_prefix, server.tenant, server.user
            )
            tag = tag_for(server.server, self.clock(), record.id)
            labels = checkpoint_labels(
                username=server.user,
                server=server.server,
                tenant=server.tenant,
                profile=server.profile,
                base_image=server.base_image,
                checkpoint_id=record.id,
            )
            made = await self._io(self.driver.commit, container, repository, tag, labels)
            failpoints.hit("committed")
            step = "verifying the image"
            await self.api.step(record.id, State.VERIFYING, image=made.ref, size_bytes=made.size)
            try:
                await self._io(self.driver.verify, made, labels, container.image)
                nothing = False
            except NothingToSave:
                nothing = True
            failpoints.hit("verified")
            top = await self._io(self.driver.top_layer, made)
            if nothing or (memory.top_layer is not None and top == memory.top_layer):
                await self._io(self.driver.remove, made, registry=False)
                made = None
                memory.mark = mark
                done, _ = await self.api.step(record.id, State.SKIPPED, message=unchanged_message())
                return Outcome(name, "skipped", done.message, done)
            step = "pushing the image to the registry"
            await self.api.step(record.id, State.PUSHING)
            digest = await self._io(self.driver.push, made)
            failpoints.hit("pushed")
            done, expired = await self.api.step(
                record.id, State.READY, image=made.ref, digest=digest, size_bytes=made.size
            )
        except Exception as exc:
            problem = str(exc) or type(exc).__name__
            log.warning("container %s: checkpoint %s failed %s: %s", name, record.id, step, problem)
            memory.failed_at = self.clock()
            ckpt_metrics.CHECKPOINT_FAILURES.labels(
                server.tenant, server.profile, ckpt_metrics.step_reason(step)
            ).inc()
            if made is not None:
                with contextlib.suppress(Exception):
                    await self._io(self.driver.remove, made)
            with contextlib.suppress(PlatformError):
                failed, _ = await self.api.step(
                    record.id, State.FAILED, message=failed_message(step, problem)[:2000]
                )
                return Outcome(name, "failed", failed.message, failed)
            return Outcome(name, "failed", problem)
        memory.mark, memory.image, memory.top_layer, memory.failed_at = mark, made, top, None
        log.info("container %s: checkpoint %s ready: %s", name, record.id, made.ref)
        await self.remove_expired(expired)
        return Outcome(name, "ready", "", done, tuple(expired))

    # ------------------------------------------------------------------ removal

    async def remove_expired(self, checkpoints: Sequence[Checkpoint]) -> None:
        for old in checkpoints:
            if old.image and await self._remove(old.image, old.digest):
                self.removed.add(old.id)

    async def remove_deleted(self) -> None:
        """Images of checkpoints of this node that users deleted (or retention retired)."""
        deleted = await self.api.checkpoints(node=self.settings.node, deleted=True)
        for c in deleted:
            if c.id in self.removed:
                continue
            if not c.image or await self._remove(c.image, c.digest):
                self.removed.add(c.id)

    async def _remove(self, image: str, digest: str | None) -> bool:
        try:
            await self._io(self.driver.remove, image_ref(image, digest))
        except ImageInUse:
            log.info("%s is in use by a container; removed when it stops", image)
            return False
        except DriverError as exc:
            log.warning("could not remove %s: %s", image, exc)
            return False
        log.info("removed %s", image)
        return True

    # ------------------------------------------------------------------ recovery

    async def recover(self) -> RecoveryPlan:
        """Finish, fail or clean up what a killed daemon left on this node."""
        loaded = await self._io(self.driver.finish_loads)
        if loaded:
            log.info("recovery: loaded %d pushed checkpoint(s) into the engine", len(loaded))
        records = await self.api.checkpoints(node=self.settings.node)
        by_id = {str(c.id): c for c in records}
        images = local_images(await self._io(self.driver.checkpoint_images))
        plan = recover([c.record() for c in records], images)
        for fail in plan.fail:
            await self._report(int(fail.record.id), State.FAILED, message=fail.message)
        for resume in plan.resume:
            await self._resume(by_id[resume.record.id], resume.image, resume.steps)
        for local in plan.remove_local:
            for ref in local.refs:
                with contextlib.suppress(DriverError):
                    await self._io(self.driver.remove, image_ref(ref), registry=False)
        for remote in plan.remove_remote:
            with contextlib.suppress(DriverError):
                await self._io(self.driver.remove, image_ref(remote.image, remote.digest))
        for c in records:
            if c.deleted:
                self.removed.add(c.id)
        if plan.resume or plan.fail or plan.remove_local or plan.remove_remote:
            log.info(
                "recovery: %d finished, %d failed, %d local and %d registry images removed",
                len(plan.resume), len(plan.fail), len(plan.remove_local), len(plan.remove_remote),
            )  # fmt: skip
        return plan

    async def _report(self, checkpoint_id: int, state: State, **fields: Any) -> None:
        try:
            await self.api.step(checkpoint_id, state, **fields)
        except PlatformError as exc:
            log.warning("checkpoint %s: could not record %s: %s", checkpoint_id, state, exc)

    async def _resume(self, record: Checkpoint, image: LocalImage, steps: Sequence[State]) -> None:
        if not image.refs:
            await self._report(
                record.id, State.FAILED, message=failed_message("recovering", "image has no tag")
            )
            return
        made = image_ref(image.refs[0])
        made = ImageRef(made.repository, made.tag, id=image.id)
        labels = checkpoint_labels(
            username=record.user,
            server=record.server,
            tenant=record.tenant,
            profile=record.profile,
            base_image=record.base_image,
            checkpoint_id=record.id,
        )
        digest: str | None = None
        try:
            for state in steps:
                if state is State.VERIFYING:
                    await self.api.step(record.id, state, image=made.ref)
                    await self._io(self.driver.verify, made, labels)
                elif state is State.PUSHING:
                    await self.api.step(record.id, state)
                    digest = await self._io(self.driver.push, made)
                elif state is State.READY:
                    if digest is None:
                        digest = await self._io(self.driver.push, made)
                    _, expired = await self.api.step(
                        record.id, state, image=made.ref, digest=digest
                    )
                    await self.remove_expired(expired)
                else:
                    await self.api.step(record.id, state)
        except (DriverError, PlatformError) as exc:
            await self._report(
                record.id, State.FAILED, message=failed_message("recovering", str(exc))[:2000]
            )
            with contextlib.suppress(DriverError):
                await self._io(self.driver.remove, made)


def settings_from_config(config: Any, node: str, concurrency: int = 2) -> Settings:
    """The daemon's settings from the platform config (``checkpoint:`` and ``profiles:``)."""
    from hub.config.quantities import parse_bytes

    section = config.checkpoint
    return Settings(
        node=node,
        registry=section.registry,
        repository_prefix=section.repository_prefix,
        idle_after=timedelta(seconds=section.idle_after),
        check_every=float(section.check_every),
        max_diff_bytes=parse_bytes(section.max_diff_bytes),
        profiles=frozenset(p.name for p in config.profiles if p.checkpoint),
        enabled=section.enabled,
        concurrency=concurrency,
        max_layers=section.max_layers,
    )


__all__ = [
    "Action",
    "Checkpointer",
    "DockerDetails",
    "Memory",
    "Outcome",
    "Server",
    "Settings",
    "endpoint_from_env",
    "local_images",
    "next_action",
    "server_of",
    "settings_from_config",
    "too_big_message",
    "too_deep_message",
]
