"""The one tornado handler behind every API route (see ``framework``)."""

from __future__ import annotations

import json
import logging
from typing import Any

from jupyterhub.services.auth import HubOAuthenticated
from pydantic import BaseModel, ValidationError
from sqlalchemy import exc as sa_exc
from tornado import web

from hub.service.api.framework import (
    ApiError,
    Call,
    RawResponse,
    Route,
    not_yours,
    paging_from,
)
from hub.service.policy import Actor, Decision, decide, required_message

log = logging.getLogger("tenanthub.service")


def validation_errors(exc: ValidationError) -> list[dict[str, Any]]:
    """Pydantic's errors as ``{"path": "quota.cpu", "message": ...}`` (no input echoed)."""
    return [
        {"path": ".".join(str(p) for p in e["loc"]) or "(body)", "message": e["msg"]}
        for e in exc.errors(include_url=False, include_input=False)
    ]


#: what reaching the database raises while its server is down or restarting (refused,
#: reset, a pooled connection the restart closed); SQLAlchemy invalidates the pool on
#: these, so the next request after the restart connects afresh
DATABASE_DOWN = (sa_exc.OperationalError, sa_exc.InterfaceError)

DATABASE_DOWN_MESSAGE = (
    "The platform's database does not answer right now (it may be restarting); try again "
    "in a moment. If this lasts, ask an admin to check the database server."
)


def to_json(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, list):
        return [to_json(v) for v in value]
    return value


def parse_json(raw: bytes) -> Any:
    """The body of a route that takes one: a JSON object. An absent or ``null`` body is
    refused, not read as ``{}``: for ``PUT .../quota`` an empty object means "no limits at
    all", which a request that lost its body must not set by accident."""
    if not raw.strip():
        raise ApiError(
            422,
            "This request needs a JSON body (an object); the OpenAPI document lists its fields.",
            errors=[{"path": "(body)", "message": "a JSON object is required"}],
        )
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "The request body is not valid JSON.") from None
    except RecursionError:  # e.g. 5000 "[": small enough for the body limit, was a 500
        raise ApiError(400, "The request body is nested too deeply to be read.") from None
    if not isinstance(body, dict):
        raise ApiError(
            422,
            f"The request body must be a JSON object, not {type(body).__name__}; "
            "the OpenAPI document lists its fields.",
            errors=[{"path": "(body)", "message": "must be a JSON object"}],
        )
    return body


async def dispatch(
    service: Any,
    route: Route,
    actor: Actor,
    path: dict[str, str],
    query: dict[str, str],
    body: Any = None,
) -> Any:
    """Run one route for ``actor``: permission, paging, body validation, operation.

    The API handler and the console both come through here, so the console can
    do nothing the caller could not do with the API.
    """
    tenant = path.get("tenant")
    decision = decide(actor, route.permission, tenant, path.get("username"))
    if decision is Decision.NOT_FOUND:
        raise ApiError(404, not_yours(tenant or ""))
    if decision is Decision.FORBIDDEN:
        raise ApiError(403, required_message(route.permission, tenant))
    call = Call(service, actor, path, query)
    if route.paged:
        call.paging = paging_from(query)
    if route.body is not None:
        try:
            call.body = route.body.model_validate(body if body is not None else {})
        except ValidationError as exc:
            errors = validation_errors(exc)
            summary = "; ".join(f"{e['path']}: {e['message']}" for e in errors)
            raise ApiError(422, f"Invalid request body: {summary}", errors=errors) from None
    return await route.operation(call)


class ApiHandler(HubOAuthenticated, web.RequestHandler):
    """Serves the routes of one path; ``routes`` maps HTTP method -> Route.

    XSRF: HubOAuth checks it while identifying a cookie-authenticated caller (a
    state-changing request without a valid ``_xsrf`` is not signed in at all); a
    token in the Authorization header needs none. Never override
    ``check_xsrf_cookie`` here: that would switch the check off.
    """

    routes: dict[str, Route]

    def initialize(self, routes: dict[str, Route], service: Any) -> None:
        self.routes = routes
        self.service = service

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        message = self._reason
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, web.HTTPError) and exc.log_message:
            message = exc.log_message % exc.args if exc.args else exc.log_message
        if status_code >= 500:
            message = "Internal error in the TenantHub service; the service log has the details."
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"status": status_code, "message": message}))

    def fail(self, error: ApiError) -> None:
        self.set_status(error.status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"status": error.status, "message": error.message, **error.extra}))

    async def _serve(self, method: str, **path: str) -> None:
        route = self.routes.get(method)
        if route is None:
            allowed = ", ".join(sorted(self.routes))
            self.set_header("Allow", allowed)
            self.fail(ApiError(405, f"{method} is not allowed here; use {allowed}"))
            return
        hub_user = self.current_user
        if not hub_user:
            self.fail(
                ApiError(
                    401 if "Authorization" not in self.request.headers else 403,
                    "Sign in to the hub, or send 'Authorization: token <API token>' "
                    "with a token that may access the tenanthub service.",
                )
            )
            return
        limit = self.service.config.service.max_body_bytes
        try:
            if len(self.request.body) > limit:
                raise ApiError(413, f"The request body is larger than {limit} bytes.")
            actor = await self.service.actor_for(hub_user)
            query = {k: self.get_query_argument(k) for k in self.request.query_arguments}
            body = parse_json(self.request.body) if route.body is not None else None
            result = await dispatch(self.service, route, actor, path, query, body)
        except ApiError as error:
            self.fail(error)
            return
        except DATABASE_DOWN as exc:
            log.warning("%s %s: database unavailable: %s", method, self.request.path, exc.orig)
            self.fail(ApiError(503, DATABASE_DOWN_MESSAGE))
            return
        self.set_status(route.status)
        if isinstance(result, RawResponse):
            self.set_header("Content-Type", result.content_type)
            self.finish(result.body)
            return
        if route.response is None:
            self.finish()
            return
        self.set_header("Content-Type", "application/json")
        if isinstance(result, BaseModel):
            self.finish(result.model_dump_json())  # pydantic's serializer: no dict round trip
        else:
            self.finish(json.dumps(to_json(result)))

    async def get(self, **path: str) -> None:
        await self._serve("GET", **path)

    async def post(self, **path: str) -> None:
        await self._serve("POST", **path)

    async def put(self, **path: str) -> None:
        await self._serve("PUT", **path)

    async def patch(self, **path: str) -> None:
        await self._serve("PATCH", **path)

    async def delete(self, **path: str) -> None:
        await self._serve("DELETE", **path)
