"""The Docker job runner: each run of a job is its own container on the Docker engine.

A run starts from the owner's latest ready checkpoint image of the job's profile (the
environment they installed in their server), else the profile's image, with exactly
the hardening and volumes of the owner's notebook server: the container is the one
``spawner.docker.spec.container_spec`` renders for a spawn plan of the owner, profile
and tenant, with three differences:

- **labels** mark it as a job run, never a server: ``app.kubernetes.io/managed-by``,
  ``tenanthub.io/tenant``, ``tenanthub.io/user`` and ``tenanthub.io/profile`` stay;
  ``tenanthub.io/job-run``, ``tenanthub.io/job`` and ``tenanthub.io/attempt`` are added;
  ``tenanthub.io/server``, ``tenanthub.io/username`` and the quota labels are left out,
  so the hub's quota accounting (which counts containers with a username), the
  checkpointer (which saves containers with username and server) and the culler never
  treat it as a server, and stopping the owner's server never touches it;
- **name** ``tenanthub-job-<tenant>-<run id>``;
- **command**: ``papermill <notebook> ~/.tenanthub/jobs/<job>/<run>/output.ipynb`` with
  the parameters, the kernel when given, ``--log-output`` and the notebook's folder as
  the working directory (the output folder is made first); a ``spark`` job's ``.py``
  file runs with ``python``. Every run gets its parameters as JSON in
  ``TENANTHUB_JOB_PARAMETERS``; spark runs get ``local[*]`` as their master.

Finished containers are **kept** (no ``auto_remove``): ``poll`` and ``logs`` must
answer after the run ended, also for a restarted service. They are removed by a
later call: ``cancel`` removes its container at once (its log tail is kept in memory
for the scheduler's last ``logs``), and every ``start`` sweeps the job containers
that ended more than ``keep_finished`` seconds ago (default one hour: long after
the scheduler recorded the outcome and log tail in the database). ``remove`` and
``sweep`` are there for callers that want it sooner.

Which checkpoint: a job has no server of its own, so the newest ready checkpoint of
the owner's server in the tenant (the default server or the one named after the
tenant: one server per tenant) of the job's profile, decided by
``spawner.plan.checkpoint.choose_image`` as for a spawn nobody answered: a checkpoint
of an older profile image is never restored by a job, only by a person on the spawn
form. The run's timeout is the scheduler's to enforce (Docker has no deadline): it
calls ``cancel``.

The runner keeps nothing in memory it needs: the handle is the container id and
``find`` looks the run up by its labels, so a new runner object (a restarted service)
polls, cancels and reads the logs of runs another one started.
"""

from __future__ import annotations

import contextlib
import io
import logging
import re
import tarfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import Any

import docker
import docker.errors
import requests

from hub.config.schema import DockerBackendSettings, PipSettings, PlatformConfig
from hub.service.jobs.runners.base import Handle, RunSpec, RunStatus
from hub.service.jobs.runners.command import command, environment, failure_reason
from hub.service.jobs.runners.plan import PlanError, job_plan
from hub.tenancy.checkpoint_store import CheckpointStore
from spawner.docker.spec import ContainerSpec, container_spec, quota_labels
from spawner.plan import SpawnPlan
from spawner.plan.checkpoint import ImageChoice

log = logging.getLogger("tenanthub.jobs.docker")

LABEL_JOB_RUN = "tenanthub.io/job-run"
LABEL_JOB = "tenanthub.io/job"
LABEL_ATTEMPT = "tenanthub.io/attempt"
MANAGED = ("app.kubernetes.io/managed-by", "tenanthub")
#: labels only servers carry: what quota accounting, the checkpointer and the culler key on
SERVER_ONLY_LABELS = ("tenanthub.io/server", "tenanthub.io/username")

STOP_TIMEOUT = 5  # seconds between SIGTERM and SIGKILL on cancel
#: how much of the log poll reads to explain a failure
REASON_TAIL = 16 * 1024
ENGINE_ERRORS = (requests.exceptions.ConnectionError, docker.errors.DockerException, OSError)

ClientFactory = Callable[[], docker.DockerClient]


class RunnerError(RuntimeError):
    """A run that cannot start (or a handle that cannot be read); the message is for a person."""


# ----------------------------------------------------------------------------- pure parts


def job_container_name(spec: RunSpec) -> str:
    return f"tenanthub-job-{spec.tenant}-{spec.run_id}"


def job_labels(server: ContainerSpec, plan: SpawnPlan, spec: RunSpec) -> dict[str, str]:
    """The server container's labels turned into a job run's (see the module docstring)."""
    drop = {*SERVER_ONLY_LABELS, *quota_labels(plan)}
    labels = {k: v for k, v in server.labels.items() if k not in drop}
    labels.update(
        {
            MANAGED[0]: MANAGED[1],
            LABEL_JOB_RUN: str(spec.run_id),
            LABEL_JOB: str(spec.job_id),
            LABEL_ATTEMPT: str(spec.attempt),
        }
    )
    return labels


def home_of(settings: DockerBackendSettings) -> PurePosixPath:
    return PurePosixPath(settings.home_mount.rstrip("/") or "/")


def notebook_in_container(spec: RunSpec, home: PurePosixPath) -> PurePosixPath:
    """Where the job's file is inside the container: home, or the shared mount under it."""
    root = home if spec.notebook.area == "home" else home / "shared"
    return root.joinpath(*spec.notebook.relative.split("/"))


def output_in_container(spec: RunSpec, home: PurePosixPath) -> PurePosixPath:
    return home / spec.output


def job_command(spec: RunSpec, home: PurePosixPath) -> list[str]:
    """The container's command: make the output folder, go to the notebook's folder,
    run the job's command (``command.command``: papermill, or python for a spark ``.py``)."""
    notebook = notebook_in_container(spec, home)
    output = output_in_container(spec, home)
    run = command(spec, "python", notebook, output)
    script = 'mkdir -p "$1" && cd "$2" && shift 2 && exec "$@"'
    return ["sh", "-c", script, "sh", str(output.parent), str(notebook.parent), *run]


@dataclass(frozen=True)
class JobContainer:
    """What is created for one run (pure data, like ``ContainerSpec`` for a server)."""

    name: str
    image: str
    user: str
    labels: dict[str, str]
    environment: dict[str, str]
    command: list[str]
    working_dir: str
    binds: dict[str, dict[str, str]]
    host_config: dict[str, Any]
    network: str
    server: ContainerSpec  # the server's container this one is derived from


def job_container(
    plan: SpawnPlan, spec: RunSpec, settings: DockerBackendSettings, pip: PipSettings
) -> JobContainer:
    """The run's container: the owner's server container (hardening, limits, volumes,
    user, network) with a job's labels, name, environment and command."""
    server = container_spec(plan, settings, pip)
    home = home_of(settings)
    binds = {v.name: {"bind": v.mount, "mode": "rw"} for v in server.volumes}
    binds.update(server.extra_binds)
    return JobContainer(
        name=job_container_name(spec),
        image=server.image,
        user=server.user,
        labels=job_labels(server, plan, spec),
        environment={**server.environment, **environment(spec)},
        command=job_command(spec, home),
        working_dir=str(home),
        binds=binds,
        host_config=dict(server.host_config),
        network=server.network,
        server=server,
    )


def observed(state: dict[str, Any], log_tail: Callable[[], str], mem_limit: int = 0) -> RunStatus:
    """A container's ``State`` (from inspect) as a run status; ``log_tail`` is read only
    when the run failed (to say why)."""
    status = state.get("Status", "")
    if status == "created":
        return RunStatus("starting")
    if status in ("running", "restarting", "paused"):
        return RunStatus("running")
    code = state.get("ExitCode")
    exit_code = int(code) if code is not None else None
    if status == "removing":
        return RunStatus("failed", exit_code, "the run's container is being removed")
    if exit_code == 0 and not state.get("OOMKilled"):
        return RunStatus("succeeded", 0)
    reason = failure_reason(log_tail(), exit_code, bool(state.get("OOMKilled")), mem_limit)
    if state.get("Error"):
        reason = f"{reason} (engine: {state['Error']})"
    return RunStatus("failed", exit_code, reason)


def engine_down(exc: BaseException) -> RunnerError:
    return RunnerError(
        f"the Docker engine does not answer ({type(exc).__name__}: {exc}); nothing was "
        "started. The run can be submitted again when the engine is back; an admin checks "
        "`docker info` on the host"
    )


_TIME = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$")


def _parse_time(value: str | None) -> datetime | None:
    """Docker's RFC 3339 times (up to nanoseconds, ``Z``); the zero time is None."""
    match = _TIME.match(value or "")
    if match is None or match.group(1).startswith("0001-"):
        return None
    main, fraction, zone = match.groups()
    micro = (fraction or "")[:6].ljust(6, "0")
    return datetime.fromisoformat(f"{main}.{micro}{'+00:00' if zone == 'Z' else zone}")


# ----------------------------------------------------------------------------- the runner


class DockerRunner:
    """Runs job attempts as containers (see the module docstring); synchronous."""

    name = "docker"

    def __init__(
        self,
        config: PlatformConfig,
        client_factory: ClientFactory | None = None,
        checkpoints: CheckpointStore | None = None,
        keep_finished: float = 3600.0,
    ) -> None:
        self.config = config
        self.settings = config.backend.docker
        self.pip = config.pip
        self.checkpoints = checkpoints
        self.keep_finished = keep_finished
        self._factory = client_factory or self._default_client
        self._client: docker.DockerClient | None = None
        #: log tails of containers ``cancel`` removed (the scheduler reads them right after)
        self._removed_logs: dict[Handle, bytes] = {}

    def _default_client(self) -> docker.DockerClient:
        if self.settings.url:
            return docker.DockerClient(base_url=self.settings.url)
        return docker.from_env()

    @property
    def client(self) -> docker.DockerClient:
        if self._client is None:
            try:
                self._client = self._factory()
            except ENGINE_ERRORS as exc:
                raise engine_down(exc) from None
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    # ------------------------------------------------------------------ start

    def plan(self, spec: RunSpec) -> tuple[SpawnPlan, ImageChoice]:
        """The owner's spawn plan for the job's profile, with the image to start from."""
        try:
            return job_plan(self.config, self.checkpoints, spec)
        except PlanError as exc:
            raise RunnerError(str(exc)) from None

    def start(self, spec: RunSpec) -> Handle:
        plan, choice = self.plan(spec)
        container = job_container(plan, spec, self.settings, self.pip)
        try:
            self.sweep()
            self._ensure_image(container.image, plan.profile, choice)
            self._ensure_volumes_and_network(container.server)
            cid = self._create(container, spec)
            self._check_notebook(cid, spec, container)
            self.client.api.start(cid)
        except RunnerError:
            raise
        except docker.errors.APIError as exc:
            if exc.status_code is not None and exc.status_code < 500:
                raise RunnerError(
                    f"the Docker engine refused the run: {exc.explanation or exc}"
                ) from None
            raise engine_down(exc) from None
        except ENGINE_ERRORS as exc:
            raise engine_down(exc) from None
        if choice.checkpoint is not None:
            log.info(
                "job run %d: started %s from checkpoint %d (%s)",
                spec.run_id, container.name, choice.checkpoint.id, choice.reason,
            )  # fmt: skip
        else:
            log.info("job run %d: started %s from %s", spec.run_id, container.name, plan.image)
        return str(cid)

    def _ensure_image(self, image: str, profile: str, choice: ImageChoice) -> None:
        api = self.client.api
        policy = self.settings.pull_policy
        present = True
        try:
            api.inspect_image(image)
        except docker.errors.ImageNotFound:
            present = False
        checkpoint = choice.checkpoint is not None
        if present and not (policy == "always" and not checkpoint):
            return
        if not present and not checkpoint and policy == "never":
            raise RunnerError(
                f"the image {image!r} of profile {profile!r} is not on this Docker engine; "
                "an admin builds the images with `make images` (see images/README.md) or "
                "changes the profile's image"
            )
        repository, _, tag = image.rpartition(":")
        if not repository or "/" in tag:
            repository, tag = image, "latest"
        try:
            api.pull(repository, tag=tag)
            api.inspect_image(image)
        except docker.errors.APIError as exc:
            reason = exc.explanation or str(exc)
            what = "your latest checkpoint" if checkpoint else f"the image of profile {profile!r}"
            raise RunnerError(
                f"{what} ({image}) is not on this Docker engine and could not be pulled: "
                f"{reason}. Try again when the registry answers"
            ) from None

    def _ensure_volumes_and_network(self, server: ContainerSpec) -> None:
        api = self.client.api
        for volume in server.volumes:
            try:
                api.inspect_volume(volume.name)
            except docker.errors.NotFound:
                api.create_volume(volume.name, labels=volume.labels)
        if server.network != "host":
            found = api.networks(names=[server.network])
            if not [n for n in found if n.get("Name") == server.network]:
                api.create_network(server.network, driver="bridge", labels=dict([MANAGED]))

    def _create(self, container: JobContainer, spec: RunSpec) -> str:
        api = self.client.api
        host_config = api.create_host_config(
            binds=container.binds, network_mode=container.network, **container.host_config
        )
        try:
            created = api.create_container(
                container.image,
                command=container.command,
                name=container.name,
                user=container.user,
                labels=container.labels,
                environment=container.environment,
                working_dir=container.working_dir,
                volumes=[b["bind"] for b in container.binds.values()],
                host_config=host_config,
                detach=True,
            )
        except docker.errors.APIError as exc:
            if exc.status_code != 409:
                raise
            existing = self.find(spec)  # this very run, created before (a repeated start)
            if existing is None:
                raise RunnerError(
                    f"a container named {container.name} already exists and is not this run "
                    "(another platform on the same engine?); an admin removes it with "
                    f"`docker rm {container.name}`"
                ) from None
            return existing
        return str(created["Id"])

    def _check_notebook(self, cid: str, spec: RunSpec, container: JobContainer) -> None:
        """Refuse a run whose file is not in the volume (read through the created, not yet
        started container: only the file's header is read)."""
        path = notebook_in_container(spec, home_of(self.settings))
        try:
            stream, stat = self.client.api.get_archive(cid, str(path), chunk_size=512)
        except docker.errors.NotFound:
            stat = None
        else:
            with contextlib.suppress(Exception):
                stream.close()
        if stat is not None and not (int(stat.get("mode", 0)) & (1 << 31)):  # not a dir
            return
        with contextlib.suppress(docker.errors.NotFound):
            self.client.api.remove_container(cid, force=True)
        where = "your home" if spec.notebook.area == "home" else "the tenant's shared folder"
        shown = spec.notebook.relative if spec.notebook.area == "home" else (
            f"shared/{spec.notebook.relative}"
        )  # fmt: skip
        what = "a folder, not a file" if stat is not None else "not there"
        raise RunnerError(
            f"the file {shown} is {what} in {where} (it was moved or deleted since the job "
            "was submitted); put it back or edit the job's notebook path"
        )

    # ------------------------------------------------------------------ observe

    def poll(self, handle: Handle) -> RunStatus:
        try:
            info = self.client.api.inspect_container(handle)
        except docker.errors.NotFound:
            return RunStatus(
                "failed", None, "the run's container is gone (removed outside TenantHub?)"
            )
        except ENGINE_ERRORS as exc:
            raise engine_down(exc) from None
        mem_limit = int((info.get("HostConfig") or {}).get("Memory") or 0)

        def tail() -> str:
            try:
                return self.logs(handle, REASON_TAIL)
            except (RunnerError, *ENGINE_ERRORS):
                return ""

        return observed(info.get("State") or {}, tail, mem_limit)

    def logs(self, handle: Handle, tail: int) -> str:
        try:
            data = self.client.api.logs(handle, stdout=True, stderr=True, tail=max(1, tail))
        except docker.errors.NotFound:
            kept = self._removed_logs.get(handle)
            if kept is None:
                raise RunnerError(
                    "the run's container is gone, and its log with it (the log tail kept "
                    "with the run is all there is)"
                ) from None
            data = kept
        except ENGINE_ERRORS as exc:
            raise engine_down(exc) from None
        return bytes(data)[-tail:].decode(errors="replace")

    def find(self, spec: RunSpec) -> Handle | None:
        filters = {
            "label": [
                "=".join(MANAGED),
                f"tenanthub.io/tenant={spec.tenant}",
                f"{LABEL_JOB}={spec.job_id}",
                f"{LABEL_JOB_RUN}={spec.run_id}",
                f"{LABEL_ATTEMPT}={spec.attempt}",
            ]
        }
        try:
            found = self.client.api.containers(all=True, filters=filters)
        except ENGINE_ERRORS as exc:
            raise engine_down(exc) from None
        return str(found[0]["Id"]) if found else None

    # ------------------------------------------------------------------ stop and remove

    def cancel(self, handle: Handle) -> None:
        api = self.client.api
        try:
            api.stop(handle, timeout=STOP_TIMEOUT)
        except docker.errors.NotFound:
            return
        except docker.errors.APIError as exc:
            if exc.status_code != 304:  # 304: already stopped
                raise
        self.remove(handle)

    def remove(self, handle: Handle) -> None:
        """Remove the run's container (its log tail stays readable from this object)."""
        api = self.client.api
        with contextlib.suppress(docker.errors.NotFound):
            self._removed_logs[handle] = bytes(
                api.logs(handle, stdout=True, stderr=True, tail=REASON_TAIL)
            )[-REASON_TAIL:]
            while len(self._removed_logs) > 100:
                self._removed_logs.pop(next(iter(self._removed_logs)))
        with contextlib.suppress(docker.errors.NotFound):
            api.remove_container(handle, force=True)

    def sweep(self, now: datetime | None = None) -> list[str]:
        """Remove the job containers that ended more than ``keep_finished`` s ago."""
        api = self.client.api
        now = now or datetime.now(UTC)
        ended = api.containers(
            all=True,
            filters={"label": ["=".join(MANAGED), LABEL_JOB_RUN], "status": ["exited", "dead"]},
        )
        removed = []
        for summary in ended:
            cid = str(summary["Id"])
            try:
                finished = _parse_time(api.inspect_container(cid)["State"].get("FinishedAt"))
            except docker.errors.NotFound:
                continue
            if finished is not None and (now - finished).total_seconds() < self.keep_finished:
                continue
            with contextlib.suppress(docker.errors.NotFound):
                api.remove_container(cid, force=True)
                removed.append(cid)
        return removed


def wait_finished(runner: DockerRunner, handle: Handle, timeout: float = 300) -> RunStatus:
    """Poll until the run has ended (for callers outside the scheduler, e.g. tests)."""
    deadline = time.monotonic() + timeout
    while True:
        status = runner.poll(handle)
        if status.finished or time.monotonic() > deadline:
            return status
        time.sleep(0.2)


def read_file(client: docker.DockerClient, handle: Handle, path: str) -> bytes:
    """One file out of a run's container (its volumes included), e.g. the output notebook."""
    stream, _stat = client.api.get_archive(handle, path)
    data = io.BytesIO(b"".join(stream))
    with tarfile.open(fileobj=data) as tar:
        member = tar.next()
        if member is None or not member.isfile():
            raise FileNotFoundError(path)
        extracted = tar.extractfile(member)
        assert extracted is not None
        return extracted.read()


__all__ = [
    "DockerRunner",
    "JobContainer",
    "RunnerError",
    "job_command",
    "job_container",
    "job_labels",
    "observed",
    "read_file",
    "wait_finished",
]
