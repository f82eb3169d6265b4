"""Names of the Kubernetes objects TenantHub creates (pure; computed here and nowhere else).

User-derived names must never collide: in CVE-2020-15110 kubespawner's
escaping mapped two different usernames to one pod and one PVC, so one user
got the other's storage. Here every user-derived part goes through
:func:`hub.tenancy.names.safe_slug`, which is injective, and names that would
be too long are shortened in a form no unshortened name can take (see
:func:`_bounded`).
"""

from __future__ import annotations

import hashlib

from hub.tenancy.names import NAMESPACE_PREFIX, namespace_for, safe_slug, validate_tenant_name

#: The one PVC of a tenant namespace; every user's home is a subPath of it.
TENANT_PVC = "tenanthub-data"
#: Pod volume name of the tenant PVC.
TENANT_VOLUME = "tenant-data"
SERVICE_ACCOUNT = "notebook"
RESOURCE_QUOTA = "tenanthub-quota"
LIMIT_RANGE = "tenanthub-defaults"
NETPOL_DEFAULT_DENY = "tenanthub-default-deny"
NETPOL_ALLOW_HUB = "tenanthub-allow-hub"
NETPOL_ALLOW_EGRESS = "tenanthub-allow-egress"
ADMIN_ROLE = "tenanthub-tenant-admin-readonly"
ADMIN_ROLE_BINDING = "tenanthub-tenant-admin-readonly"
#: Container name and named container port of a notebook server.
CONTAINER = "notebook"
PORT_NAME = "notebook-port"

POD_PREFIX = "jupyter-"
MAX_POD_NAME = 63  # a pod's name is also its hostname, a DNS-1123 label
MAX_HOME_SEGMENT = 200  # below the 255-byte file name limit of common filesystems
_HASH_MARK = "-z"  # never produced by safe_slug: its escapes are '-' + two hex digits
#: 80 bits: finding a second username with a given shortened name stays out of reach.
_HASH_CHARS = 20


def namespace(tenant: str, prefix: str = NAMESPACE_PREFIX) -> str:
    """The tenant's namespace (``<prefix><tenant>``)."""
    return namespace_for(tenant, prefix)


def pvc_name(tenant: str) -> str:
    """The tenant PVC; the same name in every namespace (the namespace tells tenants apart)."""
    validate_tenant_name(tenant)
    return TENANT_PVC


def pv_name(tenant: str, prefix: str = NAMESPACE_PREFIX) -> str:
    """Cluster-scoped static PV of an NFS tenant: ``tenanthub-<namespace>``.

    Named after the namespace rather than the tenant so two TenantHub
    installations with different namespace prefixes in one cluster never
    claim each other's volume.
    """
    return f"tenanthub-{namespace_for(tenant, prefix)}"


def _digest(*parts: str) -> str:
    # \0 cannot occur in a username or server name, so the parts are unambiguous
    return hashlib.sha256("\0".join(parts).encode("utf-8")).hexdigest()[:_HASH_CHARS]


def _bounded(prefix: str, slug: str, limit: int, *key: str) -> str:
    """``prefix + slug`` when it fits in ``limit``, else a shortened, hashed form.

    Shortened names end in ``<stem>-z<20 hex>`` with ``stem`` ending in a
    letter or digit. A full name cannot look like that: ``safe_slug`` only
    writes '-' followed by a hex digit, and the only other '-' followed by a
    letter in a full pod name is right after the ``jupyter-`` prefix or
    after another '-' (the ``--`` server separator). So no username can be
    chosen to take a long name's shortened form (CVE-2020-15110 class).
    """
    full = prefix + slug
    if len(full) <= limit:
        return full
    room = limit - len(prefix) - len(_HASH_MARK) - _HASH_CHARS
    stem = slug[:room].rstrip("-")
    return f"{prefix}{stem}{_HASH_MARK}{_digest(*key)}"


def pod_slug(username: str, server_name: str = "") -> str:
    """``<slug(user)>`` or ``<slug(user)>--<slug(server)>``; ``--`` never occurs in a slug."""
    if not username:
        raise ValueError("username must not be empty")
    slug = safe_slug(username)
    return f"{slug}--{safe_slug(server_name)}" if server_name else slug


def pod_name(username: str, server_name: str = "") -> str:
    """The notebook pod of a user's server: ``jupyter-<user>[--<server>]``, at most 63 chars.

    Different (username, server name) pairs always get different names:
    ``a.b``, ``a-2eb`` and ``A.b`` become ``jupyter-a-2eb``, ``jupyter-a-2d2eb``
    and ``jupyter--41-2eb``.
    """
    slug = pod_slug(username, server_name)
    return _bounded(POD_PREFIX, slug, MAX_POD_NAME, username, server_name)


def home_subpath(username: str) -> str:
    """The user's home inside the tenant volume: ``home/<slug(user)>``.

    Collision-free like :func:`pod_name`; a very long slug is shortened (with
    the hash) to stay a valid file name.
    """
    if not username:
        raise ValueError("username must not be empty")
    return "home/" + _bounded("", safe_slug(username), MAX_HOME_SEGMENT, username)


SHARED_SUBPATH = "shared"
