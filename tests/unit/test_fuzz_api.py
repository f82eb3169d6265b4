"""Fuzz: every API route that takes a body, through the framework's own path (the
handler's ``parse_json`` on the raw bytes, then ``dispatch``: permission, body model,
operation), on a real platform database: any JSON is a 4xx ApiError with a message or
a success, never an unhandled exception (a 500).

The service is real apart from the hub, which is a closed port: routes that ask the
hub get its "did not answer" 502, as they would with the hub down. The caller is a
platform admin holding the checkpointer's scope too, so every route gets past its
permission check into body validation and the operation.
"""

from __future__ import annotations

import asyncio
import enum
import json
import socket
import types
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from pydantic import BaseModel

from hub.app.context import PlatformContext
from hub.config.loader import parse_config
from hub.service.api.framework import ApiError, Route
from hub.service.api.handler import dispatch, parse_json
from hub.service.api.routes import ROUTES
from hub.service.context import ServiceContext
from hub.service.hub_client import HubClient
from hub.service.policy import CHECKPOINTS_SCOPE, PLATFORM_ADMIN_SCOPE, Actor
from tests.unit.fuzzing import fuzz, json_values, shaped

BODY_ROUTES = [r for r in ROUTES if r.body is not None]
ACTOR = Actor(
    name="admin",
    platform_admin=True,
    scopes=frozenset({PLATFORM_ADMIN_SCOPE, CHECKPOINTS_SCOPE}),
)
#: path parameters: existing objects, missing ones and malformed ones
PATH_VALUES = {
    "tenant": ["vision", "vision", "nope", "Bad Name", ""],
    "username": ["alice", "nobody", "a/b"],
    "checkpoint": ["1", "x", "-1", "99999999999999999999"],
    "job": ["1", "x", "0", "99999999999999999999"],
    "source": ["files", "nope", ""],
}


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceContext]:
    root: Path = tmp_path_factory.mktemp("fuzz-api")
    config = parse_config(
        {
            "hub": {"data_dir": str(root), "db_url": f"sqlite:///{root / 'th.sqlite'}"},
            "profiles": [{"name": "small", "cpu": {"limit": "1"}, "default": True}],
            "tenants": [
                {"name": "vision", "members": [{"user": "alice", "role": "admin"}]},
            ],
        }
    )
    platform = PlatformContext(config)
    platform.prepare_database()
    hub = HubClient(api_url=f"http://127.0.0.1:{closed_port()}/hub/api", token="unused")
    yield ServiceContext(platform=platform, hub=hub)
    platform.engine.dispose()


@pytest.fixture(scope="module")
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


#: strings an operation can do something with: names that exist, paths, quantities
WORDS = st.sampled_from(
    ["vision", "small", "alice", "admin", "member", "a.ipynb", "shared/a.ipynb", "x", "4",
     "500m", "1Gi", "* * * * *", "UTC", "files", "s3", "sql", "", "ready", "failed"]
) | st.text(max_size=12)  # fmt: skip


def typed(annotation: Any, depth: int = 2) -> st.SearchStrategy[Any]:
    """Values of roughly ``annotation``'s type (constraints ignored: some are refused)."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return typed_body(annotation, depth - 1) if depth > 0 else json_values
    if origin is typing.Literal:
        return st.sampled_from(args)
    if origin in (typing.Union, types.UnionType):
        return st.one_of([typed(a, depth) for a in args])
    if origin is typing.Annotated:
        return typed(args[0], depth)
    if origin in (list, tuple, set, frozenset):
        return st.lists(typed(args[0], depth) if args else json_values, max_size=3)
    if origin is dict:
        return st.dictionaries(WORDS, typed(args[1], depth) if args else json_values, max_size=3)
    if annotation is type(None):
        return st.none()
    if annotation is bool:
        return st.booleans()
    if annotation is int:
        return st.integers(min_value=-5, max_value=10**6)
    if annotation is float:
        return st.floats(allow_nan=False, allow_infinity=False)
    if annotation is str:
        return WORDS
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return st.sampled_from([m.value for m in annotation])
    return json_values


def typed_body(model: type[BaseModel], depth: int = 2) -> st.SearchStrategy[dict[str, Any]]:
    """Bodies with the model's required fields and some optional ones, typed."""
    required, optional = {}, {}
    for name, info in model.model_fields.items():
        key = info.alias or name
        (required if info.is_required() else optional)[key] = typed(info.annotation, depth)
    return st.fixed_dictionaries(required, optional=optional)


def body_for(route: Route) -> st.SearchStrategy[Any]:
    assert route.body is not None
    keys = [f.alias or name for name, f in route.body.model_fields.items()]
    typed_bodies = typed_body(route.body)
    return st.one_of(typed_bodies, typed_bodies, typed_bodies, shaped(keys), json_values)


requests_ = st.sampled_from(BODY_ROUTES).flatmap(
    lambda route: st.tuples(
        st.just(route),
        st.fixed_dictionaries({p: st.sampled_from(PATH_VALUES[p]) for p in route.params}),
        body_for(route),
    )
)


def answer(
    loop: asyncio.AbstractEventLoop,
    service: ServiceContext,
    route: Route,
    path: dict[str, str],
    raw: bytes,
) -> int:
    """The status the API answers with, as the handler computes it."""

    async def serve() -> Any:
        body = parse_json(raw)
        return await dispatch(service, route, ACTOR, path, {}, body)

    try:
        loop.run_until_complete(asyncio.wait_for(serve(), 30))
    except ApiError as error:
        assert error.message, f"{route.method} {route.path}: an error without a message"
        assert 400 <= error.status < 600 and error.status != 500, (error.status, error.message)
        return error.status
    return route.status


@fuzz(400, deadline_ms=None)
@given(requests_)
@example((next(r for r in BODY_ROUTES if r.path == "/tenants/{tenant}/quota"), {"tenant": "vision"},
          {"cpu": "1e3"}))  # fmt: skip
@example((next(r for r in BODY_ROUTES if r.path == "/tenants"), {}, {"name": "x", "quota": []}))
def test_any_json_body_is_a_4xx_with_a_message_or_a_success(
    service: ServiceContext,
    loop: asyncio.AbstractEventLoop,
    request_: tuple[Route, dict[str, str], Any],
) -> None:
    route, path, body = request_
    raw = json.dumps(body).encode()
    status = answer(loop, service, route, path, raw)
    assert status < 500 or status in (502, 503), status


@fuzz(200, deadline_ms=None)
@given(
    st.sampled_from(BODY_ROUTES),
    st.binary(max_size=40) | st.text(max_size=40).map(str.encode),
)
@example(BODY_ROUTES[0], b"")
@example(BODY_ROUTES[0], b"null")
@example(BODY_ROUTES[0], b"\xff\xfe")
@example(BODY_ROUTES[0], b'{"a": NaN}')
@example(BODY_ROUTES[0], b"[" * 5000)
def test_any_bytes_are_a_4xx_with_a_message_or_a_success(
    service: ServiceContext, loop: asyncio.AbstractEventLoop, route: Route, raw: bytes
) -> None:
    path = {p: PATH_VALUES[p][0] for p in route.params}
    answer(loop, service, route, path, raw)
