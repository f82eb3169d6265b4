"""TenantKubeSpawner: KubeSpawner with one namespace per tenant.

The pod is decided by the pure builder ``manifests.user_pod`` from the spawn
plan (the same function ``tenanthub k8s manifests --user`` prints), so what
an admin reviews is what runs. This class only adds the steps around
KubeSpawner's own start: provision the tenant's namespace (once per change),
check the namespace's live ResourceQuota, keep the server's API token in a
Secret rather than in the pod spec (tenant admins may read pods, never
secrets), and turn the API server's refusals into messages for the spawn page.
"""

from __future__ import annotations

import hashlib
import json
import random
import socket
from typing import Any

from kubernetes_asyncio.client import ApiClient, V1Pod
from kubernetes_asyncio.client.exceptions import ApiException
from kubespawner import KubeSpawner
from kubespawner.clients import shared_client
from traitlets import Float, default

from hub.config.schema import KubernetesBackendSettings
from hub.tenancy.names import namespace_for
from spawner.kubernetes import names as k8s_names
from spawner.kubernetes.manifests import OPTIONAL_OBJECTS, user_pod
from spawner.kubernetes.provision import (
    ObjectClient,
    ProvisionGate,
    ProvisioningError,
    api_reason,
)
from spawner.kubernetes.quota_check import (
    live_quota_message,
    live_quota_shortfalls,
    pod_quota_usage,
)
from spawner.kubernetes.reconciler import desired_objects
from spawner.plan import SpawnPlan
from spawner.tenancy import TenancyRefused, TenantSpawnerMixin

#: One gate per hub process: a tenant is provisioned once per change, not per spawn.
PROVISION_GATE = ProvisionGate()
QUOTA_NAME = "tenanthub-quota"
#: host_network mode: the port each server of this hub process was given (user/server -> port)
HOST_PORTS_PICKED: dict[str, int] = {}


def is_secret_env(name: str) -> bool:
    """Environment variables that must not be readable from the pod spec."""
    upper = name.upper()
    return any(word in upper for word in ("TOKEN", "SECRET", "PASSWORD", "KEY"))


def split_env(env: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """(plain, secret): secrets go into the server's Secret, referenced by envFrom."""
    plain = {k: v for k, v in env.items() if not is_secret_env(k)}
    secret = {k: v for k, v in env.items() if is_secret_env(k)}
    return plain, secret


def as_v1_pod(api_client: ApiClient, pod: dict[str, Any]) -> V1Pod:
    """The client model KubeSpawner's create path expects, from our plain-dict manifest."""
    deserialize = getattr(api_client, "_ApiClient__deserialize")  # noqa: B009 - name-mangled
    result: V1Pod = deserialize(pod, "V1Pod")
    return result


def reflector_gave_up(reflector: Any) -> bool:
    """Its first list is over but no watch runs: its watch loop returned after too many
    failures, or its start failed. (One still starting has no result yet; one stopped on
    purpose is no longer KubeSpawner's.)"""
    if not reflector.first_load_future.done() or reflector._stopping:
        return False
    task = reflector.watch_task
    return task is None or bool(task.done())


def objects_fingerprint(objects: list[dict[str, Any]]) -> str:
    return hashlib.sha256(json.dumps(objects, sort_keys=True).encode()).hexdigest()


class TenantKubeSpawner(TenantSpawnerMixin, KubeSpawner):
    """One server per user and tenant, in the tenant's namespace ``th-<tenant>``."""

    metrics_backend = "kubernetes"

    provision_max_age = Float(
        300.0,
        config=True,
        help="Seconds after which a spawn re-checks its tenant's namespace objects and "
        "repairs drift made outside TenantHub.",
    )

    @default("component_label")
    def _component_label_default(self) -> str:
        return "singleuser-server"

    @default("delete_grace_period")
    def _grace_default(self) -> int:
        return 5

    @property
    def k8s_settings(self) -> KubernetesBackendSettings:
        return self.platform.config.backend.kubernetes

    # ------------------------------------------------------------------ plan -> traits

    def apply_plan(self, plan: SpawnPlan) -> None:
        settings = self.k8s_settings
        self.namespace = namespace_for(plan.tenant, settings.namespace_prefix)
        self._namespace_known = True
        self.pod_name = k8s_names.pod_name(self.user.name, self.name)
        self.image = plan.image
        self.image_pull_policy = settings.image_pull_policy
        if settings.host_network:
            # no pod network (a single-node test cluster): every server on its own node
            # port, bound to loopback only
            self.ip = "127.0.0.1"
            self.port = self._free_node_port(settings)

    def _free_node_port(self, settings: KubernetesBackendSettings) -> int:
        low, high = settings.port_range
        taken = {
            int(port["containerPort"])
            for pod in self._tenanthub_pods()
            for container in pod.get("spec", {}).get("containers", [])
            for port in container.get("ports") or []
            if "containerPort" in port
        }
        # ports picked by spawns whose pods the reflector has not seen yet (a burst)
        taken |= set(HOST_PORTS_PICKED.values())
        for _ in range(200):
            port = random.randint(low, high)
            if port in taken:
                continue
            with socket.socket() as sock:
                try:
                    sock.bind(("127.0.0.1", port))
                except OSError:
                    continue
            HOST_PORTS_PICKED[self.ledger_key] = port
            return port
        raise TenancyRefused(503, "No free port for a new server on this node; try again.")

    def _tenanthub_pods(self) -> list[dict[str, Any]]:
        pods: list[dict[str, Any]] = []
        for key, reflector in type(self).reflectors.items():
            if key[0] == "pods":
                pods.extend(reflector.pods.values())
        return pods

    async def load_user_options(self) -> None:
        """TenantHub resolves tenant and profile itself (``tenancy_admit``), not profile_list."""

    # ------------------------------------------------------------------ start

    @property
    def _api_client(self) -> ApiClient:
        client: ApiClient = shared_client("CoreV1Api").api_client
        return client

    def _secret_name(self) -> str:
        return f"{self.pod_name}-env"

    async def launch(self) -> Any:
        plan = self.tenancy_plan
        assert plan is not None
        await self.provision_tenant(plan.tenant)
        self._secret_env = split_env(self.get_env())[1]
        await self._check_live_quota(plan)
        await self._write_env_secret()
        return await super().launch()

    async def provision_tenant(self, tenant: str) -> None:
        platform = self.platform
        spec = await platform.run(platform.store.tenant_spec, tenant)
        if spec is None:
            raise TenancyRefused(404, f"Tenant {tenant!r} no longer exists.")
        objects = desired_objects(spec, platform.config)
        PROVISION_GATE.max_age = self.provision_max_age
        try:
            await PROVISION_GATE.ensure(
                tenant, objects_fingerprint(objects), self._api_client, objects, OPTIONAL_OBJECTS
            )
        except (ProvisioningError, ApiException) as exc:
            reason = exc if isinstance(exc, ProvisioningError) else api_reason(exc)
            self.log.error("Provisioning tenant %s failed: %s", tenant, reason)
            raise TenancyRefused(
                503,
                f"The tenant's Kubernetes namespace could not be prepared ({reason}). "
                "Nothing was started; ask a platform admin to check the hub's permissions.",
            ) from None

    async def _check_live_quota(self, plan: SpawnPlan) -> None:
        quota = {
            "kind": "ResourceQuota",
            "metadata": {"name": QUOTA_NAME, "namespace": self.namespace},
        }
        live = await ObjectClient(self._api_client).read(quota)
        status = (live or {}).get("status") or {}
        hard, used = status.get("hard") or {}, status.get("used") or {}
        if not hard:  # not computed yet by the quota controller; admission still enforces
            return
        pod = await self.get_pod_manifest()
        request = pod_quota_usage(self.api_client_sanitize(pod))
        problems = live_quota_shortfalls(hard, used, request)
        if problems:
            raise TenancyRefused(403, live_quota_message(plan.tenant, problems))

    def api_client_sanitize(self, model: Any) -> dict[str, Any]:
        data: dict[str, Any] = self._api_client.sanitize_for_serialization(model)
        return data

    async def _write_env_secret(self) -> None:
        secret = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {
                "name": self._secret_name(),
                "namespace": self.namespace,
                "labels": {
                    "app.kubernetes.io/managed-by": "tenanthub",
                    "tenanthub.io/tenant": self.tenancy_plan.tenant if self.tenancy_plan else "",
                },
            },
            "type": "Opaque",
            "stringData": dict(self._secret_env),
        }
        objects = ObjectClient(self._api_client)
        await objects.delete(secret)  # a left-over from a crashed start holds an old token
        await objects.create(secret)

    async def get_pod_manifest(self) -> V1Pod:
        plan = self.tenancy_plan
        assert plan is not None
        args = self.get_args()
        cmd = [*self.cmd, *args] if self.cmd else None
        plain, _secret = split_env(self.get_env())
        pod = user_pod(
            plan,
            self.k8s_settings,
            pod_name=self.pod_name,
            port=self.port,
            cmd=cmd or [],
            env=plain,
            annotations={"hub.jupyter.org/username": self.user.name},
        )
        container = pod["spec"]["containers"][0]
        container["envFrom"] = [{"secretRef": {"name": self._secret_name()}}]
        # KubeSpawner's reflector and poll() look for its labels; TenantHub's own win
        labels = pod["metadata"]["labels"]
        for key, value in self._build_pod_labels({}).items():
            labels.setdefault(key, value)
        return as_v1_pod(self._api_client, pod)

    async def _make_create_pod_request(self, pod: V1Pod, request_timeout: float) -> bool:
        try:
            result: bool = await super()._make_create_pod_request(pod, request_timeout)
        except ApiException as exc:
            if exc.status in (403, 422):
                raise TenancyRefused(
                    exc.status,
                    f"Kubernetes refused the server: {api_reason(exc)}. Nothing is running; "
                    "stop another server in this tenant or pick a smaller profile.",
                ) from None
            raise
        return result

    async def _start_watching_pods(self, replace: bool = False) -> Any:
        """Watch only TenantHub's server pods, in this tenant namespace (never cluster-wide)."""
        return await self._start_reflector(
            kind="pods",
            reflector_class=type(self)._pod_reflector_class(),
            labels={
                "component": self.component_label,
                "app.kubernetes.io/managed-by": "tenanthub",
            },
            omit_namespace=False,
            replace=replace,
        )

    async def _start_reflector(
        self, kind: str, reflector_class: type, replace: bool = False, **kwargs: Any
    ) -> Any:
        """KubeSpawner's shared reflector of this namespace, started again if it gave up.

        A reflector retries a broken watch with doubling delays and gives up after about
        51 s of failures (an API server down that long). With one reflector per namespace
        KubeSpawner then neither halts the hub nor restarts it: its copy of the pods goes
        stale for good, so a pod that dies is never noticed and spawns and stops in the
        tenant wait out their timeouts. poll, start and stop all come through here, so the
        next of them starts a new one (which fails, and is tried again, while the API
        server is still down).
        """
        current = type(self).reflectors.get(self._get_reflector_key(kind))
        if current is not None and not replace and reflector_gave_up(current):
            self.log.warning(
                "The %s reflector of %s stopped watching (API server errors); starting it "
                "again", kind, self.namespace,
            )  # fmt: skip
            replace = True
        return await super()._start_reflector(kind, reflector_class, replace=replace, **kwargs)

    @staticmethod
    def _pod_reflector_class() -> type:
        from kubespawner.spawner import PodReflector

        return PodReflector

    def checkpointer_node_host(self) -> str | None:
        """The pod's node address (``status.hostIP``): the checkpointer DaemonSet listens
        there. None when the reflector has not seen the pod (nothing to checkpoint)."""
        reflector = getattr(self, "pod_reflector", None)
        if reflector is None or not self.namespace or not self.pod_name:
            return None
        pod = reflector.pods.get(f"{self.namespace}/{self.pod_name}")
        host = ((pod or {}).get("status") or {}).get("hostIP")
        return str(host) if host else None

    # ------------------------------------------------------------------ unfinished spawns

    #: whether this server's namespace is known: from the state a finished start saved
    #: (KubeSpawner.get_state records it) or from this process's own spawn (apply_plan)
    _namespace_known = False

    def load_state(self, state: dict[str, Any]) -> None:
        super().load_state(state)
        if "namespace" in state:
            self._namespace_known = True

    async def poll(self) -> int | None:
        # "check": JupyterHub polls every server of its database when it starts
        unfinished = not self._namespace_known and self.pending in (None, "check")
        if unfinished and await self.remove_unrecorded():
            return 0
        result: int | None = await super().poll()
        return result

    async def remove_unrecorded(self) -> int:
        """Delete this server's pods (and env Secrets) that no finished start recorded.

        A hub killed during a spawn never saved the spawner's state (JupyterHub saves it
        once ``start`` returns), so after the restart KubeSpawner looks for the pod in
        its default namespace, not the tenant's, finds none, and JupyterHub forgets the
        server: the pod would keep running, unrouted, and count against the tenant's
        quota. Runs when JupyterHub polls its servers at startup, never during a spawn.
        The pod's name is the one this server's spawns use; only this hub's tenant
        namespaces are looked at, and only pods TenantHub manages are deleted.
        """
        platform = self.platform
        tenants = await platform.read(platform.store.tenant_names)
        name = k8s_names.pod_name(self.user.name, self.name)
        objects = ObjectClient(self._api_client)
        removed = 0
        for tenant in tenants:
            namespace = namespace_for(tenant, self.k8s_settings.namespace_prefix)
            pod = {"kind": "Pod", "metadata": {"name": name, "namespace": namespace}}
            try:
                live = await objects.read(pod)
            except ApiException as exc:
                self.log.warning("Could not look for %s/%s: %s", namespace, name, exc.reason)
                continue
            labels = ((live or {}).get("metadata") or {}).get("labels") or {}
            if labels.get("app.kubernetes.io/managed-by") != "tenanthub":
                continue
            self.log.warning(
                "Deleting pod %s/%s of %s: its start was never finished (the hub stopped "
                "during the spawn)", namespace, name, self.ledger_key,
            )  # fmt: skip
            await objects.delete(pod)
            secret = {"kind": "Secret", "metadata": {"name": f"{name}-env", "namespace": namespace}}
            await objects.delete(secret)
            removed += 1
        return removed

    async def stop(self, now: bool = False) -> Any:
        try:
            return await super().stop(now=now)
        finally:
            HOST_PORTS_PICKED.pop(self.ledger_key, None)
            if self.namespace and self.pod_name:
                secret = {
                    "kind": "Secret",
                    "metadata": {"name": self._secret_name(), "namespace": self.namespace},
                }
                try:
                    await ObjectClient(self._api_client).delete(secret)
                except ApiException as exc:
                    self.log.warning("Could not delete %s: %s", self._secret_name(), exc.reason)
