"""Jobs and their runs: submit, list, get, run now, cancel, log tail, output notebook.

Every route is under the tenant the job runs in, so the policy's tenant check
applies (a non-member gets the same 404 as for a tenant that does not exist).
Within the tenant a member sees and cancels their own jobs; the tenant's admins
(and platform admins) see and cancel everyone's. Another member's job answers
404, not 403, so job ids do not tell who runs what.

A submission is checked completely before anything is stored (fields, the
platform's limits, the profile offered in the tenant, the notebook file in the
owner's folders and its ``parameters`` cell): an invalid one is a 422 naming
the field, and nothing is queued.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, Field, StrictBool

from hub.service.api.framework import ApiError, ApiModel, Call, Page, QueryParam, Route, path_id
from hub.service.jobs.model import JobInvalid, JobSpec, RunState, check_parameters
from hub.service.jobs.store import IllegalTransition, Job, JobNotFound, JobStore, Run, RunNotFound
from hub.service.jobs.submit import notebook_file, parse_spec
from hub.service.policy import Permission
from hub.tenancy.profiles import profiles_for_tenant

STATES = tuple(s.value for s in RunState)
#: largest output notebook the API hands out (a bigger one: open it in JupyterLab)
MAX_OUTPUT_BYTES = 16 * 1024 * 1024
MAX_TAIL = 1024 * 1024


class JobIn(JobSpec):
    """A job as submitted; ``tenant`` is the path's (it may be left out of the body)."""

    tenant: str = Field("", description="The tenant of the path (may be omitted).")
    profile: str = Field(
        "", description="A profile offered in the tenant; empty: the tenant's default."
    )


class JobPatch(ApiModel):
    """A change to a scheduled job: pause or resume its schedule."""

    paused: StrictBool = Field(
        description="true: no slot fires until resumed; false: fire again from the next slot "
        "after now (the slots that passed while paused are not fired)"
    )


class JobOut(BaseModel):
    id: int
    tenant: str
    owner: str
    name: str
    kind: str
    notebook: str
    parameters: dict[str, Any]
    profile: str
    kernel: str | None
    timeout: int
    priority: int
    retries: int
    schedule: dict[str, Any] | None = Field(
        None, description="cron, timezone and missed-slot policy; null: one run"
    )
    next_run_at: str | None = None
    created_at: str
    cancelled_at: str | None = None
    cancelled_by: str | None = None
    paused: bool = Field(False, description="A scheduled job whose schedule is paused")


class RunOut(BaseModel):
    id: int
    job_id: int
    tenant: str
    owner: str
    attempt: int
    state: str
    reason: str
    exit_code: int | None
    priority: int
    slot: str | None = Field(None, description="The cron slot this run was fired for.")
    retry_of: int | None
    runner: str | None
    cancel_requested: bool
    output: str = Field(description="The output notebook, relative to the owner's home.")
    queued_at: str
    started_at: str | None
    finished_at: str | None


class SubmittedOut(BaseModel):
    job: JobOut
    run: RunOut | None = Field(None, description="The queued run of a job without a schedule.")


class RunLogOut(BaseModel):
    run: int
    state: str
    live: bool = Field(description="True: read from the running run; false: kept at its end.")
    log: str


class RunOutputOut(BaseModel):
    run: int
    path: str
    notebook: dict[str, Any]


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def job_out(job: Job) -> JobOut:
    return JobOut(
        id=job.id, tenant=job.tenant, owner=job.owner, name=job.name, kind=job.kind,
        notebook=job.notebook, parameters=job.parameters, profile=job.profile,
        kernel=job.kernel, timeout=job.timeout, priority=job.priority, retries=job.retries,
        schedule=job.schedule, next_run_at=_iso(job.next_fire_at),
        created_at=job.created_at.isoformat(), cancelled_at=_iso(job.cancelled_at),
        cancelled_by=job.cancelled_by, paused=job.paused,
    )  # fmt: skip


def run_out(run: Run) -> RunOut:
    return RunOut(
        id=run.id, job_id=run.job_id, tenant=run.tenant, owner=run.owner, attempt=run.attempt,
        state=run.state, reason=run.reason, exit_code=run.exit_code, priority=run.priority,
        slot=_iso(run.slot), retry_of=run.retry_of, runner=run.runner,
        cancel_requested=run.cancel_requested, output=str(run.output),
        queued_at=run.queued_at.isoformat(), started_at=_iso(run.started_at),
        finished_at=_iso(run.finished_at),
    )  # fmt: skip


def store_of(call: Call) -> JobStore:
    store: JobStore = call.service.job_store
    return store


def sees_all(call: Call) -> bool:
    """Tenant admins and platform admins see every member's jobs."""
    return call.actor.platform_admin or call.actor.role_in(call.tenant) == "admin"


def visible(call: Call, tenant: str, owner: str) -> bool:
    return tenant == call.tenant and (owner == call.actor.name or sees_all(call))


async def the_job(call: Call) -> Job:
    wanted = path_id(call, "job")
    job = await call.service.platform.read(store_of(call).get_job, wanted)
    if job is None or not visible(call, job.tenant, job.owner):
        raise ApiError(404, f"No job {wanted} of yours in tenant {call.tenant!r}.")
    return job


async def the_run(call: Call) -> Run:
    wanted = path_id(call, "run")
    run = await call.service.platform.read(store_of(call).get_run, wanted)
    if run is None or not visible(call, run.tenant, run.owner):
        raise ApiError(404, f"No run {wanted} of yours in tenant {call.tenant!r}.")
    return run


def invalid(message: str) -> ApiError:
    field = message.split(":", 1)[0] if ":" in message else "(body)"
    return ApiError(
        422,
        f"The job was not submitted: {message}",
        errors=[{"path": field, "message": message}],
    )


# ----------------------------------------------------------------------------- submit


def check_files(call: Call, spec: JobSpec) -> None:
    """The notebook in the owner's folders and its parameters (blocking: a worker thread).
    Without a view of the folders (Kubernetes) the run itself will tell."""
    jobs = call.service.jobs
    folders = jobs.folders.of(spec.tenant, call.actor.name) if jobs is not None else None
    if folders is None:
        return
    notebook = notebook_file(spec, folders.home, folders.shared)
    check_parameters(notebook, spec.parameters, spec.kernel)


async def submit_job(call: Call) -> SubmittedOut:
    body: JobIn = call.body
    if call.actor.service:
        raise ApiError(403, "Jobs run as a user with a home: submit with a user's token.")
    if body.tenant and body.tenant != call.tenant:
        raise invalid(f"tenant: the job is submitted to {call.tenant!r}, not {body.tenant!r}")
    platform = call.service.platform
    tenant = await platform.read(platform.store.tenant, call.tenant)
    if tenant is None:
        raise ApiError(404, f"No tenant {call.tenant!r}.")
    offered = profiles_for_tenant(
        call.service.config.profiles, tenant.name, tenant.allowed_profiles, tenant.limits
    )
    if not body.profile and not offered:
        raise invalid(f"profile: no profile is offered in {call.tenant!r}; ask its admins")
    raw = body.model_dump(mode="json") | {
        "tenant": call.tenant,
        "profile": body.profile or offered[0].name,
    }
    try:
        spec = parse_spec(raw, call.service.config.jobs)
    except JobInvalid as exc:
        raise invalid(str(exc)) from None
    if spec.profile not in {p.name for p in offered}:
        names = ", ".join(p.name for p in offered) or "none"
        raise invalid(f"profile: {spec.profile!r} is not offered in {call.tenant!r} ({names})")
    try:
        await platform.run(check_files, call, spec)
    except JobInvalid as exc:
        raise invalid(str(exc)) from None
    job, run = await platform.run(store_of(call).create_job, spec, call.actor.name)
    call.service.wake_scheduler()
    await platform.run(
        platform.store.audit, call.actor.name, "job.submit", call.tenant,
        {"job": job.id, "name": job.name, "notebook": job.notebook,
         "schedule": job.cron or None},
    )  # fmt: skip
    return SubmittedOut(job=job_out(job), run=run_out(run) if run else None)


# ----------------------------------------------------------------------------- read


def owner_filter(call: Call) -> str | None:
    """A member lists their own jobs; an admin everyone's, or one member's with ?owner=."""
    owner = call.query.get("owner") or None
    if not sees_all(call):
        if owner is not None and owner != call.actor.name:
            raise ApiError(403, "Only the tenant's admins list other members' jobs.")
        return call.actor.name
    return owner


async def list_jobs(call: Call) -> Page[JobOut]:
    total, jobs = await call.service.platform.read(
        store_of(call).jobs, call.tenant, owner_filter(call), call.paging.offset, call.paging.limit
    )
    return Page[JobOut](
        items=[job_out(j) for j in jobs], total=total, limit=call.paging.limit,
        offset=call.paging.offset,
    )  # fmt: skip


async def get_job(call: Call) -> JobOut:
    return job_out(await the_job(call))


def runs_page(call: Call, total: int, runs: list[Run]) -> Page[RunOut]:
    return Page[RunOut](
        items=[run_out(r) for r in runs], total=total, limit=call.paging.limit,
        offset=call.paging.offset,
    )  # fmt: skip


def state_filter(call: Call) -> str | None:
    state = call.query.get("state")
    if state is not None and state not in STATES:
        raise ApiError(422, f"state must be one of {', '.join(STATES)}, not {state!r}.")
    return state


async def job_runs(call: Call) -> Page[RunOut]:
    job = await the_job(call)
    total, runs = await call.service.platform.read(
        store_of(call).runs, job.id, call.tenant, None, state_filter(call),
        call.paging.offset, call.paging.limit,
    )  # fmt: skip
    return runs_page(call, total, runs)


async def list_runs(call: Call) -> Page[RunOut]:
    total, runs = await call.service.platform.read(
        store_of(call).runs, None, call.tenant, owner_filter(call), state_filter(call),
        call.paging.offset, call.paging.limit,
    )  # fmt: skip
    return runs_page(call, total, runs)


async def get_run(call: Call) -> RunOut:
    return run_out(await the_run(call))


def tail_of(call: Call) -> int:
    raw = call.query.get("tail", "65536")
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_TAIL:
        raise ApiError(422, f"tail is a number of bytes from 1 to {MAX_TAIL}, not {raw!r}.")
    return int(raw)


async def run_log(call: Call) -> RunLogOut:
    run = await the_run(call)
    tail = tail_of(call)
    jobs = call.service.jobs
    live = (
        run.state in (RunState.STARTING, RunState.RUNNING)
        and run.handle is not None
        and jobs is not None
        and run.runner == jobs.runner.name
    )
    if live and jobs is not None and run.handle is not None:
        try:
            text = await call.service.platform.run(jobs.runner.logs, run.handle, tail)
        except Exception as exc:
            raise ApiError(503, f"The run's log cannot be read now ({exc}); try again.") from None
        return RunLogOut(run=run.id, state=run.state, live=True, log=text)
    data = run.log_tail.encode()[-tail:].decode(errors="ignore")
    return RunLogOut(run=run.id, state=run.state, live=False, log=data)


def read_output(call: Call, run: Run) -> dict[str, Any]:
    jobs = call.service.jobs
    folders = jobs.folders.of(run.tenant, run.owner) if jobs is not None else None
    if folders is None:
        raise ApiError(
            404,
            f"The output of run {run.id} is in {run.owner}'s home at {run.output}: open it "
            "in JupyterLab (this service does not see that storage).",
        )
    path = folders.home.joinpath(*run.output.parts)
    resolved = path.resolve()
    if not resolved.is_relative_to(folders.home.resolve()) or not resolved.is_file():
        raise ApiError(404, f"Run {run.id} has no output notebook (yet) at {run.output}.")
    size = resolved.stat().st_size
    if size > MAX_OUTPUT_BYTES:
        raise ApiError(
            413,
            f"The output notebook is {size} bytes, over {MAX_OUTPUT_BYTES}: open "
            f"{run.output} in JupyterLab.",
        )
    try:
        notebook = json.loads(resolved.read_bytes())
    except ValueError:
        raise ApiError(
            409, f"The output notebook of run {run.id} is being written; try again."
        ) from None
    if not isinstance(notebook, dict):
        raise ApiError(409, f"The output of run {run.id} is not a notebook.")
    return notebook


async def run_output(call: Call) -> RunOutputOut:
    run = await the_run(call)
    notebook = await call.service.platform.run(read_output, call, run)
    return RunOutputOut(run=run.id, path=str(run.output), notebook=notebook)


# ----------------------------------------------------------------------------- change


async def run_now(call: Call) -> RunOut:
    job = await the_job(call)
    try:
        run = await call.service.platform.run(store_of(call).enqueue, job.id)
    except (JobNotFound, IllegalTransition) as exc:
        raise ApiError(409, f"Job {job.id} cannot run: {exc}.") from None
    call.service.wake_scheduler()
    return run_out(run)


async def cancel_job(call: Call) -> JobOut:
    job = await the_job(call)
    platform = call.service.platform
    try:
        done = await platform.run(store_of(call).cancel_job, job.id, call.actor.name)
    except JobNotFound:
        raise ApiError(404, f"No job {job.id} of yours in tenant {call.tenant!r}.") from None
    call.service.wake_scheduler()
    await platform.run(
        platform.store.audit, call.actor.name, "job.cancel", call.tenant,
        {"job": job.id, "owner": job.owner},
    )  # fmt: skip
    return job_out(done)


async def patch_job(call: Call) -> JobOut:
    """Pause or resume the job's schedule (its owner, the tenant's admins)."""
    body: JobPatch = call.body
    job = await the_job(call)
    platform = call.service.platform
    try:
        done = await platform.run(store_of(call).set_paused, job.id, body.paused)
    except JobNotFound:
        raise ApiError(404, f"No job {job.id} of yours in tenant {call.tenant!r}.") from None
    except IllegalTransition as exc:
        verb = "paused" if body.paused else "resumed"
        raise ApiError(409, f"Job {job.id} is not {verb}: {exc}.") from None
    if done.paused != job.paused:
        await platform.run(
            platform.store.audit, call.actor.name,
            "job.pause" if done.paused else "job.resume", call.tenant,
            {"job": job.id, "owner": job.owner},
        )  # fmt: skip
    return job_out(done)


async def cancel_run(call: Call) -> RunOut:
    run = await the_run(call)
    try:
        done = await call.service.platform.run(store_of(call).cancel_run, run.id, call.actor.name)
    except RunNotFound:
        raise ApiError(404, f"No run {run.id} of yours in tenant {call.tenant!r}.") from None
    except IllegalTransition as exc:
        raise ApiError(409, f"Run {run.id} is not cancelled: {exc}.", current=run.state) from None
    call.service.wake_scheduler()
    return run_out(done)


OWNER = {"owner": "Admins: only this member's (members always see only their own)"}
STATE = {"state": QueryParam("Only runs in this state", STATES)}

ROUTES = [
    Route("POST", "/tenants/{tenant}/jobs", Permission.JOBS_SUBMIT, submit_job,
          "Submit a job: one run now, or a cron schedule (checked completely first: an "
          "invalid job is a 422 and nothing is queued)",
          body=JobIn, response=SubmittedOut, status=201),
    Route("GET", "/tenants/{tenant}/jobs", Permission.JOBS_READ, list_jobs,
          "Jobs in the tenant, newest first (yours; admins: everyone's)",
          response=Page[JobOut], paged=True, query=OWNER),
    Route("GET", "/tenants/{tenant}/jobs/{job}", Permission.JOBS_READ, get_job,
          "One job", response=JobOut),
    Route("DELETE", "/tenants/{tenant}/jobs/{job}", Permission.JOBS_CANCEL, cancel_job,
          "Cancel a job: its schedule stops, its queued and running runs are cancelled "
          "(runs and outputs are kept)", response=JobOut),
    Route("PATCH", "/tenants/{tenant}/jobs/{job}", Permission.JOBS_CANCEL, patch_job,
          "Pause or resume a scheduled job: paused, no slot fires; resumed, the next run is "
          "the first slot after now (the slots missed while paused are not fired); runs "
          "already queued or running go on", body=JobPatch, response=JobOut),
    Route("POST", "/tenants/{tenant}/jobs/{job}/runs", Permission.JOBS_SUBMIT, run_now,
          "Queue a run of the job now", response=RunOut, status=201),
    Route("GET", "/tenants/{tenant}/jobs/{job}/runs", Permission.JOBS_READ, job_runs,
          "The job's runs, newest first", response=Page[RunOut], paged=True, query=STATE),
    Route("GET", "/tenants/{tenant}/runs", Permission.JOBS_READ, list_runs,
          "Runs in the tenant, newest first (yours; admins: everyone's)",
          response=Page[RunOut], paged=True, query={**OWNER, **STATE}),
    Route("GET", "/tenants/{tenant}/runs/{run}", Permission.JOBS_READ, get_run,
          "One run", response=RunOut),
    Route("POST", "/tenants/{tenant}/runs/{run}/cancel", Permission.JOBS_CANCEL, cancel_run,
          "Cancel a run (queued: at once; running: stopped by the scheduler within a tick)",
          response=RunOut),
    Route("GET", "/tenants/{tenant}/runs/{run}/log", Permission.JOBS_READ, run_log,
          "The end of the run's log: live while it runs, the kept tail after",
          response=RunLogOut,
          query={"tail": "How many bytes from the end (default 65536, at most 1 MiB)"}),
    Route("GET", "/tenants/{tenant}/runs/{run}/output", Permission.JOBS_READ, run_output,
          "The run's output notebook (papermill's, with every cell's output so far)",
          response=RunOutputOut),
]  # fmt: skip
