"""Data sources from the config (``tenants[].data_sources``), registered at service start.

The config seeds, the database is the truth (as for tenants): a source is created
when its tenant has none of that name, and left alone when it exists, however it
was changed since through the API or the console. Credentials come from environment
variables the config names (``secrets_env``), never from the file itself. A source
that cannot be created (bad settings, a variable that is not set) is reported and
skipped; the others are created.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass

from hub.config.schema import PlatformConfig
from hub.service.datasets.kinds import InvalidSource
from hub.service.datasets.store import DataSourceStore, SourceExists, SourceNotFound

log = logging.getLogger("tenanthub.datasets")


@dataclass(frozen=True)
class Seeded:
    created: list[str]  # "tenant/source"
    kept: list[str]
    failed: list[str]  # "tenant/source: why"


def seed_sources(
    store: DataSourceStore, config: PlatformConfig, environ: Mapping[str, str] = os.environ
) -> Seeded:
    created: list[str] = []
    kept: list[str] = []
    failed: list[str] = []
    for t, tenant in enumerate(config.tenants):
        for d, source in enumerate(tenant.data_sources):
            where = f"{tenant.name}/{source.name}"
            key = f"tenants[{t}].data_sources[{d}]"
            try:
                store.get(tenant.name, source.name)
                kept.append(where)
                continue
            except SourceNotFound:
                pass
            missing = [v for v in source.secrets_env.values() if not environ.get(v)]
            if missing:
                failed.append(f"{key} ({where}): environment variable(s) not set: "
                              f"{', '.join(missing)}")  # fmt: skip
                continue
            secrets = {field: environ[var] for field, var in source.secrets_env.items()}
            try:
                store.create(tenant.name, source.name, source.kind, source.settings, secrets)
            except InvalidSource as exc:
                failed.append(f"{key} ({where}): {exc}")
                continue
            except SourceExists:  # another instance created it meanwhile
                kept.append(where)
                continue
            created.append(where)
    for line in failed:
        log.error("data source from the config not created: %s", line)
    if created:
        log.info("data sources created from the config: %s", ", ".join(created))
    return Seeded(created, kept, failed)
