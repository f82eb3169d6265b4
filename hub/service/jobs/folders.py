"""Where the platform service sees a user's home and the tenant's shared folder.

Submitting a job checks the notebook file and its ``parameters`` cell before
anything is queued, and a run's output notebook is downloaded through the API:
both need the user's files as this service sees them, which depends on the
backend:

- local: the folders under the platform's data dir (the local spawner's own);
- docker: the home and shared volumes' mount points on this host (the service
  runs beside the engine, as the Docker backend requires; root reads them);
- kubernetes: the tenant storage is an NFS share the service does not mount, so
  there is no view: a submission is checked when its run starts (papermill
  fails with the reason) and output is read from the run's log only.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from hub.tenancy.names import home_volume_for, shared_volume_for
from spawner.plan import LocalPaths, local_paths

log = logging.getLogger("tenanthub.jobs")


class UserFolders(Protocol):
    def of(self, tenant: str, username: str) -> LocalPaths | None:
        """The user's home and the tenant's shared folder, or None: not visible here."""
        ...

    def shared(self, tenant: str) -> Path | None:
        """The tenant's shared folder, or None: not visible here."""
        ...


class LocalFolders:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir

    def of(self, tenant: str, username: str) -> LocalPaths | None:
        return local_paths(self.data_dir, tenant, username)

    def shared(self, tenant: str) -> Path | None:
        return local_paths(self.data_dir, tenant, "-").shared


class DockerVolumeFolders:
    """The Docker volumes' mount points (``docker volume inspect``). A volume that does
    not exist yet (the user never started a server) has no files: its path is a folder
    that does not exist, so a notebook in it is "not found", as it should be."""

    def __init__(self, client_factory: Callable[[], Any]) -> None:
        self.client_factory = client_factory

    def _mountpoint(self, client: Any, volume: str) -> Path:
        import docker.errors

        try:
            return Path(client.volumes.get(volume).attrs["Mountpoint"])
        except docker.errors.NotFound:
            return Path("/nonexistent/tenanthub-volume") / volume

    def of(self, tenant: str, username: str) -> LocalPaths | None:
        try:
            client = self.client_factory()
            try:
                home = self._mountpoint(client, home_volume_for(tenant, username))
                shared = self._mountpoint(client, shared_volume_for(tenant))
            finally:
                client.close()
        except Exception as exc:  # the engine is down: no view, the run will tell
            log.warning("job folders of %s in %s: %s", username, tenant, exc)
            return None
        return LocalPaths(home=home, shared=shared)

    def shared(self, tenant: str) -> Path | None:
        try:
            client = self.client_factory()
            try:
                return self._mountpoint(client, shared_volume_for(tenant))
            finally:
                client.close()
        except Exception as exc:
            log.warning("shared folder of %s: %s", tenant, exc)
            return None


class NoFolders:
    def of(self, tenant: str, username: str) -> LocalPaths | None:
        return None

    def shared(self, tenant: str) -> Path | None:
        return None
