"""Routes as data: method, path, permission, body and response models, operation.

The API is a table of :class:`Route` s. One tornado handler serves them all
(``hub.service.api.handler``): it authenticates, checks the route's permission
with ``hub.service.policy.decide``, validates the body with the route's pydantic
model, runs the operation and writes the response model. The same table gives
the OpenAPI document and the route x role test, so a route cannot exist without
a permission, a documented shape, or a row in the test's allow/deny table.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from hub.service.policy import Actor, Permission

API_PREFIX = "api/v1"
MAX_PAGE = 500
DEFAULT_PAGE = 50
#: no list is anywhere near this long; a larger offset is a mistake, and past 2**63 the
#: database itself fails (SQLite and PostgreSQL OFFSET are 64-bit), so it is refused up front
MAX_OFFSET = 2**31 - 1

T = TypeVar("T")


def not_yours(tenant: str) -> str:
    """The 404 message for a tenant that does not exist *or* is not the caller's business.

    One sentence for both, so the API never confirms that someone else's tenant exists.
    """
    return f"No tenant {tenant!r} (or you are not one of its members)."


class ApiError(Exception):
    """An error the caller can act on: HTTP status and a sentence."""

    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.extra = extra


class ApiModel(BaseModel):
    """Base of every request body: unknown fields are errors, not silently dropped."""

    model_config = ConfigDict(extra="forbid")


class ErrorOut(BaseModel):
    status: int
    message: str = Field(description="What went wrong and what to do about it.")
    errors: list[dict[str, Any]] | None = Field(
        None, description="Per-field problems of an invalid body (key path and message)."
    )


class Page(BaseModel, Generic[T]):
    """One page of a list; ``total`` counts every item the caller may see."""

    items: list[T]
    total: int
    limit: int
    offset: int


@dataclass(frozen=True)
class Paging:
    limit: int = DEFAULT_PAGE
    offset: int = 0

    def window(self, items: list[T]) -> list[T]:
        return items[self.offset : self.offset + self.limit]


@dataclass
class Call:
    """Everything an operation gets: who calls, path parameters, query, parsed body."""

    service: Any  # hub.service.context.ServiceContext
    actor: Actor
    path: Mapping[str, str]
    query: Mapping[str, str]
    body: Any = None
    paging: Paging = field(default_factory=Paging)

    @property
    def tenant(self) -> str:
        return self.path["tenant"]


Operation = Callable[[Call], Awaitable[Any]]


@dataclass(frozen=True)
class RawResponse:
    """A body that is not JSON (an Arrow stream of a dataset); its route names the type."""

    content_type: str
    body: bytes


@dataclass(frozen=True)
class QueryParam:
    """A documented query parameter; ``values`` lists the only accepted ones (an enum)."""

    description: str
    values: tuple[str, ...] = ()


_PARAM = re.compile(r"\{([a-z_]+)\}")
#: what a path parameter may match: tenant and profile names are DNS labels, usernames
#: are JupyterHub's (no slash); anything else never reaches an operation
PARAM_PATTERNS = {
    "tenant": r"[^/]+",
    "username": r"[^/]+",
    "server": r"[^/]*",
    "checkpoint": r"[^/]+",  # an id; a non-number is the operation's 404, in JSON
    "job": r"[^/]+",
    "run": r"[^/]+",
    "source": r"[^/]+",
}


@dataclass(frozen=True)
class Route:
    method: str  # GET | POST | PUT | PATCH | DELETE
    path: str  # below API_PREFIX, OpenAPI style: /tenants/{tenant}/quota
    permission: Permission
    operation: Operation
    summary: str
    body: type[BaseModel] | None = None
    response: Any = None  # a pydantic model (or Page[...]); None: 204 No Content
    status: int = 200
    paged: bool = False
    #: extra query parameters: name -> description, or a QueryParam with its allowed values
    query: Mapping[str, str | QueryParam] = field(default_factory=dict)
    #: the media type of a route whose operation returns a RawResponse (``response`` None)
    raw: str | None = None

    @property
    def tenant_scoped(self) -> bool:
        return "{tenant}" in self.path

    @property
    def params(self) -> list[str]:
        return _PARAM.findall(self.path)

    def pattern(self) -> str:
        """The tornado URL regex (named groups) of this route's path."""
        return _PARAM.sub(lambda m: f"(?P<{m[1]}>{PARAM_PATTERNS[m[1]]})", self.path)


def path_id(call: Call, name: str) -> int:
    """A numeric id of the path (a checkpoint, job or run): anything else is that object's
    404, in JSON, as for an id that does not exist. 18 digits at most: a 64-bit integer."""
    raw = call.path[name]
    if not raw.isdigit() or len(raw) > 18:
        raise ApiError(404, f"No {name} {raw!r}: {name} ids are whole numbers.")
    return int(raw)


def paging_from(query: Mapping[str, str]) -> Paging:
    """``limit``/``offset`` from the query, refused (not clamped) when out of range."""
    try:
        limit = int(query.get("limit", DEFAULT_PAGE))
        offset = int(query.get("offset", 0))
    except ValueError:
        raise ApiError(400, "limit and offset must be whole numbers") from None
    if not 1 <= limit <= MAX_PAGE:
        raise ApiError(400, f"limit must be between 1 and {MAX_PAGE}, not {limit}")
    if not 0 <= offset <= MAX_OFFSET:
        raise ApiError(400, f"offset must be between 0 and {MAX_OFFSET}, not {offset}")
    return Paging(limit, offset)
