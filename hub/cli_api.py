"""``tenanthub`` commands that talk to the platform API (tenants, quotas, members, usage).

tenanthub tenant list [--search TEXT]
tenanthub tenant create NAME [--display-name TEXT] [--profile P ...] [quota flags]
tenanthub tenant delete NAME --confirm NAME
tenanthub quota get TENANT
tenanthub quota set TENANT [--cpu 8] [--memory 32Gi] [--gpu N] [--servers N]
                           [--storage 500Gi] [--running-jobs N]    (``none``: no limit)
tenanthub member list|add|remove TENANT [USER] [--role member|admin]
tenanthub usage [TENANT]
tenanthub job submit|list|logs|cancel ...          (``hub.cli_jobs``)

tenanthub context add|use|list|remove ...          named platforms (``hub.contexts``)

Each prints a table, or with ``--json`` the API's JSON. Where the API is and the
token come from ``--url``/``--token-file``, ``--context NAME``, the environment, the
current context, then the older config file (``hub.contexts.resolve`` has the order).
Errors print the API's message and exit 1. The command does what the API allows
the token's user, nothing more: the API checks every call.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, TextIO

from hub import contexts
from hub.api_client import ApiClient, ClientError, api_path
from hub.cli_jobs import add_job_commands

#: quota resources in display order: (API field, flag, column header)
QUOTA_FIELDS = (
    ("cpu", "--cpu", "CPU"),
    ("memory", "--memory", "MEMORY"),
    ("gpu", "--gpu", "GPU"),
    ("servers", "--servers", "SERVERS"),
    ("storage", "--storage", "STORAGE"),
    ("running_jobs", "--running-jobs", "JOBS"),
)
QUOTA_HELP = {
    "cpu": "CPU cores of all servers together, e.g. 8 or 500m",
    "memory": "memory of all servers together, e.g. 32Gi",
    "gpu": "GPUs, a whole number",
    "servers": "servers running at once, a whole number",
    "storage": "requested storage, e.g. 500Gi",
    "running_jobs": "jobs running at once, a whole number",
}
COUNT_FIELDS = {"gpu", "servers", "running_jobs"}
NO_LIMIT = "none"


# ---- pure formatting -------------------------------------------------------------------


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain text table: one space-padded column per header, two spaces between columns.

    Cells are shown with ``cell()``; a table with no rows still prints its header so an
    empty answer is visibly empty.
    """
    shown = [[cell(value) for value in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in shown:
        if len(row) != len(headers):
            raise ValueError(f"row has {len(row)} cells for {len(headers)} columns: {row}")
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]
    lines = [headers, *shown]
    return "\n".join(
        "  ".join(text.ljust(width) for text, width in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )


def cell(value: Any) -> str:
    """One table cell: ``-`` for nothing, lists comma-joined, control characters escaped
    (a tenant's display name comes from someone else and must not drive the terminal)."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ", ".join(cell(v) for v in value) or "-"
    text = str(value)
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


def limit_text(value: Any) -> str:
    return "no limit" if value is None else cell(value)


def tenant_rows(tenants: Sequence[dict[str, Any]]) -> tuple[list[str], list[list[Any]]]:
    headers = ["NAME", "DISPLAY NAME", "MEMBERS", *(h for _, _, h in QUOTA_FIELDS), "PROFILES"]
    rows = [
        [
            t["name"],
            t["display_name"],
            t["members"],
            *(t["quota"].get(f) for f, _, _ in QUOTA_FIELDS),
            "all" if t.get("allowed_profiles") is None else t["allowed_profiles"],
        ]
        for t in tenants
    ]
    return headers, rows


def quota_rows(quota: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    return ["RESOURCE", "LIMIT"], [[f, limit_text(quota.get(f))] for f, _, _ in QUOTA_FIELDS]


def member_rows(members: Sequence[dict[str, Any]]) -> tuple[list[str], list[list[Any]]]:
    return ["USER", "ROLE", "SOURCES"], [[m["user"], m["role"], m["sources"]] for m in members]


def percent(fraction: float | None) -> str:
    return "-" if fraction is None else f"{fraction * 100:.0f}%"


def usage_rows(usage: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    """One tenant's live usage: a row per resource."""
    rows = [
        [r["resource"], r["used_display"], limit_text(r["limit_display"]), percent(r["fraction"])]
        for r in usage["resources"]
    ]
    return ["RESOURCE", "USED", "LIMIT", "USE"], rows


def usage_overview_rows(items: Sequence[dict[str, Any]]) -> tuple[list[str], list[list[Any]]]:
    """Every tenant's usage: a row per tenant, ``used/limit`` per resource."""
    headers = ["TENANT", *(h for _, _, h in QUOTA_FIELDS)]
    rows = []
    for usage in items:
        by_name = {r["resource"]: r for r in usage["resources"]}
        cells: list[Any] = [usage["tenant"]]
        for name, _, _ in QUOTA_FIELDS:
            r = by_name.get(name)
            cells.append(None if r is None else f"{r['used_display']}/{r['limit_display'] or '-'}")
        rows.append(cells)
    return headers, rows


def quota_flags(args: argparse.Namespace) -> dict[str, Any]:
    """The quota values given on the command line (``none`` -> null: no limit)."""
    given: dict[str, Any] = {}
    for name, flag, _ in QUOTA_FIELDS:
        raw = getattr(args, name)
        if raw is None:
            continue
        if raw.strip().lower() == NO_LIMIT:
            given[name] = None
        elif name in COUNT_FIELDS:
            try:
                given[name] = int(raw)
            except ValueError:
                raise ClientError(
                    f"{flag} must be a whole number or '{NO_LIMIT}', not {raw!r}"
                ) from None
        else:
            given[name] = raw.strip()
    return given


# ---- commands --------------------------------------------------------------------------


def show(out: TextIO, rows: tuple[list[str], list[list[Any]]]) -> None:
    print(table(*rows), file=out)


def tenant_list(api: ApiClient, args: argparse.Namespace, out: TextIO) -> Any:
    tenants = api.pages("tenants", {"q": args.search or None})
    if args.json:
        return tenants
    show(out, tenant_rows(tenants))
    return None


def tenant_create(api: ApiClient, args: argparse.Namespace, out: TextIO) -> Any:
    body: dict[str, Any] = {"name": args.name, "quota": quota_flags(args)}
    if args.display_name is not None:
        body["display_name"] = args.display_name
    if args.profile:
        body["allowed_profiles"] = args.profile
    created = api.request("POST", "tenants", body=body)
    if args.json:
        return created
    show(out, tenant_rows([created]))
    return None


def tenant_delete(api: ApiClient, args: argparse.Namespace, out: TextIO) -> Any:
    if args.confirm != args.name:
        raise ClientError(
            f"Deleting tenant {args.name!r} removes its members, quota, profiles, jobs and data "
            f"sources (its files stay); repeat its name to confirm: --confirm {args.name}"
        )
    deleted = api.request("DELETE", api_path("tenants", args.name), body={"confirm": args.confirm})
    if args.json:
        return deleted
    removed = ", ".join(f"{n} {what}" for what, n in sorted(deleted["removed"].items()))
    print(f"tenant {deleted['tenant']} deleted ({removed or 'nothing else'} removed)", file=out)
    print(f"data kept: {deleted['data_kept']}", file=out)
    if deleted.get("warning"):
        print(f"warning: {deleted['warning']}", file=sys.stderr)
    return None


def quota_get(api: ApiClient, args: argparse.Namespace, out: TextIO) -> Any:
    quota = api.request("GET", api_path("tenants", args.tenant, "quota"))
    if args.json:
        return quota
    show(out, quota_rows(quota))
    return None


def quota_set(api: ApiClient, args: argparse.Namespace, out: TextIO) -> Any:
    """Change the given resources and keep the others: the API's PUT replaces the whole
    quota, so the current one is read first (the flags are what changes)."""
    given = quota_flags(args)
    if not given:
        flags = ", ".join(flag for _, flag, _ in QUOTA_FIELDS)
        raise ClientError(f"Nothing to set; give one or more of {flags} (a value, or 'none').")
    current = api.request("GET", api_path("tenants", args.tenant, "quota"))
    quota = api.request("PUT", api_path("tenants", args.tenant, "quota"), body={**current, **given})
    if args.json:
        return quota
    show(out, quota_rows(quota))
    return None


def member_list(api: ApiClient, args: argparse.Namespace, out: TextIO) -> Any:
    members = api.pages(api_path("tenants", args.tenant, "members"))
    if args.json:
        return members
    show(out, member_rows(members))
    return None


def member_add(api: ApiClient, args: argparse.Namespace, out: TextIO) -> Any:
    body = {"user": args.user, "role": args.role}
    member = api.request("POST", api_path("tenants", args.tenant, "members"), body=body)
    if args.json:
        return member
    show(out, member_rows([member]))
    return None


def member_remove(api: ApiClient, args: argparse.Namespace, out: TextIO) -> Any:
    removed = api.request("DELETE", api_path("tenants", args.tenant, "members", args.user))
    if args.json:
        return removed
    print(f"removed {cell(removed['user'])} from tenant {cell(removed['tenant'])}", file=out)
    remaining = removed.get("remaining")
    if remaining:
        print(
            f"{cell(remaining['user'])} is still a {remaining['role']} through "
            f"{cell(remaining['sources'])}",
            file=out,
        )
    return None


def usage(api: ApiClient, args: argparse.Namespace, out: TextIO) -> Any:
    if args.tenant:
        live = api.request("GET", api_path("tenants", args.tenant, "usage"))
        if args.json:
            return live
        print(f"tenant {cell(live['tenant'])}, measured {cell(live['at'])}", file=out)
        show(out, usage_rows(live))
        return None
    items = api.pages("usage")
    if args.json:
        return items
    show(out, usage_overview_rows(items))
    return None


Command = Callable[[ApiClient, argparse.Namespace, TextIO], Any]


def add_commands(sub: Any) -> None:
    """Register the API commands on the ``tenanthub`` parser's subparsers."""

    def leaf(parent: Any, name: str, command: Command, help_text: str) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = parent.add_parser(name, help=help_text)
        parser.add_argument("--json", action="store_true", help="print the API's JSON")
        where = parser.add_argument_group("which platform (default: the current context)")
        where.add_argument("--context", metavar="NAME", help="a context of `tenanthub context`")
        where.add_argument("--url", metavar="URL", help="the hub's address (overrides)")
        where.add_argument(
            "--token-file", metavar="FILE", help="a file with the API token (overrides; - stdin)"
        )
        parser.set_defaults(api_command=command)
        return parser

    def add_quota_flags(parser: argparse.ArgumentParser) -> None:
        for name, flag, _ in QUOTA_FIELDS:
            parser.add_argument(
                flag, dest=name, metavar="VALUE", help=f"{QUOTA_HELP[name]}; 'none': no limit"
            )

    tenant = sub.add_parser("tenant", help="list, create or delete tenants (platform API)")
    tenant_sub = tenant.add_subparsers(dest="action", required=True)
    listing = leaf(tenant_sub, "list", tenant_list, "tenants you may see")
    listing.add_argument("--search", help="only names or display names containing this")
    create = leaf(tenant_sub, "create", tenant_create, "create a tenant (platform admins)")
    create.add_argument("name")
    create.add_argument("--display-name")
    create.add_argument(
        "--profile", action="append", help="an allowed profile (repeat; default: all profiles)"
    )
    add_quota_flags(create)
    delete = leaf(tenant_sub, "delete", tenant_delete, "delete a tenant; its files stay")
    delete.add_argument("name")
    delete.add_argument("--confirm", metavar="NAME", help="the tenant's name, repeated")

    quota = sub.add_parser("quota", help="a tenant's quota (platform API)")
    quota_sub = quota.add_subparsers(dest="action", required=True)
    leaf(quota_sub, "get", quota_get, "show a tenant's quota").add_argument("tenant")
    setter = leaf(quota_sub, "set", quota_set, "change some of a tenant's limits, keep the others")
    setter.add_argument("tenant")
    add_quota_flags(setter)

    member = sub.add_parser("member", help="a tenant's members (platform API)")
    member_sub = member.add_subparsers(dest="action", required=True)
    leaf(member_sub, "list", member_list, "list a tenant's members").add_argument("tenant")
    add = leaf(member_sub, "add", member_add, "add a member (tenant or platform admins)")
    add.add_argument("tenant")
    add.add_argument("user")
    add.add_argument("--role", choices=("member", "admin"), default="member")
    remove = leaf(member_sub, "remove", member_remove, "remove a member added here")
    remove.add_argument("tenant")
    remove.add_argument("user")

    add_context_commands(sub)
    usage_cmd = leaf(sub, "usage", usage, "live usage against quota (all tenants: platform admins)")
    usage_cmd.add_argument("tenant", nargs="?", help="one tenant (default: every tenant)")
    add_job_commands(sub, leaf, show)


# ---- contexts (no API call) ------------------------------------------------------------


def context_add(args: argparse.Namespace, out: TextIO) -> None:
    path = contexts.contexts_path(os.environ)
    known = contexts.load(path)
    name = contexts.check_name(args.name)
    if name in known.items and not args.replace:
        raise ClientError(f"context {name!r} exists in {path}; --replace to change it")
    url = contexts.check_url(args.url, "--url")
    token = contexts.read_token(args.token_file, args.token_stdin, sys.stdin)
    known.items[name] = contexts.Context(name, url, token)
    if known.current is None or args.use:
        known.current = name
    contexts.save(path, known)
    current = " (current)" if known.current == name else ""
    print(f"context {name}{current}: {url} in {path}", file=out)


def context_use(args: argparse.Namespace, out: TextIO) -> None:
    path = contexts.contexts_path(os.environ)
    known = contexts.load(path)
    if args.name not in known.items:
        names = ", ".join(sorted(known.items)) or "none"
        raise ClientError(f"no context {args.name!r} in {path} (contexts: {names})")
    known.current = args.name
    contexts.save(path, known)
    print(f"current context: {args.name} ({known.items[args.name].url})", file=out)


def context_list(args: argparse.Namespace, out: TextIO) -> None:
    known = contexts.load(contexts.contexts_path(os.environ))
    items = [
        {"name": c.name, "url": c.url, "current": c.name == known.current}
        for c in sorted(known.items.values(), key=lambda c: c.name)
    ]
    if args.json:
        print(json.dumps(items, indent=2), file=out)
        return
    rows = [["*" if i["current"] else "", i["name"], i["url"]] for i in items]
    print(table(["CURRENT", "NAME", "URL"], rows), file=out)


def context_remove(args: argparse.Namespace, out: TextIO) -> None:
    path = contexts.contexts_path(os.environ)
    known = contexts.load(path)
    if known.items.pop(args.name, None) is None:
        raise ClientError(f"no context {args.name!r} in {path}")
    if known.current == args.name:
        known.current = None
    contexts.save(path, known)
    print(f"context {args.name} removed", file=out)


def add_context_commands(sub: Any) -> None:
    context = sub.add_parser(
        "context", help="named platforms (URL + token) for these commands, like kubectl's"
    )
    context_sub = context.add_subparsers(dest="action", required=True)
    add = context_sub.add_parser("add", help="add a platform (the first becomes current)")
    add.add_argument("name")
    add.add_argument("--url", required=True, help="the hub's address, as in the browser")
    token = add.add_mutually_exclusive_group(required=True)
    token.add_argument("--token-file", metavar="FILE", help="a file with the API token")
    token.add_argument("--token-stdin", action="store_true", help="read the token from stdin")
    add.add_argument("--use", action="store_true", help="also make it the current context")
    add.add_argument("--replace", action="store_true", help="change an existing context")
    add.set_defaults(context_command=context_add)
    use = context_sub.add_parser("use", help="make a context the current one")
    use.add_argument("name")
    use.set_defaults(context_command=context_use)
    listing = context_sub.add_parser("list", help="contexts and their URLs (never the tokens)")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(context_command=context_list)
    remove = context_sub.add_parser("remove", help="forget a context and its token")
    remove.add_argument("name")
    remove.set_defaults(context_command=context_remove)


def run_context(args: argparse.Namespace, out: TextIO | None = None) -> int:
    try:
        args.context_command(args, out or sys.stdout)
    except ClientError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Run the chosen API command: 0, or 1 with the reason on stderr."""
    out = out or sys.stdout
    try:
        settings = contexts.resolve(os.environ, args.url, args.token_file, args.context)
        api = ApiClient(settings)
        result = args.api_command(api, args, out)
    except ClientError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(result, indent=2), file=out)
    return 0
