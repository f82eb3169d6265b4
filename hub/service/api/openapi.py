"""The OpenAPI 3 document of the API, built from the route table and the pydantic models."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from hub.service.api.framework import MAX_OFFSET, MAX_PAGE, ErrorOut, QueryParam, Route
from hub.service.policy import REQUIRED

ERROR_STATUSES = {
    "400": "Bad request (query parameters)",
    "401": "Not signed in",
    "403": "Signed in, but not allowed",
    "404": "No such resource, or not yours to see",
    "409": "Conflicts with the current state (exists already, still in use, managed elsewhere)",
    "413": "Body too large",
    "422": "Invalid body or query parameter",
}


def query_parameter(name: str, spec: str | QueryParam) -> dict[str, Any]:
    """One extra query parameter: a string, or one of its allowed values."""
    param = spec if isinstance(spec, QueryParam) else QueryParam(spec)
    schema: dict[str, Any] = {"type": "string"}
    if param.values:
        schema["enum"] = list(param.values)
    return {"name": name, "in": "query", "description": param.description, "schema": schema}


def error_statuses(route: Route) -> list[str]:
    """The error statuses a route can answer: 409 needs a change of state; 413 a body;
    422 a body or a query parameter the operation checks (paging problems are 400s)."""
    statuses = ["400", "401", "403", "404"]
    if route.method != "GET":
        statuses.append("409")
    if route.body is not None:
        statuses.append("413")
    if route.body is not None or route.query:
        statuses.append("422")
    return statuses


def openapi_document(routes: list[Route], server_url: str, version: str) -> dict[str, Any]:
    models: set[type[BaseModel]] = {ErrorOut}
    for route in routes:
        for model in (route.body, route.response):
            if isinstance(model, type) and issubclass(model, BaseModel):
                models.add(model)
    ordered = sorted(models, key=lambda m: m.__name__)
    bodies = {r.body for r in routes}

    def mode(model: Any) -> Literal["validation", "serialization"]:
        return "validation" if model in bodies else "serialization"

    refs, schema = models_json_schema(
        [(m, mode(m)) for m in ordered], ref_template="#/components/schemas/{model}"
    )
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        op: dict[str, Any] = {
            "operationId": f"{route.method.lower()}_{route.operation.__name__}",
            "summary": route.summary,
            "description": f"Needs: {REQUIRED[route.permission].value} ({route.permission.value}).",
            "parameters": [
                {"name": p, "in": "path", "required": True, "schema": {"type": "string"}}
                for p in route.params
            ],
            "responses": {},
        }
        if route.paged:
            op["parameters"] += [
                {
                    "name": "limit",
                    "in": "query",
                    "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE},
                },
                {
                    "name": "offset",
                    "in": "query",
                    "schema": {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET},
                },
            ]
        op["parameters"] += [query_parameter(n, spec) for n, spec in route.query.items()]
        if route.body is not None:
            op["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": refs[(route.body, "validation")]}},
            }
        if route.raw is not None:
            op["responses"][str(route.status)] = {
                "description": "OK",
                "content": {route.raw: {"schema": {"type": "string", "format": "binary"}}},
            }
        elif route.response is None:
            op["responses"][str(route.status)] = {"description": "Done"}
        else:
            op["responses"][str(route.status)] = {
                "description": "OK",
                "content": {
                    "application/json": {"schema": refs[(route.response, mode(route.response))]}
                },
            }
        error_ref = refs[(ErrorOut, "serialization")]
        for status in error_statuses(route):
            op["responses"][status] = {
                "description": ERROR_STATUSES[status],
                "content": {"application/json": {"schema": error_ref}},
            }
        paths.setdefault(route.path, {})[route.method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": "TenantHub platform API", "version": version},
        "servers": [{"url": server_url}],
        "security": [{"hubToken": []}, {"hubCookie": []}],
        "paths": paths,
        "components": {
            "schemas": schema.get("$defs", {}),
            "securitySchemes": {
                "hubToken": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "Authorization",
                    "description": "'token <JupyterHub API token>'",
                },
                "hubCookie": {"type": "apiKey", "in": "cookie", "name": "service-tenanthub"},
            },
        },
    }
