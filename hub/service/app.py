"""The platform service's tornado application: API, OpenAPI document, OAuth callback."""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

from jupyterhub.services.auth import HubOAuthCallbackHandler
from tornado import web

from hub.service.access_log import log_request
from hub.service.api.framework import API_PREFIX, Route
from hub.service.api.handler import ApiHandler
from hub.service.api.openapi import openapi_document
from hub.service.api.routes import ROUTES
from hub.service.context import ServiceContext
from hub.service.monitoring import monitoring_handlers

VERSION = "1"


class OpenApiHandler(web.RequestHandler):
    """The OpenAPI document; public (it describes the API, it holds no data)."""

    def initialize(self, document: dict[str, Any]) -> None:
        self.document = document

    def get(self) -> None:
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(self.document))


class NoSuchRouteHandler(web.RequestHandler):
    """Any other path under the API: a JSON 404 like the rest of the API, not an HTML page."""

    def prepare(self) -> None:
        self.set_status(404)
        self.set_header("Content-Type", "application/json")
        self.finish(
            json.dumps(
                {
                    "status": 404,
                    "message": "No such API route; the routes are listed in "
                    f"{API_PREFIX}/openapi.json.",
                }
            )
        )


class HealthHandler(web.RequestHandler):
    def get(self) -> None:
        self.finish({"status": "ok"})


def api_handlers(prefix: str, routes: list[Route], service: ServiceContext) -> list[Any]:
    """One URLSpec per path, serving each of its methods' routes."""
    by_path: dict[str, dict[str, Route]] = defaultdict(dict)
    patterns: dict[str, str] = {}
    for route in routes:
        if route.method in by_path[route.path]:
            raise ValueError(f"two routes for {route.method} {route.path}")
        by_path[route.path][route.method] = route
        patterns[route.path] = route.pattern()
    return [
        (
            f"{prefix}{API_PREFIX}{patterns[path]}/?",
            ApiHandler,
            {"routes": methods, "service": service},
        )
        for path, methods in by_path.items()
    ]


def make_app(
    service: ServiceContext, prefix: str, cookie_secret: bytes, extra: list[Any] | None = None
) -> web.Application:
    """``prefix`` is the service's URL prefix (``/services/tenanthub/``).

    Handlers identify callers with ``HubOAuth.instance()`` (configured from the
    environment the hub gives a managed service); ``cookie_secret`` signs the
    service's own login cookie.
    """
    document = openapi_document(ROUTES, f"{prefix}{API_PREFIX}", VERSION)
    handlers: list[Any] = [
        (f"{prefix}{API_PREFIX}/openapi.json", OpenApiHandler, {"document": document}),
        (f"{prefix}health", HealthHandler),
        *monitoring_handlers(prefix, service),
        (f"{prefix}oauth_callback", HubOAuthCallbackHandler),
        *api_handlers(prefix, ROUTES, service),
        (f"{prefix}{API_PREFIX}(/.*)?", NoSuchRouteHandler),
        *(extra or []),
    ]
    return web.Application(
        handlers,
        cookie_secret=cookie_secret,
        tenanthub=service,
        log_function=log_request,
    )
