"""The local backend: JupyterHub local processes with per-tenant folders.

Built on JupyterHub's SimpleLocalProcessSpawner, so every server runs as the
hub's OS user and users are NOT isolated from each other. It exists so one
person can try TenantHub on a machine with neither Docker nor Kubernetes;
the spawn page, the log and the README say so. No checkpointing.
"""

from __future__ import annotations

import os
from typing import Any

from jupyterhub.spawner import SimpleLocalProcessSpawner

from spawner.plan import SpawnPlan, local_paths
from spawner.tenancy import TenantSpawnerMixin


class TenantLocalSpawner(TenantSpawnerMixin, SimpleLocalProcessSpawner):
    metrics_backend = "local"
    local_backend_warning = True

    def apply_plan(self, plan: SpawnPlan) -> None:
        paths = local_paths(self.platform.data_dir, plan.tenant, plan.username)
        paths.home.mkdir(parents=True, exist_ok=True, mode=0o700)
        paths.shared.mkdir(parents=True, exist_ok=True, mode=0o770)
        link = paths.home / "shared"
        if not link.is_symlink() and not link.exists():
            link.symlink_to(paths.shared, target_is_directory=True)
        self.home_dir = str(paths.home)
        self.notebook_dir = str(paths.home)
        if plan.cpu_limit:
            self.cpu_limit = plan.cpu_limit
        if plan.mem_limit:
            self.mem_limit = plan.mem_limit

    def get_env(self) -> dict[str, Any]:
        env = super().get_env()
        if self.tenancy_plan is not None:
            env.update(self.tenancy_plan.env)
        return env

    def get_args(self) -> list[str]:
        args: list[str] = super().get_args()
        if os.geteuid() == 0:
            # The hub runs as root (a fresh machine, a container): Jupyter Server refuses
            # to start as root unless told; this backend has no other user to run as.
            args.append("--ServerApp.allow_root=True")
        return args
