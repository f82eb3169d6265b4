"""A throwaway PostgreSQL server for the tests (Debian's postgresql package).

Started once per test session on 127.0.0.1 with its own data directory and
socket dir, stopped at the end. Root cannot run postgres, so as root the
server runs as the ``postgres`` OS user the Debian package creates.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tests.ports import free_port


class PostgresUnavailable(RuntimeError):
    pass


def find_bin_dir() -> Path:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    if not candidates:
        raise PostgresUnavailable(
            "PostgreSQL server binaries not found (/usr/lib/postgresql/*/bin); "
            "`make test` installs Debian's postgresql"
        )
    return Path(candidates[0]).parent


@dataclass
class PostgresServer:
    bin_dir: Path
    root: Path
    port: int
    proc_user: str | None

    @property
    def admin_url(self) -> str:
        return f"postgresql://tenanthub@127.0.0.1:{self.port}/postgres"

    def _cmd(self, *args: str) -> list[str]:
        if self.proc_user:
            return ["runuser", "-u", self.proc_user, "--", *args]
        return list(args)

    def start(self) -> None:
        data = self.root / "data"
        subprocess.run(
            self._cmd(
                str(self.bin_dir / "initdb"),
                "-D",
                str(data),
                "-A",
                "trust",
                "-U",
                "tenanthub",
                "-E",
                "UTF8",
                "--no-sync",
            ),
            check=True,
            capture_output=True,
        )
        subprocess.run(
            self._cmd(
                str(self.bin_dir / "pg_ctl"),
                "-D",
                str(data),
                "-l",
                str(self.root / "log"),
                "-w",
                "-t",
                "60",
                "-o",
                f"-h 127.0.0.1 -p {self.port} -k {self.root} -c fsync=off "
                "-c full_page_writes=off -c synchronous_commit=off",
                "start",
            ),
            check=True,
            capture_output=True,
        )

    def stop(self) -> None:
        subprocess.run(
            self._cmd(
                str(self.bin_dir / "pg_ctl"),
                "-D",
                str(self.root / "data"),
                "-m",
                "fast",
                "-w",
                "stop",
            ),
            check=False,
            capture_output=True,
        )
        shutil.rmtree(self.root, ignore_errors=True)

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(
            f"host=127.0.0.1 port={self.port} user=tenanthub dbname=postgres", autocommit=True
        ) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql://tenanthub@127.0.0.1:{self.port}/{name}"


def start_postgres() -> PostgresServer:
    bin_dir = find_bin_dir()
    root = Path(tempfile.mkdtemp(prefix="tenanthub-pg-"))
    proc_user = None
    if os.geteuid() == 0:
        proc_user = "postgres"
        shutil.chown(root, user="postgres", group="postgres")
        root.chmod(0o700)
    server = PostgresServer(bin_dir, root, free_port(), proc_user)
    try:
        server.start()
    except subprocess.CalledProcessError as exc:
        log = (root / "log").read_text() if (root / "log").exists() else ""
        raise PostgresUnavailable(
            f"PostgreSQL did not start: {exc.stderr.decode(errors='replace')} {log}"
        ) from exc
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", server.port), timeout=1):
                return server
        except OSError:
            time.sleep(0.2)
    raise PostgresUnavailable("PostgreSQL did not accept connections within 30 s")
