"""TenantHub's own JupyterHub services, their API tokens and least-privilege roles.

The platform service, the checkpointer and the job runner talk to the hub's
REST API. The platform service (``tenanthub``) is hub-managed (the hub starts it,
see ``hub.app.traits.platform_service``); the checkpointer and the job runner are
*external* services (no ``command``: started by whoever runs them, e.g. a
DaemonSet, a local daemon). Each has its own token and its own role, so a
leaked checkpointer token cannot stop servers and a leaked job-runner token cannot even list users.

Tokens are generated at the hub's first start and kept in
``data_dir/secrets/<service>.token`` (0600, in a 0700 folder; the same pattern
as the proxy token, see ``hub.app.proxy.secret_file``), so they are stable
across restarts and the services can read them from the file. They are
never logged: only the service names go into the hub's config and log.

Roles are given to services through ``load_roles``, which JupyterHub still
allows with ``Authenticator.manage_roles`` on (it only refuses role
assignments to users and groups there, as the authenticator owns those).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hub.app.proxy import secret_file

SECRETS_DIR = "secrets"


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    description: str
    scopes: tuple[str, ...]


#: The platform service (REST API and admin console, later jobs/datasets).
#: - ``list:users``, ``read:users``: show a tenant's users, their last activity
#:   and groups in the console;
#: - ``list:groups``, ``read:groups``: the tenant groups (``tenant-<t>``);
#: - ``groups``: add/remove members of a tenant group when the console changes a
#:   membership, so JupyterHub sees it before the user's next auth refresh;
#: - ``read:servers``: running servers per tenant (live usage);
#: - ``delete:servers``: a tenant or platform admin stops a server from the console.
#: Not ``admin:users`` (it could make users admins), not ``servers``/``start:servers``
#: (users start their own servers), not ``access:servers`` (the service never
#: opens a user's server), not ``tokens``. Its ``custom:tenanthub:*`` scopes come
#: with the service itself.
PLATFORM = ServiceSpec(
    "tenanthub",
    "TenantHub platform service: tenant API and admin console",
    (
        "list:users",
        "read:users",
        "list:groups",
        "read:groups",
        "groups",
        "read:servers",
        "delete:servers",
    ),
)

#: The checkpointer knows a container's user and server from its labels and asks
#: the hub only about that user:
#: - ``read:users:activity``: the user's and server's ``last_activity`` (idle?);
#: - ``read:servers``: is that server still running, started when, which options.
#: - ``access:services!service=tenanthub``: reach the platform API at all, and
#:   ``custom:tenanthub:checkpoints``: there, record its checkpoints' steps (the
#:   nodes never write the platform DB themselves); it sees no tenant or member.
#: No ``list:users`` (it never enumerates users) and no ``delete:servers``: the
#: spawner asks the checkpointer before a stop, never the other way round.
CHECKPOINTER = ServiceSpec(
    "tenanthub-checkpointer",
    "TenantHub checkpointer: reads activity and servers to decide what is idle",
    (
        "read:users:activity",
        "read:servers",
        "access:services!service=tenanthub",
        "custom:tenanthub:checkpoints",
    ),
)

#: Job runs need no service of their own: the scheduler runs inside the platform
#: service (``hub.service.jobs``), reads owner, tenant, image and quota from the
#: platform DB and never calls the hub (jobs must not be stopped with servers).
SERVICES: tuple[ServiceSpec, ...] = (PLATFORM, CHECKPOINTER)


def token_path(data_dir: Path, name: str) -> Path:
    """Where the token of service ``name`` is kept."""
    return data_dir / SECRETS_DIR / f"{name}.token"


def service_token(data_dir: Path, name: str) -> str:
    """The service's API token: read from its file, created (0600) at first start."""
    folder = data_dir / SECRETS_DIR
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    folder.chmod(0o700)  # also when it existed (mkdir's mode is masked by the umask)
    path = token_path(data_dir, name)
    token = secret_file(path)
    if path.stat().st_mode & 0o077:
        os.chmod(path, 0o600)
    return token


def service_role(spec: ServiceSpec) -> dict[str, Any]:
    """The service's role (same name as the service) with exactly its scopes."""
    return {
        "name": spec.name,
        "description": spec.description,
        "scopes": list(spec.scopes),
        "services": [spec.name],
    }


def platform_services(data_dir: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``(services, roles)`` for ``JupyterHub.services`` and ``JupyterHub.load_roles``."""
    services = [
        {"name": spec.name, "api_token": service_token(data_dir, spec.name)} for spec in SERVICES
    ]
    return services, [service_role(spec) for spec in SERVICES]
