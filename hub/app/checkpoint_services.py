"""The checkpointer (and, for one machine, a registry) as hub-managed services.

On the Docker backend everything runs on one machine, so the hub starts that
machine's checkpointer itself (``checkpoint.run_daemon``), the way it starts the
platform service and the idle culler: it comes and goes with the hub and needs
no separate install. With ``checkpoint.local_registry`` the hub also runs
Debian's ``docker-registry`` on loopback with its storage under the hub's data
folder, so the demo saves and restores environments with nothing else running.
On Kubernetes neither runs here: the chart's DaemonSet runs one checkpointer per
node and checkpoints go to the cluster's registry.
"""

from __future__ import annotations

import os
import secrets
import shutil
import sys
from pathlib import Path
from typing import Any

from hub.app.service_tokens import CHECKPOINTER
from hub.config.schema import PlatformConfig
from hub.service.lifecycle import HUB_PID_ENV

REGISTRY_SERVICE = "tenanthub-registry"
REGISTRY_BINARY = "docker-registry"

#: docker-registry's configuration: loopback only, manifest deletion on (retention
#: removes expired checkpoints through the API), no blob-descriptor cache (it can
#: answer for a deleted manifest), no auth (loopback; dockerd speaks plain HTTP to
#: 127.0.0.0/8 registries).
REGISTRY_CONFIG = """\
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: {root}
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:{port}
  secret: {secret}
"""


def registry_config(root: Path, port: int, secret: str) -> str:
    """docker-registry's config file for storage at ``root`` on 127.0.0.1:``port`` (pure)."""
    return REGISTRY_CONFIG.format(root=root, port=port, secret=secret)


def checkpointer_service(config: PlatformConfig, config_path: Path | None) -> dict[str, Any]:
    """``python -m checkpointer`` for this machine (its token: the hub's secrets folder)."""
    # the hub's PID: it stops when the hub is gone (hub.service.lifecycle)
    environment = {"TENANTHUB_CONFIG": str(config_path or ""), HUB_PID_ENV: str(os.getpid())}
    if os.environ.get("DOCKER_HOST"):
        environment["DOCKER_HOST"] = os.environ["DOCKER_HOST"]
    return {
        "name": CHECKPOINTER.name,
        "command": [sys.executable, "-m", "checkpointer"],
        "environment": environment,
    }


def registry_service(config: PlatformConfig, data_dir: Path) -> dict[str, Any]:
    """``docker-registry serve`` on loopback with its storage under ``data_dir/registry``."""
    binary = shutil.which(REGISTRY_BINARY)
    if binary is None:
        raise SystemExit(
            "checkpoint.local_registry is on but docker-registry is not installed: "
            "`make demo` installs it (Debian package docker-registry), or turn "
            "local_registry off and point checkpoint.registry at your registry"
        )
    folder = data_dir / "registry"
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = folder / "config.yml"
    path.write_text(
        registry_config(folder / "data", config.checkpoint.registry_port, secrets.token_hex(16))
    )
    path.chmod(0o600)
    command = [binary, "serve", str(path)]
    setpriv = shutil.which("setpriv")
    if setpriv:
        # JupyterHub stops it with the hub; a killed hub must not leave it holding the port
        command = [setpriv, "--pdeathsig", "TERM", *command]
    return {"name": REGISTRY_SERVICE, "command": command}


def checkpoint_services(
    config: PlatformConfig, backend: str, data_dir: Path, config_path: Path | None
) -> list[dict[str, Any]]:
    """The managed services the checkpoint section asks for on this backend."""
    section = config.checkpoint
    if backend != "docker" or not section.enabled:
        return []
    services = []
    if section.local_registry:
        services.append(registry_service(config, data_dir))
    if section.run_daemon:
        services.append(checkpointer_service(config, config_path))
    return services
