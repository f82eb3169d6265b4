"""The Docker driver's layer-direct path: commit = the upper directory as a layer tar,
push = that one layer through the registry API, then ``docker load`` for this node.

Why: ``docker commit`` tars the writable layer, extracts it again into a new layer
directory and digests it (about 3.7x a raw tar of the same files here), and
``docker push`` reads it once more and gzips it on one core. Here:

- **commit** pauses the container, writes its overlay2 ``UpperDir`` as the layer
  tar into the staging directory (digest computed while writing), unpauses: one
  read of the changes, one write; no registry, no engine work;
- **push** finds the parent image in the registry (a previous checkpoint is there;
  a profile image is pushed once under ``<prefix>/base`` and found by its digest
  afterwards), links the parent's layers into the checkpoint's repository (a
  cross-repository mount), builds the config from the parent's own config bytes,
  streams the layer gzipped in parallel members, stores config and manifest, and
  meanwhile ``docker load``s a tarball of the config and only the new layer (the
  engine skips layers whose chain it has) so a restart on this node needs no pull.
  Only then is the staged copy removed.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tarfile
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import docker
import docker.errors

from checkpointer.drivers.base import DriverError
from checkpointer.layers import image as layer_image
from checkpointer.layers.compress import GzipSettings, gzip_chunks, read_chunks
from checkpointer.layers.hashing import BackgroundHash
from checkpointer.layers.staging import Staged, StagedMeta, Staging
from checkpointer.layers.tarstream import write_layer
from checkpointer.registry_client import RegistryClient, split_repository

log = logging.getLogger(__name__)

BASE_REPOSITORY = "base"


def base_repository(checkpoint_repository: str) -> str:
    """Where profile images are pushed once: beside the checkpoints (``<prefix>/base``),
    tagged with their image id (:func:`base_tag`), so they are found again by name."""
    host, name = split_repository(checkpoint_repository)
    folder = name.rpartition("/")[0]
    return f"{host}/{folder}/{BASE_REPOSITORY}" if folder else f"{host}/{BASE_REPOSITORY}"


def base_tag(image_id: str) -> str:
    return image_id.replace(":", "-")


def registry_candidates(info: Mapping[str, Any], host: str) -> list[str]:
    """``repo@digest`` and ``repo:tag`` references of an image in registry ``host`` (pure)."""
    refs = [str(r) for r in info.get("RepoDigests") or []]
    refs += [str(r) for r in info.get("RepoTags") or []]
    return [r for r in refs if r.startswith(host + "/")]


def split_ref(ref: str) -> tuple[str, str]:
    if "@" in ref:
        repository, _, reference = ref.partition("@")
    else:
        repository, _, reference = ref.rpartition(":")
    return repository, reference


@dataclass(frozen=True)
class ParentInRegistry:
    repository: str
    layers: tuple[layer_image.Descriptor, ...]
    config: bytes


def load_tarball(parts: Sequence[tuple[str, bytes | str]]) -> Iterator[bytes]:
    """A ``docker load`` tarball of (name, bytes or file path) parts, generated as it is sent."""
    for name, content in parts:
        size = len(content) if isinstance(content, bytes) else os.path.getsize(content)
        info = tarfile.TarInfo(name)
        info.size, info.mode = size, 0o644
        yield info.tobuf(tarfile.USTAR_FORMAT)
        if isinstance(content, bytes):
            yield content
        else:
            yield from read_chunks(content, 1 << 20)
        if size % tarfile.BLOCKSIZE:
            yield b"\0" * (tarfile.BLOCKSIZE - size % tarfile.BLOCKSIZE)
    yield b"\0" * (2 * tarfile.BLOCKSIZE)


class DirectPath:
    def __init__(
        self,
        client: docker.DockerClient,
        staging: Staging,
        registry: RegistryClient,
        gzip: GzipSettings,
    ) -> None:
        self.client = client
        self.staging = staging
        self.registry = registry
        self.gzip = gzip
        self._parents: dict[tuple[str, str], ParentInRegistry] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        #: background loads: staged id -> (ref, thread)
        self._loads: dict[str, tuple[str, threading.Thread]] = {}

    # ------------------------------------------------------------------ commit

    def commit(
        self,
        info: Mapping[str, Any],
        upper: str,
        repository: str,
        tag: str,
        labels: Mapping[str, str],
    ) -> Staged:
        """Pause, write the upper directory as the staged layer, unpause."""
        container_id = str(info["Id"])
        image_info = self.client.api.inspect_image(info["Image"])
        image_env = (image_info.get("Config") or {}).get("Env") or []
        container_env = (info.get("Config") or {}).get("Env") or []
        partial = self.staging.begin()
        paused_here = False
        try:
            if not (info.get("State") or {}).get("Paused"):
                self.client.api.pause(container_id)
                paused_here = True
            created = datetime.now(UTC)
            with open(partial / "layer.tar", "wb") as out:
                layer = write_layer(upper, out)
        except BaseException:
            self.staging.abandon(partial)
            raise
        finally:
            if paused_here:
                with contextlib.suppress(docker.errors.APIError):
                    self.client.api.unpause(container_id)
        meta = StagedMeta(
            repository=repository,
            tag=tag,
            parent=str(info["Image"]),
            diff_id=layer.diff_id,
            size=layer.size,
            entries=layer.entries,
            created=created.isoformat(),
            labels=dict(labels),
            added_env=[
                e.removesuffix("=") for e in layer_image.added_env(image_env, container_env)
            ],
        )
        return self.staging.finish(partial, meta)

    # ------------------------------------------------------------------ push

    def _lock(self, key: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())

    def parent(self, image_id: str, repository: str) -> ParentInRegistry:
        """The parent image as the registry has it; a profile image is pushed there once."""
        host, _ = split_repository(repository)
        cached = self._parents.get((image_id, host))
        if cached is not None:
            return cached
        with self._lock(image_id):
            found = self._find_parent(image_id, host, repository)
            if found is None:
                self._push_base(image_id, repository)
                found = self._find_parent(image_id, host, repository)
            if found is None:
                raise DriverError(f"{image_id[:19]}: pushed, but the registry does not show it")
            self._parents[(image_id, host)] = found
            return found

    def _find_parent(self, image_id: str, host: str, repository: str) -> ParentInRegistry | None:
        try:
            info = self.client.api.inspect_image(image_id)
        except docker.errors.ImageNotFound as exc:
            raise DriverError(f"the container's image {image_id[:19]} is gone") from exc
        pushed_once = f"{base_repository(repository)}:{base_tag(image_id)}"
        for ref in [*registry_candidates(info, host), pushed_once]:
            repository, reference = split_ref(ref)
            manifest = self.registry.manifest(repository, reference)
            if manifest is None:
                continue
            body = manifest.body
            config = body.get("config") or {}
            if config.get("digest") != image_id:
                continue  # the tag moved on to another image
            try:
                layers = layer_image.parent_layers(body)
            except ValueError:
                continue
            raw = self.registry.blob(repository, image_id)
            return ParentInRegistry(repository, tuple(layers), raw)
        return None

    def _push_base(self, image_id: str, repository: str) -> None:
        target = base_repository(repository)
        tag = base_tag(image_id)
        log.info("pushing %s once as %s:%s (checkpoints link its layers)", image_id[:19],
                 target, tag)  # fmt: skip
        try:
            self.client.api.tag(image_id, target, tag)
            errors = []
            for line in self.client.api.push(target, tag=tag, stream=True, decode=True):
                if "error" in line:
                    errors.append(str(line["error"]))
        except docker.errors.APIError as exc:
            raise DriverError(f"push of the base image failed: {exc.explanation}") from exc
        finally:
            # found again under this name in the registry; on the engine the tag
            # would only clutter the profile image's names
            with contextlib.suppress(docker.errors.APIError):
                self.client.api.remove_image(f"{target}:{tag}", noprune=True)
        if errors:
            raise DriverError(f"push of the base image failed: {'; '.join(errors)}")

    def config_for(self, staged: Staged, parent: ParentInRegistry) -> bytes:
        meta = staged.meta
        return layer_image.encode(
            layer_image.checkpoint_config(
                json.loads(parent.config),
                diff_id=meta.diff_id,
                labels=meta.labels,
                container_env=[f"{k}=" for k in meta.added_env],
                created=datetime.fromisoformat(meta.created),
            )
        )

    def _link_parent_layers(self, repository: str, parent: ParentInRegistry) -> None:
        if parent.repository == repository:
            return
        for layer in parent.layers:
            if self.registry.has_blob(repository, layer.digest):
                continue
            if not self.registry.mount_blob(repository, layer.digest, parent.repository):
                raise DriverError(
                    f"the registry would not link layer {layer.digest[:19]} of "
                    f"{parent.repository} into {repository}"
                )

    def _layer_chunks(self, staged: Staged) -> Iterable[bytes]:
        """The staged layer in chunks, checked against its diff_id as it is read."""
        check = BackgroundHash()
        try:
            for chunk in read_chunks(str(staged.layer), self.gzip.chunk):
                check.update(chunk)
                yield chunk
        finally:
            check.close()
        if "sha256:" + check.hexdigest() != staged.meta.diff_id:
            raise DriverError(f"{staged.meta.ref}: the staged layer changed on disk; not pushed")

    def push(self, staged: Staged) -> tuple[str, str]:
        """Upload the staged checkpoint; return (manifest digest, image id).

        Returns when the registry has the image (what ``ready`` promises: any node
        can pull it). This engine's own copy is ``docker load``ed afterwards, on a
        thread (:meth:`wait_loads`), and the staged copy is removed when that ends:
        the load costs dockerd about as much CPU as the upload, and a start on this
        node before it ends pulls from the registry, as another node would.
        """
        meta = staged.meta
        parent = self.parent(meta.parent, meta.repository)
        config = self.config_for(staged, parent)
        image_id = layer_image.digest(config)
        # the parent's layers are linked (one request or two each) while the new
        # layer goes up; the manifest needs both
        with ThreadPoolExecutor(1, thread_name_prefix="link") as linker:
            linked = linker.submit(self._link_parent_layers, meta.repository, parent)
            blob, size = self.registry.upload_stream(
                meta.repository, gzip_chunks(self._layer_chunks(staged), self.gzip)
            )
            linked.result()
        self.registry.upload_bytes(meta.repository, config)
        manifest = layer_image.registry_manifest(
            config, [*parent.layers, layer_image.new_layer(size, blob)]
        )
        digest = self.registry.put_manifest(
            meta.repository, meta.tag, manifest, layer_image.MANIFEST_V2
        )
        self._load_later(staged, config, len(parent.layers))
        return digest, image_id

    # ------------------------------------------------------------------ local copy

    def _load_later(self, staged: Staged, config: bytes, parent_count: int) -> None:
        def run() -> None:
            try:
                self.load(staged, config, parent_count)
            except Exception as exc:  # the registry has it: a start here pulls instead
                log.warning(
                    "%s: docker load failed (%s); a start on this node pulls it from the "
                    "registry", staged.meta.ref, exc,
                )  # fmt: skip
            finally:
                # only the registry copy is anyone's checkpoint now
                self.staging.remove(staged)
                with self._guard:
                    self._loads.pop(staged.id, None)

        loader = threading.Thread(target=run, name=f"docker-load-{staged.meta.tag}", daemon=True)
        with self._guard:
            self._loads[staged.id] = (staged.meta.ref, loader)
        loader.start()

    def wait_loads(self, image_id: str = "", ref: str = "", timeout: float | None = None) -> bool:
        """Wait for the background loads (all, or the one of ``image_id``/``ref``);
        True when none of them is still running."""
        with self._guard:
            loads = [
                thread
                for key, (load_ref, thread) in self._loads.items()
                if not (image_id or ref) or key == image_id or load_ref == ref
            ]
        for thread in loads:
            thread.join(timeout)
        return not any(t.is_alive() for t in loads)

    def loading(self, staged: Staged) -> bool:
        with self._guard:
            return staged.id in self._loads

    def finish_loads(self) -> list[str]:
        """Load the staged copies of checkpoints that are in the registry already (a
        daemon stopped during the background load); return their refs.

        Called at start, before recovery looks at the node's images: a copy whose
        tag the registry does not have (or has for another layer) is a push that did
        not finish, and recovery resumes it."""
        done: list[str] = []
        for staged in self.staging.all():
            if self.loading(staged):
                continue
            meta = staged.meta
            try:
                found = self.registry.manifest(meta.repository, meta.tag)
                if found is None:
                    continue
                config_digest = str((found.body.get("config") or {})["digest"])
                config = self.registry.blob(meta.repository, config_digest)
                diff_ids = json.loads(config)["rootfs"]["diff_ids"]
            except (DriverError, OSError, KeyError, TypeError, ValueError) as exc:
                log.info("%s: left to recovery (%s)", meta.ref, exc)
                continue
            if not diff_ids or diff_ids[-1] != meta.diff_id:
                continue
            try:
                self.load(staged, config, len(diff_ids) - 1)
            except (DriverError, docker.errors.APIError, OSError) as exc:
                log.warning("%s: docker load failed (%s); it is pulled when needed",
                            meta.ref, exc)  # fmt: skip
            self.staging.remove(staged)
            done.append(meta.ref)
        return done

    def load(self, staged: Staged, config: bytes, parent_count: int) -> None:
        """``docker load`` of manifest + config + the new layer only (the engine has the rest)."""
        config_name = layer_image.digest(config).split(":", 1)[1] + ".json"
        names = [f"parent-{i}/layer.tar" for i in range(parent_count)] + ["checkpoint/layer.tar"]
        manifest = layer_image.load_manifest(config_name, staged.meta.ref, names)
        stream = load_tarball(
            [
                ("manifest.json", manifest),
                (config_name, config),
                ("checkpoint/layer.tar", str(staged.layer)),
            ]
        )
        errors = []
        for line in self.client.api.load_image(stream):
            if "error" in line or "errorDetail" in line:
                errors.append(str(line.get("error") or line.get("errorDetail")))
        if errors:
            raise DriverError("; ".join(errors))
