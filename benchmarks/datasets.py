"""Dataset browsing: the first page of a 100 000-entry folder and of a 100 000-key S3
prefix, against JupyterLab's contents API listing the same folder.

    .venv/bin/python benchmarks/datasets.py [--entries 100000] [--rounds 5]

One run, side by side, over HTTP on 127.0.0.1:

* tenanthub files: a real TenantHub (``tenanthub run``, local backend, its proxy and
  platform service), a files source registered by the tenant admin in the tenant's
  shared folder; ``GET .../datasets/<source>/list?path=big`` as a member (the first
  page, 200 entries, and a cursor);
* tenanthub s3: the same through an S3 source on a moto server (in this process),
  100 000 keys under one prefix;
* anchor: Jupyter Server's contents API (what JupyterLab's file browser calls),
  ``GET /api/contents/big`` on a ``jupyter server`` whose root is the same shared
  folder, with a token: it answers the whole folder (100 000 models, each stat'ed).

Rounds alternate the three; medians and the ratio anchor / tenanthub are printed.
Goal (issue 10): the first page >= 10x faster than the contents listing. Only the
processes this script started are stopped, by PID.
"""

from __future__ import annotations

import argparse
import logging
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from spawner.plan import local_paths  # noqa: E402
from tests.integration.conftest import BASE_CONFIG, PASSWORDS  # noqa: E402
from tests.integration.hubrunner import Browser, write_hub  # noqa: E402
from tests.services.s3 import start_s3  # noqa: E402


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def timed(call: Any) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def make_folder(folder: Path, entries: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(entries):
        fd = os.open(folder / f"part-{i:06d}.csv", os.O_WRONLY | os.O_CREAT, 0o644)
        os.close(fd)


def start_jupyter_server(root: Path, token: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "jupyter_server", "--no-browser", "--ip=127.0.0.1",
         f"--port={port}", f"--ServerApp.root_dir={root}",
         f"--IdentityProvider.token={token}", "--ServerApp.allow_root=True"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if requests.get(url + "api/status", params={"token": token}, timeout=2).ok:
                return process, url
        except requests.ConnectionError:
            pass
        time.sleep(0.2)
    process.kill()
    raise RuntimeError("jupyter server did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's request log
    with tempfile.TemporaryDirectory(prefix="tenanthub-datasets-bench-") as tmp:
        root = Path(tmp)
        config = {**BASE_CONFIG, "backend": {"kind": "local"}}
        hub = write_hub(root / "hub", config, PASSWORDS)
        s3 = start_s3()
        jupyter = None
        try:
            hub.start()
            hub.wait_for_service()
            shared = local_paths(hub.data_dir, "vision", "-").shared
            print(f"making {args.entries} files and {args.entries} S3 keys ...", flush=True)
            make_folder(shared / "big", args.entries)
            s3.create_bucket("bench")
            for i in range(args.entries):
                s3.put("bench", f"big/part-{i:06d}.csv", b"")
            tokens = {}
            for user in ("alice", "bob"):
                browser = Browser(hub, user)
                browser.login()
                made = browser.api("POST", f"users/{user}/tokens", json={"note": "bench"})
                tokens[user] = made.json()["token"]
            api = hub.url + "services/tenanthub/api/v1/tenants/vision/datasets"
            for body in (
                {"name": "files", "kind": "files", "settings": {"root": str(shared)}},
                {"name": "lake", "kind": "s3",
                 "settings": {"bucket": "bench", "endpoint_url": s3.endpoint_url},
                 "secrets": {"access_key": s3.reader.access_key,
                             "secret_key": s3.reader.secret_key}},
            ):  # fmt: skip
                admin = {"Authorization": f"token {tokens['alice']}"}
                made = requests.post(api, json=body, timeout=60, headers=admin)
                assert made.status_code == 201, made.text
            member = {"Authorization": f"token {tokens['bob']}"}
            token = secrets.token_hex(16)
            jupyter, jupyter_url = start_jupyter_server(shared, token)

            def files_page() -> None:
                got = requests.get(f"{api}/files/list", params={"path": "big"}, headers=member,
                                   timeout=120)  # fmt: skip
                assert got.status_code == 200 and len(got.json()["entries"]) == 200, got.text

            def s3_page() -> None:
                got = requests.get(f"{api}/lake/list", params={"path": "big"}, headers=member,
                                   timeout=120)  # fmt: skip
                assert got.status_code == 200 and len(got.json()["entries"]) == 200, got.text

            def contents() -> None:
                got = requests.get(f"{jupyter_url}api/contents/big", params={"token": token},
                                   timeout=600)  # fmt: skip
                assert got.status_code == 200 and len(got.json()["content"]) == args.entries

            for call in (files_page, s3_page, contents):  # warm-up: imports, caches
                call()
            times: dict[str, list[float]] = {"files": [], "s3": [], "contents": []}
            for i in range(args.rounds):
                times["files"].append(timed(files_page))
                times["s3"].append(timed(s3_page))
                times["contents"].append(timed(contents))
                print(f"  round {i + 1}: files {times['files'][-1] * 1000:.0f} ms, s3 "
                      f"{times['s3'][-1] * 1000:.0f} ms, contents API "
                      f"{times['contents'][-1] * 1000:.0f} ms", flush=True)  # fmt: skip
            med = {k: statistics.median(v) for k, v in times.items()}
            print(f"median first page: files {med['files'] * 1000:.0f} ms, s3 "
                  f"{med['s3'] * 1000:.0f} ms; Jupyter contents API (whole folder) "
                  f"{med['contents'] * 1000:.0f} ms")  # fmt: skip
            print(f"ratio contents / files {med['contents'] / med['files']:.1f}x, contents / s3 "
                  f"{med['contents'] / med['s3']:.1f}x (goal >= 10x)")  # fmt: skip
        finally:
            if jupyter is not None:
                jupyter.send_signal(signal.SIGTERM)
                jupyter.wait(30)
            hub.shutdown()
            s3.stop()


if __name__ == "__main__":
    main()
