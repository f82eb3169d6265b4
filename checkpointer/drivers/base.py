"""The one interface between the checkpointer and a container runtime.

The daemon decides (idle policy, lifecycle, retention: pure modules); a driver
only does what a runtime can: find TenantHub's containers, tell cheaply whether
a container's writable layer changed since a mark, commit it to an image with
labels, check that image, push it, pull it, remove it. Anything
runtime-specific (Docker's overlay2 paths, containerd snapshots) stays behind
this Protocol.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class ContainerRef:
    id: str
    name: str
    labels: Mapping[str, str]
    #: the image id the container runs
    image: str
    running: bool
    #: the image name it was created from (``Config.Image``), e.g. the profile image
    image_name: str = ""


@dataclass(frozen=True)
class ImageRef:
    repository: str
    tag: str
    id: str = ""
    size: int = 0
    #: the registry's manifest digest, once pushed
    digest: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)

    @property
    def ref(self) -> str:
        return f"{self.repository}:{self.tag}"


@dataclass(frozen=True)
class ChangeMark:
    """Taken right before a commit; ``changed_since`` compares the container against it.

    Whatever is written after the mark (including during the commit) counts as
    a change, so a write can only cause one checkpoint too many, never one too few.
    """

    container_id: str
    taken_at_ns: int


class DriverError(RuntimeError):
    """A runtime or registry operation failed; the message says which and why."""


class VerificationFailed(DriverError):
    """The committed image is not what was asked for (labels, size, base)."""


class NothingToSave(VerificationFailed):
    """The committed image adds no layer: the writable layer held nothing (the engine
    drops an empty diff). Not a failure: there is nothing to checkpoint."""


class ImageInUse(DriverError):
    """The engine refuses to remove an image a container still uses (retry later)."""


class RuntimeDriver(Protocol):
    def containers(self, labels: Mapping[str, str]) -> list[ContainerRef]:
        """Containers carrying all of ``labels`` (running or not)."""
        ...

    def mark(self, container: ContainerRef) -> ChangeMark:
        """A mark to take right before committing ``container``."""
        ...

    def changed_since(self, container: ContainerRef, mark: ChangeMark | None) -> bool:
        """Has the writable layer changed since ``mark``? Cheap; True when unsure."""
        ...

    def diff_size(self, container: ContainerRef) -> int:
        """Bytes in the container's writable layer."""
        ...

    def commit(
        self, container: ContainerRef, repository: str, tag: str, labels: Mapping[str, str]
    ) -> ImageRef:
        """Commit the writable layer to ``repository:tag`` (a tag no other image has)."""
        ...

    def verify(
        self,
        image: ImageRef,
        expected_labels: Mapping[str, str],
        built_on: str | None = None,
    ) -> None:
        """Raise VerificationFailed unless the image has the labels, a size, and the base."""
        ...

    def layer_count(self, image: str) -> int:
        """How many layers the image has (engines refuse images of more than 127)."""
        ...

    def top_layer(self, image: ImageRef | str) -> str:
        """The content digest of the image's newest layer (same content, same digest)."""
        ...

    def push(self, image: ImageRef) -> str:
        """Push to the registry in the repository's name; return the manifest digest.

        Returns when the registry has the image; the engine's own copy of a checkpoint
        that was not an engine image yet may still be loading (:meth:`wait_loads`).
        """
        ...

    def wait_loads(self, timeout: float | None = None) -> bool:
        """Wait for the engine copies still loading after a push; True when all ended."""
        ...

    def finish_loads(self) -> list[str]:
        """At start: load what a stopped daemon had pushed but not loaded; its refs."""
        ...

    def pull(self, image: ImageRef) -> ImageRef:
        """Pull by digest when known, else by tag; return the local image."""
        ...

    def remove(self, image: ImageRef, *, registry: bool = True) -> None:
        """Remove the tag from the engine and (by digest) the manifest from the registry.

        Idempotent: what is already gone is not an error.
        """
        ...

    def checkpoint_images(self) -> list[ImageRef]:
        """Local images carrying a ``tenanthub.io/checkpoint-id`` label."""
        ...
