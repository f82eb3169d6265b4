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

import ipaddress
import logging
import os
import stat
import time
import urllib.error
import urllib.request
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
from checkpointer.names import LABEL_CHECKPOINT_ID

log = logging.getLogger(__name__)

#: Kernel timestamps come from a coarse clock that may trail time.time_ns() by a
#: tick (1-10 ms); a mark this far in the past makes sure no write after it looks older.
MARK_MARGIN_NS = 20_000_000

MANIFEST_TYPES = ", ".join(
    (
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
    )
)


@dataclass(frozen=True)
class WalkResult:
    changed: bool
    entries: int
    seconds: float


def split_repository(repository: str) -> tuple[str, str]:
    """``127.0.0.1:5000/tenanthub/ckpt-t-u`` -> (``127.0.0.1:5000``, ``tenanthub/ckpt-t-u``)."""
    host, sep, name = repository.partition("/")
    if not sep or not ("." in host or ":" in host or host == "localhost"):
        raise DriverError(
            f"checkpoint repository {repository!r} names no registry host; checkpoints "
            "are pushed to checkpoint.registry (host[:port]/...)"
        )
    return host, name


def registry_scheme(host: str) -> str:
    """Plain HTTP for loopback registries (dockerd allows it there), HTTPS otherwise."""
    hostname = host.rsplit(":", 1)[0].strip("[]") if host.count(":") <= 1 else host.strip("[]")
    if hostname == "localhost":
        return "http"
    try:
        return "http" if ipaddress.ip_address(hostname).is_loopback else "https"
    except ValueError:
        return "https"


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
    ) -> None:
        self.client = client or docker.from_env()
        self.registry_timeout = registry_timeout
        #: the walk behind the last changed_since answer (None: no walk; for logs and benchmarks)
        self.last_check: WalkResult | None = None

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

    def commit(
        self, container: ContainerRef, repository: str, tag: str, labels: Mapping[str, str]
    ) -> ImageRef:
        """Commit with the container's *image* configuration, never the container's own.

        The engine merges the container's config into a commit's: its
        environment holds the server's hub API token and OAuth client secrets,
        which must not end up in an image in the registry. So the commit gets the
        image's Env, Cmd, Entrypoint, WorkingDir and User, and every variable the
        container added is listed with an empty value (a listed key is not merged).
        """
        ref = f"{repository}:{tag}"
        try:
            self.client.api.inspect_image(ref)
        except docker.errors.ImageNotFound:
            pass
        else:
            raise DriverError(f"{ref} exists already; a checkpoint is committed to a new tag")
        info = self._inspect_container(container.id)
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

    def layer_count(self, image: str) -> int:
        try:
            info = self.client.api.inspect_image(image)
        except docker.errors.ImageNotFound as exc:
            raise DriverError(f"{image}: image not found") from exc
        return len((info.get("RootFS") or {}).get("Layers") or [])

    def top_layer(self, image: ImageRef | str) -> str:
        ref = image if isinstance(image, str) else (image.id or image.ref)
        layers = (self.client.api.inspect_image(ref).get("RootFS") or {}).get("Layers") or []
        if not layers:
            raise DriverError(f"{ref}: image has no layers")
        return str(layers[-1])

    def push(self, image: ImageRef) -> str:
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

    def remove(self, image: ImageRef, *, registry: bool = True) -> None:
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
        out = []
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

    def _registry(self, method: str, url: str, accept: str | None = None) -> tuple[int, dict]:
        request = urllib.request.Request(url, method=method)  # noqa: S310 (http/https only)
        if accept:
            request.add_header("Accept", accept)
        try:
            with urllib.request.urlopen(request, timeout=self.registry_timeout) as answer:  # noqa: S310
                return answer.status, dict(answer.headers)
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers or {})
        except OSError as exc:
            raise DriverError(f"registry at {url.split('/v2/')[0]} unreachable: {exc}") from exc

    def registry_digest(self, repository: str, tag: str) -> str | None:
        """The manifest digest a tag points at in the registry, or None if it has none."""
        host, name = split_repository(repository)
        url = f"{registry_scheme(host)}://{host}/v2/{name}/manifests/{tag}"
        status, headers = self._registry("HEAD", url, accept=MANIFEST_TYPES)
        if status == 404:
            return None
        if status != 200:
            raise DriverError(f"registry answered {status} for {repository}:{tag}")
        return _header(headers, "Docker-Content-Digest")

    def remove_from_registry(self, repository: str, reference: str) -> None:
        """Delete the manifest (by digest; a tag is resolved first). Gone already is fine."""
        host, name = split_repository(repository)
        digest: str | None = reference
        if not reference.startswith("sha256:"):
            digest = self.registry_digest(repository, reference)
            if digest is None:
                return
        url = f"{registry_scheme(host)}://{host}/v2/{name}/manifests/{digest}"
        status, _ = self._registry("DELETE", url)
        if status in (200, 202, 404):
            return
        if status == 405:
            raise DriverError(
                f"registry {host} refuses to delete manifests; enable it in its config "
                "(storage: delete: enabled: true)"
            )
        raise DriverError(f"registry {host} answered {status} deleting {repository}@{digest}")


def _digest_for(info: Mapping[str, Any], repository: str) -> str | None:
    for item in info.get("RepoDigests") or []:
        repo, _, digest = str(item).partition("@")
        if repo == repository and digest:
            return digest
    return None


def _header(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name.lower():
            return value
    return None
