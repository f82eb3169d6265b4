"""What the platform keeps per tenant besides its tenancy rows (members, quota,
profiles): jobs with their runs, and data sources with their credentials. Deleting a
tenant removes them, through the API and ``tenanthub k8s delete-tenant`` alike: a
schedule must not fire for a tenant that is gone, and a tenant created later under the
same name must not inherit them."""

from __future__ import annotations

from sqlalchemy import Engine

from hub.service.datasets.store import DataSourceStore
from hub.service.jobs.store import JobStore, RunsActive

__all__ = ["RunsActive", "remove_jobs_and_sources"]


def remove_jobs_and_sources(engine: Engine, tenant: str) -> dict[str, int]:
    """Delete ``tenant``'s jobs, runs and data sources; how many of each went.
    RunsActive, and nothing removed, while one of its runs starts or runs."""
    jobs = JobStore(engine).remove_tenant(tenant)
    # no datasets key needed to delete rows: a missing key must not block the deletion
    sources = DataSourceStore(engine, None).remove_tenant(tenant)
    return {**jobs, "data_sources": sources}
