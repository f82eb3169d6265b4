"""Where the daemon's notebook containers come from: the node's engine or its pods.

The daemon asks one thing of a source: the TenantHub notebook containers of this
node, as :class:`ContainerRef` whose ``labels`` carry TenantHub's
``tenanthub.io/tenant``, ``username``, ``server`` and ``profile``. What it does
with a container afterwards (commit, push...) goes through the runtime driver by
the container's engine id, whichever source found it.

- Docker mode (:class:`DockerLabelSource`): the engine's containers by label, as
  the Docker spawner labels them (the driver's ``containers``).
- Kubernetes mode (:class:`KubernetesPodSource`): a list + watch of the pods of
  this node only (field selector ``spec.nodeName=<node>``) that carry TenantHub's
  notebook labels (label selector), never the cluster's other pods. Each pod's
  notebook container is found from ``status.containerStatuses[].containerID``.
  The watch keeps an in-memory cache up to date, resumes from the last
  ``resourceVersion``, and lists again after ``410 Gone`` (the version expired)
  or, with back-off, after any other error.

Pods do not carry the user and server names as labels (label values cannot hold
``@`` or long names), so :func:`pod_container` reads them from the annotations the
Kubernetes spawner writes; the parsing is pure and unit-tested.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

from checkpointer.drivers.base import ContainerRef, DriverError, RuntimeDriver
from checkpointer.names import LABEL_SERVER, LABEL_USERNAME

if TYPE_CHECKING:
    from kubernetes_asyncio.client import ApiClient

    from checkpointer.platform_client import ServerEndpoint

log = logging.getLogger("tenanthub.checkpointer")

#: The labels of every TenantHub notebook pod (``spawner.kubernetes.manifests.user_pod``);
#: the component label leaves out TenantHub's job pods, which are never checkpointed.
NOTEBOOK_POD_SELECTOR = {
    "app.kubernetes.io/managed-by": "tenanthub",
    "app.kubernetes.io/component": "singleuser-server",
}
#: The notebook container's name in the pod (``spawner.kubernetes.names.CONTAINER``).
NOTEBOOK_CONTAINER = "notebook"
#: Where the spawner writes the exact user and server names (annotation values are free-form).
USER_ANNOTATIONS = ("tenanthub.io/username", "tenanthub.io/user", "hub.jupyter.org/username")
SERVER_ANNOTATIONS = ("tenanthub.io/server", "hub.jupyter.org/servername")
#: KubeSpawner's label of the server name: the name itself when it is a valid label
#: value, else an escaped form that always contains ``---`` (and cannot be reversed).
SERVER_NAME_LABEL = "hub.jupyter.org/servername"
_ESCAPED_MARK = "---"


class ContainerSource(Protocol):
    """The notebook containers of this node, running or not (the daemon skips stopped ones)."""

    async def containers(self) -> list[ContainerRef]: ...


class SourceUnavailable(DriverError):
    """The source cannot say which containers run here (yet); the message says why."""


# ============================================================================ Docker mode


class DockerLabelSource:
    """Docker mode: the engine's containers carrying all of ``labels`` (via the driver).

    The driver's call blocks (Docker SDK), so it runs on a worker thread.
    """

    def __init__(self, driver: RuntimeDriver, labels: Mapping[str, str]) -> None:
        self.driver = driver
        self.labels = dict(labels)

    async def containers(self) -> list[ContainerRef]:
        return await asyncio.to_thread(self.driver.containers, dict(self.labels))


# ============================================================================ pure parsing


def label_selector(labels: Mapping[str, str]) -> str:
    """``{"a": "1", "b": "2"}`` -> ``a=1,b=2`` (equality terms, all must match)."""
    return ",".join(f"{key}={value}" for key, value in sorted(labels.items()))


def node_field_selector(node: str) -> str:
    """Only the pods scheduled to ``node``."""
    return f"spec.nodeName={node}"


def parse_container_id(value: str) -> tuple[str, str] | None:
    """``docker://<id>`` -> (``docker``, ``<id>``); None for an empty or malformed value.

    The scheme names the runtime that runs the container. With dockershim (and
    cri-dockerd) it is ``docker`` and the id is the Docker engine's, which the
    Docker driver takes as is. On containerd nodes it is ``containerd://<id>``: the
    id is containerd's container id in its ``k8s.io`` namespace, which a containerd
    driver would load (``client.LoadContainer(ctx, id)`` with
    ``namespaces.WithNamespace(ctx, "k8s.io")``) to reach the task (pause/resume),
    its snapshot key and snapshotter (the writable layer) and its image; CRI-O
    (``cri-o://``) would need a driver of its own. A source is built for one
    runtime; pods of another are reported, not handed to the wrong driver.
    """
    scheme, sep, ident = value.partition("://")
    if not sep or not scheme or not ident:
        return None
    return scheme, ident


def image_of_status(image_id: str) -> str:
    """The engine's reference of the image a container runs, from ``imageID``.

    Docker reports ``docker://sha256:<id>`` for an image it has no registry digest
    of, ``docker-pullable://<repo>@sha256:<digest>`` for a pulled one; both forms
    without the scheme are what ``docker image inspect`` takes.
    """
    _, sep, rest = image_id.partition("://")
    return rest if sep else image_id


def _first(values: Mapping[str, str], keys: tuple[str, ...]) -> str | None:
    for key in keys:
        if key in values:
            return values[key]
    return None


def server_name_of(annotations: Mapping[str, str], labels: Mapping[str, str]) -> str | None:
    """The JupyterHub server name of a pod (``""`` is the default server), None if unknown.

    Annotations hold it exactly. Without one, KubeSpawner's label holds it when the
    name is a valid label value (its escaped form, marked by ``---``, cannot be
    reversed) and is empty for the default server.
    """
    exact = _first(annotations, SERVER_ANNOTATIONS)
    if exact is not None:
        return exact
    label = labels.get(SERVER_NAME_LABEL)
    if label is None or _ESCAPED_MARK in label:
        return None
    return label


def pod_key(pod: Mapping[str, Any]) -> str:
    meta = pod.get("metadata") or {}
    return str(meta.get("uid") or f"{meta.get('namespace')}/{meta.get('name')}")


def pod_container(
    pod: Mapping[str, Any],
    *,
    container: str = NOTEBOOK_CONTAINER,
    runtime: str = "docker",
) -> ContainerRef | str:
    """A notebook pod's container as the driver knows it, or why there is none (a sentence).

    ``labels`` are the pod's labels plus ``tenanthub.io/username`` and
    ``tenanthub.io/server`` from its annotations (as the Docker spawner's labels
    carry them), so the daemon treats both modes alike. ``running`` only when the
    pod is ``Running``, not being deleted, and the container's state is running.
    """
    meta = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    where = f"{meta.get('namespace')}/{meta.get('name')}"
    statuses = [s for s in status.get("containerStatuses") or [] if s.get("name") == container]
    if not statuses:
        if not any(c.get("name") == container for c in spec.get("containers") or []):
            return f"pod {where} has no container named {container!r}"
        return f"pod {where}: container {container!r} has not been created yet"
    state = statuses[0]
    parsed = parse_container_id(state.get("containerID") or "")
    if parsed is None:
        return f"pod {where}: container {container!r} has not been created yet"
    scheme, ident = parsed
    if scheme != runtime:
        return (
            f"pod {where}: container {container!r} runs on {scheme}, but this "
            f"checkpointer's driver is {runtime}"
        )
    labels = dict(meta.get("labels") or {})
    annotations = dict(meta.get("annotations") or {})
    user = _first(annotations, USER_ANNOTATIONS)
    server = server_name_of(annotations, labels)
    if user is not None:
        labels[LABEL_USERNAME] = user
    if server is not None:
        labels[LABEL_SERVER] = server
    running = (
        status.get("phase") == "Running"
        and not meta.get("deletionTimestamp")
        and "running" in (state.get("state") or {})
    )
    spec_image = next(
        (c.get("image", "") for c in spec.get("containers") or [] if c.get("name") == container),
        "",
    )
    return ContainerRef(
        id=ident,
        name=where,
        labels=labels,
        image=image_of_status(state.get("imageID") or ""),
        running=running,
        image_name=spec_image or state.get("image") or "",
    )


def backoff_delay(failures: int, base: float = 1.0, cap: float = 60.0) -> float:
    """Seconds to wait before listing again after ``failures`` errors in a row (doubling)."""
    if failures <= 0:
        return 0.0
    return min(cap, base * 2 ** min(failures - 1, 30))


class PodCache:
    """This node's notebook pods as the last list and the watch since have shown them."""

    def __init__(self) -> None:
        self.pods: dict[str, Mapping[str, Any]] = {}
        self.resource_version: str | None = None

    def replace(self, pods: list[Mapping[str, Any]], resource_version: str | None) -> None:
        """A full list: exactly these pods, as of ``resource_version``."""
        self.pods = {pod_key(p): p for p in pods}
        self.resource_version = resource_version

    def apply(self, event_type: str, pod: Mapping[str, Any]) -> None:
        """One watch event (``ADDED``, ``MODIFIED``, ``DELETED``, ``BOOKMARK``)."""
        version = (pod.get("metadata") or {}).get("resourceVersion")
        if event_type == "DELETED":
            self.pods.pop(pod_key(pod), None)
        elif event_type in ("ADDED", "MODIFIED"):
            self.pods[pod_key(pod)] = pod
        if version:
            self.resource_version = str(version)

    def containers(
        self, container: str = NOTEBOOK_CONTAINER, runtime: str = "docker"
    ) -> tuple[list[ContainerRef], list[str]]:
        """The notebook containers of the cached pods, and why the other pods have none."""
        found: list[ContainerRef] = []
        reasons: list[str] = []
        for pod in self.pods.values():
            ref = pod_container(pod, container=container, runtime=runtime)
            (reasons if isinstance(ref, str) else found).append(ref)  # type: ignore[arg-type]
        found.sort(key=lambda c: c.name)
        return found, reasons

    def pod_ip(self, container_id: str) -> str | None:
        """The pod address of the pod running ``container_id`` (``status.podIP``).

        Called from worker threads: it iterates over a copy of the cache.
        """
        for pod in list(self.pods.values()):
            for state in (pod.get("status") or {}).get("containerStatuses") or []:
                parsed = parse_container_id(state.get("containerID") or "")
                if parsed and parsed[1] == container_id:
                    return (pod.get("status") or {}).get("podIP") or None
        return None


# ============================================================================ Kubernetes mode


class PodDetails:
    """What the daemon reads of a container in Kubernetes mode (``ContainerDetails``).

    The engine still holds the container's environment (the kubelet resolves the
    spawner's Secret into it) and its image's labels, but not its address: a pod's
    containers share the sandbox's network, so the engine reports no IP for them.
    A server bound to all addresses (``JUPYTERHUB_SERVICE_URL`` on ``0.0.0.0``) is
    reached at the pod's IP from the watch's cache instead.
    """

    def __init__(self, engine: Any, pods: KubernetesPodSource) -> None:
        self.engine = engine  # a docker.DockerClient
        self.pods = pods

    def endpoint(self, container: ContainerRef) -> ServerEndpoint | None:
        # imported here: the daemon imports this module for ContainerSource
        from checkpointer.daemon import endpoint_from_env

        info = self.engine.api.inspect_container(container.id)
        env = (info.get("Config") or {}).get("Env") or []
        return endpoint_from_env(env, self.pods.pod_ip(container.id))

    def image_labels(self, container: ContainerRef) -> Mapping[str, str]:
        info = self.engine.api.inspect_image(container.image)
        return dict((info.get("Config") or {}).get("Labels") or {})


class KubernetesPodSource:
    """Kubernetes mode: this node's notebook pods, by list + watch (kubernetes_asyncio).

    The ServiceAccount needs only ``get``, ``list`` and ``watch`` on pods (see
    ``checkpointer.daemonset``). The watch runs in a task of its own, started by the
    first :meth:`containers` call (or :meth:`start`); :meth:`containers` answers from
    the cache, after waiting (at most ``sync_timeout``) for the first list. A pod
    deleted while the watch was down stays in the cache until the next list; the
    driver then finds no container and that one checkpoint check fails, nothing more.
    """

    def __init__(
        self,
        api_client: ApiClient,
        node: str,
        *,
        selector: Mapping[str, str] = NOTEBOOK_POD_SELECTOR,
        container: str = NOTEBOOK_CONTAINER,
        runtime: str = "docker",
        watch_timeout: int = 300,
        sync_timeout: float = 30.0,
        max_backoff: float = 60.0,
    ) -> None:
        self.api_client = api_client
        self.node = node
        self.selector = dict(selector)
        self.container = container
        self.runtime = runtime
        self.watch_timeout = watch_timeout
        self.sync_timeout = sync_timeout
        self.max_backoff = max_backoff
        self.cache = PodCache()
        #: lists made (the first one and every re-list after 410 Gone or an error)
        self.lists = 0
        self.last_error: str | None = None
        self._synced = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ the daemon's side

    async def containers(self) -> list[ContainerRef]:
        self.start()
        try:
            await asyncio.wait_for(self._synced.wait(), self.sync_timeout)
        except TimeoutError:
            raise SourceUnavailable(
                f"no list of the pods of node {self.node} after {self.sync_timeout:.0f} s: "
                f"{self.last_error or 'the API server does not answer'}"
            ) from None
        found, reasons = self.cache.containers(self.container, self.runtime)
        for reason in reasons:
            log.debug("%s", reason)
        return found

    def pod_ip(self, container_id: str) -> str | None:
        return self.cache.pod_ip(container_id)

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name=f"pods of node {self.node}")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    # ------------------------------------------------------------------ list + watch

    def _query(self) -> dict[str, Any]:
        return {
            "field_selector": node_field_selector(self.node),
            "label_selector": label_selector(self.selector),
        }

    async def _run(self) -> None:
        failures = 0
        while True:
            try:
                await self._list()
                failures = 0
                while await self._watch():
                    pass  # the server ended the watch (timeout): go on from the same version
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                gone = getattr(exc, "status", None) == 410
                self.last_error = f"{type(exc).__name__}: {exc}"
                if gone:  # the version expired: list again at once
                    log.info("pods of node %s: watch expired (410 Gone); listing again", self.node)
                    continue
                failures += 1
                delay = backoff_delay(failures, cap=self.max_backoff)
                log.warning(
                    "pods of node %s: %s; listing again in %.0f s",
                    self.node, self.last_error, delay,
                )  # fmt: skip
                await asyncio.sleep(delay)

    async def _list(self) -> None:
        from kubernetes_asyncio.client import CoreV1Api

        core = CoreV1Api(self.api_client)
        response: Any = await core.list_pod_for_all_namespaces(
            **self._query(), _preload_content=False
        )  # the raw answer: the parsing above reads plain dicts
        body = json.loads(await response.read())
        version = (body.get("metadata") or {}).get("resourceVersion")
        self.cache.replace(list(body.get("items") or []), version)
        self.lists += 1
        self.last_error = None
        self._synced.set()
        log.info(
            "pods of node %s: %d notebook pods listed (version %s)",
            self.node, len(self.cache.pods), version,
        )  # fmt: skip

    async def _watch(self) -> bool:
        """Apply events until the server ends the watch (True); raises on an error event."""
        from kubernetes_asyncio.client import CoreV1Api
        from kubernetes_asyncio.watch import Watch

        core = CoreV1Api(self.api_client)
        watch = Watch(return_type="object")  # plain dicts: the parsing above reads those
        try:
            async for event in watch.stream(
                core.list_pod_for_all_namespaces,
                **self._query(),
                resource_version=self.cache.resource_version,
                timeout_seconds=self.watch_timeout,
                allow_watch_bookmarks=True,
            ):
                self.cache.apply(str(event["type"]), event["raw_object"])
        finally:
            await watch.close()  # its response and its own (deserializing) client
        return True


__all__ = [
    "NOTEBOOK_CONTAINER",
    "NOTEBOOK_POD_SELECTOR",
    "ContainerSource",
    "DockerLabelSource",
    "KubernetesPodSource",
    "PodCache",
    "PodDetails",
    "SourceUnavailable",
    "backoff_delay",
    "image_of_status",
    "label_selector",
    "node_field_selector",
    "parse_container_id",
    "pod_container",
    "server_name_of",
]
