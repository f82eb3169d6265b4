"""What the service's handlers share: the platform (config, DB store), the hub client."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from hub.app.context import PlatformContext
from hub.service.datasets.cache import ConnectorCache
from hub.service.datasets.secrets import platform_keys
from hub.service.datasets.store import DataSourceStore
from hub.service.hub_client import HubClient
from hub.service.jobs.backend import JobBackend
from hub.service.jobs.store import JobStore
from hub.service.policy import PLATFORM_ADMIN_SCOPE, Actor
from hub.tenancy.checkpoint_store import CheckpointStore
from hub.tenancy.usage_store import UsageStore


@dataclass
class ServiceContext:
    platform: PlatformContext
    hub: HubClient
    #: filled by the usage sampler, read by the usage routes: tenant -> latest live usage
    live_usage: dict[str, Any] = field(default_factory=dict)
    #: where job runs go (runner) and how this service sees users' files; None until
    #: the service starts it (the API answers 503 for live job data without it)
    jobs: JobBackend | None = None
    #: the job scheduler running in this process (None: jobs.enabled is off); the API
    #: wakes it when a run is queued or cancelled
    job_scheduler: Any = None

    def wake_scheduler(self) -> None:
        if self.job_scheduler is not None:
            self.job_scheduler.wake()

    @property
    def config(self) -> Any:
        return self.platform.config

    @cached_property
    def checkpoint_store(self) -> CheckpointStore:
        """Checkpoint records (what the checkpointer reports) on the platform's engine."""
        return CheckpointStore(self.platform.engine)

    @cached_property
    def datasets(self) -> DataSourceStore:
        """Tenants' data sources, with the platform's key ring (BadKey: unusable keys)."""
        settings = self.platform.config.datasets
        keys = platform_keys(settings.keys, settings.key_file, self.platform.data_dir)
        return DataSourceStore(self.platform.engine, keys)

    @cached_property
    def connectors(self) -> ConnectorCache:
        """Data source connectors kept between calls (see ``datasets.cache``)."""
        return ConnectorCache()

    @cached_property
    def job_store(self) -> JobStore:
        """Jobs and their runs on the platform's engine."""
        return JobStore(self.platform.engine)

    @cached_property
    def usage_store(self) -> UsageStore:
        """Usage history (samples) on the platform's engine."""
        return UsageStore(self.platform.engine)

    async def actor_for(self, hub_user: dict[str, Any]) -> Actor:
        """The caller as an Actor: hub identity plus tenant roles from the platform DB."""
        name = str(hub_user["name"])
        scopes = set(hub_user.get("scopes") or ())
        admin = bool(hub_user.get("admin")) or PLATFORM_ADMIN_SCOPE in scopes
        if hub_user.get("kind") == "service":
            return Actor(
                name=f"service:{name}", platform_admin=admin, scopes=frozenset(scopes), service=True
            )
        # one indexed query per request: inline on SQLite, a worker thread for a server DB
        memberships = await self.platform.read(self.platform.store.memberships_of, name)
        return Actor(
            name=name,
            platform_admin=admin,
            roles={m.tenant.name: m.role for m in memberships},
            scopes=frozenset(scopes),
        )
