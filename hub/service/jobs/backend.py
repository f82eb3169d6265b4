"""The job runner and folder view for the backend the hub runs servers on.

The hub resolves ``backend.kind: auto`` once at start and tells the platform
service which backend it chose (``TENANTHUB_BACKEND``), so job runs go where the
servers go: a process for ``local``, a container for ``docker``, a ``batch/v1``
Job for ``kubernetes``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from hub.app.backend import detect_backend
from hub.app.context import PlatformContext
from hub.service.jobs.folders import DockerVolumeFolders, LocalFolders, NoFolders, UserFolders
from hub.service.jobs.runners.base import Runner

BACKEND_ENV = "TENANTHUB_BACKEND"


@dataclass(frozen=True)
class JobBackend:
    kind: str
    runner: Runner
    folders: UserFolders


def backend_kind(platform: PlatformContext) -> str:
    """The hub's choice when it started this service, else the config's (resolved)."""
    chosen = os.environ.get(BACKEND_ENV)
    if chosen:
        return chosen
    backend = platform.config.backend
    return detect_backend(backend.kind, backend.docker.url).kind


def docker_client_factory(platform: PlatformContext) -> Any:
    settings = platform.config.backend.docker

    def make() -> Any:
        import docker

        return docker.DockerClient(base_url=settings.url) if settings.url else docker.from_env()

    return make


def job_backend(platform: PlatformContext, kind: str | None = None) -> JobBackend:
    kind = kind or backend_kind(platform)
    if kind == "docker":
        from hub.service.jobs.runners.docker import DockerRunner
        from hub.tenancy.checkpoint_store import CheckpointStore

        factory = docker_client_factory(platform)
        docker_runner = DockerRunner(platform.config, factory, CheckpointStore(platform.engine))
        return JobBackend(kind, docker_runner, DockerVolumeFolders(factory))
    if kind == "kubernetes":
        from hub.service.jobs.runners.kubernetes import KubernetesRunner
        from hub.tenancy.checkpoint_store import CheckpointStore

        runner = KubernetesRunner(platform.config, CheckpointStore(platform.engine))
        return JobBackend(kind, runner, NoFolders())
    from hub.service.jobs.runners.local import LocalRunner

    return JobBackend("local", LocalRunner(platform.data_dir), LocalFolders(platform.data_dir))
