"""Platform config -> JupyterHub traits, in one place (like z2jh's values -> config -> traits).

``configure(c)`` is all ``hub/jupyterhub_config.py`` calls. It validates the
platform config, migrates and seeds the platform database, chooses the
backend (logging which and why) and sets every JupyterHub trait TenantHub
relies on.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import sys
from pathlib import Path
from typing import Any

from hub.app import db_session, log_safety
from hub.app.auth_traits import AUTHENTICATOR_CLASSES, auth_traits
from hub.app.backend import detect_backend
from hub.app.checkpoint_services import checkpoint_services
from hub.app.context import PlatformContext, config_path_from_env, get_context
from hub.app.proxy import find_proxy_command, secret_file
from hub.app.service_tokens import platform_services
from hub.config.schema import PlatformConfig
from hub.service.lifecycle import HUB_PID_ENV

log = logging.getLogger("JupyterHub")

CULLER_SERVICE = "idle-culler"
CULLER_SCOPES = ["list:users", "read:users:activity", "read:servers", "delete:servers"]


def culler_service(config: PlatformConfig) -> tuple[dict[str, Any], dict[str, Any]]:
    """jupyterhub-idle-culler as a hub-managed service and its least-privilege role."""
    culling = config.culling
    command = [
        sys.executable,
        "-m",
        "hub.app.idle_culler",  # jupyterhub_idle_culler that stops on SIGINT
        f"--timeout={culling.idle_timeout}",
        f"--cull-every={culling.every}",
    ]
    if culling.max_age:
        command.append(f"--max-age={culling.max_age}")
    service = {"name": CULLER_SERVICE, "command": command}
    role = {"name": "tenanthub-idle-culler", "scopes": CULLER_SCOPES, "services": [CULLER_SERVICE]}
    return service, role


PROVISIONER_SERVICE = "tenanthub-provisioner"


def hub_pid_environment() -> dict[str, str]:
    """The hub's own PID for its services (this runs in the hub process), so a service
    the hub's death re-parents before it looked stops all the same (hub.service.lifecycle)."""
    return {HUB_PID_ENV: str(os.getpid())}


def kube_environment() -> dict[str, str]:
    """How a hub-managed service finds the cluster: as the hub does (in-cluster or a
    kubeconfig); the hub's other environment stays out of its services."""
    env = {}
    for name in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT"):
        if os.environ.get(name):
            env[name] = os.environ[name]
    return env


def provisioner_service(platform: PlatformContext) -> dict[str, Any]:
    """Provision every tenant namespace at hub start, then repair drift periodically.

    A hub-managed service so it starts and stops with the hub; it needs no hub
    API scopes (it reads the platform DB and talks to the Kubernetes API).
    """
    settings = platform.config.backend.kubernetes
    environment = {"TENANTHUB_CONFIG": str(platform.config_path or ""), **hub_pid_environment()}
    environment.update(kube_environment())
    return {
        "name": PROVISIONER_SERVICE,
        "command": [
            sys.executable,
            "-m",
            "hub.cli",
            "k8s",
            "provision",
            "--config",
            str(platform.config_path or ""),
            "--every",
            str(settings.reconcile_every),
        ],
        "environment": environment,
    }


PLATFORM_SERVICE = "tenanthub"
#: JupyterHub's default scopes of a server's token (its ``server`` role)
SERVER_ROLE_SCOPES = ("users:activity!user", "access:servers!server")
PLATFORM_ACCESS_SCOPE = f"access:services!service={PLATFORM_SERVICE}"
PLATFORM_ADMIN_SCOPE = "custom:tenanthub:admin"
#: the checkpointer's scope (hub.service.policy.CHECKPOINTS_SCOPE; kept equal by a test)
CHECKPOINTS_SCOPE = "custom:tenanthub:checkpoints"
CUSTOM_SCOPES = {
    PLATFORM_ADMIN_SCOPE: {
        "description": "Manage every tenant in TenantHub: the platform admin's scope.",
    },
    CHECKPOINTS_SCOPE: {
        "description": "Report checkpoints of the servers on a node to TenantHub "
        "(the checkpointer service's scope; no access to users' servers).",
    },
}


def platform_api_url(config: PlatformConfig) -> str:
    """The platform API as a notebook server reaches it: the service directly (its own
    address, ``service.url`` on a cluster), under the hub's base URL's service prefix."""
    base = config.service.url or f"http://127.0.0.1:{service_port(config)}"
    return f"{base.rstrip('/')}{config.hub.base_url}services/{PLATFORM_SERVICE}/api/v1/"


def service_port(config: PlatformConfig) -> int:
    return config.service.port or config.hub.port + 3


def datasets_environment(config: PlatformConfig) -> dict[str, str]:
    """What the service needs from the hub's environment for data sources: the keys
    (``TENANTHUB_DATASETS_KEYS``) and the variables the config's ``secrets_env`` name
    (JupyterHub starts services with a clean environment)."""
    names = {"TENANTHUB_DATASETS_KEYS"}
    for tenant in config.tenants:
        for source in tenant.data_sources:
            names.update(source.secrets_env.values())
    return {name: os.environ[name] for name in sorted(names) if os.environ.get(name)}


def platform_service(
    platform: PlatformContext, service: dict[str, Any], backend: str = "local"
) -> dict[str, Any]:
    """The platform service (API + console) as a hub-managed service with OAuth.

    ``oauth_client_allowed_scopes``: a user's OAuth token for the service carries at
    most the platform admin scope (when the user has it) besides the hub's identity
    scopes; ``oauth_no_confirm``: the platform's own console asks no consent (it is
    part of the platform, like the hub's admin page); ``display``: listed in the hub's
    Services menu.
    """
    settings = platform.config.service
    return {
        **service,
        # in a cluster the proxy's own Deployment reaches it at the hub pod's Service
        "url": settings.url or f"http://127.0.0.1:{service_port(platform.config)}",
        "command": [sys.executable, "-m", "hub.service"],
        # the backend the hub chose (``auto`` resolved once, here): job runs go there too
        "environment": {
            "TENANTHUB_CONFIG": str(platform.config_path or ""),
            **hub_pid_environment(),
            "TENANTHUB_BACKEND": backend,
            # listen here, whatever host name the url has (hub.service.__main__)
            "TENANTHUB_SERVICE_BIND": settings.bind,
            **kube_environment(),
            **datasets_environment(platform.config),
        },
        "oauth_client_allowed_scopes": [PLATFORM_ADMIN_SCOPE],
        # TenantHub's own service: no "Authorize" page between the hub and its console
        "oauth_no_confirm": True,
        "display": True,
    }


def resolve_command(cmd: list[str]) -> list[str]:
    """Find the server command next to this Python first, so it matches the hub's version."""
    here = Path(sys.executable).parent
    found = shutil.which(cmd[0], path=f"{here}{os.pathsep}{os.environ.get('PATH', '')}")
    return [found or cmd[0], *cmd[1:]]


def proxy_traits(config: PlatformConfig, data_dir: Path) -> dict[str, Any]:
    """configurable-http-proxy started by the hub (default), or an external one (a
    Deployment, as in zero-to-jupyterhub): not started, its API at ``proxy.api_url``, the
    token left to JupyterHub's default, the CONFIGPROXY_AUTH_TOKEN environment variable."""
    proxy = config.hub.proxy
    api_url = (
        proxy.api_url or f"http://127.0.0.1:{config.hub.proxy_api_port or config.hub.port + 1}"
    )
    if proxy.external:
        return {"should_start": False, "api_url": api_url}
    return {
        "command": [find_proxy_command()],
        "api_url": api_url,
        "pid_file": str(data_dir / "jupyterhub-proxy.pid"),
        "auth_token": secret_file(data_dir / "proxy_auth_token"),
    }


SPAWNER_CLASSES = {
    "local": "spawner.local.TenantLocalSpawner",
    "docker": "spawner.docker.TenantDockerSpawner",
    "kubernetes": "spawner.kubernetes.spawner.TenantKubeSpawner",
}


def hub_traits(platform: PlatformContext, backend: str) -> dict[str, dict[str, Any]]:
    """The traits as plain data ``{Class: {trait: value}}`` (pure apart from secret files)."""
    config = platform.config
    data_dir = platform.data_dir
    spawner_class = SPAWNER_CLASSES[backend]
    spawner_name = spawner_class.rsplit(".", 1)[1]
    spawner_traits: dict[str, Any] = {"tenanthub_config_file": str(platform.config_path or "")}
    if backend == "docker":
        timeout = config.backend.docker.start_timeout
    elif backend == "kubernetes":
        timeout = config.backend.kubernetes.start_timeout
        spawner_traits["cmd"] = ["jupyterhub-singleuser"]
    else:
        timeout = config.backend.local.start_timeout
        spawner_traits["cmd"] = resolve_command(list(config.backend.local.cmd))
    spawner_traits.update(start_timeout=timeout, http_timeout=timeout)
    traits: dict[str, dict[str, Any]] = {
        "JupyterHub": {
            "ip": config.hub.ip,
            "port": config.hub.port,
            "base_url": config.hub.base_url,
            "hub_ip": "127.0.0.1",
            "hub_port": config.hub.hub_port,
            "db_url": platform.db_url,
            "cookie_secret_file": str(data_dir / "jupyterhub_cookie_secret"),
            "pid_file": str(data_dir / "jupyterhub.pid"),
            # a restart must not take running servers or their routes down
            "cleanup_servers": False,
            "cleanup_proxy": False,
            # /hub/metrics as the service's /metrics: a read:metrics token, unless opened
            "authenticate_prometheus": config.service.authenticate_metrics,
            "allow_named_servers": True,
            "authenticator_class": AUTHENTICATOR_CLASSES[config.auth.kind],
            "spawner_class": spawner_class,
            "load_roles": [],
            "services": [],
        },
        "ConfigurableHTTPProxy": proxy_traits(config, data_dir),
        "Spawner": {
            "default_url": "/lab",
            # the server role's scopes, and the platform API as the user: the notebook SDK
            # and the JupyterLab extension call it with the server's own token
            "server_token_scopes": [*SERVER_ROLE_SCOPES, PLATFORM_ACCESS_SCOPE],
            # where the SDK and the extension find the platform API from inside a server
            "environment": {"TENANTHUB_API_URL": platform_api_url(config)},
        },
        spawner_name: spawner_traits,
    }
    # in a cluster: bind the pod's address, tell servers and the proxy the hub's Service
    if config.hub.hub_bind_url:
        traits["JupyterHub"]["hub_bind_url"] = config.hub.hub_bind_url
    if config.hub.hub_connect_url:
        traits["JupyterHub"]["hub_connect_url"] = config.hub.hub_connect_url
    for cls, values in auth_traits(config, data_dir).items():
        traits.setdefault(cls, {}).update(values)
    if backend == "kubernetes" and config.backend.kubernetes.reconcile_every:
        traits["JupyterHub"]["services"].append(provisioner_service(platform))
    if config.culling.enabled:
        service, role = culler_service(config)
        traits["JupyterHub"]["services"].append(service)
        traits["JupyterHub"]["load_roles"].append(role)
    services, roles = platform_services(data_dir)
    managed = {
        s["name"]: s for s in checkpoint_services(config, backend, data_dir, platform.config_path)
    }
    services = [
        platform_service(platform, s, backend)
        if s["name"] == PLATFORM_SERVICE
        else {**s, **managed.pop(s["name"], {})}
        for s in services
    ]
    services.extend(managed.values())
    traits["JupyterHub"]["custom_scopes"] = CUSTOM_SCOPES
    traits["JupyterHub"]["services"].extend(services)
    traits["JupyterHub"]["load_roles"].extend(roles)
    return traits


def release_idle_db_transactions() -> None:
    """In the hub process (a running event loop): see ``hub.app.db_session``. A database
    server's connections can die under the hub; a SQLite file's cannot."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:  # loaded outside JupyterHub (tests, `tenanthub config`)
        return
    from jupyterhub.app import JupyterHub

    db_session.start_releasing(JupyterHub.instance)


def configure(c: Any, config_path: str | Path | None = None) -> PlatformContext:
    """Set JupyterHub's traits on ``c`` from the platform config."""
    log_safety.install()  # before anything logs user-supplied values
    platform = get_context(config_path or config_path_from_env())
    platform.prepare_database()
    backend = platform.config.backend
    choice = detect_backend(backend.kind, backend.docker.url)
    log.info("TenantHub backend: %s (%s)", choice.kind, choice.reason)
    if choice.kind == "kubernetes" and backend.kubernetes.kubeconfig:
        # KubeSpawner loads the in-cluster config, else $KUBECONFIG's current context
        os.environ["KUBECONFIG"] = str(backend.kubernetes.kubeconfig)
    if choice.kind == "local":
        log.warning(
            "TenantHub local backend: all servers run as this OS user; users are not isolated."
        )
    for cls, values in hub_traits(platform, choice.kind).items():
        section = getattr(c, cls)
        for name, value in values.items():
            setattr(section, name, value)
    c.JupyterHub.log_level = platform.config.logging.level
    if not platform.db_url.startswith("sqlite"):
        release_idle_db_transactions()
    if platform.config.logging.format == "json":
        # traitlets merges this into its own logging config: the console handler's
        # formatter becomes ours (JupyterHub's and TenantHub's records alike)
        c.Application.logging_config = {
            "formatters": {"console": {"()": "hub.logs.JsonFormatter", "component": "hub"}}
        }
    return platform
