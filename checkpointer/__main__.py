"""``python -m checkpointer``: the node's checkpointer daemon (Docker or Kubernetes mode).

Configuration is the platform's own file (``TENANTHUB_CONFIG``, like the service):
its ``checkpoint:`` and ``profiles:`` sections. The daemon reads no database; it
reaches the platform at ``TENANTHUB_HUB_URL`` (default: the hub's address from the
config, on loopback) with the checkpointer service token from
``TENANTHUB_CHECKPOINTER_TOKEN``, ``TENANTHUB_CHECKPOINTER_TOKEN_FILE`` or, on a
one-machine install, the hub's secrets folder. ``TENANTHUB_NODE`` names the node
(default: the host name). The token is never logged.

``TENANTHUB_CHECKPOINTER_MODE`` (``docker`` or ``kubernetes``; default from the
config's ``backend.kind``, see :func:`choose_mode`) says where the node's notebook
containers come from: the engine's containers by label, or the node's pods (list +
watch, ``checkpointer.sources``). Kubernetes mode needs ``TENANTHUB_NODE`` (the
DaemonSet sets it to ``spec.nodeName``) and uses the in-cluster credentials, or
``KUBECONFIG`` when set (tests, a daemon outside the cluster).

``TENANTHUB_CHECKPOINTER_LABELS`` (Docker mode; ``key=value,...``) narrows the
containers further: where one engine serves more than one platform (or test hub),
each daemon takes only its own (for example ``tenanthub.io/tenant=<name>``).

``python -m checkpointer manifests ...`` prints the DaemonSet and its RBAC as YAML
(``checkpointer.daemonset``); ``--help`` lists the options.

It also listens for the spawner's "checkpoint before stop" requests
(``checkpointer.endpoint``) on ``checkpoint.daemon_port`` at
``TENANTHUB_CHECKPOINTER_BIND`` (default 127.0.0.1; a DaemonSet binds the node's
address).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import socket
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from checkpointer.daemon import (
    SELECTOR,
    Checkpointer,
    ContainerDetails,
    DockerDetails,
    settings_from_config,
)
from checkpointer.platform_client import PlatformClient, load_token
from checkpointer.sources import (
    ContainerSource,
    DockerLabelSource,
    KubernetesPodSource,
    PodDetails,
)
from hub import logs

log = logging.getLogger("tenanthub.checkpointer")
CONFIG_ENV = "TENANTHUB_CONFIG"
MODE_ENV = "TENANTHUB_CHECKPOINTER_MODE"
MODES = ("docker", "kubernetes")
LABELS_ENV = "TENANTHUB_CHECKPOINTER_LABELS"


class ModeError(ValueError):
    """No mode can be chosen; the message says what to set."""


def choose_mode(explicit: str | None, backend_kind: str, in_cluster: bool) -> tuple[str, str]:
    """The daemon's mode and why (for the log), from the env, else the config's backend."""
    if explicit:
        mode = explicit.strip().lower()
        if mode not in MODES:
            raise ModeError(f"{MODE_ENV}={explicit!r}: use one of {', '.join(MODES)}")
        return mode, f"set by {MODE_ENV}"
    if backend_kind in MODES:
        return backend_kind, f"backend.kind is {backend_kind}"
    if backend_kind == "auto":
        if in_cluster:
            return "kubernetes", "backend.kind is auto and this runs inside a Kubernetes cluster"
        return "docker", "backend.kind is auto and this runs outside a Kubernetes cluster"
    raise ModeError(
        f"backend.kind is {backend_kind}: its servers are not containers, so there is "
        f"nothing to checkpoint; set {MODE_ENV} to run the daemon anyway"
    )


def container_selector(extra: str | None) -> dict[str, str]:
    """Docker mode's label selector: TenantHub's notebook label plus ``key=value,...``."""
    selector = dict(SELECTOR)
    for item in (extra or "").split(","):
        if not item.strip():
            continue
        key, sep, value = item.strip().partition("=")
        if not sep or not key:
            raise ModeError(f"{LABELS_ENV}: {item.strip()!r} is not key=value")
        selector[key] = value
    return selector


def kubernetes_node(env: Mapping[str, str]) -> str:
    """Kubernetes mode's node name: only ``TENANTHUB_NODE`` (a host name may differ from it)."""
    node = (env.get("TENANTHUB_NODE") or "").strip()
    if not node:
        raise ModeError(
            "Kubernetes mode needs TENANTHUB_NODE, the node's name (the DaemonSet sets it "
            "from spec.nodeName)"
        )
    return node


async def kubernetes_api(env: Mapping[str, str]) -> Any:
    """An API client: ``KUBECONFIG`` when set, else the pod's in-cluster credentials."""
    from kubernetes_asyncio import client, config

    if env.get("KUBECONFIG"):
        return await config.new_client_from_config(config_file=env["KUBECONFIG"])
    config.load_incluster_config()
    return client.ApiClient()


def hub_url(config: Any, env: Mapping[str, str]) -> str:
    """Where the hub (proxy) answers: TENANTHUB_HUB_URL, else the config's ip/port/base_url."""
    if env.get("TENANTHUB_HUB_URL"):
        url = env["TENANTHUB_HUB_URL"]
        return url if url.endswith("/") else url + "/"
    ip = config.hub.ip
    if ip in ("", "0.0.0.0", "::"):  # noqa: S104 - an address read, not bound
        ip = "127.0.0.1"
    return f"http://{ip}:{config.hub.port}{config.hub.base_url}"


async def serve(env: Mapping[str, str]) -> None:
    import docker

    from checkpointer.drivers.docker import DockerDriver
    from hub.app.service_tokens import CHECKPOINTER, token_path
    from hub.config.loader import load_config

    path = env.get(CONFIG_ENV)
    if not path:
        raise SystemExit(f"{CONFIG_ENV} is not set: point it at tenanthub.yaml")
    config = load_config(path)
    logs.configure("tenanthub-checkpointer", config.logging.format, config.logging.level)
    try:
        mode, why = choose_mode(
            env.get(MODE_ENV), config.backend.kind, bool(env.get("KUBERNETES_SERVICE_HOST"))
        )
        node = kubernetes_node(env) if mode == "kubernetes" else None
    except ModeError as exc:
        raise SystemExit(str(exc)) from None
    node = node or env.get("TENANTHUB_NODE") or socket.gethostname()
    token = load_token(env, token_path(config.hub.data_dir, CHECKPOINTER.name))
    settings = settings_from_config(config, node)
    client = docker.from_env()
    driver = DockerDriver(client)
    source: ContainerSource
    details: ContainerDetails
    if mode == "kubernetes":
        pods = KubernetesPodSource(await kubernetes_api(env), node)
        pods.start()
        source, details = pods, PodDetails(client, pods)
    else:
        try:
            selector = container_selector(env.get(LABELS_ENV))
        except ModeError as exc:
            raise SystemExit(str(exc)) from None
        source, details = DockerLabelSource(driver, selector), DockerDetails(client)
    daemon = Checkpointer(
        settings=settings,
        driver=driver,
        api=PlatformClient(hub_url(config, env), token),
        details=details,
        source=source,
    )
    log.info(
        "checkpointer on node %s (%s mode: %s): every %.0f s, idle after %s, registry %s",
        node, mode, why, settings.check_every, settings.idle_after, settings.registry,
    )  # fmt: skip
    from checkpointer import endpoint

    bind = env.get("TENANTHUB_CHECKPOINTER_BIND") or "127.0.0.1"
    access = None
    if config.service.authenticate_metrics:
        from checkpointer.metrics_access import MetricsAccess

        access = MetricsAccess(daemon.api.token_scopes)
    port = config.checkpoint.port(config.hub)
    listener = endpoint.start(daemon, token, bind, port, metrics_access=access)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    watch = None
    if env.get("JUPYTERHUB_SERVICE_NAME"):
        # started by the hub (Docker mode): a killed hub must not leave it holding its port
        from hub.service.lifecycle import stop_when_parent_exits

        watch = asyncio.create_task(stop_when_parent_exits(stop))
    try:
        await daemon.run(stop)
    finally:
        if watch is not None:
            watch.cancel()
        listener.stop()
        if isinstance(source, KubernetesPodSource):
            await source.close()
            await source.api_client.close()


def _key_value(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"{text!r} is not KEY=VALUE")
    return key, value


def _toleration(text: str) -> dict[str, str]:
    """``key[=value]:Effect`` (kubectl taint syntax) -> a toleration of that taint."""
    taint, sep, effect = text.rpartition(":")
    if not sep or not taint:
        raise argparse.ArgumentTypeError(f"{text!r} is not key[=value]:Effect")
    key, has_value, value = taint.partition("=")
    if has_value:
        return {"key": key, "operator": "Equal", "value": value, "effect": effect}
    return {"key": key, "operator": "Exists", "effect": effect}


def print_manifests(argv: Sequence[str]) -> int:
    """``python -m checkpointer manifests``: the DaemonSet and its RBAC as YAML."""
    import yaml

    from checkpointer.daemonset import DaemonSetSettings, manifests

    parser = argparse.ArgumentParser(
        prog="python -m checkpointer manifests",
        description="Print the checkpointer's Namespace, ServiceAccount, ClusterRole "
        "(get/list/watch pods), ClusterRoleBinding and DaemonSet.",
    )
    parser.add_argument("--image", required=True, help="an image with TenantHub installed")
    parser.add_argument("--hub-url", required=True, help="the hub's URL as nodes reach it")
    parser.add_argument("--image-pull-policy", default="IfNotPresent")
    parser.add_argument("--runtime-socket", default="/var/run/docker.sock")
    parser.add_argument("--token-secret", default="tenanthub-checkpointer-token")
    parser.add_argument("--config-map", default="tenanthub-config")
    parser.add_argument("--port", type=int, help="the node-local endpoint's port (optional)")
    parser.add_argument(
        "--node-selector", type=_key_value, action="append", default=[], metavar="KEY=VALUE"
    )
    parser.add_argument(
        "--toleration", type=_toleration, action="append", default=[],
        metavar="KEY[=VALUE]:EFFECT",
    )  # fmt: skip
    args = parser.parse_args(list(argv))
    settings = DaemonSetSettings(
        image=args.image,
        hub_url=args.hub_url,
        image_pull_policy=args.image_pull_policy,
        runtime_socket=args.runtime_socket,
        token_secret=args.token_secret,
        config_map=args.config_map,
        port=args.port,
        node_selector=dict(args.node_selector),
        tolerations=tuple(args.toleration),
    )
    sys.stdout.write(yaml.safe_dump_all(manifests(settings), sort_keys=False))
    return 0


def main(argv: Sequence[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["manifests"]:
        raise SystemExit(print_manifests(args[1:]))
    if args:
        raise SystemExit(
            "usage: python -m checkpointer            run the daemon (configured by env)\n"
            "       python -m checkpointer manifests  print the DaemonSet (--help)"
        )
    logs.configure("tenanthub-checkpointer")  # until the config says otherwise
    asyncio.run(serve(os.environ))


if __name__ == "__main__":
    main()
