"""Tenant names and the names derived from them.

A tenant name becomes part of a Kubernetes namespace (``th-<tenant>``), Docker
volume and network names, a JupyterHub group and a named-server name, so it
must be a DNS-1123 label that still fits once prefixed. All derived names are
computed here and nowhere else.
"""

from __future__ import annotations

import hashlib
import re

MAX_TENANT_NAME = 40
NAMESPACE_PREFIX = "th-"
GROUP_PREFIX = "tenant-"
_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")

#: Names that would collide with system namespaces, TenantHub's own objects or
#: URLs, or read as a wildcard in the console and API.
RESERVED_TENANT_NAMES = frozenset(
    {
        "admin",
        "all",
        "api",
        "console",
        "default",
        "hub",
        "none",
        "public",
        "system",
        "tenanthub",
        "user",
        "users",
    }
)


class InvalidNameError(ValueError):
    """A name that cannot be used; the message says why and what is allowed."""


def tenant_name_problem(name: object) -> str | None:
    """Why ``name`` is not a valid tenant name, or None when it is valid."""
    if not isinstance(name, str):
        return f"tenant name must be a string, got {type(name).__name__}"
    if not name:
        return "tenant name must not be empty"
    if len(name) > MAX_TENANT_NAME:
        return f"tenant name {name!r} is {len(name)} characters; the limit is {MAX_TENANT_NAME}"
    if not _DNS1123_LABEL.fullmatch(name):
        return (
            f"tenant name {name!r} must be a DNS-1123 label: lower-case letters, digits and '-', "
            "starting and ending with a letter or digit"
        )
    if name in RESERVED_TENANT_NAMES or name.startswith("kube-"):
        return f"tenant name {name!r} is reserved; pick another name"
    return None


def validate_tenant_name(name: object) -> str:
    """Return ``name`` unchanged if valid, else raise InvalidNameError."""
    problem = tenant_name_problem(name)
    if problem:
        raise InvalidNameError(problem)
    assert isinstance(name, str)
    return name


def profile_name_problem(name: object) -> str | None:
    """Profiles are named like tenants (they appear in labels and form values)."""
    if not isinstance(name, str) or not name:
        return "profile name must be a non-empty string"
    if len(name) > 63 or not _DNS1123_LABEL.fullmatch(name):
        return f"profile name {name!r} must be a DNS-1123 label of at most 63 characters"
    return None


def namespace_for(tenant: str, prefix: str = NAMESPACE_PREFIX) -> str:
    """Kubernetes namespace of a tenant (``backend.kubernetes.namespace_prefix`` + name)."""
    return prefix + validate_tenant_name(tenant)


def group_for(tenant: str) -> str:
    """JupyterHub group that mirrors a tenant's membership."""
    return GROUP_PREFIX + validate_tenant_name(tenant)


def tenant_of_group(group: str) -> str | None:
    """``tenant-vision`` -> ``vision``; None for a group that is not a tenant's."""
    name = group[len(GROUP_PREFIX) :] if group.startswith(GROUP_PREFIX) else ""
    try:
        return validate_tenant_name(name) if name else None
    except ValueError:
        return None


def shared_volume_for(tenant: str) -> str:
    """Docker volume / PVC holding the tenant's shared folder and homes."""
    return f"tenanthub-{validate_tenant_name(tenant)}-shared"


def home_volume_for(tenant: str, username: str) -> str:
    """Per-user home volume name; the user part is escaped to volume-safe characters."""
    return f"tenanthub-{validate_tenant_name(tenant)}-home-{safe_slug(username)}"


def label_value(value: str) -> str:
    """A Kubernetes label value (<= 63, alphanumeric at both ends) that identifies ``value``.

    The readable slug is used when it is already valid; otherwise (escapes at
    the ends, too long) a truncated slug plus a short hash keeps it unique.
    """
    slug = safe_slug(value)
    if slug and len(slug) <= 63 and slug[0].isalnum() and slug[-1].isalnum():
        return slug
    # "-z" never occurs in a plain slug (an escape is "-" + two hex digits), so a
    # hashed value can never equal another user's plain one
    digest = hashlib.sha256(value.encode("utf-8")).hexdigest()[:10]
    stem = slug.strip("-")[:48].strip("-")
    return f"{stem}-z{digest}" if stem else f"u-z{digest}"


def safe_slug(value: str) -> str:
    """A lossless, collision-free slug for user names in object names.

    Characters outside ``[a-z0-9]`` are hex-escaped as ``-xx`` so ``a.b`` and
    ``a-b`` never map to the same name (the same idea as kubespawner's
    escapism-based safe names).
    """
    out = []
    for ch in value:
        if ch.isascii() and (ch.islower() or ch.isdigit()):
            out.append(ch)
        else:
            out.append("".join(f"-{b:02x}" for b in ch.encode("utf-8")))
    return "".join(out)
