"""The Docker side of the fault suite: a ``docker`` CLI bound to one engine, the servers
TenantHub made there, and a private engine that a test may stop and start.

Stopping the project's own engine would kill what other tests and the Kubernetes test
cluster's kubelet run on it, so the "Docker engine restarted" test gets an engine of its
own, started by the project's ``scripts/dockerd.sh`` (the script an operator would use)
with its own socket, data root, exec root and pid file. Its data root is cached under
``~/.cache/tenanthub/faults-engine``: the notebook image is copied into it once per
machine (``docker save | docker load``), and again only when the project's engine has a
newer build of it.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from tests.conftest import need

ROOT = Path(__file__).resolve().parents[2]
DOCKERD_SCRIPT = ROOT / "scripts" / "dockerd.sh"


@dataclass
class Engine:
    """A ``docker`` CLI talking to one engine (``host`` None: DOCKER_HOST or the default)."""

    host: str | None = None

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        if self.host:
            env["DOCKER_HOST"] = self.host
        return env

    def run(
        self, *args: str, check: bool = True, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["docker", *args], capture_output=True, text=True, check=check, timeout=timeout,
            env=self.env(),
        )  # fmt: skip

    def answers(self) -> bool:
        try:
            return self.run("info", "--format", "{{.ServerVersion}}", check=False).returncode == 0
        except (FileNotFoundError, subprocess.TimeoutExpired):
            return False

    def image_id(self, image: str) -> str | None:
        found = self.run("image", "inspect", "--format", "{{.Id}}", image, check=False)
        return found.stdout.strip() if found.returncode == 0 else None

    def containers(self, tenant: str) -> dict[str, str]:
        """username -> container id of the tenant's containers, any state (``docker ps -a``)."""
        return self._by_user("-a", "--filter", f"label=tenanthub.io/tenant={tenant}")

    def running(self, tenant: str) -> dict[str, str]:
        """username -> container id of the tenant's running containers."""
        return self._by_user(
            "--filter", f"label=tenanthub.io/tenant={tenant}", "--filter", "status=running"
        )

    def _by_user(self, *filters: str) -> dict[str, str]:
        listed = self.run(
            "ps", "--no-trunc", *filters, "--format", '{{.ID}} {{.Label "tenanthub.io/username"}}'
        ).stdout.split("\n")
        return {u: c for c, _, u in (line.partition(" ") for line in listed if line.strip())}

    def remove_tenant(self, tenant: str) -> None:
        """Remove the tenant's containers and volumes (a test's clean-up)."""
        self._remove("--filter", f"label=tenanthub.io/tenant={tenant}")

    def _remove(self, *filters: str) -> None:
        ids = self.run("ps", "-aq", *filters, check=False).stdout.split()
        if ids:
            self.run("rm", "-f", *ids, check=False)
        volumes = self.run("volume", "ls", "-q", *filters, check=False).stdout.split()
        if volumes:
            self.run("volume", "rm", "-f", *volumes, check=False)


def project_engine_with(image: str) -> Engine:
    """The project's engine, or the test is skipped (``need``) naming what is missing."""
    engine = Engine()
    if not engine.answers():
        need("no Docker engine answers (make test starts one with scripts/dockerd.sh up)")
    if engine.image_id(image) is None:
        need(f"image {image} is missing: run `make images`")
    return engine


@dataclass
class PrivateEngine(Engine):
    """A dockerd of the test's own, started and stopped with ``scripts/dockerd.sh``.

    ``live_restore``: dockerd's ``--live-restore`` (containers keep running while the
    engine is down); without it a stopping engine stops every container.
    """

    state: Path = field(default_factory=lambda: cache_dir() / "faults-engine")
    run_dir: Path = Path("/run/tenanthub-faults")
    live_restore: bool = False

    def __post_init__(self) -> None:
        self.host = f"unix://{self.run_dir / 'docker.sock'}"

    def script(self, action: str) -> subprocess.CompletedProcess[str]:
        flags = [
            f"-H {self.host}",
            f"--data-root {self.state / 'data'}",
            f"--exec-root {self.run_dir / 'exec'}",
            f"--pidfile {self.run_dir / 'dockerd.pid'}",
        ]
        if self.live_restore:
            flags.append("--live-restore")
        env = self.env() | {
            "TENANTHUB_CACHE": str(self.state),  # its own marker and log, not the project's
            "DOCKERD_EXTRA_ARGS": " ".join(flags),
        }
        return subprocess.run(
            ["bash", str(DOCKERD_SCRIPT), action], capture_output=True, text=True, env=env,
            timeout=120, check=False,
        )  # fmt: skip

    def up(self) -> None:
        self.state.mkdir(parents=True, exist_ok=True)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        started = self.script("up")
        assert started.returncode == 0, f"private dockerd did not start: {started.stderr}"

    def down(self) -> None:
        stopped = self.script("down")
        assert stopped.returncode == 0, f"private dockerd did not stop: {stopped.stderr}"
        assert not self.answers(), "the private engine still answers after down"

    @property
    def pid(self) -> int:
        return int((self.state / "dockerd.started-by-tenanthub").read_text().strip())

    def log(self) -> str:
        path = self.state / "dockerd.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def copy_image(self, image: str, source: Engine) -> None:
        """Make ``image`` here the same build as on ``source`` (a no-op when it is)."""
        wanted = source.image_id(image)
        assert wanted, f"{image} is not on the project's engine"
        if self.image_id(image) == wanted:
            return
        save = subprocess.Popen(["docker", "save", image], stdout=subprocess.PIPE, env=source.env())
        try:
            loaded = subprocess.run(
                ["docker", "load", "-q"], stdin=save.stdout, capture_output=True, text=True,
                env=self.env(), timeout=600, check=False,
            )  # fmt: skip
        finally:
            assert save.stdout is not None
            save.stdout.close()
            save.wait(timeout=60)
        assert loaded.returncode == 0 and save.returncode == 0, loaded.stderr
        assert self.image_id(image) == wanted

    def clear(self) -> None:
        """Remove every container and volume (the engine is the test's alone)."""
        self._remove()


def cache_dir() -> Path:
    return Path(os.environ.get("TENANTHUB_CACHE") or Path.home() / ".cache" / "tenanthub")
