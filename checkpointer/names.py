"""Where a checkpoint image lives and what it says about itself (pure).

Repository ``<registry>/<prefix>/ckpt-<tenant>-<user-slug>``, tag
``<server-slug>-<UTC %Y%m%dT%H%M%SZ>``. JupyterHub allows user and server names
that a Docker reference does not (upper case, ``@``, ``+``, spaces, non-ASCII),
so both go through :func:`slug`, and every mapping here is one-to-one: two users
never share a repository and two servers of one user never share a tag, even
when their names differ only in characters the reference cannot carry (``a.b``
and ``a_b``, ``Alice`` and ``alice``), and a user cannot pick a name that
lands in another user's repository.

How it stays one-to-one:
- a name that already is a valid reference component, and does not look like
  a hashed slug, is used as it is (readable: ``alice`` -> ``alice``);
- anything else becomes ``<readable stem>-h<10 hex of sha256(name)>``; plain
  slugs never end in ``-h`` + 10 hex, so a plain slug never equals a hashed one;
- tenant names may contain ``-``, so ``ckpt-a-b-c`` could be tenant ``a-b`` +
  user ``c`` or tenant ``a`` + user ``b-c``; when the tenant contains ``-`` the
  repository gets a hash of (tenant, user) as its suffix, which a hyphen-free
  tenant's repository can only match through a hash collision.

Image labels (set at commit, checked by ``verify``): the contract's
``tenanthub.io/user``, ``server``, ``tenant``, ``profile``, ``base-image`` and
``checkpoint-id``. ``tenanthub.io/user`` carries the same value as on the
notebook container (``hub.tenancy.names.label_value``: a selector-safe slug);
``tenanthub.io/username`` carries the name exactly, as containers do.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from datetime import UTC, datetime

from hub.tenancy.names import label_value, validate_tenant_name

#: A path component of a Docker reference (distribution/reference grammar).
COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
#: A tag (distribution/reference grammar): at most 128 characters.
TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
#: A whole reference (registry, path and name) may be at most 255 characters.
MAX_NAME = 255
MAX_TAG = 128
#: Readable part of a slug; with ``-h`` + hash a slug is at most 64 + 12 characters.
MAX_STEM = 64
HASH_LEN = 10
TIME_FORMAT = "%Y%m%dT%H%M%SZ"
DEFAULT_SERVER = "default"
REPOSITORY_PREFIX = "ckpt-"

_HASHED = re.compile(rf".*-h[0-9a-f]{{{HASH_LEN}}}")

LABEL_USER = "tenanthub.io/user"
LABEL_USERNAME = "tenanthub.io/username"
LABEL_SERVER = "tenanthub.io/server"
LABEL_TENANT = "tenanthub.io/tenant"
LABEL_PROFILE = "tenanthub.io/profile"
LABEL_BASE_IMAGE = "tenanthub.io/base-image"
LABEL_CHECKPOINT_ID = "tenanthub.io/checkpoint-id"


class CheckpointNameError(ValueError):
    """A checkpoint name that cannot be built; the message says which part and why."""


def _hash(*parts: str) -> str:
    # domain-separated: a user slug's hash and a repository's hash never collide by design
    data = "\0".join(parts).encode("utf-8")
    return hashlib.sha256(data).hexdigest()[:HASH_LEN]


def _stem(value: str) -> str:
    """The readable part: lower case, runs of other characters -> one ``-``, valid at the ends."""
    lowered = value.lower()
    chars = [ch if ch.isascii() and (ch.isalnum() or ch in "._-") else "-" for ch in lowered]
    text = "".join(chars)
    # collapse separators the grammar refuses ("..", "._", "-.", "___") into one "-"
    text = re.sub(r"[._-]{2,}", lambda m: m.group(0) if m.group(0) == "__" else "-", text)
    text = text[:MAX_STEM].strip("._-")
    return text


def slug(value: str, *, domain: str = "name", reserved: frozenset[str] = frozenset()) -> str:
    """A Docker reference component that identifies ``value`` (one-to-one, at most 76 chars).

    ``value`` is kept when it already is a valid component of at most 64
    characters that does not end like a hashed slug and is not ``reserved``;
    otherwise a readable stem plus ``-h`` and a hash of the original.
    """
    if (
        len(value) <= MAX_STEM
        and COMPONENT.fullmatch(value)
        and not _HASHED.fullmatch(value)
        and value not in reserved
    ):
        return value
    stem = _stem(value)
    digest = _hash(domain, value)
    return f"{stem}-h{digest}" if stem else f"x-h{digest}"


def user_slug(username: str) -> str:
    """The user part of a checkpoint repository."""
    if not username:
        raise CheckpointNameError("a checkpoint needs a user name; got an empty one")
    return slug(username, domain="user")


def server_slug(server: str) -> str:
    """The server part of a tag: ``default`` for the default server (named ``""``).

    A named server literally called ``default`` gets a hashed slug, so it never
    shares tags with the default server.
    """
    if server == "":
        return DEFAULT_SERVER
    return slug(server, domain="server", reserved=frozenset({DEFAULT_SERVER}))


def repository_path(prefix: str) -> str:
    """Validate ``repository_prefix`` (one or more components separated by ``/``)."""
    parts = prefix.strip("/").split("/") if prefix.strip("/") else []
    for part in parts:
        if not COMPONENT.fullmatch(part):
            raise CheckpointNameError(
                f"checkpoint.repository_prefix {prefix!r}: {part!r} is not a valid image "
                "path component (lower-case letters and digits, separated by '.', '_', "
                "'__' or '-')"
            )
    return "/".join(parts)


def repository_for(registry: str, prefix: str, tenant: str, username: str) -> str:
    """``<registry>/<prefix>/ckpt-<tenant>-<user-slug>`` for one user of one tenant."""
    validate_tenant_name(tenant)
    name = f"{REPOSITORY_PREFIX}{tenant}-{user_slug(username)}"
    if "-" in tenant:
        name = f"{name}-h{_hash('repository', tenant, username)}"
    registry = registry.strip().rstrip("/")
    if not registry or "/" in registry or any(ch.isspace() for ch in registry):
        raise CheckpointNameError(
            f"checkpoint.registry {registry!r} must be a host[:port] such as 127.0.0.1:5000"
        )
    path = repository_path(prefix)
    full = "/".join(p for p in (registry, path, name) if p)
    if len(full) > MAX_NAME:
        raise CheckpointNameError(
            f"checkpoint repository {full!r} is {len(full)} characters; image names may have "
            f"at most {MAX_NAME}: use a shorter checkpoint.registry or repository_prefix"
        )
    return full


def checkpoint_time(at: datetime) -> str:
    """The tag's time part (UTC, to the second)."""
    if at.tzinfo is None:
        raise CheckpointNameError("checkpoint times must be timezone-aware (UTC)")
    return at.astimezone(UTC).strftime(TIME_FORMAT)


def tag_for(server: str, at: datetime, serial: int | None = None) -> str:
    """``<server-slug>-<UTC time>[-<serial>]``: readable, and unique with the checkpoint's
    record id as ``serial`` (a tick and a stop may checkpoint the same server within one
    second; the id never repeats). At most 93 characters plus the serial."""
    tag = f"{server_slug(server)}-{checkpoint_time(at)}"
    if serial is not None:
        if serial < 0:
            raise CheckpointNameError(f"a checkpoint serial is not negative: {serial}")
        tag = f"{tag}-{serial}"
    assert TAG.fullmatch(tag) and len(tag) <= MAX_TAG, tag
    return tag


def image_ref(repository: str, tag: str) -> str:
    return f"{repository}:{tag}"


def checkpoint_labels(
    *,
    username: str,
    server: str,
    tenant: str,
    profile: str,
    base_image: str,
    checkpoint_id: str | int,
) -> dict[str, str]:
    """The labels a checkpoint image carries (and ``verify`` expects)."""
    if not base_image:
        raise CheckpointNameError("a checkpoint needs the base image it was made from")
    return {
        LABEL_USER: label_value(username),
        LABEL_USERNAME: username,
        LABEL_SERVER: server,
        LABEL_TENANT: validate_tenant_name(tenant),
        LABEL_PROFILE: profile,
        LABEL_BASE_IMAGE: base_image,
        LABEL_CHECKPOINT_ID: str(checkpoint_id),
    }


def base_image_of(image_name: str, image_labels: Mapping[str, str] | None) -> str:
    """The profile image a container's environment descends from.

    A server started from a checkpoint runs an image whose own
    ``tenanthub.io/base-image`` label names the profile image; otherwise the
    image the container was started from is the base.
    """
    labels = image_labels or {}
    return labels.get(LABEL_BASE_IMAGE) or image_name
