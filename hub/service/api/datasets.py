"""Data sources of a tenant: its admins register them, its members browse and read them.

Credentials go in (``secrets`` of a create or update) and never come out: answers
name which credentials are set, never their values, and connector errors are
scrubbed of them before they reach a message or the log. Every connector call
runs in a worker thread, bounded by ``datasets.timeout`` (plus a second for the
thread hand-over): a slow or unreachable source answers 504, it never holds the
service.

Folders of the platform's own machine: a tenant admin may register a ``files``
source only inside the tenant's shared folder or one of ``datasets.roots``; a
``hive`` source (a Spark catalog whose metastore the service shares between all
its Hive sources) only a platform admin may register. Paths inside a source never
leave it (``..``, absolute paths and symbolic links out are refused by the
connectors).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, Field

from hub.config.quantities import parse_bytes
from hub.service import metrics
from hub.service.api.framework import ApiError, ApiModel, Call, RawResponse, Route
from hub.service.datasets.connector import ADVICE, Connector, Problem, SourceError
from hub.service.datasets.kinds import KINDS, InvalidSource, limits_from, validate
from hub.service.datasets.read import ARROW_STREAM, ReadLimits, arrow_stream, read_table
from hub.service.datasets.secrets import BadKey, SecretsUnreadable
from hub.service.datasets.store import (
    DataSource,
    DataSourceStore,
    SourceExists,
    SourceNotFound,
)
from hub.service.policy import Permission

T = TypeVar("T")
Kind = Literal["files", "s3", "sql", "hive", "hdfs"]
MAX_PATH = 1024

#: HTTP status of each problem when a browse call fails (test() always answers 200)
STATUS = {
    Problem.NOT_FOUND: 404,
    Problem.BAD_PATH: 422,
    Problem.UNSUPPORTED: 422,
    Problem.BAD_CREDENTIALS: 502,
    Problem.NO_PERMISSION: 502,
    Problem.HOST_NOT_FOUND: 502,
    Problem.REFUSED: 502,
    Problem.TIMEOUT: 504,
    Problem.OTHER: 502,
}


class SourceIn(ApiModel):
    name: str = Field(min_length=1, max_length=63, description="Lowercase, digits, - and _.")
    kind: Kind
    settings: dict[str, Any] = Field(description="The kind's settings (no credentials).")
    secrets: dict[str, str] = Field(
        default_factory=dict,
        description="Credentials (s3: access_key, secret_key; sql: password; hdfs: "
        "kerberos_ticket); stored encrypted, never returned.",
    )


class SourcePatch(ApiModel):
    settings: dict[str, Any] | None = Field(None, description="New settings (all of them).")
    secrets: dict[str, str | None] | None = Field(
        None, description="Credentials to set; one given as null or '' is removed."
    )


class SourceOut(BaseModel):
    tenant: str
    name: str
    kind: str
    settings: dict[str, Any]
    secrets_set: list[str] = Field(description="Which credentials are stored (not their values).")
    created_at: str
    updated_at: str


class SourcesOut(BaseModel):
    tenant: str
    items: list[SourceOut]


class HealthOut(BaseModel):
    ok: bool
    problem: str | None = Field(None, description="host_not_found, refused, bad_credentials...")
    message: str = ""
    advice: str = Field("", description="What to do about the problem.")


class EntryOut(BaseModel):
    name: str
    kind: str = Field(description="file, folder, table or database")
    size: int | None = None
    modified: str | None = None


class ListingOut(BaseModel):
    source: str
    path: str
    entries: list[EntryOut]
    next_cursor: str | None = Field(None, description="Pass as cursor for the next page.")


class SampleOut(BaseModel):
    source: str
    path: str
    columns: list[str]
    rows: list[list[Any]]
    truncated: bool = Field(description="More rows exist than are shown (a cap was reached).")


class ColumnOut(BaseModel):
    name: str
    type: str
    nullable: bool


class SchemaOut(BaseModel):
    source: str
    path: str
    columns: list[ColumnOut]
    row_count: int | None
    row_count_estimated: bool


def _iso(value: datetime) -> str:
    return value.isoformat()


def source_out(source: DataSource) -> SourceOut:
    return SourceOut(
        tenant=source.tenant, name=source.name, kind=source.kind, settings=source.settings,
        secrets_set=list(source.secret_names), created_at=_iso(source.created_at),
        updated_at=_iso(source.updated_at),
    )  # fmt: skip


def store_of(call: Call) -> DataSourceStore:
    try:
        store: DataSourceStore = call.service.datasets
    except BadKey as exc:
        raise ApiError(503, f"Data sources are not available: {exc}") from None
    return store


def invalid(exc: InvalidSource) -> ApiError:
    errors = [
        {"path": e.split(":", 1)[0], "message": e.split(":", 1)[-1].strip()} for e in exc.errors
    ]
    return ApiError(422, f"The data source was not saved: {exc}", errors=errors)


def roots_for(call: Call) -> list[Path] | None:
    """Folders a files source of this tenant may use; None: any (platform admins)."""
    if call.actor.platform_admin:
        return None
    roots = list(call.service.config.datasets.roots)
    jobs = call.service.jobs
    shared = jobs.folders.shared(call.tenant) if jobs is not None else None
    if shared is not None:
        roots.append(shared)
    return roots


def path_of(call: Call, required: bool = False) -> str:
    path = call.query.get("path", "")
    if len(path) > MAX_PATH or any(ord(c) < 32 for c in path):
        raise ApiError(422, "path is too long or has control characters.")
    if required and not path.strip("/"):
        raise ApiError(422, "Give the path of a file or table of the source (path=...).")
    return path


def whole_number(call: Call, name: str, default: int, top: int) -> int:
    raw = call.query.get(name, str(default))
    if not raw.isdigit() or not 1 <= int(raw) <= top:
        raise ApiError(422, f"{name} is a whole number from 1 to {top}, not {raw!r}.")
    return int(raw)


async def on_source(call: Call, action: Callable[[Connector], T]) -> T:
    """Run ``action`` on the path's source in a worker thread, within the timeout."""
    name = call.path["source"]
    settings = call.service.config.datasets
    store = store_of(call)
    limits = limits_from(settings)

    kind = "other"  # the source's kind once it is read: the metrics' kind label

    def work() -> T:
        nonlocal kind
        source = store.get(call.tenant, name)  # SourceNotFound before any cached connector
        kind = metrics.dataset_kind(source.kind)
        key = (call.tenant, name, source.updated_at)
        connector = call.service.connectors.get(
            key, lambda: store.connector(call.tenant, name, limits)
        )
        started = time.monotonic()
        try:
            return action(connector)
        finally:
            metrics.DATASET_LATENCY.labels(call.tenant, kind).observe(time.monotonic() - started)

    try:
        return await asyncio.wait_for(call.service.platform.run(work), settings.timeout + 1)
    except SourceNotFound:
        raise ApiError(404, f"Tenant {call.tenant!r} has no data source {name!r}.") from None
    except SecretsUnreadable as exc:
        raise ApiError(503, f"The credentials of {name!r} cannot be read: {exc}") from None
    except TimeoutError:
        metrics.DATASET_ERRORS.labels(call.tenant, kind, Problem.TIMEOUT.value).inc()
        raise ApiError(
            504, f"{name!r} did not answer within {settings.timeout} s: {ADVICE[Problem.TIMEOUT]}"
        ) from None
    except SourceError as exc:
        metrics.DATASET_ERRORS.labels(call.tenant, kind, exc.problem.value).inc()
        raise ApiError(
            STATUS[exc.problem],
            f"{name!r}: {exc.message}",
            problem=exc.problem.value,
            advice=ADVICE[exc.problem],
        ) from None


# ----------------------------------------------------------------------------- manage


async def list_sources(call: Call) -> SourcesOut:
    sources = await call.service.platform.read(store_of(call).list, call.tenant)
    return SourcesOut(tenant=call.tenant, items=[source_out(s) for s in sources])


async def get_source(call: Call) -> SourceOut:
    try:
        found = await call.service.platform.read(
            store_of(call).get, call.tenant, call.path["source"]
        )
    except SourceNotFound as exc:
        raise ApiError(404, f"{exc}.") from None
    return source_out(found)


async def create_source(call: Call) -> SourceOut:
    body: SourceIn = call.body
    if body.kind == "hive" and not call.actor.platform_admin:
        raise ApiError(
            403,
            "Only platform admins register hive sources (the service shares one Spark "
            "catalog between them).",
        )
    store = store_of(call)
    platform = call.service.platform
    try:
        validate(body.kind, body.settings, body.secrets, roots_for(call))
        made = await platform.run(
            store.create, call.tenant, body.name, body.kind, body.settings, body.secrets
        )
    except InvalidSource as exc:
        raise invalid(exc) from None
    except SourceExists as exc:
        raise ApiError(409, f"{exc}; change it with PATCH instead.") from None
    await platform.run(
        platform.store.audit, call.actor.name, "datasource.create", call.tenant,
        {"source": made.name, "kind": made.kind, "secrets_set": list(made.secret_names)},
    )  # fmt: skip
    return source_out(made)


async def update_source(call: Call) -> SourceOut:
    body: SourcePatch = call.body
    name = call.path["source"]
    store = store_of(call)
    platform = call.service.platform
    try:
        current = await platform.read(store.get, call.tenant, name)
        if current.kind == "hive" and not call.actor.platform_admin:
            raise ApiError(403, "Only platform admins change hive sources.")
        if body.settings is not None:
            validate(current.kind, body.settings, None, roots_for(call))
        changed = await platform.run(store.update, call.tenant, name, body.settings, body.secrets)
    except SourceNotFound as exc:
        raise ApiError(404, f"{exc}.") from None
    except InvalidSource as exc:
        raise invalid(exc) from None
    await platform.run(
        platform.store.audit, call.actor.name, "datasource.update", call.tenant,
        {"source": name, "settings": body.settings is not None,
         "secrets": sorted((body.secrets or {}).keys())},
    )  # fmt: skip
    return source_out(changed)


async def delete_source(call: Call) -> None:
    name = call.path["source"]
    platform = call.service.platform
    try:
        await platform.run(store_of(call).delete, call.tenant, name)
    except SourceNotFound as exc:
        raise ApiError(404, f"{exc}.") from None
    await platform.run(
        platform.store.audit, call.actor.name, "datasource.delete", call.tenant, {"source": name}
    )


# ----------------------------------------------------------------------------- browse


async def test_source(call: Call) -> HealthOut:
    health = await on_source(call, lambda c: c.test())
    problem = health.problem.value if health.problem else None
    return HealthOut(ok=health.ok, problem=problem, message=health.message, advice=health.advice)


async def list_entries(call: Call) -> ListingOut:
    path = path_of(call)
    cursor = call.query.get("cursor") or None
    limit = whole_number(call, "limit", call.service.config.datasets.page_size, 5000)
    page = await on_source(call, lambda c: c.list(path, cursor, limit))
    entries = [
        EntryOut(
            name=e.name,
            kind=e.kind,
            size=e.size,
            modified=e.modified.isoformat() if e.modified else None,
        )
        for e in page.entries
    ]
    return ListingOut(
        source=call.path["source"], path=path, entries=entries, next_cursor=page.next_cursor
    )


async def sample_rows(call: Call) -> SampleOut:
    path = path_of(call, required=True)
    n = whole_number(call, "n", 20, 10_000)
    got = await on_source(call, lambda c: c.sample(path, n))
    return SampleOut(
        source=call.path["source"], path=path, columns=got.columns, rows=got.rows,
        truncated=got.truncated,
    )  # fmt: skip


async def schema_of(call: Call) -> SchemaOut:
    path = path_of(call, required=True)
    got = await on_source(call, lambda c: c.schema(path))
    return SchemaOut(
        source=call.path["source"], path=path,
        columns=[ColumnOut(name=c.name, type=c.type, nullable=c.nullable) for c in got.columns],
        row_count=got.row_count, row_count_estimated=got.row_count_estimated,
    )  # fmt: skip


async def read_data(call: Call) -> RawResponse:
    path = path_of(call, required=True)
    settings = call.service.config.datasets
    limit = whole_number(call, "limit", settings.read_rows, settings.read_rows)
    limits = ReadLimits(parse_bytes(settings.read_bytes), settings.read_rows)
    body = await on_source(call, lambda c: arrow_stream(read_table(c, path, limit, limits)))
    return RawResponse(ARROW_STREAM, body)


PATH = {"path": "A folder (list) or a file or table (sample, schema, read) of the source"}

ROUTES = [
    Route("GET", "/tenants/{tenant}/datasets", Permission.DATASETS_READ, list_sources,
          "The tenant's data sources (settings and which credentials are set, never their "
          "values)", response=SourcesOut),
    Route("POST", "/tenants/{tenant}/datasets", Permission.DATASETS_MANAGE, create_source,
          "Register a data source (credentials are stored encrypted)",
          body=SourceIn, response=SourceOut, status=201),
    Route("GET", "/tenants/{tenant}/datasets/{source}", Permission.DATASETS_READ, get_source,
          "One data source", response=SourceOut),
    Route("PATCH", "/tenants/{tenant}/datasets/{source}", Permission.DATASETS_MANAGE,
          update_source, "Change a data source's settings or credentials",
          body=SourcePatch, response=SourceOut),
    Route("DELETE", "/tenants/{tenant}/datasets/{source}", Permission.DATASETS_MANAGE,
          delete_source, "Remove a data source (its data is not touched)", status=204),
    Route("GET", "/tenants/{tenant}/datasets/{source}/test", Permission.DATASETS_READ,
          test_source, "Can the source be reached with its credentials? (a reason if not)",
          response=HealthOut),
    Route("GET", "/tenants/{tenant}/datasets/{source}/list", Permission.DATASETS_READ,
          list_entries, "One page of a folder, prefix, database or schema",
          response=ListingOut,
          query={**PATH, "cursor": "From the previous page's next_cursor",
                 "limit": "Entries per page (default datasets.page_size)"}),
    Route("GET", "/tenants/{tenant}/datasets/{source}/sample", Permission.DATASETS_READ,
          sample_rows, "The first rows of a file or table, capped in rows and bytes",
          response=SampleOut, query={**PATH, "n": "Rows (at most datasets.sample_rows)"}),
    Route("GET", "/tenants/{tenant}/datasets/{source}/schema", Permission.DATASETS_READ,
          schema_of, "Columns and types (and the row count when the source knows it)",
          response=SchemaOut, query=PATH),
    Route("GET", "/tenants/{tenant}/datasets/{source}/read", Permission.DATASETS_READ,
          read_data, "The whole file or table as an Arrow IPC stream (the notebook SDK's "
          "datasets.read; refused over datasets.read_bytes / read_rows, never cut short)",
          raw=ARROW_STREAM,
          query={**PATH, "limit": "Most rows of a table (default and top: datasets.read_rows)"}),
]  # fmt: skip

__all__ = ["KINDS", "ROUTES"]
