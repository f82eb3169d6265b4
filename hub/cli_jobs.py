"""``tenanthub job``: notebook jobs through the platform API.

tenanthub job submit TENANT NOTEBOOK [-p NAME VALUE ...] [--profile P] [--cron EXPR
                     [--timezone TZ] [--missed skip|run_once]] [--priority N]
                     [--timeout S] [--retries N] [--kernel K] [--spark] [--name N] [--wait]
tenanthub job list TENANT [--schedules] [--state S] [--owner USER]
tenanthub job logs TENANT RUN [--tail BYTES] [--follow]
tenanthub job cancel TENANT RUN | --job JOB
tenanthub job pause|resume TENANT JOB

NOTEBOOK is relative to your home (``analysis/report.ipynb``) or to the tenant's
shared folder (``shared/report.ipynb``). ``-p`` values are read as papermill reads
them: numbers, ``true``/``false``, ``null`` and JSON lists/objects keep their type,
anything else is a string.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import PurePosixPath
from typing import Any, TextIO

from hub.api_client import ApiClient, ClientError, api_path

FINAL = ("succeeded", "failed", "cancelled", "timed_out")
#: how often ``--wait`` and ``--follow`` ask the API
POLL_SECONDS = 1.0


def parameter_value(raw: str) -> Any:
    """``-p rows 5`` gives 5, ``-p name north`` gives "north" (papermill's -p rule)."""
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def parameters(pairs: Sequence[Sequence[str]] | None) -> dict[str, Any]:
    return {name: parameter_value(value) for name, value in pairs or ()}


def job_body(args: argparse.Namespace) -> dict[str, Any]:
    """The API's request body from the command line (the API checks it all)."""
    name = args.name or PurePosixPath(args.notebook).stem or "job"
    body: dict[str, Any] = {
        "name": name,
        "notebook": args.notebook,
        "parameters": parameters(args.parameter),
        "kind": "spark" if args.spark else "papermill",
        "priority": args.priority,
        "retries": args.retries,
        "timeout": args.timeout,
    }
    if args.profile:
        body["profile"] = args.profile
    if args.kernel:
        body["kernel"] = args.kernel
    if args.cron:
        body["schedule"] = {"cron": args.cron, "timezone": args.timezone}
        if args.missed:
            body["schedule"]["missed"] = args.missed
    elif args.timezone != "UTC" or args.missed:
        raise ClientError("--timezone and --missed go with --cron (a schedule).")
    return body


def short_time(value: str | None) -> str:
    return value.replace("T", " ")[:19] if value else "-"


def run_rows(runs: Sequence[dict[str, Any]]) -> tuple[list[str], list[list[Any]]]:
    headers = ["RUN", "JOB", "OWNER", "STATE", "QUEUED", "FINISHED", "REASON"]
    return headers, [
        [r["id"], r["job_id"], r["owner"], r["state"], short_time(r["queued_at"]),
         short_time(r["finished_at"]), r["reason"][:60] or "-"]
        for r in runs
    ]  # fmt: skip


def job_rows(jobs: Sequence[dict[str, Any]]) -> tuple[list[str], list[list[Any]]]:
    headers = ["JOB", "NAME", "OWNER", "NOTEBOOK", "SCHEDULE", "NEXT", "STATUS"]
    rows = []
    for j in jobs:
        schedule = j.get("schedule") or {}
        when = f"{schedule['cron']} ({schedule['timezone']})" if schedule else "once"
        status = "cancelled" if j.get("cancelled_at") else "paused" if j.get("paused") else "active"
        rows.append([j["id"], j["name"], j["owner"], j["notebook"], when,
                     short_time(j.get("next_run_at")), status])  # fmt: skip
    return headers, rows


Show = Callable[[TextIO, tuple[list[str], list[list[Any]]]], None]


def make_commands(show: Show) -> dict[str, Callable[[ApiClient, argparse.Namespace, TextIO], Any]]:
    """The command functions, printing tables with the CLI's ``show``."""

    def submit(api: ApiClient, args: argparse.Namespace, out: TextIO) -> Any:
        made = api.request("POST", api_path("tenants", args.tenant, "jobs"), body=job_body(args))
        job, run = made["job"], made.get("run")
        if args.wait and run is not None:
            run = wait_for(api, args.tenant, run["id"], err=sys.stderr)
            made["run"] = run
        if args.json:
            return made
        if run is None:
            print(f"job {job['id']} scheduled: {job['schedule']['cron']} "
                  f"({job['schedule']['timezone']}), next run {short_time(job['next_run_at'])}",
                  file=out)  # fmt: skip
        else:
            print(f"job {job['id']} submitted: run {run['id']} {run['state']}", file=out)
            if run["state"] in FINAL:
                print(f"output: ~/{run['output']}", file=out)
                if run["state"] != "succeeded":
                    raise ClientError(f"run {run['id']} {run['state']}: {run['reason']}")
        return None

    def listing(api: ApiClient, args: argparse.Namespace, out: TextIO) -> Any:
        if args.schedules:
            jobs = api.pages(api_path("tenants", args.tenant, "jobs"), {"owner": args.owner})
            if not args.json:
                show(out, job_rows(jobs))
            return jobs
        query = {"owner": args.owner, "state": args.state}
        runs = api.pages(api_path("tenants", args.tenant, "runs"), query)
        if not args.json:
            show(out, run_rows(runs))
        return runs

    def logs(api: ApiClient, args: argparse.Namespace, out: TextIO) -> Any:
        path = api_path("tenants", args.tenant, "runs", str(args.run), "log")
        answer = api.request("GET", path, {"tail": args.tail})
        if args.json:
            return answer
        shown = answer["log"]
        out.write(shown)
        while args.follow and answer["state"] not in FINAL:
            time.sleep(POLL_SECONDS)
            answer = api.request("GET", path, {"tail": args.tail})
            out.write(new_part(shown, answer["log"]))
            out.flush()
            shown = answer["log"]
        if args.follow:
            run = api.request("GET", api_path("tenants", args.tenant, "runs", str(args.run)))
            print(f"\nrun {run['id']} {run['state']}: {run['reason']}", file=out)
        return None

    def cancel(api: ApiClient, args: argparse.Namespace, out: TextIO) -> Any:
        if (args.run is None) == (args.job is None):
            raise ClientError("Give a run to cancel, or --job JOB to cancel a whole job.")
        if args.job is not None:
            job = api.request("DELETE", api_path("tenants", args.tenant, "jobs", str(args.job)))
            if not args.json:
                print(f"job {job['id']} cancelled: no more runs; running ones are stopped",
                      file=out)  # fmt: skip
            return job
        path = api_path("tenants", args.tenant, "runs", str(args.run), "cancel")
        run = api.request("POST", path)
        if not args.json:
            print(f"run {run['id']} {'cancelled' if run['state'] == 'cancelled' else 'stopping'}",
                  file=out)  # fmt: skip
        return run

    def pause(api: ApiClient, args: argparse.Namespace, out: TextIO) -> Any:
        paused = args.action == "pause"
        path = api_path("tenants", args.tenant, "jobs", str(args.job))
        job = api.request("PATCH", path, body={"paused": paused})
        if not args.json:
            if job["paused"]:
                print(f"job {job['id']} paused: no run fires until it is resumed", file=out)
            else:
                print(f"job {job['id']} resumed: next run {short_time(job['next_run_at'])} "
                      "(the slots missed while paused do not run)", file=out)  # fmt: skip
        return job

    return {"submit": submit, "list": listing, "logs": logs, "cancel": cancel, "pause": pause}


def new_part(before: str, now: str) -> str:
    """What a log tail has that the previous one did not (the tail window moves on)."""
    if now.startswith(before):
        return now[len(before) :]
    for cut in range(len(before)):
        if now.startswith(before[cut:]):
            return now[len(before) - cut :]
    return now


def wait_for(api: ApiClient, tenant: str, run_id: int, err: TextIO) -> dict[str, Any]:
    path = api_path("tenants", tenant, "runs", str(run_id))
    last = None
    while True:
        run: dict[str, Any] = api.request("GET", path)
        if run["state"] != last:
            print(f"run {run_id}: {run['state']}", file=err)
            last = run["state"]
        if run["state"] in FINAL:
            return run
        time.sleep(POLL_SECONDS)


def add_job_commands(sub: Any, leaf: Callable[..., argparse.ArgumentParser], show: Show) -> None:
    commands = make_commands(show)
    job = sub.add_parser(
        "job", help="notebook jobs: submit, list, logs, cancel, pause, resume (platform API)"
    )
    job_sub = job.add_subparsers(dest="action", required=True)

    submit = leaf(job_sub, "submit", commands["submit"], "run a notebook now or on a schedule")
    submit.add_argument("tenant")
    submit.add_argument("notebook", help="in your home, or shared/... in the tenant's folder")
    submit.add_argument("-p", "--parameter", nargs=2, action="append",
                        metavar=("NAME", "VALUE"), help="a papermill parameter")  # fmt: skip
    submit.add_argument("--name", help="the job's name (default: the notebook's)")
    submit.add_argument("--profile", help="default: the tenant's default profile")
    submit.add_argument("--kernel", help="default: the notebook's own")
    submit.add_argument("--cron", help="a schedule, five cron fields: '0 6 * * 1-5'")
    submit.add_argument("--timezone", default="UTC", help="the schedule's IANA time zone")
    submit.add_argument("--missed", choices=("skip", "run_once"),
                        help="slots missed while the platform was down")  # fmt: skip
    submit.add_argument("--priority", type=int, default=0, help="-100..100, higher first")
    submit.add_argument("--timeout", type=int, default=3600, help="seconds")
    submit.add_argument("--retries", type=int, default=0)
    submit.add_argument("--spark", action="store_true", help="a pyspark job (.ipynb or .py)")
    submit.add_argument("--wait", action="store_true", help="wait until the run ends")

    listing = leaf(job_sub, "list", commands["list"], "your runs (tenant admins: everyone's)")
    listing.add_argument("tenant")
    listing.add_argument("--schedules", action="store_true", help="list jobs, not runs")
    listing.add_argument("--state", choices=(*FINAL, "queued", "starting", "running"))
    listing.add_argument("--owner", help="tenant admins: one member's")

    logs = leaf(job_sub, "logs", commands["logs"], "the end of a run's log")
    logs.add_argument("tenant")
    logs.add_argument("run", type=int)
    logs.add_argument("--tail", type=int, default=65536, help="bytes from the end")
    logs.add_argument("-f", "--follow", action="store_true", help="until the run ends")

    cancel = leaf(job_sub, "cancel", commands["cancel"], "cancel a run, or a whole job")
    cancel.add_argument("tenant")
    cancel.add_argument("run", type=int, nargs="?")
    cancel.add_argument("--job", type=int, help="cancel the job: its schedule and runs")

    for action, text in (
        ("pause", "pause a job's schedule: no run fires until resumed"),
        ("resume", "resume a paused schedule from its next slot after now"),
    ):
        toggle = leaf(job_sub, action, commands["pause"], text)
        toggle.add_argument("tenant")
        toggle.add_argument("job", type=int)
