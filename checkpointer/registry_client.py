"""The few Registry HTTP API v2 calls the checkpointer makes itself.

A checkpoint's push sends one new layer blob, its config and a manifest (Docker
image manifest v2 schema 2); the parent image's layers are in the registry
already and are only linked into the checkpoint's repository (a cross-repository
mount, no bytes moved). Blobs are streamed (one chunked ``PATCH``), never held
whole in memory. Removal deletes a manifest by digest, which needs
``storage.delete.enabled: true`` in the registry's config (blobs go with the
registry's garbage collector).

Plain HTTP for loopback registries (dockerd allows that there), HTTPS elsewhere.
No registry authentication: a registry that asks for it raises
:class:`RegistryAuthRequired`, and the driver lets the engine push instead (it
holds the node's registry credentials).
"""

from __future__ import annotations

import hashlib
import http.client
import ipaddress
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from urllib.parse import urlencode, urljoin, urlsplit

from checkpointer.drivers.base import DriverError
from checkpointer.layers.hashing import BackgroundHash

MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"
CONFIG_V1 = "application/vnd.docker.container.image.v1+json"
LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
MANIFEST_TYPES = ", ".join(
    (
        MANIFEST_V2,
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
    )
)


class RegistryAuthRequired(DriverError):
    """The registry wants credentials (only the engine holds them)."""


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


@dataclass(frozen=True)
class Answer:
    status: int
    headers: Mapping[str, str]
    body: bytes

    def header(self, name: str) -> str | None:
        for key, value in self.headers.items():
            if key.lower() == name.lower():
                return value
        return None


@dataclass(frozen=True)
class Manifest:
    digest: str
    media_type: str
    raw: bytes

    @property
    def body(self) -> dict:
        return dict(json.loads(self.raw))


class RegistryClient:
    def __init__(self, timeout: float = 60.0) -> None:
        self.timeout = timeout

    # ------------------------------------------------------------------ plumbing

    def _request(
        self,
        method: str,
        url: str,
        *,
        body: bytes | Iterable[bytes] | None = None,
        headers: Mapping[str, str] | None = None,
        read: bool = True,
    ) -> Answer:
        parts = urlsplit(url)
        conn_type = (
            http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        )
        conn = conn_type(parts.netloc, timeout=self.timeout)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        chunked = body is not None and not isinstance(body, bytes)
        try:
            conn.request(
                method, path, body=body, headers=dict(headers or {}), encode_chunked=chunked
            )
            answer = conn.getresponse()
            data = answer.read() if read or answer.status >= 300 else b""
            result = Answer(answer.status, dict(answer.getheaders()), data)
        except OSError as exc:
            raise DriverError(f"registry at {parts.netloc} unreachable: {exc}") from exc
        finally:
            conn.close()
        if result.status == 401:
            raise RegistryAuthRequired(f"registry {parts.netloc} asks for credentials ({method})")
        return result

    @staticmethod
    def _base(repository: str) -> str:
        host, name = split_repository(repository)
        return f"{registry_scheme(host)}://{host}/v2/{name}"

    @staticmethod
    def _fail(what: str, answer: Answer) -> DriverError:
        text = answer.body[:500].decode(errors="replace").strip()
        return DriverError(f"registry answered {answer.status} {what}: {text}")

    # ------------------------------------------------------------------ manifests

    def digest_of(self, repository: str, reference: str) -> str | None:
        """The manifest digest a tag (or digest) points at, or None when there is none."""
        answer = self._request(
            "HEAD", f"{self._base(repository)}/manifests/{reference}",
            headers={"Accept": MANIFEST_TYPES}, read=False,
        )  # fmt: skip
        if answer.status == 404:
            return None
        if answer.status != 200:
            raise self._fail(f"for {repository}:{reference}", answer)
        return answer.header("Docker-Content-Digest")

    def manifest(self, repository: str, reference: str) -> Manifest | None:
        answer = self._request(
            "GET", f"{self._base(repository)}/manifests/{reference}",
            headers={"Accept": MANIFEST_TYPES},
        )  # fmt: skip
        if answer.status == 404:
            return None
        if answer.status != 200:
            raise self._fail(f"for the manifest {repository}:{reference}", answer)
        digest = "sha256:" + hashlib.sha256(answer.body).hexdigest()
        media = (answer.header("Content-Type") or "").split(";")[0].strip()
        return Manifest(digest, media, answer.body)

    def put_manifest(self, repository: str, tag: str, raw: bytes, media_type: str) -> str:
        answer = self._request(
            "PUT", f"{self._base(repository)}/manifests/{tag}",
            body=raw, headers={"Content-Type": media_type},
        )  # fmt: skip
        if answer.status not in (200, 201):
            raise self._fail(f"storing the manifest {repository}:{tag}", answer)
        return answer.header("Docker-Content-Digest") or (
            "sha256:" + hashlib.sha256(raw).hexdigest()
        )

    def delete_manifest(self, repository: str, reference: str) -> None:
        """Delete by digest (a tag is resolved first). Gone already is fine."""
        host, _ = split_repository(repository)
        digest: str | None = reference
        if not reference.startswith("sha256:"):
            digest = self.digest_of(repository, reference)
            if digest is None:
                return
        answer = self._request("DELETE", f"{self._base(repository)}/manifests/{digest}")
        if answer.status in (200, 202, 404):
            return
        if answer.status == 405:
            raise DriverError(
                f"registry {host} refuses to delete manifests; enable it in its config "
                "(storage: delete: enabled: true)"
            )
        raise self._fail(f"deleting {repository}@{digest}", answer)

    # ------------------------------------------------------------------ blobs

    def blob(self, repository: str, digest: str) -> bytes:
        """A small blob (an image config), checked against its digest."""
        answer = self._request("GET", f"{self._base(repository)}/blobs/{digest}")
        if answer.status != 200:
            raise self._fail(f"for the blob {repository}@{digest}", answer)
        if "sha256:" + hashlib.sha256(answer.body).hexdigest() != digest:
            raise DriverError(f"registry sent a blob of {repository} that is not {digest}")
        return answer.body

    def has_blob(self, repository: str, digest: str) -> bool:
        answer = self._request("HEAD", f"{self._base(repository)}/blobs/{digest}", read=False)
        return answer.status == 200

    def mount_blob(self, repository: str, digest: str, source: str) -> bool:
        """Link a blob of ``source`` (same registry) into ``repository`` without a copy."""
        _, source_name = split_repository(source)
        query = urlencode({"mount": digest, "from": source_name})
        answer = self._request("POST", f"{self._base(repository)}/blobs/uploads/?{query}")
        if answer.status == 201:
            return True
        if answer.status == 202:  # not mounted: the registry opened an upload instead
            location = answer.header("Location")
            if location:
                self._request("DELETE", urljoin(self._base(repository) + "/", location))
            return False
        raise self._fail(f"mounting {digest} from {source} into {repository}", answer)

    def _start_upload(self, repository: str) -> str:
        answer = self._request("POST", f"{self._base(repository)}/blobs/uploads/")
        location = answer.header("Location")
        if answer.status != 202 or not location:
            raise self._fail(f"starting an upload to {repository}", answer)
        return urljoin(self._base(repository) + "/", location)

    @staticmethod
    def _with_digest(location: str, digest: str) -> str:
        joiner = "&" if "?" in location else "?"
        return f"{location}{joiner}{urlencode({'digest': digest})}"

    def upload_bytes(self, repository: str, data: bytes) -> str:
        """A small blob (a config) in one monolithic PUT."""
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        if self.has_blob(repository, digest):
            return digest
        location = self._start_upload(repository)
        answer = self._request(
            "PUT", self._with_digest(location, digest), body=data,
            headers={"Content-Type": "application/octet-stream"},
        )  # fmt: skip
        if answer.status != 201:
            raise self._fail(f"uploading a blob to {repository}", answer)
        return digest

    def upload_stream(self, repository: str, chunks: Iterable[bytes]) -> tuple[str, int]:
        """Stream a blob in one chunked ``PATCH``; return its digest and size."""
        location = self._start_upload(repository)
        digest = BackgroundHash()
        size = 0

        def body() -> Iterator[bytes]:
            nonlocal size
            for chunk in chunks:
                digest.update(chunk)
                size += len(chunk)
                yield chunk

        try:
            answer = self._request(
                "PATCH", location, body=body(),
                headers={"Content-Type": "application/octet-stream"},
            )  # fmt: skip
        finally:
            digest.close()
        if answer.status != 202:
            raise self._fail(f"uploading a layer to {repository}", answer)
        location = urljoin(location, answer.header("Location") or location)
        blob_digest = "sha256:" + digest.hexdigest()
        answer = self._request("PUT", self._with_digest(location, blob_digest), body=b"")
        if answer.status != 201:
            raise self._fail(f"finishing the layer upload to {repository}", answer)
        return blob_digest, size
