"""The Docker runtime driver (docker SDK + the registry's HTTP API v2).

The unchanged check is the one part that is not a plain SDK call. ``docker
commit`` of an unchanged container costs as much as of a changed one (it tars
the whole writable layer: seconds for hundreds of MB), and ``container.diff()``
lists every path of the upper layer without telling whether a file changed
again. With overlay2 the engine reports the writable layer's directory
(``GraphDriver.Data.UpperDir``); every write, create, delete (a whiteout),
rename or chmod inside the container updates the *ctime* of something in that
directory tree, and ctime cannot be set from user space. So a mark is a time
taken just before the commit, and "changed since" is "is any entry's ctime at or
after the mark": a walk of ``lstat`` calls that stops at the first newer entry
and reads no file content. When the upper directory cannot be read (another
storage driver, or a daemon that sees only the runtime socket) the answer is
"changed" and the caller falls back to comparing the new image's top layer with
the previous checkpoint's (:meth:`DockerDriver.top_layer`), then drops it.

Registry removal deletes the manifest by digest (``DELETE /v2/<name>/manifests/
<digest>``), which needs ``storage.delete.enabled: true`` in the registry's
config; blobs are reclaimed by the registry's garbage collector, not here.
"""

from __future__ import annotations

import logging
import os
import stat
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import docker
import docker.errors

from checkpointer.drivers.base import (
    ChangeMark,
    ContainerRef,
    DriverError,
    ImageInUse,
    ImageRef,
    NothingToSave,
    VerificationFailed,
)
from checkpointer.drivers.direct import DirectPath
from checkpointer.layers.compress import GzipSettings
from checkpointer.layers.staging import STAGED_ID_PREFIX, Staged, Staging
from checkpointer.layers.tarstream import NotNativeDiff
from checkpointer.names import LABEL_CHECKPOINT_ID
from checkpointer.registry_client import (
    MANIFEST_TYPES,
    RegistryClient,
    registry_scheme,
    split_repository,
)

log = logging.getLogger(__name__)

#: Kernel timestamps come from a coarse clock that may trail time.time_ns() by a
#: tick (1-10 ms); a mark this far in the past makes sure no write after it looks older.
MARK_MARGIN_NS = 20_000_000

#: ``layers`` (default): the layer-direct path (checkpointer/drivers/direct.py) where the
#: engine's overlay2 upper directory is readable; ``engine``: always ``docker commit`` +
#: ``docker push`` (e.g. a registry that asks for credentials only the engine holds)
COMMIT_ENV = "TENANTHUB_CHECKPOINTER_COMMIT"
#: where committed layers wait for their push (default /var/lib/tenanthub-checkpointer/staging)
STAGING_ENV = "TENANTHUB_CHECKPOINTER_STAGING"
DEFAULT_STAGING = "/var/lib/tenanthub-checkpointer/staging"
#: gzip level of uploaded layers (1; 0 stores) and compression threads (default: CPUs)
GZIP_LEVEL_ENV = "TENANTHUB_CHECKPOINTER_GZIP_LEVEL"
GZIP_WORKERS_ENV = "TENANTHUB_CHECKPOINTER_GZIP_WORKERS"

__all__ = ["MANIFEST_TYPES", "DockerDriver", "newer_entry", "registry_scheme", "split_repository"]


@dataclass(frozen=True)
class WalkResult:
    changed: bool
    entries: int
    seconds: float


def newer_entry(root: str, since_ns: int) -> WalkResult:
    """Walk ``root`` (no links followed); stop at the first entry changed at/after ``since_ns``."""
    started = time.perf_counter()
    entries = 0
    try:
        top = os.lstat(root)
    except OSError as exc:
        raise DriverError(f"cannot read the writable layer at {root}: {exc}") from exc
    if max(top.st_ctime_ns, top.st_mtime_ns) >= since_ns:
        return WalkResult(True, 1, time.perf_counter() - started)
    stack = [root]
    while stack:
        path = stack.pop()
        try:
            with os.scandir(path) as it:
                for entry in it:
                    entries += 1
                    st = entry.stat(follow_symlinks=False)
                    if max(st.st_ctime_ns, st.st_mtime_ns) >= since_ns:
                        return WalkResult(True, entries, time.perf_counter() - started)
                    if stat.S_ISDIR(st.st_mode):
                        stack.append(entry.path)
        except FileNotFoundError:
            # removed while we looked: that is a change
            return WalkResult(True, entries, time.perf_counter() - started)
    return WalkResult(False, entries, time.perf_counter() - started)


def tree_size(root: str) -> int:
    """Bytes of the files under ``root`` (hard links once), like the engine's SizeRw."""
    total = 0
    seen: set[tuple[int, int]] = set()
    stack = [root]
    while stack:
        with os.scandir(stack.pop()) as it:
            for entry in it:
                st = entry.stat(follow_symlinks=False)
                if stat.S_ISDIR(st.st_mode):
                    stack.append(entry.path)
                    continue
                if st.st_nlink > 1:
                    key = (st.st_dev, st.st_ino)
                    if key in seen:
                        continue
                    seen.add(key)
                total += st.st_size
    return total


class DockerDriver:
    """RuntimeDriver for a Docker engine (overlay2 for the cheap unchanged check)."""

    def __init__(
        self,
        client: docker.DockerClient | None = None,
        *,
        registry_timeout: float = 30.0,
        mode: str | None = None,
        staging: str | None = None,
        gzip: GzipSettings | None = None,
    ) -> None:
        self.client = client or docker.from_env()
        self.registry_timeout = registry_timeout
        self.registry = RegistryClient(timeout=max(registry_timeout, 60.0))
        #: the walk behind the last changed_since answer (None: no walk; for logs and benchmarks)
        self.last_check: WalkResult | None = None
        self.mode = (mode or os.environ.get(COMMIT_ENV) or "layers").strip().lower()
        if self.mode not in ("layers", "engine"):
            raise DriverError(f"{COMMIT_ENV} is {self.mode!r}; use 'layers' or 'engine'")
        self.staging = Staging(staging or os.environ.get(STAGING_ENV) or DEFAULT_STAGING)
        self.gzip = gzip or GzipSettings(
            level=int(os.environ.get(GZIP_LEVEL_ENV) or 1),
            workers=int(os.environ.get(GZIP_WORKERS_ENV) or os.cpu_count() or 2),
        )
        self.direct = DirectPath(self.client, self.staging, self.registry, self.gzip)
        self._native_diff: bool | None = None
        #: how the last commit was made: "layers" or "engine" (for logs, tests, benchmarks)
        self.last_commit_path = ""

    # --- containers -----------------------------------------------------------------

    def containers(self, labels: Mapping[str, str]) -> list[ContainerRef]:
        filters = {"label": [f"{k}={v}" for k, v in labels.items()]}
        out = []
        for c in self.client.api.containers(all=True, filters=filters):
            info = self.client.api.inspect_container(c["Id"])
            out.append(self._ref(info))
        return out

    def container(self, container_id: str) -> ContainerRef:
        return self._ref(self._inspect_container(container_id))

    def _ref(self, info: Mapping[str, Any]) -> ContainerRef:
        config = info.get("Config") or {}
        return ContainerRef(
            id=info["Id"],
            name=str(info.get("Name", "")).lstrip("/"),
            labels=dict(config.get("Labels") or {}),
            image=info.get("Image", ""),
            running=bool((info.get("State") or {}).get("Running")),
            image_name=config.get("Image", ""),
        )

    def _inspect_container(self, container_id: str) -> dict[str, Any]:
        try:
            return dict(self.client.api.inspect_container(container_id))
        except docker.errors.NotFound as exc:
            raise DriverError(f"container {container_id[:12]} no longer exists") from exc

    def upper_dir(self, container: ContainerRef) -> str | None:
        """The writable layer's directory, when the engine uses overlay2 and we can read it."""
        info = self._inspect_container(container.id)
        driver = info.get("GraphDriver") or {}
        upper = (driver.get("Data") or {}).get("UpperDir")
        if driver.get("Name") not in ("overlay2", "overlay") or not upper:
            return None
        return upper if os.access(upper, os.R_OK | os.X_OK) else None

    # --- change detection -------------------------------------------------------------

    def mark(self, container: ContainerRef) -> ChangeMark:
        return ChangeMark(container.id, time.time_ns() - MARK_MARGIN_NS)

    def changed_since(self, container: ContainerRef, mark: ChangeMark | None) -> bool:
        self.last_check = None
        if mark is None or mark.container_id != container.id:
            return True
        upper = self.upper_dir(container)
        if upper is None:
            log.info(
                "container %s: writable layer not readable here; treating it as changed "
                "(the new image's layer is compared with the last checkpoint's instead)",
                container.name,
            )
            return True
        result = newer_entry(upper, mark.taken_at_ns)
        self.last_check = result
        log.debug(
            "container %s: %s after %d entries in %.1f ms",
            container.name,
            "changed" if result.changed else "unchanged",
            result.entries,
            result.seconds * 1000,
        )
        return result.changed

    def diff_size(self, container: ContainerRef) -> int:
        upper = self.upper_dir(container)
        if upper is not None:
            return tree_size(upper)
        rows = self.client.api.containers(all=True, size=True, filters={"id": container.id})
        if not rows:
            raise DriverError(f"container {container.name} no longer exists")
        return int(rows[0].get("SizeRw") or 0)

    # --- images -------------------------------------------------------------------

    def native_diff(self) -> bool:
        """Does the engine's overlay2 keep a self-contained diff in UpperDir (no
        redirect_dir/metacopy)? The engine says so in ``docker info``."""
        if self._native_diff is None:
            status = dict(self.client.api.info().get("DriverStatus") or [])
            self._native_diff = str(status.get("Native Overlay Diff", "")).lower() == "true"
        return self._native_diff

    def commit(
        self, container: ContainerRef, repository: str, tag: str, labels: Mapping[str, str]
    ) -> ImageRef:
        """Commit the writable layer, with the container's *image* configuration.

        Layer-direct when the upper directory is readable (see checkpointer/drivers/
        direct.py): the result is staged, not yet an engine image (its id starts with
        ``staged:``); ``push`` uploads and loads it. Otherwise ``docker commit``.
        """
        ref = f"{repository}:{tag}"
        try:
            self.client.api.inspect_image(ref)
        except docker.errors.ImageNotFound:
            pass
        else:
            raise DriverError(f"{ref} exists already; a checkpoint is committed to a new tag")
        if self.staging.find(ref=ref):
            raise DriverError(f"{ref} exists already; a checkpoint is committed to a new tag")
        info = self._inspect_container(container.id)
        upper = self.upper_dir(container) if self.mode == "layers" else None
        if upper is not None and self.native_diff() and self.staging.usable():
            try:
                staged = self.direct.commit(info, upper, repository, tag, labels)
            except NotNativeDiff as exc:
                log.info("container %s: %s; the engine commits instead", container.name, exc)
            except OSError as exc:
                raise DriverError(f"commit of {container.name} failed: {exc}") from exc
            except docker.errors.APIError as exc:
                raise DriverError(f"commit of {container.name} failed: {exc.explanation}") from exc
            else:
                self.last_commit_path = "layers"
                return self._staged_ref(staged)
        self.last_commit_path = "engine"
        return self._engine_commit(container, info, repository, tag, labels)

    @staticmethod
    def _staged_ref(staged: Staged) -> ImageRef:
        return ImageRef(
            repository=staged.meta.repository,
            tag=staged.meta.tag,
            id=staged.id,
            size=staged.meta.size,
            labels=dict(staged.meta.labels),
        )

    def _staged(self, image: ImageRef | str) -> Staged | None:
        if isinstance(image, str):
            found = self.staging.find(image_id=image, ref=image)
        else:
            found = self.staging.find(image_id=image.id) or (
                self.staging.find(ref=image.ref) if image.tag else []
            )
        return found[0] if found else None

    def _engine_commit(
        self,
        container: ContainerRef,
        info: Mapping[str, Any],
        repository: str,
        tag: str,
        labels: Mapping[str, str],
    ) -> ImageRef:
        """``docker commit`` with the image's config, never the container's own.

        The engine merges the container's config into a commit's: its
        environment holds the server's hub API token and OAuth client secrets,
        which must not end up in an image in the registry. So the commit gets the
        image's Env, Cmd, Entrypoint, WorkingDir and User, and every variable the
        container added is listed with an empty value (a listed key is not merged).
        """
        image_config = self.client.api.inspect_image(info["Image"]).get("Config") or {}
        image_env = list(image_config.get("Env") or [])
        image_keys = {e.split("=", 1)[0] for e in image_env}
        added = []
        for item in (info.get("Config") or {}).get("Env") or []:
            key = item.split("=", 1)[0]
            if key not in image_keys:
                added.append(f"{key}=")
        conf = {
            "Env": image_env + added,
            "Cmd": image_config.get("Cmd"),
            "Entrypoint": image_config.get("Entrypoint"),
            "WorkingDir": image_config.get("WorkingDir") or "",
            "User": image_config.get("User") or "",
            "Labels": {**(image_config.get("Labels") or {}), **labels},
        }
        try:
            result = self.client.api.commit(
                container.id,
                repository=repository,
                tag=tag,
                conf=conf,
                pause=True,
                message="tenanthub checkpoint",
            )
        except docker.errors.APIError as exc:
            raise DriverError(f"commit of {container.name} failed: {exc.explanation}") from exc
        return self._image(repository, tag, result["Id"])

    def _image(self, repository: str, tag: str, image_id: str | None = None) -> ImageRef:
        info = self.client.api.inspect_image(image_id or f"{repository}:{tag}")
        return ImageRef(
            repository=repository,
            tag=tag,
            id=info["Id"],
            size=int(info.get("Size") or 0),
            digest=_digest_for(info, repository),
            labels=dict((info.get("Config") or {}).get("Labels") or {}),
        )

    def verify(
        self,
        image: ImageRef,
        expected_labels: Mapping[str, str],
        built_on: str | None = None,
    ) -> None:
        """Labels as asked, a size, the tag in place, and (``built_on``) that base + one layer."""
        staged = self._staged(image)
        if staged is not None:
            self._verify_staged(staged, image, expected_labels, built_on)
            return
        try:
            info = self.client.api.inspect_image(image.id or image.ref)
        except docker.errors.ImageNotFound as exc:
            raise VerificationFailed(f"{image.ref}: the committed image is missing") from exc
        labels = (info.get("Config") or {}).get("Labels") or {}
        wrong = {k: labels.get(k) for k, v in expected_labels.items() if labels.get(k) != v}
        if wrong:
            raise VerificationFailed(f"{image.ref}: labels differ from the checkpoint's: {wrong}")
        if image.ref not in (info.get("RepoTags") or []):
            raise VerificationFailed(f"{image.ref}: the tag does not point at {info['Id'][:19]}")
        if not int(info.get("Size") or 0) > 0:
            raise VerificationFailed(f"{image.ref}: the image has no size")
        if built_on:
            base = self.client.api.inspect_image(built_on)
            base_layers = list((base.get("RootFS") or {}).get("Layers") or [])
            layers = list((info.get("RootFS") or {}).get("Layers") or [])
            if layers == base_layers:
                raise NothingToSave(f"{image.ref}: nothing outside the volumes was written")
            if layers[: len(base_layers)] != base_layers or len(layers) != len(base_layers) + 1:
                raise VerificationFailed(
                    f"{image.ref}: expected the layers of {built_on} plus one; "
                    f"it has {len(layers)} layers, the base {len(base_layers)}"
                )

    def _verify_staged(
        self,
        staged: Staged,
        image: ImageRef,
        expected_labels: Mapping[str, str],
        built_on: str | None,
    ) -> None:
        meta = staged.meta
        wrong = {
            k: meta.labels.get(k) for k, v in expected_labels.items() if meta.labels.get(k) != v
        }
        if wrong:
            raise VerificationFailed(f"{image.ref}: labels differ from the checkpoint's: {wrong}")
        if image.tag and meta.ref != image.ref:
            raise VerificationFailed(f"{image.ref}: the staged layer is {meta.ref}'s")
        try:
            on_disk = staged.layer.stat().st_size
        except OSError as exc:
            raise VerificationFailed(f"{image.ref}: the staged layer is missing") from exc
        if on_disk != meta.size or meta.size <= 0:
            raise VerificationFailed(
                f"{image.ref}: the staged layer has {on_disk} bytes, {meta.size} were written"
            )
        if built_on:
            base_id = built_on
            if not built_on.startswith(STAGED_ID_PREFIX):
                try:
                    base_id = str(self.client.api.inspect_image(built_on)["Id"])
                except docker.errors.ImageNotFound as exc:
                    raise VerificationFailed(f"{image.ref}: no base image {built_on}") from exc
            if base_id != meta.parent:
                raise VerificationFailed(
                    f"{image.ref}: expected the layers of {built_on} plus one; "
                    f"it was made on {meta.parent[:19]}"
                )
            if meta.entries == 0:
                raise NothingToSave(f"{image.ref}: nothing outside the volumes was written")

    def layer_count(self, image: str) -> int:
        try:
            info = self.client.api.inspect_image(image)
        except docker.errors.ImageNotFound as exc:
            raise DriverError(f"{image}: image not found") from exc
        return len((info.get("RootFS") or {}).get("Layers") or [])

    def top_layer(self, image: ImageRef | str) -> str:
        staged = self._staged(image)
        if staged is not None:
            return staged.meta.diff_id
        ref = image if isinstance(image, str) else (image.id or image.ref)
        layers = (self.client.api.inspect_image(ref).get("RootFS") or {}).get("Layers") or []
        if not layers:
            raise DriverError(f"{ref}: image has no layers")
        return str(layers[-1])

    def push(self, image: ImageRef) -> str:
        """Upload a staged checkpoint (and load it into the engine), or ``docker push``."""
        staged = self._staged(image)
        if staged is not None:
            try:
                digest, _ = self.direct.push(staged)
            except OSError as exc:
                raise DriverError(f"push of {image.ref} failed: {exc}") from exc
            except docker.errors.APIError as exc:
                raise DriverError(f"push of {image.ref} failed: {exc.explanation}") from exc
            return digest
        if image.id.startswith(STAGED_ID_PREFIX):
            raise DriverError(f"{image.ref}: its staged layer is gone; commit again")
        return self._engine_push(image)

    def _engine_push(self, image: ImageRef) -> str:
        digest = None
        errors = []
        try:
            for line in self.client.api.push(
                image.repository, tag=image.tag, stream=True, decode=True
            ):
                if "error" in line:
                    errors.append(str(line.get("error")))
                aux = line.get("aux") or {}
                if aux.get("Digest"):
                    digest = str(aux["Digest"])
        except docker.errors.APIError as exc:
            raise DriverError(f"push of {image.ref} failed: {exc.explanation}") from exc
        if errors:
            raise DriverError(f"push of {image.ref} failed: {'; '.join(errors)}")
        if not digest:
            raise DriverError(f"push of {image.ref} reported no digest")
        return digest

    def pull(self, image: ImageRef) -> ImageRef:
        ref = f"{image.repository}@{image.digest}" if image.digest else image.ref
        try:
            if image.digest:
                self.client.api.pull(image.repository, tag=image.digest)
                # a pull by digest leaves no tag; give it the checkpoint's tag back
                self.client.api.tag(ref, image.repository, image.tag)
            else:
                self.client.api.pull(image.repository, tag=image.tag)
        except docker.errors.APIError as exc:
            raise DriverError(f"pull of {ref} failed: {exc.explanation}") from exc
        return self._image(image.repository, image.tag)

    def wait_loads(self, timeout: float | None = None) -> bool:
        """Wait for the engine copies of pushed checkpoints still being loaded (see
        ``DirectPath.push``); True when none is left running."""
        return self.direct.wait_loads(timeout=timeout)

    def finish_loads(self) -> list[str]:
        """Load the staged copies of pushed checkpoints that a stopped daemon had not
        loaded yet (the daemon calls this when it starts, before recovery)."""
        return self.direct.finish_loads()

    def remove(self, image: ImageRef, *, registry: bool = True) -> None:
        # a load still running would bring the image back after its removal
        self.direct.wait_loads(image_id=image.id, ref=image.ref if image.tag else "")
        for staged in self.staging.find(image_id=image.id, ref=image.ref if image.tag else ""):
            self.staging.remove(staged)
        if not image.tag:
            return
        digest = image.digest
        try:
            info = self.client.api.inspect_image(image.ref)
            digest = digest or _digest_for(info, image.repository)
            self.client.api.remove_image(image.ref)
        except docker.errors.ImageNotFound:
            pass
        except docker.errors.APIError as exc:
            if exc.status_code == 409:
                raise ImageInUse(f"{image.ref} is in use: {exc.explanation}") from exc
            raise DriverError(f"removing {image.ref} failed: {exc.explanation}") from exc
        if registry:
            self.remove_from_registry(image.repository, digest or image.tag)

    def checkpoint_images(self) -> list[ImageRef]:
        """The engine's checkpoint images and the staged (committed, not pushed) ones.

        Staging left half-written by a killed run is removed here: it is nobody's
        checkpoint (the daemon calls this when it starts, to recover)."""
        self.staging.clean_partials()
        out = [
            self._staged_ref(s)
            for s in self.staging.all()
            if s.meta.labels.get(LABEL_CHECKPOINT_ID)
        ]
        for row in self.client.api.images(filters={"label": LABEL_CHECKPOINT_ID}):
            tags = [t for t in row.get("RepoTags") or [] if t != "<none>:<none>"]
            labels = dict(row.get("Labels") or {})
            if not tags:
                out.append(ImageRef("", "", id=row["Id"], size=row.get("Size", 0), labels=labels))
            for t in tags:
                repository, _, tag = t.rpartition(":")
                out.append(
                    ImageRef(repository, tag, id=row["Id"], size=row.get("Size", 0), labels=labels)
                )
        return out

    # --- registry API ------------------------------------------------------------

    def registry_digest(self, repository: str, tag: str) -> str | None:
        """The manifest digest a tag points at in the registry, or None if it has none."""
        return self.registry.digest_of(repository, tag)

    def remove_from_registry(self, repository: str, reference: str) -> None:
        """Delete the manifest (by digest; a tag is resolved first). Gone already is fine."""
        self.registry.delete_manifest(repository, reference)


def _digest_for(info: Mapping[str, Any], repository: str) -> str | None:
    for item in info.get("RepoDigests") or []:
        repo, _, digest = str(item).partition("@")
        if repo == repository and digest:
            return digest
    return None
