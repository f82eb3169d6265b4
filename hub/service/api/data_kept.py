"""Where a deleted tenant's data stays, per backend (pure).

Deleting a tenant through the API removes its database rows only. Its files
stay where its backend put them, and the caller is told exactly where, so a
deletion can be undone by creating the tenant again (same name: same folders,
volumes, namespace) or the data cleaned up by hand on purpose.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hub.tenancy.names import namespace_for, shared_volume_for
from spawner.kubernetes.names import TENANT_PVC, pv_name
from spawner.plan import local_paths

BACKENDS = ("local", "docker", "kubernetes")


def kept_locations(
    tenant: str, storage: dict[str, Any], backend: str, data_dir: Path, namespace_prefix: str
) -> list[str]:
    """Each place that still holds ``tenant``'s data on ``backend`` (``auto``: every backend,
    since the service does not know which one the hub picked)."""
    kinds = BACKENDS if backend == "auto" else (backend,)
    out = []
    for kind in kinds:
        if kind == "local":
            root = local_paths(data_dir, tenant, "user").shared.parent
            out.append(f"local folder {root} (home/<user> and shared)")
        elif kind == "docker":
            out.append(
                f"Docker volumes {shared_volume_for(tenant)} and "
                f"tenanthub-{tenant}-home-<user> (one per user)"
            )
        elif kind == "kubernetes":
            namespace = namespace_for(tenant, namespace_prefix)
            nfs = storage.get("nfs") or None
            if nfs:
                volume = (
                    f"PersistentVolume {pv_name(tenant, namespace_prefix)} (Retain) on NFS "
                    f"{nfs.get('server')}:{nfs.get('path')}"
                )
            elif storage.get("storage_class"):
                volume = (
                    f"its volume of storage class {storage['storage_class']} "
                    "(kept if that class reclaims with Retain)"
                )
            else:
                volume = "its volume from the cluster's default storage class"
            out.append(
                f"Kubernetes namespace {namespace}, left in place with its claim {TENANT_PVC} "
                f"and {volume} (when no longer needed: kubectl delete namespace {namespace})"
            )
    return out


def data_kept_sentence(tenant: str, places: list[str]) -> str:
    return (
        f"Only tenant {tenant!r}'s database rows were deleted; nothing on disk or in "
        f"Kubernetes was. Its data stays in: {'; '.join(places)}. Creating a tenant of the "
        "same name uses it again."
    )


def reseed_warning(tenant: str, config_path: str) -> str:
    """What happens to a deleted tenant the config file still lists (hub.tenancy.seed)."""
    return (
        f"{config_path} still lists tenant {tenant!r}: the next hub start creates it again "
        "from the config (its quota, profiles and config members; changes made in the "
        "console or API are not restored). Remove it from the config file to keep it deleted."
    )
