"""The extension's HTTP handlers: the frontend's calls, relayed to the platform API.

Every handler is an authenticated Jupyter Server API handler (the server's own
login, token and XSRF rules apply). Each call goes to the platform API as the
server's user, with the server's own token (``JUPYTERHUB_API_TOKEN``) through the
notebook SDK's :class:`~tenanthub.api.Platform`, in a worker thread (its client
blocks). The platform's answer is returned as it came; a refusal keeps its status
and message (``{"status", "message", "problem", "errors"}``), never swallowed. The
token is never written to an answer or the log.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
from typing import Any

import tornado.web
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import ensure_async, url_path_join
from tenanthub.api import ApiError, Platform

from jupyterlab_tenanthub.parameters import NoParameters, notebook_parameters

ENVIRONMENT = ("TENANTHUB_API_URL", "JUPYTERHUB_API_TOKEN", "TENANTHUB_TENANT")
#: query arguments passed on to the platform, per call
LIST_QUERY = ("path", "cursor", "limit")
PAGE_QUERY = ("offset", "limit")


class PlatformHandler(APIHandler):
    """Calls the platform API as the server's user and answers with its JSON."""

    def platform(self) -> Platform:
        missing = [name for name in ENVIRONMENT if not os.environ.get(name)]
        if missing:
            raise ApiError(
                503,
                f"this Jupyter server is not a TenantHub notebook server ({', '.join(missing)} "
                "not set): start it from the hub",
            )
        return Platform.from_environment(os.environ)

    async def call(
        self,
        method: str,
        route: str,
        query: dict[str, Any] | None = None,
        body: Any = None,
    ) -> Any:
        platform = self.platform()
        loop = asyncio.get_running_loop()
        _type, raw = await loop.run_in_executor(
            None, functools.partial(platform.request, method, route, query, body)
        )
        return json.loads(raw) if raw else None

    def tenant_route(self, *parts: str) -> str:
        route: str = self.platform().tenant_path(*parts)
        return route

    def arguments(self, names: tuple[str, ...]) -> dict[str, str]:
        return {n: v for n in names if (v := self.get_query_argument(n, None)) is not None}

    async def relay(
        self,
        method: str,
        parts: tuple[str, ...],
        query: dict[str, Any] | None = None,
        body: Any = None,
        status: int = 200,
    ) -> None:
        try:
            answer = await self.call(method, self.tenant_route(*parts), query, body)
        except ApiError as exc:
            self.refused(exc)
            return
        self.set_status(status)
        self.finish(json.dumps(answer))

    def refused(self, exc: ApiError) -> None:
        """The platform's refusal, with its own status and message (0: not reached)."""
        status = exc.status if 400 <= exc.status <= 599 else 502
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        body = {"status": status, "message": exc.message, "problem": exc.problem}
        self.finish(json.dumps({**body, "errors": exc.errors}))

    def json_object(self) -> dict[str, Any] | None:
        try:
            body = self.get_json_body()
        except tornado.web.HTTPError:
            body = None
        if not isinstance(body, dict):
            self.refused(ApiError(400, "the request body must be a JSON object"))
            return None
        return body


class ContextHandler(PlatformHandler):
    """Who and where: the server's tenant and its user as the platform knows them."""

    @tornado.web.authenticated
    async def get(self) -> None:
        try:
            platform = self.platform()
            me = await self.call("GET", "me")
        except ApiError as exc:
            self.refused(exc)
            return
        self.finish(json.dumps({"tenant": platform.tenant, "user": me}))


class SourcesHandler(PlatformHandler):
    @tornado.web.authenticated
    async def get(self) -> None:
        await self.relay("GET", ("datasets",))


class SourceHandler(PlatformHandler):
    """test, list (path, cursor, limit), sample (path, n) and schema (path) of a source."""

    QUERY = {"test": (), "list": LIST_QUERY, "sample": ("path", "n"), "schema": ("path",)}

    @tornado.web.authenticated
    async def get(self, source: str, action: str) -> None:
        query = self.arguments(self.QUERY[action])
        await self.relay("GET", ("datasets", source, action), query)


class ProfilesHandler(PlatformHandler):
    @tornado.web.authenticated
    async def get(self) -> None:
        await self.relay("GET", ("profiles",))


class JobsHandler(PlatformHandler):
    @tornado.web.authenticated
    async def get(self) -> None:
        await self.relay("GET", ("jobs",), self.arguments(PAGE_QUERY))

    @tornado.web.authenticated
    async def post(self) -> None:
        body = self.json_object()
        if body is None:
            return
        body.pop("tenant", None)  # always this server's tenant (the route's)
        await self.relay("POST", ("jobs",), body=body, status=201)


class JobHandler(PlatformHandler):
    @tornado.web.authenticated
    async def get(self, job: str) -> None:
        await self.relay("GET", ("jobs", job))

    @tornado.web.authenticated
    async def patch(self, job: str) -> None:
        """Pause or resume the job's schedule: ``{"paused": true|false}`` (the platform
        checks the body: anything else is its 422, relayed)."""
        body = self.json_object()
        if body is None:
            return
        await self.relay("PATCH", ("jobs", job), body=body)

    @tornado.web.authenticated
    async def delete(self, job: str) -> None:
        """Cancel the job (its schedule stops; runs and outputs are kept)."""
        await self.relay("DELETE", ("jobs", job))


class JobRunsHandler(PlatformHandler):
    @tornado.web.authenticated
    async def get(self, job: str) -> None:
        await self.relay("GET", ("jobs", job, "runs"), self.arguments((*PAGE_QUERY, "state")))

    @tornado.web.authenticated
    async def post(self, job: str) -> None:
        """Run the job again now."""
        await self.relay("POST", ("jobs", job, "runs"), status=201)


class RunsHandler(PlatformHandler):
    @tornado.web.authenticated
    async def get(self) -> None:
        await self.relay("GET", ("runs",), self.arguments((*PAGE_QUERY, "state")))


class RunHandler(PlatformHandler):
    @tornado.web.authenticated
    async def get(self, run: str) -> None:
        await self.relay("GET", ("runs", run))


class RunCancelHandler(PlatformHandler):
    @tornado.web.authenticated
    async def post(self, run: str) -> None:
        await self.relay("POST", ("runs", run, "cancel"))


class RunLogHandler(PlatformHandler):
    @tornado.web.authenticated
    async def get(self, run: str) -> None:
        await self.relay("GET", ("runs", run, "log"), self.arguments(("tail",)))


class ParametersHandler(PlatformHandler):
    """The notebook's ``parameters`` cell (for the "Run as job" dialog), read from the
    server's own contents with papermill's inspection, as the platform checks it."""

    @tornado.web.authenticated
    async def get(self) -> None:
        path = self.get_query_argument("path", "")
        if not path:
            self.refused(ApiError(400, "give the notebook's path: ?path=folder/notebook.ipynb"))
            return
        kernel = self.get_query_argument("kernel", None) or None
        try:
            model = await ensure_async(
                self.contents_manager.get(path, content=True, type="notebook")  # type: ignore[no-untyped-call]
            )
        except tornado.web.HTTPError as exc:
            self.refused(ApiError(exc.status_code, exc.log_message or exc.reason or str(exc)))
            return
        try:
            found = notebook_parameters(model["content"], kernel)
        except NoParameters as exc:
            self.refused(ApiError(422, str(exc)))
            return
        self.finish(json.dumps({"path": model["path"], **found}, default=str))


def handlers(base_url: str) -> list[tuple[str, type[tornado.web.RequestHandler]]]:
    def at(route: str) -> str:
        return url_path_join(base_url, "tenanthub", route)

    source = r"(?P<source>[^/]+)"
    number = r"(?P<{}>[0-9]+)"
    return [
        (at("context"), ContextHandler),
        (at("sources"), SourcesHandler),
        (at(rf"sources/{source}/(?P<action>test|list|sample|schema)"), SourceHandler),
        (at("profiles"), ProfilesHandler),
        (at("parameters"), ParametersHandler),
        (at("jobs"), JobsHandler),
        (at(f"jobs/{number.format('job')}"), JobHandler),
        (at(f"jobs/{number.format('job')}/runs"), JobRunsHandler),
        (at("runs"), RunsHandler),
        (at(f"runs/{number.format('run')}"), RunHandler),
        (at(f"runs/{number.format('run')}/cancel"), RunCancelHandler),
        (at(f"runs/{number.format('run')}/log"), RunLogHandler),
    ]


def setup_handlers(web_app: tornado.web.Application) -> None:
    web_app.add_handlers(".*$", handlers(web_app.settings["base_url"]))
