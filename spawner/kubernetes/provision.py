"""Provisioning a tenant's namespace: create or update its objects, idempotently.

A thin adapter around the pure builders (``manifests``) and decisions
(``reconcile``): read each object, create it when missing, replace it when
it drifted (a changed quota, a removed egress rule), leave it alone when it
matches. Running it twice changes nothing. Volumes and claims are never
rewritten (their spec is immutable); drift there is reported, not "fixed".
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass, field
from typing import Any

from kubernetes_asyncio import client as k8s
from kubernetes_asyncio.client.exceptions import ApiException

from spawner.kubernetes.reconcile import decide, merged_for_replace, released_volume_claim_fix

log = logging.getLogger("tenanthub.kubernetes")

#: kind -> (API class, snake-case resource name, namespaced)
KINDS: dict[str, tuple[str, str, bool]] = {
    "Namespace": ("CoreV1Api", "namespace", False),
    "ResourceQuota": ("CoreV1Api", "resource_quota", True),
    "LimitRange": ("CoreV1Api", "limit_range", True),
    "ServiceAccount": ("CoreV1Api", "service_account", True),
    "PersistentVolume": ("CoreV1Api", "persistent_volume", False),
    "PersistentVolumeClaim": ("CoreV1Api", "persistent_volume_claim", True),
    "Secret": ("CoreV1Api", "secret", True),
    # not provisioned: read and deleted for unfinished spawns (TenantKubeSpawner.poll)
    "Pod": ("CoreV1Api", "pod", True),
    "NetworkPolicy": ("NetworkingV1Api", "network_policy", True),
    "Role": ("RbacAuthorizationV1Api", "role", True),
    "RoleBinding": ("RbacAuthorizationV1Api", "role_binding", True),
}


class ProvisioningError(Exception):
    """The cluster refused an object; the message names it and the API server's reason."""


@dataclass
class ProvisionReport:
    """What provisioning did, object by object (``Kind/namespace/name`` -> action)."""

    actions: dict[str, str] = field(default_factory=dict)

    @property
    def changed(self) -> list[str]:
        return [key for key, action in self.actions.items() if action not in ("unchanged",)]

    def summary(self) -> str:
        counts: dict[str, int] = {}
        for action in self.actions.values():
            counts[action] = counts.get(action, 0) + 1
        return ", ".join(f"{n} {action}" for action, n in sorted(counts.items()))


def object_key(obj: dict[str, Any]) -> str:
    meta = obj["metadata"]
    return "/".join(p for p in (obj["kind"], meta.get("namespace", ""), meta["name"]) if p)


def api_reason(exc: ApiException) -> str:
    """The API server's own message (``exceeded quota: ...``), not the whole HTTP dump."""
    import json

    try:
        body = json.loads(exc.body or "{}")
        message = body.get("message")
    except (TypeError, ValueError):
        message = None
    return str(message or exc.reason or exc.status)


class ObjectClient:
    """Read/create/replace/patch/delete any of ``KINDS`` through one ApiClient."""

    def __init__(self, api_client: k8s.ApiClient) -> None:
        self.api_client = api_client
        self._apis: dict[str, Any] = {}

    def _api(self, kind: str) -> tuple[Any, str, bool]:
        try:
            cls, resource, namespaced = KINDS[kind]
        except KeyError:
            raise ProvisioningError(
                f"TenantHub does not provision objects of kind {kind}"
            ) from None
        if cls not in self._apis:
            self._apis[cls] = getattr(k8s, cls)(self.api_client)
        return self._apis[cls], resource, namespaced

    def _call(self, verb: str, obj: dict[str, Any], *args: Any) -> Any:
        api, resource, namespaced = self._api(obj["kind"])
        meta = obj["metadata"]
        if namespaced:
            method = getattr(api, f"{verb}_namespaced_{resource}")
            if verb == "create":
                return method(meta["namespace"], *args)
            return method(meta["name"], meta["namespace"], *args)
        method = getattr(api, f"{verb}_{resource}")
        return method(*args) if verb == "create" else method(meta["name"], *args)

    def _as_dict(self, model: Any) -> dict[str, Any]:
        data: dict[str, Any] = self.api_client.sanitize_for_serialization(model)
        return data

    async def read(self, obj: dict[str, Any]) -> dict[str, Any] | None:
        try:
            return self._as_dict(await self._call("read", obj))
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    async def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        return self._as_dict(await self._call("create", obj, obj))

    async def replace(self, obj: dict[str, Any]) -> dict[str, Any]:
        return self._as_dict(await self._call("replace", obj, obj))

    async def patch(self, obj: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
        return self._as_dict(await self._call("patch", obj, patch))

    async def delete(self, obj: dict[str, Any]) -> bool:
        try:
            await self._call("delete", obj)
        except ApiException as exc:
            if exc.status == 404:
                return False
            raise
        return True


async def apply_object(objects: ObjectClient, obj: dict[str, Any]) -> str:
    """Bring one object in line; returns the action taken."""
    live = await objects.read(obj)
    action = decide(obj, live)
    if action == "create":
        try:
            await objects.create(obj)
        except ApiException as exc:
            if exc.status != 409:  # created meanwhile by another hub: check it again
                raise
            return await apply_object(objects, obj)
    elif action == "update":
        assert live is not None
        try:
            await objects.replace(merged_for_replace(obj, live))
        except ApiException as exc:
            if exc.status != 409:  # changed meanwhile (resourceVersion): read and retry
                raise
            return await apply_object(objects, obj)
    elif action == "drift":
        log.warning(
            "%s differs from what TenantHub would create; its spec cannot be changed in "
            "place, so it is left as it is (delete and re-provision to replace it)",
            object_key(obj),
        )
    if obj["kind"] == "PersistentVolume" and live is not None:
        fix = released_volume_claim_fix(live)
        if fix is not None:
            await objects.patch(obj, fix)
            action = "rebound"
    return action


async def provision(
    api_client: k8s.ApiClient,
    objects: list[dict[str, Any]],
    optional: tuple[tuple[str, str, str], ...] = (),
) -> ProvisionReport:
    """Apply ``objects`` in order (namespace first); every failure names the object.

    ``optional`` lists (apiVersion, kind, name) of namespaced objects that
    exist only under some settings (the tenant-admin Role): when ``objects``
    lacks one, it is deleted, so turning a setting off takes effect.
    """
    client = ObjectClient(api_client)
    report = ProvisionReport()
    namespace = next((o["metadata"]["name"] for o in objects if o["kind"] == "Namespace"), None)
    wanted = {(o["kind"], o["metadata"]["name"]) for o in objects}
    for obj in objects:
        key = object_key(obj)
        try:
            report.actions[key] = await apply_object(client, obj)
        except ApiException as exc:
            raise ProvisioningError(f"{key}: {api_reason(exc)}") from None
    for _api_version, kind, name in optional:
        if namespace is None or (kind, name) in wanted:
            continue
        stale = {"kind": kind, "metadata": {"name": name, "namespace": namespace}}
        try:
            if await client.delete(stale):
                report.actions[object_key(stale)] = "deleted"
        except ApiException as exc:
            raise ProvisioningError(f"{object_key(stale)}: {api_reason(exc)}") from None
    return report


_CONFIRM = re.compile(r"^[a-z0-9-]+$")


async def delete_tenant_namespace(
    api_client: k8s.ApiClient, namespace: str, tenant: str, confirm: str
) -> bool:
    """Delete a tenant's namespace (pods, claims, quotas); its volume and data stay.

    ``confirm`` must repeat the tenant's name, so a slip in a script or a
    console form cannot drop a team's namespace. The PersistentVolume is
    ``Retain``: it becomes Released and is bound again if the tenant returns.
    """
    if not _CONFIRM.match(confirm) or confirm != tenant:
        raise ProvisioningError(
            f"deleting tenant {tenant!r} needs confirmation: repeat its name exactly"
        )
    client = ObjectClient(api_client)
    ns = {"kind": "Namespace", "metadata": {"name": namespace}}
    live = await client.read(ns)
    if live is None:
        return False
    if (live["metadata"].get("labels") or {}).get("tenanthub.io/tenant") != tenant:
        raise ProvisioningError(
            f"namespace {namespace} is not TenantHub's namespace of tenant {tenant!r}; left alone"
        )
    return await client.delete(ns)


class ProvisionGate:
    """Provision each tenant once per change, even when many spawns start at once.

    The first spawn in a tenant provisions it; concurrent spawns in the same
    tenant wait for that one instead of racing it; later spawns skip it until
    the tenant's desired objects change (a new quota) or ``max_age`` passes
    (so drift made behind TenantHub's back is repaired).
    """

    def __init__(self, max_age: float = 300.0) -> None:
        self.max_age = max_age
        self._locks: dict[str, asyncio.Lock] = {}
        self._done: dict[str, tuple[str, float]] = {}

    def forget(self, tenant: str) -> None:
        self._done.pop(tenant, None)

    async def ensure(
        self,
        tenant: str,
        fingerprint: str,
        api_client: k8s.ApiClient,
        objects: list[dict[str, Any]],
        optional: tuple[tuple[str, str, str], ...] = (),
    ) -> ProvisionReport | None:
        """Provision when needed; None when the tenant was already up to date."""
        loop = asyncio.get_running_loop()
        lock = self._locks.setdefault(tenant, asyncio.Lock())
        async with lock:
            done = self._done.get(tenant)
            if done and done[0] == fingerprint and loop.time() - done[1] < self.max_age:
                return None
            report = await provision(api_client, objects, optional)
            self._done[tenant] = (fingerprint, loop.time())
            if report.changed:
                log.info("Provisioned tenant %s: %s", tenant, report.summary())
            return report
