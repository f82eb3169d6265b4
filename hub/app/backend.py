"""Choosing the spawner backend: explicit, or ``auto`` with a logged reason.

``choose_backend`` is the pure decision; ``probe_*`` are the thin checks of
the environment it is fed with.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

#: Backends this version can run.
IMPLEMENTED_BACKENDS = frozenset({"local", "docker", "kubernetes"})

SERVICE_ACCOUNT_TOKEN = Path("/var/run/secrets/kubernetes.io/serviceaccount/token")


class BackendUnavailable(Exception):
    """The configured backend cannot run here; the message says why."""


@dataclass(frozen=True)
class BackendChoice:
    kind: str
    reason: str


def choose_backend(
    requested: str,
    in_cluster: bool,
    docker_answers: bool,
    implemented: frozenset[str] = IMPLEMENTED_BACKENDS,
) -> BackendChoice:
    """Which backend runs servers, and why (for the log)."""
    if requested != "auto":
        if requested not in implemented:
            raise BackendUnavailable(
                f"backend.kind: {requested!r} is not available in this version of TenantHub "
                f"(available: {', '.join(sorted(implemented))})"
            )
        return BackendChoice(requested, "set in the config (backend.kind)")
    notes = []
    if in_cluster:
        if "kubernetes" in implemented:
            return BackendChoice("kubernetes", "running inside a Kubernetes cluster")
        notes.append("in a Kubernetes cluster, but the kubernetes backend is not in this version")
    if docker_answers:
        if "docker" in implemented:
            return BackendChoice("docker", "a Docker engine answers")
        notes.append("a Docker engine answers, but the docker backend is not in this version")
    else:
        notes.append("no Docker engine answers")
    if not in_cluster:
        notes.insert(0, "not inside a Kubernetes cluster")
    return BackendChoice(
        "local",
        "; ".join(notes) + ". The local backend runs every server as the hub's OS user: "
        "users are NOT isolated from each other (trial use only)",
    )


def detect_backend(requested: str, docker_url: str | None) -> BackendChoice:
    """``choose_backend`` fed with this machine's probes (probed only for ``auto``)."""
    auto = requested == "auto"
    return choose_backend(
        requested,
        in_cluster=auto and probe_in_cluster(),
        docker_answers=auto and probe_docker(docker_url),
    )


def kubernetes_credentials_problem(
    kubeconfig: Path | None, in_cluster: bool, env_kubeconfig: str | None, home: Path
) -> str | None:
    """Why the kubernetes backend could not reach a cluster, or None when it has credentials."""
    if in_cluster:
        return None
    if kubeconfig is not None:
        if kubeconfig.is_file():
            return None
        return f"backend.kubernetes.kubeconfig: {kubeconfig} does not exist"
    candidates = [Path(p) for p in (env_kubeconfig or "").split(os.pathsep) if p]
    candidates = candidates or [home / ".kube" / "config"]
    if any(p.is_file() for p in candidates):
        return None
    return (
        "backend.kind 'kubernetes': no cluster credentials (not running in a cluster, "
        f"no kubeconfig at {', '.join(map(str, candidates))}); set backend.kubernetes.kubeconfig"
    )


def ensure_backend_ready(kind: str, kubeconfig: Path | None) -> None:
    """Refuse to start a backend that cannot work here (checked before anything starts)."""
    if kind == "kubernetes":
        problem = kubernetes_credentials_problem(
            kubeconfig, probe_in_cluster(), os.environ.get("KUBECONFIG"), Path.home()
        )
        if problem:
            raise BackendUnavailable(problem)


def probe_in_cluster() -> bool:
    return bool(os.environ.get("KUBERNETES_SERVICE_HOST")) and SERVICE_ACCOUNT_TOKEN.exists()


def probe_docker(url: str | None, timeout: float = 2.0) -> bool:
    """True when a Docker engine answers a ping within ``timeout`` seconds."""
    try:
        import docker

        client = (
            docker.DockerClient(base_url=url, timeout=timeout)
            if url
            else docker.from_env(timeout=int(timeout) or 1)
        )
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:
        return False
