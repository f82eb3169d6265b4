"""What a job run starts from: the owner's spawn plan for the job's profile, with the
image a server of theirs would start from (the latest ready checkpoint of that
profile's image, else the profile's image).

The container and pod runners build on this, so a run has exactly the resources,
labels, environment and installed packages the user's own server would have. A job
has no server of its own: its environment is the newest ready checkpoint of the
owner's server in the tenant (the default server or the one named after the tenant:
one server per tenant), decided by ``spawner.plan.checkpoint.choose_image`` as for a
spawn nobody answered: a checkpoint of an older profile image is never restored by a
job, only by a person on the spawn form.
"""

from __future__ import annotations

from collections.abc import Iterable

from hub.config.schema import PlatformConfig
from hub.service.jobs.runners.base import RunSpec
from hub.tenancy.checkpoint_store import Checkpoint, CheckpointStore
from spawner.plan import SpawnPlan, make_plan
from spawner.plan.checkpoint import ImageChoice, candidate, choose_image, with_image


class PlanError(RuntimeError):
    """The run cannot start as submitted; the message says what to change."""


def job_plan_choice(
    plan: SpawnPlan, enabled: bool, found: Iterable[tuple[Checkpoint | None, Checkpoint | None]]
) -> ImageChoice:
    """The image a job starts from. ``found``: ``CheckpointStore.restore_candidates`` for
    each server the owner may have in the tenant; the newest of them wins."""
    latests, newests = [], []
    for latest, newest in found:
        if latest is not None and latest.image:
            latests.append(latest)
        if newest is not None and newest.image:
            newests.append(newest)

    def newest_of(checkpoints: list[Checkpoint]) -> Checkpoint | None:
        return max(checkpoints, key=lambda c: (c.created_at, c.id)) if checkpoints else None

    return choose_image(
        plan.image, enabled, candidate(newest_of(latests)), candidate(newest_of(newests)), None
    )


def job_plan(
    config: PlatformConfig, checkpoints: CheckpointStore | None, spec: RunSpec
) -> tuple[SpawnPlan, ImageChoice]:
    """The plan of one run and why its image; PlanError when it cannot start."""
    profile = config.profile(spec.profile)
    if profile is None:
        names = ", ".join(p.name for p in config.profiles) or "none"
        raise PlanError(
            f"profile {spec.profile!r} is no longer offered by the platform (profiles: "
            f"{names}); submit the job again with another profile"
        )
    plan = make_plan(spec.tenant, profile, spec.owner, "")
    enabled = bool(config.checkpoint.enabled and plan.checkpoint)
    found = []
    if enabled and checkpoints is not None:
        for server in dict.fromkeys(("", spec.tenant)):
            found.append(
                checkpoints.restore_candidates(
                    spec.owner, server, spec.tenant, plan.profile, plan.image
                )
            )
    choice = job_plan_choice(plan, enabled, found)
    return with_image(plan, choice), choice
