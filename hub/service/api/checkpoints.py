"""Checkpoints: the checkpointer reports each step, users list and delete their own.

The checkpointer daemon holds a token with ``custom:tenanthub:checkpoints`` and
never writes the DB itself: it creates a record (``requested``), reports each
step (``committing`` ... ``ready``, or ``failed``/``skipped`` with a reason), and
lists records to finish or clean up after a restart. The step order is the
checkpointer's own state machine (``checkpointer.lifecycle``), applied here by
the store under a row lock: an illegal step is a 409 and changes nothing.

A checkpoint is its user's environment (installed packages, files outside the
home): only that user (and platform admins) list or delete it -- not the admins
of the user's tenant, who run servers and members, not what is inside them.
Deleting marks the record; the checkpointer removes the image and its tag.
"""

from __future__ import annotations

from hub.service.api.framework import ApiError, Call, Page, QueryParam, Route, path_id
from hub.service.api.models import CheckpointIn, CheckpointOut, CheckpointStep, CheckpointStepped
from hub.service.policy import Permission
from hub.tenancy.checkpoint_store import (
    Checkpoint,
    CheckpointNotFound,
    CheckpointStore,
    IllegalStep,
    IncompleteStep,
    Step,
)

STATES = ("requested", "committing", "verifying", "pushing", "ready", "failed", "skipped")


def checkpoint_out(c: Checkpoint) -> CheckpointOut:
    return CheckpointOut(
        id=c.id,
        user=c.user,
        server=c.server,
        tenant=c.tenant,
        profile=c.profile,
        base_image=c.base_image,
        node=c.node,
        state=c.state,  # the store only holds lifecycle states
        image=c.image,
        digest=c.digest,
        size_bytes=c.size_bytes,
        message=c.message,
        created_at=c.created_at.isoformat(),
        updated_at=c.updated_at.isoformat(),
        deleted=c.deleted,
    )


def store_of(call: Call) -> CheckpointStore:
    store: CheckpointStore = call.service.checkpoint_store
    return store


def checkpoint_id(call: Call) -> int:
    return path_id(call, "checkpoint")


def has_control(value: str) -> bool:
    """Control characters (NUL above all, which PostgreSQL refuses) are in no name here."""
    return any(ord(ch) < 32 or ord(ch) == 127 for ch in value)


def page_of(call: Call, total: int, items: list[Checkpoint]) -> Page[CheckpointOut]:
    return Page[CheckpointOut](
        items=[checkpoint_out(c) for c in items],
        total=total,
        limit=call.paging.limit,
        offset=call.paging.offset,
    )


# ----------------------------------------------------------------------------- the daemon


async def create_checkpoint(call: Call) -> CheckpointOut:
    body: CheckpointIn = call.body
    store = store_of(call)
    made = await call.service.platform.run(
        store.create, body.user, body.server, body.tenant, body.profile, body.base_image, body.node
    )
    return checkpoint_out(made)


async def step_checkpoint(call: Call) -> CheckpointStepped:
    body: CheckpointStep = call.body
    wanted = checkpoint_id(call)
    step = Step(body.state, body.image, body.digest, body.size_bytes, body.message)
    keep = call.service.config.checkpoint.keep
    try:
        done = await call.service.platform.run(store_of(call).step, wanted, step, keep)
    except CheckpointNotFound:
        raise ApiError(404, f"No checkpoint {wanted}.") from None
    except IllegalStep as exc:
        raise ApiError(
            409,
            f"Checkpoint {wanted} is {exc.current!r}: {exc.problem}. Nothing was changed.",
            current=exc.current,
        ) from None
    except IncompleteStep as exc:
        raise ApiError(
            422,
            f"Checkpoint {wanted} was not changed: {exc.problem} "
            f"(send {' and '.join(exc.missing)}).",
            errors=[
                {"path": name, "message": f"required for state {body.state}"}
                for name in exc.missing
            ],
        ) from None
    return CheckpointStepped(
        checkpoint=checkpoint_out(done.checkpoint),
        expired=[checkpoint_out(c) for c in done.expired],
    )


def flag(call: Call, name: str) -> bool | None:
    value = call.query.get(name)
    if value is None or value == "":
        return None
    if value not in ("true", "false"):
        raise ApiError(422, f"{name} must be true or false, not {value!r}.")
    return value == "true"


async def list_checkpoints(call: Call) -> Page[CheckpointOut]:
    state = call.query.get("state") or None
    if state is not None and state not in STATES:
        raise ApiError(422, f"state must be one of {', '.join(STATES)}, not {state!r}.")
    if has_control(call.query.get("node", "")):
        raise ApiError(422, "node is a node name: no control characters.")
    total, items = await call.service.platform.run(
        store_of(call).page,
        call.paging.offset,
        call.paging.limit,
        call.query.get("node") or None,
        state,
        flag(call, "deleted"),
    )
    return page_of(call, total, items)


# ----------------------------------------------------------------------------- users


async def user_checkpoints(call: Call) -> Page[CheckpointOut]:
    user = call.path["username"]
    if has_control(user):  # no such user can exist (a platform admin's typo)
        return page_of(call, 0, [])
    total, items = await call.service.platform.run(
        store_of(call).of_user, user, call.paging.offset, call.paging.limit
    )
    return page_of(call, total, items)


async def delete_user_checkpoint(call: Call) -> None:
    user, wanted = call.path["username"], checkpoint_id(call)
    if has_control(user):
        raise ApiError(404, f"{user!r} has no checkpoint {wanted}.")
    platform = call.service.platform
    try:
        gone = await platform.run(store_of(call).delete_of_user, user, wanted)
    except CheckpointNotFound:
        raise ApiError(404, f"{user!r} has no checkpoint {wanted}.") from None
    # target "user:<name>": a colon is in no tenant name, so the entry is in the platform's
    # audit only, not the tenant's (its admins see none of their members' checkpoints)
    await platform.run(
        platform.store.audit,
        call.actor.name,
        "checkpoint.delete",
        f"user:{user}",
        {"checkpoint": gone.id, "server": gone.server, "image": gone.image},
    )


ROUTES = [
    Route("POST", "/checkpoints", Permission.CHECKPOINTS_REPORT, create_checkpoint,
          "Start a checkpoint of a server (the checkpointer; state requested)",
          body=CheckpointIn, response=CheckpointOut, status=201),
    Route("PATCH", "/checkpoints/{checkpoint}", Permission.CHECKPOINTS_REPORT, step_checkpoint,
          "Report a checkpoint's next step (409: not allowed from its state; ready needs "
          "image and digest, and retires the ready ones beyond checkpoint.keep)",
          body=CheckpointStep, response=CheckpointStepped),
    Route("GET", "/checkpoints", Permission.CHECKPOINTS_READ_ALL, list_checkpoints,
          "Every checkpoint, oldest first (the checkpointer's restart recovery)",
          response=Page[CheckpointOut], paged=True,
          query={"node": "Only checkpoints made on this node",
                 "state": QueryParam("Only checkpoints in this state", STATES),
                 "deleted": QueryParam("Only deleted (true) or kept (false) ones",
                                       ("true", "false"))}),
    Route("GET", "/users/{username}/checkpoints", Permission.OWN_CHECKPOINTS_READ,
          user_checkpoints, "Your checkpoints, newest first (failed and skipped say why)",
          response=Page[CheckpointOut], paged=True),
    Route("DELETE", "/users/{username}/checkpoints/{checkpoint}",
          Permission.OWN_CHECKPOINTS_DELETE, delete_user_checkpoint,
          "Delete one of your checkpoints (the checkpointer removes its image)",
          status=204),
]  # fmt: skip
