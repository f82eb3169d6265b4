"""What the console shows, decided by pure functions over the API's models.

The handlers fetch through the API's ``dispatch`` and render templates; every
decision in between (who may open the console, bar colours, paging links, form
fields -> request bodies, API field errors -> form fields, chart series) lives
here so it is tested without a browser or a hub.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from hub.service.datasets.sql import split_password
from hub.service.policy import Actor

#: the resources of a quota, in the order the console shows them, with their labels
RESOURCES: tuple[tuple[str, str], ...] = (
    ("cpu", "CPU"),
    ("memory", "Memory"),
    ("gpu", "GPU"),
    ("servers", "Servers"),
    ("storage", "Storage"),
    ("running_jobs", "Running jobs"),
)
RESOURCE_LABELS = dict(RESOURCES)

#: bar colours: at or above WARN of the limit the bar turns amber, at or above FULL red
WARN = 0.8
FULL = 1.0

PAGE_SIZE = 25
MAX_PAGE_SIZE = 100

#: messages shown after a successful form (the redirect carries only the key, never text)
DONE_MESSAGES = {
    "created": "Tenant created.",
    "quota": "Quota saved.",
    "profiles": "Allowed profiles saved.",
    "member-added": "Member added.",
    "member-changed": "Role changed.",
    "member-removed": "Member removed.",
    "server-stopped": "Server stop requested; it disappears from the list once it has stopped.",
    "source-added": "Data source added.",
    "source-changed": "Credentials saved.",
    "source-removed": "Data source removed (its data was not touched).",
}


# ---------------------------------------------------------------- who may open what


@dataclass(frozen=True)
class Refusal:
    status: int
    title: str
    message: str
    #: pages the refused user may open instead: (text, path under the console's URL)
    links: tuple[tuple[str, str], ...] = ()


def console_refusal(actor: Actor) -> Refusal | None:
    """None when ``actor`` may open the console: platform admins and admins of a tenant.

    Members get a 403 that says why and who can help, rather than an empty page.
    """
    if actor.platform_admin or actor.administers():
        return None
    if actor.roles:
        tenants = ", ".join(sorted(actor.roles))
        return Refusal(
            403,
            "The console is for tenant admins",
            f"You are a member of {tenants}, not an admin. The TenantHub console is for "
            "tenant and platform admins; ask one of your tenant's admins if something "
            "about your tenant needs changing.",
            tuple(
                (f"Data sources of {t}", f"/tenants/{quote(t, safe='')}/datasets")
                for t in sorted(actor.roles)
            ),
        )
    return Refusal(
        403,
        "The console is for tenant admins",
        "You are not a member of any tenant yet. The TenantHub console is for tenant and "
        "platform admins; ask a platform admin to add you to a tenant.",
    )


def tenant_refusal(actor: Actor, tenant: str) -> Refusal | None:
    """None when ``actor`` may manage ``tenant`` in the console (its admins, platform admins).

    Called after the API has already answered the tenant read, so a caller outside
    the tenant never gets here (the API's 404 says nothing about whether it exists).
    """
    if actor.platform_admin or actor.role_in(tenant) == "admin":
        return None
    return Refusal(
        403,
        "Only the tenant's admins manage it",
        f"You are a member of {tenant!r}, not one of its admins, so the console does not "
        "show it to you.",
    )


def admin_only(items: Iterable[Any]) -> list[Any]:
    """The tenants (``TenantOut``) the caller administers, from what the API lets them see."""
    return [t for t in items if t.your_role in ("admin", "platform-admin")]


# ---------------------------------------------------------------- quota bars


@dataclass(frozen=True)
class Bar:
    resource: str
    label: str
    used: str | None  # None: usage unknown
    limit: str | None  # None: no limit
    percent: int | None  # width of the bar, 0..100; None: no bar (no limit or unknown)
    level: str  # ok | warn | full | none

    @property
    def css(self) -> str:
        return {"ok": "bg-success", "warn": "bg-warning", "full": "bg-danger"}.get(
            self.level, "bg-secondary"
        )

    @property
    def text(self) -> str:
        used = "?" if self.used is None else self.used
        return f"{used} / {self.limit}" if self.limit is not None else f"{used} (no limit)"


def level_of(fraction: float | None) -> str:
    """``ok`` below 80 % of the limit, ``warn`` from 80 %, ``full`` from 100 %."""
    if fraction is None:
        return "none"
    if fraction >= FULL:
        return "full"
    if fraction >= WARN:
        return "warn"
    return "ok"


def usage_fraction(used: int, limit: int | None) -> float | None:
    """used / limit; a limit of 0 is full (nothing more may start); no limit: None."""
    if limit is None:
        return None
    if limit == 0:
        return 1.0
    return used / limit


def bars(usage: Any | None, quota: Any) -> list[Bar]:
    """One bar per resource, from live usage (``UsageOut``) when there is one.

    Without usage (none measured yet) the limits still show, with the usage as
    unknown rather than a made-up zero.
    """
    measured = {r.resource: r for r in usage.resources} if usage is not None else {}
    out = []
    for resource, label in RESOURCES:
        r = measured.get(resource)
        if r is not None:
            fraction = usage_fraction(r.used, r.limit)
            percent = None if fraction is None else max(0, min(100, round(fraction * 100)))
            out.append(
                Bar(resource, label, r.used_display, r.limit_display, percent, level_of(fraction))
            )
        else:
            limit = getattr(quota, resource, None)
            out.append(
                Bar(resource, label, None, None if limit is None else str(limit), None, "none")
            )
    return out


# ---------------------------------------------------------------- paging


@dataclass(frozen=True)
class Pager:
    total: int
    limit: int
    offset: int
    previous: str | None  # query string of the previous page, None on the first
    following: str | None

    @property
    def first(self) -> int:
        return min(self.total, self.offset + 1)

    @property
    def last(self) -> int:
        return min(self.total, self.offset + self.limit)


def page_args(query: Mapping[str, str]) -> tuple[int, int]:
    """``limit``/``offset`` for a console list, clamped (a page link is not an API call)."""
    try:
        limit = int(query.get("limit", PAGE_SIZE))
    except ValueError:
        limit = PAGE_SIZE
    try:
        offset = int(query.get("offset", 0))
    except ValueError:
        offset = 0
    return max(1, min(MAX_PAGE_SIZE, limit)), max(0, offset)


def pager(total: int, limit: int, offset: int, q: str = "") -> Pager:
    def link(at: int) -> str:
        args: dict[str, str | int] = {"offset": at}
        if q:
            args["q"] = q
        if limit != PAGE_SIZE:
            args["limit"] = limit
        return "?" + urlencode(args)

    previous = link(max(0, offset - limit)) if offset > 0 else None
    following = link(offset + limit) if offset + limit < total else None
    return Pager(total, limit, offset, previous, following)


# ---------------------------------------------------------------- forms


def quota_body(form: Mapping[str, str]) -> dict[str, str | None]:
    """Quota form fields -> the API's quota body: an empty field means no limit.

    The text goes to the API as typed; the API's model says what is wrong with it
    (negative, absurd, wrong unit), so the console cannot accept what the API refuses.
    """
    return {name: (form.get(name, "").strip() or None) for name, _label in RESOURCES}


def quota_form(quota: Any) -> dict[str, str]:
    """A quota (``QuotaOut``) as the editor's field values."""
    return {
        name: "" if getattr(quota, name) is None else str(getattr(quota, name))
        for name, _label in RESOURCES
    }


def field_errors(errors: Sequence[Mapping[str, Any]] | None, strip: str = "") -> dict[str, str]:
    """The API's per-field errors as ``{form field: message}``.

    ``strip`` drops a key-path prefix (``quota.`` in the create form's quota part
    stays; the quota editor's body *is* the quota). Several messages for one field
    are joined.
    """
    out: dict[str, str] = {}
    for error in errors or ():
        path = str(error.get("path", ""))
        if strip and path.startswith(strip):
            path = path[len(strip) :]
        message = str(error.get("message", "invalid"))
        out[path] = f"{out[path]}; {message}" if path in out else message
    return out


def done_message(key: str | None) -> str | None:
    return DONE_MESSAGES.get(key or "")


# ---------------------------------------------------------------- charts

GIB = 2**30

#: the series a usage chart draws: point field, label, divisor to the unit shown
SERIES: tuple[tuple[str, str, int], ...] = (
    ("servers", "Servers", 1),
    ("cpu_millis", "CPU (cores)", 1000),
    ("memory_bytes", "Memory (GiB)", GIB),
    ("gpu", "GPUs", 1),
    ("storage_bytes", "Storage (GiB)", GIB),
    ("running_jobs", "Running jobs", 1),
)


def time_label(at: str, window: str) -> str:
    """``2026-11-23T14:05:00+00:00`` -> ``14:05`` (24 h) or ``11-23 14:05`` (7 d), UTC."""
    date, _, rest = at.partition("T")
    clock = rest[:5]
    return clock if window == "24h" else f"{date[5:]} {clock}"


def chart_data(history: Any) -> dict[str, Any]:
    """A usage history (``UsageHistoryOut``) as the labels and series Chart.js draws."""
    points = list(history.points)
    return {
        "window": history.window,
        "labels": [time_label(p.at, history.window) for p in points],
        "series": [
            {"label": label, "data": [round(getattr(p, key) / div, 3) for p in points]}
            for key, label, div in SERIES
        ],
    }


# ---------------------------------------------------------------- data sources


def datasets_refusal(actor: Actor, tenant: str) -> Refusal | None:
    """None when ``actor`` may open ``tenant``'s data sources page (any of its members).

    Members read and test the sources (the API lets them); someone outside the
    tenant gets the console's usual answer: the 403 page when they administer no
    tenant at all, else nothing here (the API's 404 then says no such tenant).
    """
    if actor.platform_admin or actor.role_in(tenant) is not None:
        return None
    return console_refusal(actor)


def may_manage_sources(actor: Actor, tenant: str) -> bool:
    """Whether the page offers the add, credentials and remove forms (the API decides)."""
    return actor.platform_admin or actor.role_in(tenant) == "admin"


@dataclass(frozen=True)
class SourceField:
    """One field of the add-source form: a setting, or a credential (``secret``)."""

    name: str  # the settings or secrets key of the API
    label: str
    hint: str = ""
    secret: bool = False
    choices: tuple[str, ...] = ()  # a select instead of a text field

    @property
    def path(self) -> str:
        """Where the API's field errors put it (``settings.bucket``, ``secrets.password``)."""
        return f"{'secrets' if self.secret else 'settings'}.{self.name}"


#: the add form's fields of each kind, in the order shown; every kind except hive may be
#: added by a tenant admin (hive: platform admins only, as the API has it)
SOURCE_FIELDS: dict[str, tuple[SourceField, ...]] = {
    "files": (SourceField("root", "Folder", "an absolute path inside the tenant's shared folder"),),
    "s3": (
        SourceField("bucket", "Bucket"),
        SourceField("prefix", "Prefix", "key prefix inside the bucket; empty: the whole bucket"),
        SourceField("endpoint_url", "Endpoint URL", "http(s)://...; empty: AWS"),
        SourceField("region", "Region", "empty: us-east-1"),
        SourceField("access_key", "Access key", "empty: anonymous access", secret=True),
        SourceField("secret_key", "Secret key", secret=True),
    ),
    "sql": (
        SourceField("url", "URL", "SQLAlchemy URL, e.g. postgresql://user@host:5432/db"),
        SourceField("password", "Password", secret=True),
    ),
    "hdfs": (
        SourceField("host", "Name node host"),
        SourceField("port", "Port", "empty: 8020"),
        SourceField("root", "Root", "empty: /"),
        SourceField("user", "User", "empty: the service's user"),
        SourceField("kerberos_ticket", "Kerberos ticket", secret=True),
    ),
    "hive": (
        SourceField("warehouse_dir", "Warehouse folder"),
        SourceField("metastore_dir", "Metastore folder", "empty: the service's own"),
        SourceField("catalog", "Catalog", choices=("hive", "in-memory")),
    ),
}
KIND_LABELS = {
    "files": "Files (a folder)",
    "s3": "S3 bucket",
    "sql": "SQL database",
    "hdfs": "HDFS",
    "hive": "Hive / Spark catalog",
}
#: labels of settings the add form does not set (hive's), shown on a source's card
OTHER_SETTINGS = {"master": "Spark master", "conf": "Spark settings"}


def source_kinds(platform_admin: bool) -> list[str]:
    """The kinds the add form offers: hive only to platform admins."""
    return [k for k in SOURCE_FIELDS if k != "hive" or platform_admin]


def form_field(kind: str, name: str) -> str:
    """The add form's input name of a kind's field (``s3-bucket``)."""
    return f"{kind}-{name}"


def source_body(form: Mapping[str, str]) -> dict[str, Any]:
    """The add form -> ``POST /tenants/{tenant}/datasets``: the chosen kind's fields only.

    An empty setting is left out (the kind's default applies), an empty credential
    too (none set); the text goes as typed, the API says what is wrong with it.
    """
    kind = form.get("kind", "").strip()
    settings: dict[str, Any] = {}
    secrets: dict[str, str] = {}
    for f in SOURCE_FIELDS.get(kind, ()):
        raw = form.get(form_field(kind, f.name), "")
        value = raw if f.secret else raw.strip()
        if value:
            (secrets if f.secret else settings)[f.name] = value
    return {"name": form.get("name", "").strip(), "kind": kind, "settings": settings,
            "secrets": secrets}  # fmt: skip


#: ``scheme://user:password@`` in a URL that SQLAlchemy could not parse
_URL_PASSWORD = re.compile(r"(://[^/@:]*):[^@/]*@")


def without_password(url: str) -> str:
    """An SQL URL as it may be shown again: any password in it removed."""
    try:
        bare, password = split_password(url)
    except Exception:
        return _URL_PASSWORD.sub(r"\1@", url)
    return bare if password is not None else url


def source_form_echo(form: Mapping[str, str]) -> dict[str, str]:
    """A refused add form's values as they come back: no credential, ever.

    Password fields come back empty, and a password typed inside an SQL URL is
    taken out of it, so nothing secret is in the page (not even a ``value=``).
    """
    secret = {form_field(k, f.name) for k, fields in SOURCE_FIELDS.items() for f in fields
              if f.secret}  # fmt: skip
    echo = {k: v for k, v in form.items() if k not in secret and k != "_xsrf"}
    if echo.get("sql-url"):
        echo["sql-url"] = without_password(echo["sql-url"])
    return echo


def source_field_errors(kind: str, errors: Sequence[Mapping[str, Any]] | None) -> dict[str, str]:
    """The API's field errors of a create as ``{add-form input name: message}``.

    ``settings.bucket`` of an s3 source -> ``s3-bucket``; ``name``, ``kind`` stay;
    an error of a field the form does not have keeps its path (shown above the form).
    """
    paths = {f.path: form_field(kind, f.name) for f in SOURCE_FIELDS.get(kind, ())}
    out: dict[str, str] = {}
    for path, message in field_errors(errors).items():
        if path.startswith(("settings.", "secrets.")) and path not in paths:
            # a nested setting (settings.conf.x) belongs to its field, if the form has it
            top = ".".join(path.split(".")[:2])
            path = top if top in paths else path
        key = paths.get(path, path)
        out[key] = f"{out[key]}; {message}" if key in out else message
    return out


def unplaced_errors(errors: Mapping[str, str], kind: str) -> dict[str, str]:
    """Errors of ``source_field_errors`` that no input of the form shows next to it."""
    inputs = {"name", "kind"} | {form_field(kind, f.name) for f in SOURCE_FIELDS.get(kind, ())}
    return {k: v for k, v in errors.items() if k not in inputs}


def secrets_body(form: Mapping[str, str], clear: Iterable[str] = ()) -> dict[str, Any] | None:
    """The change-credentials form -> ``PATCH`` body; None when it changes nothing.

    ``secret-<name>`` fields typed in are set; an empty one is left as it is;
    ``clear`` (ticked "remove" boxes) are removed (null, as the API takes it).
    """
    secrets: dict[str, str | None] = {
        k.removeprefix("secret-"): v for k, v in form.items() if k.startswith("secret-") and v
    }
    for name in clear:
        secrets.setdefault(name, None)
    return {"secrets": secrets} if secrets else None


@dataclass(frozen=True)
class Health:
    """The outcome of "Test connection", as the page shows it."""

    ok: bool
    problem: str = ""  # "bad credentials", "refused", ... (words, not the API's code)
    message: str = ""
    advice: str = ""

    @property
    def text(self) -> str:
        return "ok" if self.ok else (self.problem or "failed")


def health_view(health: Any) -> Health:
    """The API's ``HealthOut`` as shown: the problem in words, its message and advice."""
    problem = (health.problem or "").replace("_", " ")
    return Health(bool(health.ok), problem, health.message or "", health.advice or "")


def health_failed(message: str, problem: str | None = None, advice: str | None = None) -> Health:
    """A test the API refused or that ran out of time (an ``ApiError``) as a failed test."""
    return Health(False, (problem or "").replace("_", " "), message, advice or "")


@dataclass(frozen=True)
class SourceView:
    name: str
    kind: str
    kind_label: str
    settings: list[tuple[str, str]]  # (label, value) of the non-secret settings that are set
    credentials: list[tuple[str, str, bool]]  # (name, label, set) of the kind's credentials
    health: Health | None = None
    error: str | None = None  # a refused change of this source
    updated_at: str = ""


def setting_text(value: Any) -> str:
    if isinstance(value, Mapping):
        return ", ".join(f"{k}={v}" for k, v in value.items())
    return str(value)


def source_view(source: Any, health: Health | None = None, error: str | None = None) -> SourceView:
    """A source (``SourceOut``) as its card: settings that are set, which credentials are.

    The API never returns a credential's value, and this shows only ``secrets_set``.
    """
    fields = SOURCE_FIELDS.get(source.kind, ())
    labels = {**OTHER_SETTINGS, **{f.name: f.label for f in fields}}
    settings = [
        (labels.get(k, k), setting_text(v))
        for k, v in source.settings.items()
        if v not in (None, "", {}, [])
    ]
    known = [f.name for f in fields if f.secret]
    names = known + [s for s in source.secrets_set if s not in known]
    credentials = [(str(n), labels.get(n) or str(n), n in source.secrets_set) for n in names]
    return SourceView(
        source.name, source.kind, KIND_LABELS.get(source.kind, source.kind), settings,
        credentials, health, error, source.updated_at[:19].replace("T", " "),
    )  # fmt: skip
