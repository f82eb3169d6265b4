"""Checkpoint metrics, served by the checkpointer's endpoint on ``GET /metrics``.

Labels: ``tenant``, ``profile`` (from the server's labels, which the spawner set from
the platform's config), ``state`` (how the checkpoint ended: ready, skipped, failed)
and ``reason`` (the step that failed, ``REASONS``): never a user, server or image name.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

CHECKPOINT_DURATION = Histogram(
    "tenanthub_checkpoint_duration_seconds",
    "Time of one checkpoint, from its record to ready, skipped or failed.",
    ["tenant", "profile", "state"],
    buckets=(0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600, 1800),
    registry=REGISTRY,
)
CHECKPOINT_SIZE = Histogram(
    "tenanthub_checkpoint_size_bytes",
    "Size of the layer a ready checkpoint saved.",
    ["tenant", "profile"],
    buckets=tuple(float(2**n) for n in range(16, 36, 2)),  # 64 KiB .. 16 GiB
    registry=REGISTRY,
)
CHECKPOINT_FAILURES = Counter(
    "tenanthub_checkpoint_failures",
    "Checkpoints that failed, by the step that failed.",
    ["tenant", "profile", "reason"],
    registry=REGISTRY,
)

#: the daemon's step sentence -> reason label
STEPS = {
    "measuring the changes": "measure",
    "committing the container": "commit",
    "verifying the image": "verify",
    "pushing the image to the registry": "push",
}
REASONS = (*STEPS.values(), "platform", "other")


def step_reason(step: str) -> str:
    return STEPS.get(step, "other")
