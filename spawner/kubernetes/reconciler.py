"""Keeping every tenant's namespace in line with the platform database.

Spawns provision their own tenant on first use (``TenantKubeSpawner``); this
module does it for all tenants at once: when the hub starts (so a tenant
created or changed in the config or the database gets its namespace before
anyone spawns) and then every few minutes (so a quota edited with kubectl
is put back). It runs as a hub-managed service and as
``tenanthub k8s provision``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from pathlib import Path
from typing import Any

from kubernetes_asyncio import client as k8s
from kubernetes_asyncio import config as k8s_config

from hub.config.schema import PlatformConfig
from hub.service.lifecycle import hub_pid
from hub.tenancy.seed import TenantSpec
from spawner.kubernetes.manifests import OPTIONAL_OBJECTS, tenant_objects
from spawner.kubernetes.provision import ProvisionReport, provision

log = logging.getLogger("tenanthub.kubernetes")


def tenant_admins(spec: TenantSpec) -> list[str]:
    return sorted(user for user, role in spec.members if role == "admin")


def desired_objects(spec: TenantSpec, config: PlatformConfig) -> list[dict[str, Any]]:
    """Everything a tenant's namespace should hold, from its DB state and the platform config."""
    return tenant_objects(
        spec, list(config.profiles), config.backend.kubernetes, tenant_admins(spec)
    )


async def api_client_for(kubeconfig: Path | None) -> k8s.ApiClient:
    """In-cluster credentials, else the given kubeconfig (else $KUBECONFIG)."""
    if kubeconfig is None:
        try:
            k8s_config.load_incluster_config()
            return k8s.ApiClient()
        except k8s_config.ConfigException:
            pass
    return await k8s_config.new_client_from_config(
        config_file=str(kubeconfig) if kubeconfig else None
    )


async def reconcile_tenants(
    specs: list[TenantSpec], config: PlatformConfig, api_client: k8s.ApiClient
) -> dict[str, ProvisionReport | Exception]:
    """Provision each tenant; one tenant's failure does not stop the others."""
    results: dict[str, ProvisionReport | Exception] = {}
    for spec in specs:
        try:
            results[spec.name] = await provision(
                api_client, desired_objects(spec, config), OPTIONAL_OBJECTS
            )
        except Exception as exc:  # reported per tenant; the loop goes on
            log.error("Provisioning tenant %s failed: %s", spec.name, exc)
            results[spec.name] = exc
    return results


async def orphaned_within(
    seconds: float, parent: int, getppid: Any = os.getppid, check_every: float = 2.0
) -> bool:
    """Wait ``seconds``; True as soon as this process's parent is no longer ``parent``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        await asyncio.sleep(min(check_every, max(0.0, deadline - time.monotonic())))
        if getppid() != parent:
            return True
    return False


async def reconcile_forever(
    load_specs: Any, config: PlatformConfig, api_client: k8s.ApiClient, every: float
) -> None:
    """Reconcile all tenants now and then every ``every`` seconds (the hub service).

    Returns when the process that started it (the hub) is gone: a killed hub must
    not leave a provisioner running beside the next hub's one.
    """
    parent = hub_pid()
    while True:
        specs = await asyncio.get_running_loop().run_in_executor(None, load_specs)
        results = await reconcile_tenants(specs, config, api_client)
        for tenant, result in results.items():
            if isinstance(result, ProvisionReport) and result.changed:
                log.info("tenant %s: %s", tenant, result.summary())
        if await orphaned_within(every, parent):
            log.warning("The hub that started the provisioner (pid %d) is gone; stopping.", parent)
            return
