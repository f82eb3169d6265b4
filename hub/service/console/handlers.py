"""The admin console's pages: thin handlers over the API's ``dispatch``.

Every read and write goes through ``hub.service.api.handler.dispatch`` with the
route the API serves (``route_for``), as the signed-in user: the console can do
nothing that user could not do with the API, and it checks nothing the API
does not (beyond showing itself only to admins, ``views.console_refusal``; a
tenant's data sources page is for all its members, ``views.datasets_refusal``).

Sign-in is the hub's OAuth, as for the API (``HubOAuthenticated``); pages are
``@web.authenticated`` so a browser is sent to the hub's login. Forms carry
``_xsrf``: HubOAuth accepts a cookie-authenticated POST only with it, so a
POST without it is not signed in at all and gets the 403 page. Never override
``check_xsrf_cookie`` here.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import jinja2
from jupyterhub.services.auth import HubOAuthenticated
from tornado import web

from hub.service.api.framework import MAX_PAGE, ApiError
from hub.service.api.handler import DATABASE_DOWN, DATABASE_DOWN_MESSAGE, dispatch
from hub.service.api.routes import route_for
from hub.service.console import views
from hub.service.policy import Actor

log = logging.getLogger("tenanthub.service")

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"
#: Chart.js's prebuilt bundle, copied from npm by ``make install`` (not in git)
CHART_JS = "vendor/chart.umd.min.js"

T = TypeVar("T")


@dataclass
class Console:
    """What every console handler shares: the service, templates, static files."""

    service: Any  # hub.service.context.ServiceContext
    prefix: str  # the service's URL prefix, /services/tenanthub/
    static_dir: Path = STATIC
    env: jinja2.Environment = field(init=False)
    charts: bool = field(init=False)

    def __post_init__(self) -> None:
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(TEMPLATES)),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
        )
        self.charts = (self.static_dir / CHART_JS).is_file()
        if not self.charts:
            log.error(
                "Console: the chart library is missing (%s); usage charts are off until "
                "`make install` copies it from npm.",
                self.static_dir / CHART_JS,
            )

    @property
    def url(self) -> str:
        return f"{self.prefix}console"

    def static_url(self, path: str) -> str:
        version = web.StaticFileHandler.get_version({"static_path": str(self.static_dir)}, path)
        return f"{self.url}/static/{path}" + (f"?v={version}" if version else "")


@dataclass
class Section:
    """One part of a page: its data, or why it could not be shown."""

    value: Any = None
    error: str | None = None


class ConsoleHandler(HubOAuthenticated, web.RequestHandler):
    """Base of the console's pages: identity, API calls, rendering, error pages."""

    console: Console
    _actor: Actor | None = None

    def initialize(self, console: Console) -> None:
        self.console = console

    @property
    def service(self) -> Any:
        return self.console.service

    async def actor(self) -> Actor:
        if self._actor is None:
            self._actor = await self.service.actor_for(self.current_user)
        return self._actor

    async def api(
        self,
        method: str,
        path: str,
        params: dict[str, str] | None = None,
        query: dict[str, str] | None = None,
        body: Any = None,
    ) -> Any:
        """One API route, as the signed-in user (raises ``ApiError`` as the API would)."""
        return await dispatch(
            self.service, route_for(method, path), await self.actor(), params or {}, query or {},
            body,
        )  # fmt: skip

    async def section(self, call: Awaitable[T]) -> Section:
        """Run one read for a part of a page; its failure shows there, not as a broken page."""
        try:
            return Section(await call)
        except ApiError as error:
            return Section(error=error.message)
        except Exception:
            log.exception("Console: a read for %s failed", self.request.path)
            return Section(error="Could not load this part; the service log has the details.")

    # ------------------------------------------------------------ rendering

    def namespace(self) -> dict[str, Any]:
        user = self.current_user if isinstance(self.current_user, dict) else None
        hub_prefix = self.hub_auth.hub_prefix
        service_name = os.environ.get("JUPYTERHUB_SERVICE_NAME", "tenanthub")
        return {
            "user": user,
            "hub_prefix": hub_prefix,
            "console_url": self.console.url,
            "service_name": service_name,
            "service_url": self.console.prefix,
            "static_url": self.console.static_url,
            "hub_static": f"{hub_prefix}static/",
            "chart_library": self.console.charts,
            "done": None,
            "xsrf_token": self.xsrf_token.decode("ascii"),
            "quote": lambda s: quote(str(s), safe=""),
            "resources": views.RESOURCES,
        }

    def page(self, template: str, status: int = 200, **values: Any) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.set_header("Cache-Control", "no-store")
        self.set_header("X-Frame-Options", "DENY")
        namespace = {**self.namespace(), "status": status, **values}
        html = self.console.env.get_template(template).render(**namespace)
        self.finish(html)

    def refuse(self, refusal: views.Refusal) -> None:
        self.page(
            "error.html", refusal.status, title=refusal.title, message=refusal.message,
            links=refusal.links,
        )  # fmt: skip

    def api_failed(self, error: ApiError) -> None:
        titles = {403: "Not allowed", 404: "Not found", 409: "Conflict"}
        self.page(
            "error.html", error.status, title=titles.get(error.status, "Request refused"),
            message=error.message,
        )  # fmt: skip

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        message = "The console could not answer this request."
        title = f"Error {status_code}"
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if status_code == 403 and self.request.method not in ("GET", "HEAD"):
            title = "Form not accepted"
            message = (
                "This form was sent without its security token (_xsrf), or your sign-in "
                "has expired, so nothing was changed. Reload the page and try again."
            )
        elif isinstance(exc, web.HTTPError) and exc.log_message and status_code < 500:
            message = exc.log_message % exc.args if exc.args else exc.log_message
        elif status_code == 404:
            message = "There is no console page here."
        elif isinstance(exc, DATABASE_DOWN):
            status_code, title, message = 503, "Database unavailable", DATABASE_DOWN_MESSAGE
        elif status_code >= 500:
            message = "Internal error in the TenantHub console; the service log has the details."
        self.page("error.html", status_code, title=title, message=message)

    def back_to_tenant(self, tenant: str, done: str) -> None:
        """After a successful form: back to the tenant's page (a reload does not resend it)."""
        self.redirect(f"{self.console.url}/tenants/{quote(tenant, safe='')}?done={done}")

    async def allowed(self) -> bool:
        """Render the 403 page and return False unless the caller may use the console."""
        refusal = views.console_refusal(await self.actor())
        if refusal:
            self.refuse(refusal)
            return False
        return True


class RootHandler(web.RequestHandler):
    """The service's root (the hub's Services menu links there) leads to the console."""

    def initialize(self, console: Console) -> None:
        self.console = console

    def get(self) -> None:
        self.redirect(self.console.url)


class TenantsHandler(ConsoleHandler):
    """The tenant list (search, paging, quota bars) and the create-tenant form."""

    @web.authenticated
    async def get(self) -> None:
        if not await self.allowed():
            return
        await self.render_list()

    @web.authenticated
    async def post(self) -> None:
        """Create a tenant (POST /tenants); on a refusal the form comes back as typed."""
        if not await self.allowed():
            return
        form = {k: self.get_body_argument(k, "") for k in self.request.body_arguments}
        body: dict[str, Any] = {
            "name": form.get("name", "").strip(),
            "display_name": form.get("display_name", "").strip(),
            "quota": {k: v for k, v in views.quota_body(form).items() if v is not None},
        }
        try:
            created = await self.api("POST", "/tenants", body=body)
        except ApiError as error:
            errors = views.field_errors(error.extra.get("errors"))
            if error.status == 409:
                errors["name"] = error.message
            general = None if errors else error.message
            await self.render_list(
                status=error.status, create_form=form, create_errors=errors, create_error=general
            )
            return
        self.back_to_tenant(created.name, "created")

    async def render_list(
        self,
        status: int = 200,
        create_form: dict[str, str] | None = None,
        create_errors: dict[str, str] | None = None,
        create_error: str | None = None,
    ) -> None:
        actor = await self.actor()
        args = {k: self.get_query_argument(k) for k in self.request.query_arguments}
        q = args.get("q", "").strip()[:100]
        limit, offset = views.page_args(args)
        if actor.platform_admin:
            page = await self.api(
                "GET", "/tenants", query={"q": q, "limit": str(limit), "offset": str(offset)}
            )
            tenants, total = page.items, page.total
        else:
            # a tenant admin's own tenants are few: all of them, then only those they run
            page = await self.api("GET", "/tenants", query={"q": q, "limit": str(MAX_PAGE)})
            mine = views.admin_only(page.items)
            tenants, total = mine[offset : offset + limit], len(mine)
        aligned = actor.platform_admin and not q
        usage = await self.list_usage([t.name for t in tenants], limit, offset, aligned)
        rows = [(t, views.bars(usage.get(t.name), t.quota)) for t in tenants]
        self.page(
            "tenants.html",
            status,
            rows=rows,
            q=q,
            pager=views.pager(total, limit, offset, q),
            platform_admin=actor.platform_admin,
            create_form=create_form or {},
            create_errors=create_errors or {},
            create_error=create_error,
            create_open=create_form is not None,
            done=views.done_message(self.get_query_argument("done", None)),
        )

    async def list_usage(
        self, names: list[str], limit: int, offset: int, aligned: bool
    ) -> dict[str, Any]:
        """Live usage of the tenants on a list page, by name (a tenant missing: unknown).

        ``aligned``: the page is the plain name-ordered page a platform admin sees,
        so one ``GET /usage`` of the same window covers it (from the sampler's
        snapshot); otherwise (a search, a tenant admin's few tenants) one
        ``GET /tenants/{tenant}/usage`` per tenant. Tenants the first way misses
        (created since the snapshot) are asked for the second way.
        """
        found: dict[str, Any] = {}
        if aligned and names:
            page = await self.section(
                self.api("GET", "/usage", query={"limit": str(limit), "offset": str(offset)})
            )
            if page.value is not None:
                found = {u.tenant: u for u in page.value.items if u.tenant in names}
        missing = [n for n in names if n not in found]
        sections = await asyncio.gather(
            *(
                self.section(self.api("GET", "/tenants/{tenant}/usage", {"tenant": n}))
                for n in missing
            )
        )
        found.update({n: s.value for n, s in zip(missing, sections, strict=True) if s.value})
        return found


class TenantHandler(ConsoleHandler):
    """One tenant: usage, quota, members, profiles, servers, charts, data sources (a link)."""

    @web.authenticated
    async def get(self, tenant: str) -> None:
        if not await self.allowed():
            return
        await self.render_tenant(tenant)

    async def render_tenant(self, tenant: str, status: int = 200, **forms: Any) -> None:
        """The tenant page; ``forms`` carries a refused form's values and errors back."""
        params = {"tenant": tenant}
        try:
            info = await self.api("GET", "/tenants/{tenant}", params)
        except ApiError as error:
            self.api_failed(error)
            return
        refusal = views.tenant_refusal(await self.actor(), tenant)
        if refusal:
            self.refuse(refusal)
            return
        usage, members, profiles, servers, day, week, datasets = await asyncio.gather(
            self.section(self.api("GET", "/tenants/{tenant}/usage", params)),
            self.section(
                self.api("GET", "/tenants/{tenant}/members", params, {"limit": str(MAX_PAGE)})
            ),
            self.section(
                self.api("GET", "/tenants/{tenant}/profiles", params, {"limit": str(MAX_PAGE)})
            ),
            self.section(
                self.api("GET", "/tenants/{tenant}/servers", params, {"limit": str(MAX_PAGE)})
            ),
            self.section(
                self.api("GET", "/tenants/{tenant}/usage/history", params, {"window": "24h"})
            ),
            self.section(
                self.api("GET", "/tenants/{tenant}/usage/history", params, {"window": "7d"})
            ),
            self.section(self.api("GET", "/tenants/{tenant}/datasets", params)),
        )
        actor = await self.actor()
        charts = [
            (
                key,
                label,
                Section(None if s.value is None else views.chart_data(s.value), s.error),
            )
            for key, label, s in (("24h", "Last 24 hours", day), ("7d", "Last 7 days", week))
        ]
        self.page(
            "tenant.html",
            status,
            tenant=info,
            bars=views.bars(usage.value, info.quota),
            usage=usage,
            members=members,
            profiles=profiles,
            servers=servers,
            datasets=datasets,
            charts=charts,
            platform_admin=actor.platform_admin,
            quota_form=forms.get("quota_form") or views.quota_form(info.quota),
            quota_errors=forms.get("quota_errors") or {},
            quota_error=forms.get("quota_error"),
            member_form=forms.get("member_form") or {},
            member_error=forms.get("member_error"),
            profiles_error=forms.get("profiles_error"),
            servers_error=forms.get("servers_error"),
            done=views.done_message(self.get_query_argument("done", None)),
        )


class QuotaHandler(TenantHandler):
    """The quota editor: PUT /tenants/{tenant}/quota."""

    @web.authenticated
    async def post(self, tenant: str) -> None:
        if not await self.allowed():
            return
        form = {name: self.get_body_argument(name, "") for name, _ in views.RESOURCES}
        try:
            await self.api(
                "PUT", "/tenants/{tenant}/quota", {"tenant": tenant}, body=views.quota_body(form)
            )
        except ApiError as error:
            if error.status == 404:
                self.api_failed(error)
                return
            errors = views.field_errors(error.extra.get("errors"))
            await self.render_tenant(
                tenant, error.status, quota_form=form, quota_errors=errors,
                quota_error=None if errors else error.message,
            )  # fmt: skip
            return
        self.back_to_tenant(tenant, "quota")


class ProfilesHandler(TenantHandler):
    """Allowed profiles: PUT /tenants/{tenant}/profiles (``all`` = every profile)."""

    @web.authenticated
    async def post(self, tenant: str) -> None:
        if not await self.allowed():
            return
        every = self.get_body_argument("all", "") == "on"
        chosen = self.get_body_arguments("profile")
        body = {"allowed_profiles": None if every else sorted(set(chosen))}
        try:
            await self.api("PUT", "/tenants/{tenant}/profiles", {"tenant": tenant}, body=body)
        except ApiError as error:
            if error.status == 404:
                self.api_failed(error)
                return
            await self.render_tenant(tenant, error.status, profiles_error=error.message)
            return
        self.back_to_tenant(tenant, "profiles")


class MembersHandler(TenantHandler):
    """Add a member: POST /tenants/{tenant}/members."""

    @web.authenticated
    async def post(self, tenant: str) -> None:
        if not await self.allowed():
            return
        form = {
            "user": self.get_body_argument("user", "").strip(),
            "role": self.get_body_argument("role", "member"),
        }
        try:
            await self.api("POST", "/tenants/{tenant}/members", {"tenant": tenant}, body=form)
        except ApiError as error:
            await self.render_tenant(
                tenant, error.status, member_form=form, member_error=error.message
            )
            return
        self.back_to_tenant(tenant, "member-added")


class MemberHandler(TenantHandler):
    """Change a member's role (PATCH) or remove them (DELETE): ``action`` = role | remove."""

    @web.authenticated
    async def post(self, tenant: str, username: str) -> None:
        if not await self.allowed():
            return
        action = self.get_body_argument("action", "")
        params = {"tenant": tenant, "username": username}
        try:
            if action == "role":
                body = {"role": self.get_body_argument("role", "")}
                await self.api("PATCH", "/tenants/{tenant}/members/{username}", params, body=body)
                done = "member-changed"
            elif action == "remove":
                await self.api("DELETE", "/tenants/{tenant}/members/{username}", params)
                done = "member-removed"
            else:
                raise ApiError(400, "Unknown member action; use the buttons on the tenant page.")
        except ApiError as error:
            await self.render_tenant(tenant, error.status, member_error=error.message)
            return
        self.back_to_tenant(tenant, done)


class ServerStopHandler(TenantHandler):
    """Stop a server: DELETE /tenants/{tenant}/servers/{username}?server=<name>."""

    @web.authenticated
    async def post(self, tenant: str, username: str) -> None:
        if not await self.allowed():
            return
        server = self.get_body_argument("server", "")
        params = {"tenant": tenant, "username": username}
        try:
            await self.api(
                "DELETE", "/tenants/{tenant}/servers/{username}", params, {"server": server}
            )
        except ApiError as error:
            await self.render_tenant(tenant, error.status, servers_error=error.message)
            return
        self.back_to_tenant(tenant, "server-stopped")


class DatasetsPage(ConsoleHandler):
    """A tenant's data sources: every member sees and tests them; its admins add, change
    credentials and remove (``/tenants/{tenant}/datasets`` of the API)."""

    def back_to_datasets(self, tenant: str, done: str) -> None:
        self.redirect(f"{self.console.url}/tenants/{quote(tenant, safe='')}/datasets?done={done}")

    async def render_datasets(
        self,
        tenant: str,
        status: int = 200,
        health: dict[str, views.Health] | None = None,
        source_errors: dict[str, str] | None = None,
        **forms: Any,
    ) -> None:
        """The page; ``health``: connection tests just run, ``forms``: a refused add form."""
        actor = await self.actor()
        refusal = views.datasets_refusal(actor, tenant)
        if refusal:
            self.refuse(refusal)
            return
        params = {"tenant": tenant}
        try:
            info = await self.api("GET", "/tenants/{tenant}", params)
        except ApiError as error:
            self.api_failed(error)
            return
        listed = await self.section(self.api("GET", "/tenants/{tenant}/datasets", params))
        health, source_errors = health or {}, source_errors or {}
        sources = [
            views.source_view(s, health.get(s.name), source_errors.get(s.name))
            for s in (listed.value.items if listed.value is not None else [])
        ]
        add_form = forms.get("add_form") or {}
        add_errors = forms.get("add_errors") or {}
        self.page(
            "datasets.html",
            status,
            tenant=info,
            sources=sources,
            sources_error=listed.error,
            manage=views.may_manage_sources(actor, tenant),
            kinds=views.source_kinds(actor.platform_admin),
            kind_labels=views.KIND_LABELS,
            fields=views.SOURCE_FIELDS,
            form_field=views.form_field,
            add_form=add_form,
            add_errors=add_errors,
            add_error=forms.get("add_error"),
            add_other_errors=views.unplaced_errors(add_errors, add_form.get("kind", "")),
            add_open=bool(add_form),
            done=views.done_message(self.get_query_argument("done", None)),
        )


class DatasetsHandler(DatasetsPage):
    """The page (GET) and its add-source form (POST /tenants/{tenant}/datasets)."""

    @web.authenticated
    async def get(self, tenant: str) -> None:
        await self.render_datasets(tenant)

    @web.authenticated
    async def post(self, tenant: str) -> None:
        """Add a source; on a refusal the form comes back as typed, without credentials."""
        form = {k: self.get_body_argument(k, "") for k in self.request.body_arguments}
        body = views.source_body(form)
        try:
            await self.api("POST", "/tenants/{tenant}/datasets", {"tenant": tenant}, body=body)
        except ApiError as error:
            if error.status == 404:
                self.api_failed(error)
                return
            errors = views.source_field_errors(body["kind"], error.extra.get("errors"))
            if error.status == 409:
                errors["name"] = error.message
            await self.render_datasets(
                tenant, error.status, add_form=views.source_form_echo(form), add_errors=errors,
                add_error=None if errors else error.message,
            )  # fmt: skip
            return
        self.back_to_datasets(tenant, "source-added")


class DatasetHandler(DatasetsPage):
    """One source: ``action`` = test (GET .../test), secrets (PATCH), remove (DELETE)."""

    @web.authenticated
    async def post(self, tenant: str, source: str) -> None:
        action = self.get_body_argument("action", "")
        params = {"tenant": tenant, "source": source}
        path = "/tenants/{tenant}/datasets/{source}"
        if action == "test":
            try:
                health = views.health_view(await self.api("GET", f"{path}/test", params))
            except ApiError as error:
                if error.status in (403, 404) and error.extra.get("problem") is None:
                    self.api_failed(error)
                    return
                health = views.health_failed(
                    error.message, error.extra.get("problem"), error.extra.get("advice")
                )
            await self.render_datasets(tenant, health={source: health})
            return
        try:
            if action == "secrets":
                form = {k: self.get_body_argument(k, "") for k in self.request.body_arguments}
                body = views.secrets_body(form, self.get_body_arguments("clear"))
                if body is None:
                    raise ApiError(422, "Nothing to change: type a new credential or tick remove.")
                await self.api("PATCH", path, params, body=body)
                done = "source-changed"
            elif action == "remove":
                await self.api("DELETE", path, params)
                done = "source-removed"
            else:
                raise ApiError(400, "Unknown data source action; use the buttons on the page.")
        except ApiError as error:
            await self.render_datasets(tenant, error.status, source_errors={source: error.message})
            return
        self.back_to_datasets(tenant, done)


class StaticHandler(web.StaticFileHandler):
    """The console's CSS, JavaScript and the vendored chart library (public, no data)."""


def console_handlers(prefix: str, service: Any, static_dir: Path = STATIC) -> list[Any]:
    """The console's URL specs, for ``make_app(..., extra=...)``."""
    console = Console(service, prefix, static_dir)
    base = f"{prefix}console"
    t = r"(?P<tenant>[^/]+)"
    u = r"(?P<username>[^/]+)"
    s = r"(?P<source>[^/]+)"
    kw = {"console": console}
    return [
        (prefix, RootHandler, kw),
        (f"{base}/?", TenantsHandler, kw),
        (f"{base}/tenants/?", TenantsHandler, kw),
        (f"{base}/static/(.*)", StaticHandler, {"path": str(static_dir)}),
        (f"{base}/tenants/{t}/?", TenantHandler, kw),
        (f"{base}/tenants/{t}/quota", QuotaHandler, kw),
        (f"{base}/tenants/{t}/profiles", ProfilesHandler, kw),
        (f"{base}/tenants/{t}/members", MembersHandler, kw),
        (f"{base}/tenants/{t}/members/{u}", MemberHandler, kw),
        (f"{base}/tenants/{t}/servers/{u}/stop", ServerStopHandler, kw),
        (f"{base}/tenants/{t}/datasets/?", DatasetsHandler, kw),
        (f"{base}/tenants/{t}/datasets/{s}", DatasetHandler, kw),
    ]
