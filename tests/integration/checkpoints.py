"""Shared pieces of the checkpoint end-to-end tests (restore, isolation, crash safety).

Everything here looks at behaviour a user or an operator can see, never at how a
runtime driver makes an image: the platform's records (through its API, or the
checkpoint store the spawner reads), the images on the engine by their
``tenanthub.io/checkpoint-id`` label, and the registry's tags through its HTTP API.
So the tests hold whether a checkpoint is made by ``docker commit`` or by writing and
pushing the layer directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import subprocess
import time
import urllib.error
import urllib.request
import zipfile
from base64 import urlsafe_b64encode
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import docker
import requests

from checkpointer.daemon import SELECTOR, Checkpointer, DockerDetails, settings_from_config
from checkpointer.drivers.docker import DockerDriver
from checkpointer.names import LABEL_CHECKPOINT_ID
from checkpointer.platform_client import PlatformClient, load_token
from checkpointer.sources import DockerLabelSource
from hub.app.service_tokens import CHECKPOINTER, token_path
from hub.config.loader import load_config
from hub.tenancy import db
from hub.tenancy.checkpoint_store import Checkpoint, CheckpointStore
from spawner.plan.checkpoint import Candidate, choose_image
from tests.conftest import need
from tests.integration.conftest import BASE_CONFIG, PASSWORDS, PROXY_MISSING
from tests.integration.hubrunner import Browser, RunningHub, write_hub
from tests.integration.test_checkpoint_daemon import CPU_IMAGE, sh
from tests.services.registry import RegistryServer

T = TypeVar("T")
NODE = "node-it"
PROOF_PACKAGE = Path(__file__).parents[1] / "fixtures" / "checkpoint_proof"
PROOF_MODULE = "tenanthub_ckpt_proof"
#: outside the home volume, in the image's layers and the notebook user's (the venv is
#: uid 1000's, see images/base/Dockerfile): only a checkpoint keeps what is written here
OUTSIDE_HOME = "/opt/venv/tenanthub-ckpt-proof.txt"


# ----------------------------------------------------------------------------- engine


def need_engine() -> None:
    info = sh("info", "--format", "{{.ServerVersion}}", check=False)
    if info.returncode != 0:
        need("no Docker engine answers (make test starts one with scripts/dockerd.sh up)")
    if sh("image", "inspect", CPU_IMAGE, check=False).returncode != 0:
        need(f"image {CPU_IMAGE} is missing: run `make images`")


def remove_tenant_leftovers(tenant: str) -> None:
    """Containers, images (checkpoints carry the tenant label) and volumes of ``tenant``."""
    label = f"label=tenanthub.io/tenant={tenant}"
    ids = sh("ps", "-aq", "--filter", label, check=False).stdout.split()
    if ids:
        sh("rm", "-f", *ids, check=False)
    for image in set(sh("images", "-q", "--filter", label, check=False).stdout.split()):
        sh("rmi", "-f", image, check=False)
    volumes = sh("volume", "ls", "-q", "--filter", label, check=False).stdout.split()
    if volumes:
        sh("volume", "rm", "-f", *volumes, check=False)


def container_of(tenant: str, user: str) -> str:
    """The id of ``user``'s running server container in ``tenant`` (exactly one)."""
    ids = sh(
        "ps", "-q", "--filter", f"label=tenanthub.io/tenant={tenant}",
        "--filter", f"label=tenanthub.io/username={user}",
    ).stdout.split()  # fmt: skip
    assert len(ids) == 1, f"{user} in {tenant}: containers {ids}"
    return ids[0]


def image_of(container: str) -> str:
    """The image name the container was created from (what the spawner chose)."""
    return sh("inspect", "--format", "{{.Config.Image}}", container).stdout.strip()


def run_in(container: str, script: str) -> subprocess.CompletedProcess[str]:
    """``sh -c script`` in the container as its own user (the notebook user)."""
    return sh("exec", container, "sh", "-c", script, check=False)


def checkpoint_images(tenant: str, registry: RegistryServer) -> dict[str, set[str]]:
    """Checkpoint id -> engine image ids: the tenant's images that carry a checkpoint id and
    are named in ``registry`` (or not named at all). Another test's daemon on the same engine
    may have checkpointed this tenant's server into its own registry: not this hub's."""
    rows = sh(
        "images", "--no-trunc", "--filter", f"label=tenanthub.io/tenant={tenant}",
        "--filter", f"label={LABEL_CHECKPOINT_ID}", "--format", "{{.ID}}",
    ).stdout.split()  # fmt: skip
    out: dict[str, set[str]] = {}
    for image_id in set(rows):
        info = json.loads(sh("inspect", image_id).stdout)[0]
        names = (info.get("RepoTags") or []) + (info.get("RepoDigests") or [])
        if names and not any(n.startswith(registry.address + "/") for n in names):
            continue
        labels = info["Config"]["Labels"]
        out.setdefault(labels[LABEL_CHECKPOINT_ID], set()).add(image_id)
    return out


# ----------------------------------------------------------------------------- registry


def _registry_json(registry: RegistryServer, path: str) -> Any:
    try:
        with urllib.request.urlopen(f"{registry.url}/v2/{path}", timeout=10) as answer:
            return json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        raise


def registry_tags(registry: RegistryServer, repository: str) -> set[str]:
    """Tags of ``repository`` (host/name) that still resolve to a manifest.

    A registry may go on listing a tag whose manifest was deleted; such a tag pulls
    nothing, so only tags whose manifest answers count.
    """
    name = repository.split("/", 1)[1]
    listed = _registry_json(registry, f"{name}/tags/list") or {}
    alive = set()
    for tag in listed.get("tags") or []:
        request = urllib.request.Request(
            f"{registry.url}/v2/{name}/manifests/{tag}",
            method="HEAD",
            headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=10):
                alive.add(tag)
        except urllib.error.HTTPError as exc:
            if exc.code != 404:
                raise
    return alive


# ----------------------------------------------------------------------------- the hub


def hub_config(
    tenant: str, registry: RegistryServer, users: Sequence[str], **checkpoint: Any
) -> dict[str, Any]:
    """A Docker-backend hub whose only tenant has ``users``; the test runs the daemon."""
    config: dict[str, Any] = json.loads(json.dumps(BASE_CONFIG))
    config["backend"] = {"kind": "docker"}
    for profile in config["profiles"]:
        profile["image"] = CPU_IMAGE
    config["tenants"] = [
        {"name": tenant, "quota": {"servers": len(users), "cpu": "4", "memory": "8Gi"},
         "members": [{"user": u} for u in users]}
    ]  # fmt: skip
    config["checkpoint"] = {
        "registry": registry.address,
        "idle_after": 60,
        "keep": 1,
        "run_daemon": False,
        "stop_wait": 0,  # stops ask no checkpointer: only the test's daemon checkpoints
        **checkpoint,
    }
    return config


@contextlib.contextmanager
def running_hub(root: Path, config: dict[str, Any]) -> Iterator[RunningHub]:
    """A hub (and its platform service) for a whole module; shut down at its end."""
    if PROXY_MISSING:
        need(PROXY_MISSING)
    hub = write_hub(root, config, PASSWORDS)
    try:
        hub.start()
        hub.wait_for_service()
        yield hub
    finally:
        hub.shutdown()


@dataclass
class User:
    """A signed-in user with an API token of their own (for the platform API)."""

    browser: Browser
    token: str

    @property
    def name(self) -> str:
        return self.browser.user

    def platform(self, method: str, path: str, **kw: Any) -> requests.Response:
        url = self.browser.hub.url + "services/tenanthub/api/v1/" + path.lstrip("/")
        headers = {"Authorization": f"token {self.token}"}
        return requests.request(method, url, headers=headers, timeout=60, **kw)

    def checkpoints(self) -> list[dict[str, Any]]:
        """The user's own list, as the user reads it (newest first)."""
        got = self.platform("GET", f"users/{self.name}/checkpoints", params={"limit": 500})
        assert got.status_code == 200, got.text
        return list(got.json()["items"])

    def start(self, tenant: str, **options: str) -> requests.Response:
        """Start the default server through the hub's REST API (user_options as JSON)."""
        return self.browser.api(
            "POST",
            f"users/{self.name}/server",
            json={"tenant": tenant, "profile": "small", **options},
        )

    def start_and_wait(self, tenant: str) -> str:
        started = self.start(tenant)
        assert started.status_code in (201, 202), started.text
        self.browser.wait_ready()
        return container_of(tenant, self.name)

    def stop_and_wait(self) -> None:
        stopped = self.browser.api("DELETE", f"users/{self.name}/server")
        assert stopped.status_code in (202, 204), stopped.text
        self.browser.wait_stopped()


def sign_in(hub: RunningHub, name: str) -> User:
    browser = Browser(hub, name)
    assert browser.login().status_code == 302, name
    made = browser.api("POST", f"users/{name}/tokens", json={"note": "checkpoint tests"})
    assert made.status_code == 201, made.text
    return User(browser, str(made.json()["token"]))


def daemon_token(hub: RunningHub) -> str:
    return load_token({}, token_path(hub.data_dir, CHECKPOINTER.name))


def all_records(hub: RunningHub) -> list[dict[str, Any]]:
    """Every checkpoint record, read as the checkpointer reads them (its own token)."""
    headers = {"Authorization": f"token {daemon_token(hub)}"}
    got = requests.get(
        hub.url + "services/tenanthub/api/v1/checkpoints",
        params={"limit": 500},
        headers=headers,
        timeout=60,
    )
    assert got.status_code == 200, got.text
    return list(got.json()["items"])


def restore_candidate(hub: RunningHub, tenant: str, user: str) -> Checkpoint | None:
    """The checkpoint the spawner would start ``user``'s default server from (None: the
    profile's image): the spawner's store call on the hub's own database, and its choice."""
    config = load_config(hub.config_path)
    engine = db.make_engine(
        db.normalize_db_url(config.hub.db_url or db.default_db_url(config.hub.data_dir))
    )
    try:
        latest, newest = CheckpointStore(engine).restore_candidates(
            user, "", tenant, "small", CPU_IMAGE
        )
    finally:
        engine.dispose()

    def candidate(c: Checkpoint | None) -> Candidate | None:
        return Candidate(c.id, c.image, c.base_image, "") if c and c.image else None

    chosen = choose_image(CPU_IMAGE, True, candidate(latest), candidate(newest), None).checkpoint
    return next((c for c in (latest, newest) if c and chosen and c.id == chosen.id), None)


# ----------------------------------------------------------------------------- the daemon


class Daemon:
    """The checkpointer in this process, as ``python -m checkpointer`` builds it (Docker mode),
    with an injected clock. Each call runs on a fresh event loop with a fresh API client;
    the daemon's memory (what it checkpointed last) lasts across calls, as in a real one."""

    def __init__(
        self, hub: RunningHub, tenant: str, clock: Callable[[], datetime], **settings: Any
    ) -> None:
        config = load_config(hub.config_path)
        self.hub = hub
        client = docker.from_env()
        driver = DockerDriver(client)
        # only this hub's tenant: other tests' servers may share the engine
        selector = {**SELECTOR, "tenanthub.io/tenant": tenant}
        self.checkpointer = Checkpointer(
            settings=replace(settings_from_config(config, NODE), **settings),
            driver=driver,
            api=PlatformClient(hub.url, ""),
            details=DockerDetails(client),
            source=DockerLabelSource(driver, selector),
            clock=clock,
        )

    def _run(self, step: Callable[[], Awaitable[T]]) -> T:
        """One step; then the engine copies of what it pushed are waited for (a
        checkpoint is ready once in the registry and loaded into the engine after), so
        the tests see this node settled, as a later tick of a real daemon would."""

        async def fresh() -> T:
            self.checkpointer.api = PlatformClient(self.hub.url, daemon_token(self.hub))
            return await step()

        out = asyncio.run(fresh())
        assert self.checkpointer.driver.wait_loads(120), "an engine copy still loading"
        return out

    def tick(self, container: str) -> Any:
        """One tick; the outcome for ``container`` (other tests' containers are ignored)."""
        outcomes = self._run(self.checkpointer.tick)
        mine = [o for o in outcomes if o.container == container_name(container)]
        assert len(mine) == 1, outcomes
        return mine[0]

    def recover(self) -> Any:
        return self._run(self.checkpointer.recover)


def container_name(container: str) -> str:
    return sh("inspect", "--format", "{{.Name}}", container).stdout.strip().lstrip("/")


# ----------------------------------------------------------------------------- the package


def proof_wheel(folder: Path) -> Path:
    """A wheel of tests/fixtures/checkpoint_proof, zipped by hand (no build backend, no network)."""
    version = "1.0"
    dist_info = f"{PROOF_MODULE}-{version}.dist-info"
    files: dict[str, bytes] = {
        f"{PROOF_MODULE}/__init__.py": (PROOF_PACKAGE / PROOF_MODULE / "__init__.py").read_bytes(),
        f"{dist_info}/METADATA": (
            f"Metadata-Version: 2.1\nName: {PROOF_MODULE}\nVersion: {version}\n"
        ).encode(),
        f"{dist_info}/WHEEL": (
            b"Wheel-Version: 1.0\nGenerator: tenanthub-tests\nRoot-Is-Purelib: true\n"
            b"Tag: py3-none-any\n"
        ),
    }
    record = []
    for name, data in files.items():
        digest = urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{name},sha256={digest},{len(data)}")
    record.append(f"{dist_info}/RECORD,,")
    files[f"{dist_info}/RECORD"] = ("\n".join(record) + "\n").encode()
    path = folder / f"{PROOF_MODULE}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as wheel:
        for name, data in files.items():
            wheel.writestr(name, data)
    return path


def install_proof(container: str, wheel: Path, text: str) -> None:
    """pip-install the wheel into the image's environment (not --user: outside the home
    volume) and write ``text`` to a file outside the home, as the notebook user."""
    # through stdin, so the notebook user owns the copy (docker cp would make it root's)
    subprocess.run(
        ["docker", "exec", "-i", container, "sh", "-c", f"cat > /tmp/{wheel.name}"],
        input=wheel.read_bytes(),
        check=True,
        capture_output=True,
    )
    done = run_in(
        container,
        f"pip install --no-index --no-deps /tmp/{wheel.name} && rm /tmp/{wheel.name}"
        f" && printf %s '{text}' > {OUTSIDE_HOME}",
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert proof_in(container) == ("installed before the checkpoint", text)


def proof_in(container: str) -> tuple[str, str] | None:
    """(the package's PROOF, the file's text) as the server's Python sees them, or None."""
    got = run_in(
        container,
        f"python -c 'import {PROOF_MODULE} as p, sys; print(p.PROOF); "
        f'print(open("{OUTSIDE_HOME}").read())\'',
    )
    if got.returncode != 0:
        return None
    lines = got.stdout.splitlines()
    return lines[0], lines[1]


def wait_until(what: str, check: Callable[[], T], timeout: float = 90) -> T:
    """Poll ``check`` until it returns something true; fail with ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}; last: {value!r}")
        time.sleep(0.5)
