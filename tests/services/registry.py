"""A throwaway Docker registry for the tests (Debian's docker-registry).

Started once per test session on 127.0.0.1 (port 5000 when free, else a free
port) with its own config and storage under a temporary folder, manifest
deletion enabled (the checkpointer removes expired checkpoints through the
registry API), no auth and no cache (a blob-descriptor cache can answer for a
deleted manifest). The Debian package's service (systemd unit or init script)
plays no part: ``docker-registry serve <config>`` is run here and stopped by its
PID. dockerd talks plain HTTP to registries on 127.0.0.0/8, so no TLS is needed.
"""

from __future__ import annotations

import contextlib
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tests.ports import bindable, free_port

REGISTRY = "docker-registry"

CONFIG = """\
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: {root}/data
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:{port}
  secret: {secret}
"""


class RegistryUnavailable(RuntimeError):
    pass


@dataclass
class RegistryServer:
    root: Path
    port: int
    process: subprocess.Popen[bytes]

    @property
    def address(self) -> str:
        """host:port, as it appears in image names."""
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    def log(self) -> str:
        path = self.root / "registry.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        shutil.rmtree(self.root, ignore_errors=True)


def start_registry() -> RegistryServer:
    binary = shutil.which(REGISTRY)
    if binary is None:
        raise RegistryUnavailable(
            "docker-registry not found; `make test` installs Debian's docker-registry "
            "(scripts/install-system.sh test)"
        )
    root = Path(tempfile.mkdtemp(prefix="tenanthub-registry-"))
    port = 5000 if bindable(5000) else free_port()
    config = root / "config.yml"
    config.write_text(CONFIG.format(root=root, port=port, secret=secrets.token_hex(16)))
    with (root / "registry.log").open("wb") as log:
        process = subprocess.Popen(
            [binary, "serve", str(config)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    server = RegistryServer(root, port, process)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log_text = server.log()
            server.stop()
            raise RegistryUnavailable(f"docker-registry exited at start: {log_text[-2000:]}")
        with (
            contextlib.suppress(OSError),
            urllib.request.urlopen(f"{server.url}/v2/", timeout=2) as answer,
        ):
            if answer.status == 200:
                return server
        time.sleep(0.1)
    log_text = server.log()
    server.stop()
    raise RegistryUnavailable(f"docker-registry did not answer within 30 s: {log_text[-2000:]}")
