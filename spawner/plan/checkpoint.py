"""Which image a server starts from: its latest checkpoint, or its profile's image (pure).

A checkpoint is an image of the user's server (packages installed, files outside
the home) made by the checkpointer. The spawner looks up two ready checkpoints of
the same (user, server, tenant, profile) in the platform DB -- the newest made
from the profile's *current* image, and the newest of any image -- and this
module decides, from those and the user's answer on the spawn form:

- checkpoints off (platform or profile): the profile's image;
- the newest checkpoint was made from the current image: restore it;
- the newest was made from an older image (the platform changed the profile's
  image since): the form asks. ``restore`` starts the old environment;
  ``fresh`` (also what a start without an answer gets, e.g. from the REST API)
  starts from the latest checkpoint of the current image if there is one, else
  from the new image itself.

The DB lookup and the form are the spawner's; the decision is here, with the
answer as an input, so it is tested without either.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Literal

from spawner.plan import SpawnPlan

if TYPE_CHECKING:
    from hub.tenancy.checkpoint_store import Checkpoint

Answer = Literal["restore", "fresh"]
ANSWERS: tuple[Answer, ...] = ("restore", "fresh")
#: env var telling the server (and the user, in a terminal) which checkpoint it runs
CHECKPOINT_ENV = "TENANTHUB_CHECKPOINT"


@dataclass(frozen=True)
class Candidate:
    """A ready checkpoint as the spawn needs it."""

    id: int
    image: str
    base_image: str
    created_at: str  # ISO 8601, shown on the form


def candidate(checkpoint: Checkpoint | None) -> Candidate | None:
    """A stored checkpoint record as a restore candidate (None: none, or no image yet)."""
    if checkpoint is None or not checkpoint.image:
        return None
    return Candidate(
        checkpoint.id, checkpoint.image, checkpoint.base_image, checkpoint.created_at.isoformat()
    )


@dataclass(frozen=True)
class ImageChoice:
    """What the server starts from; ``checkpoint``: which one, None for the profile image.

    ``offer``: a checkpoint of an older base image the form should offer to restore.
    """

    image: str
    checkpoint: Candidate | None
    offer: Candidate | None
    reason: str


def choose_image(
    profile_image: str,
    enabled: bool,
    latest: Candidate | None,
    newest: Candidate | None,
    answer: Answer | None,
) -> ImageChoice:
    """The image to start ``profile_image``'s server from (see the module docstring).

    ``latest``: newest ready checkpoint made from ``profile_image``; ``newest``: newest
    ready checkpoint of any base image (the same one when it was made from it).
    """
    if not enabled:
        return ImageChoice(profile_image, None, None, "checkpoints are off for this profile")
    if newest is None:
        return ImageChoice(profile_image, None, None, "no checkpoint yet")
    if newest.base_image == profile_image:
        return ImageChoice(newest.image, newest, None, "latest checkpoint of this image")
    if answer == "restore":
        return ImageChoice(newest.image, newest, newest, "restore chosen: older image kept")
    if latest is not None and latest.base_image == profile_image:
        return ImageChoice(latest.image, latest, newest, "latest checkpoint of the new image")
    return ImageChoice(profile_image, None, newest, "the profile's image changed: fresh start")


def with_image(plan: SpawnPlan, choice: ImageChoice) -> SpawnPlan:
    """The plan starting from ``choice``: its image, and which checkpoint in the env."""
    if choice.checkpoint is None:
        return replace(plan, image=choice.image)
    env = {**plan.env, CHECKPOINT_ENV: str(choice.checkpoint.id)}
    return replace(plan, image=choice.image, env=env)


def parse_answer(value: object) -> Answer | None:
    """The form's answer, or None; anything but restore/fresh is a ValueError."""
    if value is None or value == "":
        return None
    if value not in ANSWERS:
        raise ValueError(f"checkpoint must be 'restore' or 'fresh', not {value!r}")
    return value


def not_saved_notice(state: str | None, size_bytes: int | None, message: str) -> str | None:
    """What the spawn form tells the user about their server's newest checkpoint attempt.

    Only what they can act on or should know before starting: a checkpoint that
    failed, or one skipped because the changes were over the size limit (that skip
    records the measured size). A skip because nothing changed, or an attempt still
    in progress or ready, says nothing.
    """
    if state == "failed" or (state == "skipped" and size_bytes is not None):
        return message or "Your environment was not saved the last time."
    return None
