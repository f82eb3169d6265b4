"""The OpenAPI 3 document of the API, built from the route table and the pydantic models."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from hub.service.api.framework import ErrorOut, Route
from hub.service.policy import REQUIRED

ERROR_STATUSES = {
    "400": "Bad request (query parameters)",
    "401": "Not signed in",
    "403": "Signed in, but not allowed",
    "404": "No such resource, or not yours to see",
    "413": "Body too large",
    "422": "Invalid body",
}


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
                    "schema": {"type": "integer", "minimum": 1, "maximum": 500},
                },
                {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0}},
            ]
        for name, description in route.query.items():
            op["parameters"].append(
                {
                    "name": name,
                    "in": "query",
                    "description": description,
                    "schema": {"type": "string"},
                }
            )
        if route.body is not None:
            op["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": refs[(route.body, "validation")]}},
            }
        if route.response is None:
            op["responses"][str(route.status)] = {"description": "Done"}
        else:
            op["responses"][str(route.status)] = {
                "description": "OK",
                "content": {
                    "application/json": {"schema": refs[(route.response, mode(route.response))]}
                },
            }
        error_ref = refs[(ErrorOut, "serialization")]
        for status, description in ERROR_STATUSES.items():
            if status == "422" and route.body is None:
                continue
            if status == "413" and route.body is None:
                continue
            op["responses"][status] = {
                "description": description,
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
