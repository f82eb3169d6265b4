"""What the console shows, decided by pure functions over the API's models.

The handlers fetch through the API's ``dispatch`` and render templates; every
decision in between (who may open the console, bar colours, paging links, form
fields -> request bodies, API field errors -> form fields, chart series) lives
here so it is tested without a browser or a hub.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

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
}


# ---------------------------------------------------------------- who may open what


@dataclass(frozen=True)
class Refusal:
    status: int
    title: str
    message: str


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
