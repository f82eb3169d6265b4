"""Start a real TenantHub (JupyterHub + configurable-http-proxy) for a test.

The hub is started the way a user starts it, ``tenanthub run CONFIG``, as a
separate process. Stopping it leaves the proxy running (JupyterHub does that
on purpose, so restarts keep routes); ``shutdown`` then stops the proxy by the
PID in its pid file, and any leftover single-user servers of this test by the
PIDs JupyterHub recorded.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bcrypt
import requests
import yaml

from tests import log_secrets
from tests.ports import free_port, free_port_pair


@dataclass
class RunningHub:
    root: Path
    config_path: Path
    url: str
    passwords: dict[str, str]
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path = field(init=False)
    starts: int = 0

    def __post_init__(self) -> None:
        self.log_path = self.root / "hub.log"
        log_secrets.watch(self.root)  # its logs are scanned for secrets at the end of the run

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait_for_log(self, text: str, timeout: float = 15) -> str:
        """Wait until the log contains ``text`` and return the log. A request's log line
        is written after its response has gone out, so a test that reads the log right
        after a call can be ahead of it."""
        deadline = time.monotonic() + timeout
        while text not in (log := self.log()):
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} not in the hub's log after {timeout}s")
            time.sleep(0.2)
        return log

    def start(self, timeout: float = 60) -> None:
        self.starts += 1
        handle = open(self.log_path, "ab")  # noqa: SIM115 - the hub owns it while running
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "hub.cli", "run", str(self.config_path)],
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        handle.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"hub exited with {self.proc.returncode}:\n{self.log()[-4000:]}")
            try:
                if requests.get(f"{self.url}hub/api/", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.3)
        raise RuntimeError(f"hub did not answer within {timeout}s:\n{self.log()[-4000:]}")

    def wait_for_service(self, timeout: float = 30) -> None:
        """Wait until the platform service the hub starts answers its health check."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if requests.get(self.url + "services/tenanthub/health", timeout=5).ok:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.3)
        raise AssertionError("the tenanthub service did not come up:\n" + self.log()[-3000:])

    def stop_hub(self) -> None:
        """SIGTERM the hub only (proxy and servers keep running, as in a real restart)."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def restart(self) -> None:
        self.stop_hub()
        self.start()

    def _server_pids(self) -> list[int]:
        pids = []
        try:
            import sqlalchemy

            config = yaml.safe_load(self.config_path.read_text())
            url = config["hub"].get("db_url") or f"sqlite:///{self.data_dir / 'tenanthub.sqlite'}"
            url = url.replace("postgresql://", "postgresql+psycopg://")
            engine = sqlalchemy.create_engine(url)
            with engine.connect() as conn:
                for (state,) in conn.execute(sqlalchemy.text("SELECT state FROM spawners")):
                    data = json.loads(state) if isinstance(state, str) else (state or {})
                    if data.get("pid"):
                        pids.append(int(data["pid"]))
            engine.dispose()
        except Exception:  # noqa: S110 - best effort cleanup
            pass
        return pids

    def shutdown(self) -> None:
        server_pids = self._server_pids()
        self.stop_hub()
        pid_file = self.data_dir / "jupyterhub-proxy.pid"
        if pid_file.exists():
            with contextlib.suppress(ValueError, ProcessLookupError):
                os.kill(int(pid_file.read_text().strip()), signal.SIGTERM)
        for pid in server_pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGTERM)


def write_hub(root: Path, config: dict[str, Any], passwords: dict[str, str]) -> RunningHub:
    """Write tenanthub.yaml and a seed-accounts file (bcrypt, cheap rounds) under ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    seed = {
        user: bcrypt.hashpw(pw.encode(), bcrypt.gensalt(rounds=4)).decode()
        for user, pw in passwords.items()
    }
    (root / "seed-users.json").write_text(json.dumps(seed))
    port = free_port_pair()
    config = json.loads(json.dumps(config))
    hub = config.setdefault("hub", {})
    hub.update({"ip": "127.0.0.1", "port": port, "hub_port": free_port(), "data_dir": "data"})
    # its own free port: hubs of parallel tests must not meet on the default hub.port + 3
    config.setdefault("service", {}).setdefault("port", free_port())
    auth = config.setdefault("auth", {})
    auth.setdefault("native", {})["seed_users_file"] = "seed-users.json"
    config.setdefault("backend", {}).setdefault("kind", "local")
    path = root / "tenanthub.yaml"
    path.write_text(yaml.safe_dump(config))
    return RunningHub(root, path, f"http://127.0.0.1:{port}/", passwords)


class Browser:
    """A requests session that logs in and acts like a browser (cookies, _xsrf)."""

    def __init__(self, hub: RunningHub, user: str) -> None:
        self.hub = hub
        self.user = user
        self.session = requests.Session()

    def login(self, password: str | None = None) -> requests.Response:
        self.session.get(self.hub.url + "hub/login", timeout=10)
        return self.session.post(
            self.hub.url + "hub/login",
            data={
                "username": self.user,
                "password": password or self.hub.passwords[self.user],
                "_xsrf": self.session.cookies.get("_xsrf", path="/hub/"),
            },
            allow_redirects=False,
            timeout=30,
        )

    def hub_xsrf(self) -> str:
        return self.session.cookies.get("_xsrf", path="/hub/") or ""

    def spawn_form(self, server: str = "") -> requests.Response:
        path = f"hub/spawn/{self.user}/{server}" if server else "hub/spawn"
        return self.session.get(self.hub.url + path, timeout=30)

    def spawn(self, fields: dict[str, str], server: str = "") -> requests.Response:
        path = f"hub/spawn/{self.user}/{server}" if server else "hub/spawn"
        return self.session.post(
            self.hub.url + path,
            data={**fields, "_xsrf": self.hub_xsrf()},
            timeout=90,
        )

    def api(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = {"X-XSRFToken": self.hub_xsrf(), **kwargs.pop("headers", {})}
        answer = self.session.request(
            method, self.hub.url + "hub/api/" + path, headers=headers, timeout=60, **kwargs
        )
        if method == "POST" and path.rstrip("/").endswith("/tokens") and answer.ok:
            log_secrets.remember(answer.json().get("token"))  # must never reach a log
        return answer

    def wait_ready(self, server: str = "", timeout: float = 90) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        model: dict[str, Any] = {}
        while time.monotonic() < deadline:
            model = self.api("GET", f"users/{self.user}").json()
            info = model.get("servers", {}).get(server)
            if info and info.get("ready"):
                return dict(info)
            time.sleep(0.5)
        raise AssertionError(f"server {server!r} not ready: {model}\n{self.hub.log()[-3000:]}")

    def server_url(self, server: str = "") -> str:
        return self.hub.url + f"user/{self.user}/" + (f"{server}/" if server else "")

    def open_lab(self, server: str = "") -> requests.Response:
        """Open JupyterLab (runs the OAuth handshake with the hub, like a browser)."""
        return self.session.get(self.server_url(server) + "lab", timeout=60)

    def server_api(
        self, method: str, path: str, server: str = "", **kwargs: Any
    ) -> requests.Response:
        prefix = f"/user/{self.user}/" + (f"{server}/" if server else "")
        xsrf = self.session.cookies.get("_xsrf", path=prefix) or ""
        headers = {"X-XSRFToken": xsrf, **kwargs.pop("headers", {})}
        return self.session.request(
            method, self.server_url(server) + "api/" + path, headers=headers, timeout=60, **kwargs
        )

    def wait_stopped(self, server: str = "", timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            model = self.api("GET", f"users/{self.user}").json()
            if server not in model.get("servers", {}):
                return
            time.sleep(0.5)
        raise AssertionError(f"server {server!r} of {self.user} did not stop")


#: a notebook server's environment variables that hold its credentials
SERVER_SECRETS = ("JUPYTERHUB_API_TOKEN", "JPY_API_TOKEN", "JUPYTERHUB_OAUTH_CLIENT_SECRET")


def server_environment(hub: RunningHub) -> dict[str, str]:
    """The environment of the hub's one running (local backend) server, as its process
    has it; its tokens are remembered for the end-of-run log scan."""
    [pid] = hub._server_pids()
    environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    env = dict(item.decode().split("=", 1) for item in environ if b"=" in item)
    for name in SERVER_SECRETS:
        log_secrets.remember(env.get(name))
    return env


def api_tokens(hub: RunningHub, users: Iterable[str], note: str) -> dict[str, str]:
    """Each user logs in and gets an API token of their own (for the platform API)."""
    tokens = {}
    for user in users:
        browser = Browser(hub, user)
        assert browser.login().status_code == 302, f"{user} could not log in"
        made = browser.api("POST", f"users/{user}/tokens", json={"note": note})
        assert made.status_code == 201, made.text
        tokens[user] = str(made.json()["token"])
    return tokens
