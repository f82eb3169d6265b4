"""The checkpoint state machine, crash recovery and retention (pure).

A checkpoint goes ``requested -> committing -> verifying -> pushing -> ready``;
any state that is not final may go to ``failed`` (with a message a person can
act on) or, before the push, to ``skipped`` (nothing changed since the last
checkpoint, or the diff is over ``max_diff_bytes``; the message says which).
``ready``, ``failed`` and ``skipped`` are final. Only ``ready`` checkpoints can
be a user's latest, and a record becomes ``ready`` only after its image is
verified and in the registry, so whatever step a daemon dies in, the previous
ready checkpoint is still the latest and still pullable.

The platform API enforces the same transitions by calling
:func:`transition_problem`; the daemon walks them. :func:`recover` decides what
a restarted daemon does with what its predecessor left behind, and
:func:`expired` which ready checkpoints retention removes.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol, TypeVar


class State(StrEnum):
    REQUESTED = "requested"
    COMMITTING = "committing"
    VERIFYING = "verifying"
    PUSHING = "pushing"
    READY = "ready"
    FAILED = "failed"
    SKIPPED = "skipped"


#: The happy path, in order.
PATH = (State.REQUESTED, State.COMMITTING, State.VERIFYING, State.PUSHING, State.READY)
FINAL = frozenset({State.READY, State.FAILED, State.SKIPPED})

TRANSITIONS: dict[State, frozenset[State]] = {
    State.REQUESTED: frozenset({State.COMMITTING, State.SKIPPED, State.FAILED}),
    # skipped after a commit: the fallback unchanged check compares the new
    # image's layer with the previous checkpoint's (then the new image is removed)
    State.COMMITTING: frozenset({State.VERIFYING, State.SKIPPED, State.FAILED}),
    State.VERIFYING: frozenset({State.PUSHING, State.SKIPPED, State.FAILED}),
    State.PUSHING: frozenset({State.READY, State.FAILED}),
    State.READY: frozenset(),
    State.FAILED: frozenset(),
    State.SKIPPED: frozenset(),
}


class IllegalTransition(ValueError):
    """A state change the lifecycle does not allow; the message says what would be."""


def parse_state(value: str) -> State:
    try:
        return State(value)
    except ValueError:
        names = ", ".join(s.value for s in State)
        raise IllegalTransition(f"unknown checkpoint state {value!r}; one of: {names}") from None


def transition_problem(
    current: State,
    new: State,
    *,
    image: str | None = None,
    digest: str | None = None,
    message: str | None = None,
) -> str | None:
    """Why ``current -> new`` (with these fields) is not allowed, or None when it is.

    Repeating the current state of a checkpoint that is not final is allowed (a
    daemon retrying a request whose answer it lost). ``ready`` needs the image
    and its registry digest; ``failed`` and ``skipped`` need a message for the user.
    """
    if current == new and current not in FINAL:
        return None
    if current in FINAL:
        return f"the checkpoint is already {current.value}; {current.value} is final"
    if new not in TRANSITIONS[current]:
        allowed = ", ".join(sorted(s.value for s in TRANSITIONS[current]))
        return f"a {current.value} checkpoint can become {allowed}; not {new.value}"
    if new is State.READY and not (image and digest):
        return "a checkpoint becomes ready only with its image and registry digest"
    if new in (State.FAILED, State.SKIPPED) and not (message and message.strip()):
        return f"a {new.value} checkpoint needs a message that tells the user why"
    return None


def check_transition(
    current: State,
    new: State,
    *,
    image: str | None = None,
    digest: str | None = None,
    message: str | None = None,
) -> None:
    problem = transition_problem(current, new, image=image, digest=digest, message=message)
    if problem:
        raise IllegalTransition(problem)


def remaining(state: State) -> tuple[State, ...]:
    """The states still to pass through from ``state`` to ``ready`` (empty when final)."""
    if state in FINAL:
        return ()
    return PATH[PATH.index(state) + 1 :]


def resume_steps(state: State) -> tuple[State, ...]:
    """The states a resumed checkpoint enters, starting from ``state`` with its image made.

    The current state is entered again when its work may not have finished
    (a repeat is allowed by :func:`transition_problem`); ``requested`` passes
    through ``committing`` because the lifecycle has no shortcut.
    """
    if state is State.REQUESTED:
        return (State.COMMITTING, State.VERIFYING, State.PUSHING, State.READY)
    if state is State.COMMITTING:
        return (State.VERIFYING, State.PUSHING, State.READY)
    if state in FINAL:
        return ()
    return (state, *remaining(state))


# --- crash recovery ---------------------------------------------------------


@dataclass(frozen=True)
class Record:
    """What the platform API says about one checkpoint of this node."""

    id: str
    state: State
    tenant: str
    user: str
    server: str
    created_at: datetime
    image: str | None = None  # repository:tag
    digest: str | None = None
    deleted: bool = False


@dataclass(frozen=True)
class LocalImage:
    """A checkpoint image on this node's engine (found by its checkpoint-id label)."""

    checkpoint_id: str
    id: str
    refs: tuple[str, ...] = ()
    #: (tenant, user, server) from the image's labels; None when it has none of them
    owner: tuple[str, str, str] | None = None

    def belongs_to(self, record: Record) -> bool:
        """Ids are only unique within one platform: another platform (or test hub)
        sharing the engine numbers its checkpoints from 1 too. An image is a record's
        only when its owner labels say the same tenant, user and server."""
        return self.owner is None or self.owner == (record.tenant, record.user, record.server)


@dataclass(frozen=True)
class Resume:
    """Finish a checkpoint whose image is committed: enter each of ``steps`` in turn.

    Entering a state means recording it, then doing its work (verify, push,
    mark ready); ``committing``'s work is done already (the image exists), so a
    resume never commits again.
    """

    record: Record
    image: LocalImage
    steps: tuple[State, ...]


@dataclass(frozen=True)
class Fail:
    record: Record
    message: str


@dataclass(frozen=True)
class RemoteRemoval:
    """A manifest to delete from the registry: by digest, or by the tag when none is known."""

    image: str
    digest: str | None


@dataclass(frozen=True)
class RecoveryPlan:
    resume: tuple[Resume, ...] = ()
    fail: tuple[Fail, ...] = ()
    remove_local: tuple[LocalImage, ...] = ()
    remove_remote: tuple[RemoteRemoval, ...] = ()
    #: images whose checkpoint this node has no record of: restored (pulled) from
    #: another node, or unknown; never removed on that ground alone
    unknown: tuple[LocalImage, ...] = ()


def interrupted_message(state: State) -> str:
    return (
        f"The checkpointer stopped while this checkpoint was {state.value}; nothing of it is "
        "used and your previous checkpoint is still the one restored. A new checkpoint is "
        "taken the next time the server is idle."
    )


def superseded_message() -> str:
    return (
        "The checkpointer stopped before this checkpoint was finished, and a newer one "
        "is ready since; this one was dropped."
    )


def recover(records: Iterable[Record], images: Iterable[LocalImage]) -> RecoveryPlan:
    """What a restarted daemon finishes, fails and removes, given its node's records and images.

    - ``ready`` and not deleted: untouched (it may be some user's latest).
    - not final, its image committed (present here): finished (verify, push,
      ready), unless a newer ready checkpoint of the same server exists, then failed
      and removed; not final without an image: failed, and a tag it may have pushed
      is removed from the registry.
    - ``failed`` / ``skipped``: leftover images removed (engine, and registry if
      it had got that far).
    - deleted by the user: image removed from the engine and the registry.
    - an image whose checkpoint is not among the records is left alone (it is
      reported as unknown): checkpoints restored from the registry carry the
      label too. So is an image with a record's id but another owner (tenant,
      user, server): it is some other platform's checkpoint on a shared engine,
      never to be finished or removed as this one.
    """
    records = list(records)
    local: dict[str, list[LocalImage]] = defaultdict(list)
    for image in images:
        local[image.checkpoint_id].append(image)
    newest_ready: dict[tuple[str, str, str], datetime] = {}
    for r in records:
        if r.state is State.READY and not r.deleted:
            key = (r.tenant, r.user, r.server)
            newest_ready[key] = max(newest_ready.get(key, r.created_at), r.created_at)

    resume: list[Resume] = []
    fail: list[Fail] = []
    remove_local: list[LocalImage] = []
    remove_remote: list[RemoteRemoval] = []
    claimed: set[LocalImage] = set()
    for r in records:
        mine = [image for image in local.get(r.id, []) if image.belongs_to(r)]
        claimed.update(mine)
        if r.deleted:
            remove_local.extend(mine)
            if r.image:
                remove_remote.append(RemoteRemoval(r.image, r.digest))
            continue
        if r.state is State.READY:
            continue
        if r.state in (State.FAILED, State.SKIPPED):
            remove_local.extend(mine)
            if r.image:
                remove_remote.append(RemoteRemoval(r.image, r.digest))
            continue
        newer = newest_ready.get((r.tenant, r.user, r.server))
        if mine and (newer is None or newer < r.created_at):
            resume.append(Resume(r, mine[0], resume_steps(r.state)))
            remove_local.extend(mine[1:])
            continue
        message = superseded_message() if mine else interrupted_message(r.state)
        fail.append(Fail(r, message))
        remove_local.extend(mine)
        if r.image and r.state is State.PUSHING:
            remove_remote.append(RemoteRemoval(r.image, r.digest))
    unknown = tuple(img for imgs in local.values() for img in imgs if img not in claimed)
    return RecoveryPlan(
        tuple(resume), tuple(fail), tuple(remove_local), tuple(remove_remote), unknown
    )


# --- retention ----------------------------------------------------------------


class Retained(Protocol):
    """The fields retention reads (the API's rows and :class:`Record` both have them)."""

    @property
    def id(self) -> object: ...
    @property
    def state(self) -> str: ...
    @property
    def tenant(self) -> str: ...
    @property
    def user(self) -> str: ...
    @property
    def server(self) -> str: ...
    @property
    def created_at(self) -> datetime: ...


R = TypeVar("R", bound=Retained)


def expired(records: Iterable[R], keep: int, protect: Collection[object] = ()) -> list[R]:
    """Ready checkpoints beyond the newest ``keep`` of each (tenant, user, server).

    Newest by ``created_at`` (the time of the snapshot, not when it became
    ready), ties broken by id. Only ``ready`` ones count and are returned;
    checkpoints in flight, failed or skipped are never retention's business.
    ``protect`` holds ids never to return (for example the image a running
    server uses); they still count towards ``keep``.
    """
    if keep < 1:
        raise ValueError("checkpoint.keep must be at least 1")
    groups: dict[tuple[str, str, str], list[R]] = defaultdict(list)
    for r in records:
        if r.state == State.READY:
            groups[(r.tenant, r.user, r.server)].append(r)
    out: list[R] = []
    for items in groups.values():
        items.sort(key=lambda r: (r.created_at, str(r.id)), reverse=True)
        out.extend(r for r in items[keep:] if r.id not in protect)
    out.sort(key=lambda r: (r.created_at, str(r.id)))
    return out


def latest(records: Sequence[R]) -> R | None:
    """The newest ready checkpoint among ``records`` (already filtered to one key)."""
    ready = [r for r in records if r.state == State.READY]
    return max(ready, key=lambda r: (r.created_at, str(r.id))) if ready else None
