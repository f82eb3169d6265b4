"""What a job run starts from: the owner's spawn plan for the job's profile, with the
image a server of theirs would start from (the latest ready checkpoint of that
profile's image, else the profile's image).

The container and pod runners build on this, so a run has exactly the resources,
labels, environment and installed packages the user's own server would have. The
checkpoint is the one of the user's default server (jobs have no server of their
own); when the profile's image changed since, the run starts fresh, as a spawn does
when nobody answers the form's "restore my environment".
"""

from __future__ import annotations

from hub.config.schema import PlatformConfig
from hub.service.jobs.runners.base import RunSpec
from hub.tenancy.checkpoint_store import CheckpointStore
from spawner.plan import SpawnPlan, make_plan
from spawner.plan.checkpoint import candidate, choose_image, with_image

#: jobs use the checkpoints of the user's default server
SERVER = ""


def job_plan(
    config: PlatformConfig, checkpoints: CheckpointStore | None, spec: RunSpec
) -> SpawnPlan:
    """The plan of one run; raises with a reason a person reads when it cannot start."""
    profile = config.profile(spec.profile)
    if profile is None:
        raise RuntimeError(
            f"the profile {spec.profile!r} no longer exists; submit the job with another"
        )
    plan = make_plan(spec.tenant, profile, spec.owner, SERVER)
    enabled = bool(config.checkpoint.enabled and plan.checkpoint and checkpoints is not None)
    latest = newest = None
    if enabled and checkpoints is not None:
        latest, newest = checkpoints.restore_candidates(
            spec.owner, SERVER, spec.tenant, spec.profile, plan.image
        )
    choice = choose_image(plan.image, enabled, candidate(latest), candidate(newest), None)
    return with_image(plan, choice)
