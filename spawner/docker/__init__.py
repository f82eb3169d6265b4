"""The Docker backend: TenantHub servers as hardened containers on one Docker engine.

TenantDockerSpawner is DockerSpawner with TenantSpawnerMixin in front. The
container is decided by ``spawner.docker.spec.container_spec`` (pure) and
only applied here. Quota usage is read back from running containers by
label, so containers the ledger does not know (another hub process, a
restart) still count.
"""

from __future__ import annotations

import socket
from typing import Any

import docker.errors
import requests
from dockerspawner import DockerSpawner
from traitlets import default

from hub.config.schema import DockerBackendSettings
from hub.tenancy.quota import Resources
from hub.tenancy.usage import Allocation
from spawner.docker.spec import ContainerSpec, container_spec
from spawner.plan import SpawnPlan
from spawner.tenancy import TenancyRefused, TenantSpawnerMixin

ENGINE_ERRORS = (requests.exceptions.ConnectionError, docker.errors.DockerException, OSError)
ACTIVE_STATES = ("created", "running", "restarting", "paused")


def free_loopback_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def allocations_from_containers(containers: list[dict[str, Any]]) -> list[Allocation]:
    """What `docker ps` says each TenantHub server counts against its tenant (pure)."""
    out = []
    for container in containers:
        if container.get("State", "running") not in ACTIVE_STATES:
            continue
        labels = container.get("Labels") or {}
        tenant = labels.get("tenanthub.io/tenant")
        user = labels.get("tenanthub.io/username")
        if not tenant or user is None:
            continue

        def number(key: str, labels: dict[str, str] = labels) -> int:
            try:
                return int(labels.get(key, "0"))
            except ValueError:
                return 0

        out.append(
            Allocation(
                key=f"{user}/{labels.get('tenanthub.io/server', '')}",
                tenant=tenant,
                user=user,
                resources=Resources(
                    cpu_millis=number("tenanthub.io/cpu-millis"),
                    memory_bytes=number("tenanthub.io/memory-bytes"),
                    gpu=number("tenanthub.io/gpu"),
                    servers=1,
                ),
            )
        )
    return out


def engine_down_message(exc: BaseException) -> str:
    return (
        f"The Docker engine does not answer ({type(exc).__name__}). Nothing was started; "
        "the platform keeps running. Try again when the engine is back, or ask an admin "
        "to check `docker info` on the host."
    )


class TenantDockerSpawner(TenantSpawnerMixin, DockerSpawner):
    metrics_backend = "docker"
    container_spec: ContainerSpec | None = None

    @default("remove")
    def _remove_default(self) -> bool:
        # the container goes, the named volumes (home, shared) stay
        return True

    @default("prefix")
    def _prefix_default(self) -> str:
        return "tenanthub"

    @default("pull_policy")
    def _pull_policy_default(self) -> str:
        return self.settings.pull_policy

    @default("client_kwargs")
    def _client_kwargs_default(self) -> dict[str, Any]:
        return {"base_url": self.settings.url} if self.settings.url else {}

    @property
    def settings(self) -> DockerBackendSettings:
        return self.platform.config.backend.docker

    async def observed_allocations(self, tenant: str) -> list[Allocation]:
        try:
            containers = await self.docker(
                "containers", all=True, filters={"label": f"tenanthub.io/tenant={tenant}"}
            )
        except ENGINE_ERRORS as exc:
            self.log.warning("Docker engine unavailable while checking quota: %s", exc)
            raise TenancyRefused(503, engine_down_message(exc)) from None
        return allocations_from_containers(containers)

    def apply_plan(self, plan: SpawnPlan) -> None:
        spec = container_spec(plan, self.settings, self.platform.config.pip)
        self.container_spec = spec
        self.image = spec.image
        # after the image: DockerSpawner re-renders object_name whenever the image changes
        self.object_name = spec.name
        # limits are set in the host config by the spec; keep DockerSpawner's own off
        self.mem_limit = None
        self.cpu_limit = None
        self.extra_create_kwargs = {"user": spec.user, "labels": spec.labels}
        self.extra_host_config = dict(spec.host_config)
        self.volumes = {
            **{v.name: {"bind": v.mount, "mode": "rw"} for v in spec.volumes},
            **spec.extra_binds,
        }
        self.use_internal_ip = True  # no port publishing in either network mode
        self.network_name = spec.network
        if spec.network == "host":
            self.ip = "127.0.0.1"
            self.port = free_loopback_port()
        else:
            self.ip = "0.0.0.0"  # noqa: S104 - inside the tenant's own network namespace
            self.port = 8888

    def get_env(self) -> dict[str, Any]:
        env: dict[str, Any] = super().get_env()
        if self.container_spec is not None:
            env.update(self.container_spec.environment)
        return env

    async def _prepare_engine(self, spec: ContainerSpec, profile: str) -> None:
        """Image present, volumes and network created with labels, before any container."""
        try:
            await self.docker("inspect_image", spec.image)
        except docker.errors.ImageNotFound:
            if self.image_choice is not None and self.image_choice.checkpoint is not None:
                await self._pull_checkpoint(spec.image)
            elif self.pull_policy == "never":
                raise TenancyRefused(
                    500,
                    f"The image {spec.image!r} of profile {profile!r} is not on this Docker "
                    "engine. Build the images with `make images` (see images/README.md), "
                    "or change the profile's image.",
                ) from None
        for volume in spec.volumes:
            try:
                await self.docker("inspect_volume", volume.name)
            except docker.errors.NotFound:
                await self.docker("create_volume", volume.name, labels=volume.labels)
        if spec.network != "host":
            found = await self.docker("networks", names=[spec.network])
            if not [n for n in found if n.get("Name") == spec.network]:
                await self.docker(
                    "create_network",
                    spec.network,
                    driver="bridge",
                    labels={"app.kubernetes.io/managed-by": "tenanthub"},
                )

    async def _pull_checkpoint(self, image: str) -> None:
        """A checkpoint lives in the registry so that any node can start it: pull it
        whatever ``pull_policy`` says (that policy is about the profiles' images, which
        are built on the engine). Its tag is unique and never moved."""
        repository, _, tag = image.rpartition(":")
        try:
            await self.docker("pull", repository, tag=tag)
            await self.docker("inspect_image", image)
        except docker.errors.APIError as exc:
            reason = exc.explanation or str(exc)
            raise TenancyRefused(
                503,
                f"Your latest checkpoint ({image}) is not on this engine and could not be "
                f"pulled from the registry: {reason}. Try again when the registry answers; "
                "deleting that checkpoint starts from an older one or the profile's image.",
            ) from None
        self.log.info("Pulled checkpoint image %s for %s", image, self.ledger_key)

    async def launch(self) -> Any:
        spec, plan = self.container_spec, self.tenancy_plan
        assert spec is not None and plan is not None
        try:
            await self._prepare_engine(spec, plan.profile)
            return await super().launch()
        except ENGINE_ERRORS as exc:
            if isinstance(exc, docker.errors.APIError) and exc.status_code not in (None, 500):
                raise
            raise TenancyRefused(503, engine_down_message(exc)) from None

    async def remove_unrecorded(self) -> int:
        """Remove this server's containers that no finished start recorded; their number.

        A hub killed during a spawn never saved the container's id (JupyterHub saves the
        spawner's state once ``start`` returns), and after the restart DockerSpawner
        looks for the container under its default name, finds none, and JupyterHub
        forgets the server: the container would keep running, unrouted, and count
        against the tenant's quota. JupyterHub polls every server of its database when
        it starts (pending "check"), so this runs then, never during a spawn. Found by
        labels (user, server) and limited to this hub's tenants: another hub's
        containers on the same engine are left alone.
        """
        found = await self.docker(
            "containers",
            all=True,
            filters={
                "label": [
                    f"tenanthub.io/username={self.user.name}",
                    f"tenanthub.io/server={self.name}",
                ]
            },
        )
        if not found:
            return 0
        tenants = set(await self.platform.read(self.platform.store.tenant_names))
        removed = 0
        for container in found:
            if (container.get("Labels") or {}).get("tenanthub.io/tenant") not in tenants:
                continue
            self.log.warning(
                "Removing container %s of %s: its start was never finished (the hub "
                "stopped during the spawn)", container["Id"][:12], self.ledger_key,
            )  # fmt: skip
            await self.docker("remove_container", container["Id"], force=True)
            removed += 1
        return removed

    async def get_ip_and_port(self) -> tuple[str, int]:
        if self.network_name == "host":
            return "127.0.0.1", int(self.port)
        ip, port = await super().get_ip_and_port()
        return str(ip), int(port)

    async def poll(self) -> int | None:
        try:
            # "check": JupyterHub polls every server of its database when it starts
            unfinished = not self.object_id and self.pending in (None, "check")
            if unfinished and await self.remove_unrecorded():
                return 0
            result: int | None = await super().poll()
        except ENGINE_ERRORS as exc:
            # Unknown is not stopped: keep the server (and its route) until the engine answers.
            self.log.warning("Cannot poll %s, Docker engine unavailable: %s", self._log_name, exc)
            return None
        if result is not None and self.remove and self.object_id:
            await self.remove_exited()
        return result

    async def remove_exited(self) -> None:
        """Remove this server's container that exited on its own (or with its engine).

        Containers are created without the engine's AutoRemove (see ``spec``), and
        JupyterHub calls ``stop`` only for a server that ``poll`` says runs, so nothing
        else would remove it: it would sit there, exited, until this user's next start.
        """
        self.log.info("Removing the exited container of %s", self._log_name)
        try:
            await self.remove_object()
        except ENGINE_ERRORS as exc:
            self.log.warning("Cannot remove the exited container of %s: %s", self._log_name, exc)
