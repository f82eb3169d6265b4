"""Secrets the tests were issued, and the logs to scan for them at the end of the run.

Issue 13: "secrets and tokens never logged (a test scans the logs of a full test run
for the tokens it issued)". What is collected, in this pytest process:

- every hub a test starts (``RunningHub``) registers its folder: its ``hub.log``
  holds the hub's, the proxy's and its managed services' output (the platform
  service, the idle culler, the checkpointer in Docker mode), and its data folder
  the secrets the platform made for itself (``data/secrets/*``: service and
  checkpointer tokens, cookie secrets, the datasets key, the proxy's token);
- every API token a test creates through the hub (``Browser.api`` POST .../tokens);
- anything else a test hands to :func:`remember` (a server's own token, a
  dataset's secret key).

``tests/integration/test_log_secrets.py`` runs last (``tests/conftest.py`` moves it)
and fails naming the log and the secret's first characters.

``make test`` runs the suite on several pytest-xdist workers, each a process with its
own sets, and the scan after them in a pytest of its own: with ``TENANTHUB_LOG_SCAN_DIR``
set, every process also appends what it collects to a file of its own in that folder
(JSON lines, the folder the runner made for the run), and the scan reads them all.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

#: shorter values (a port, "yes") would match by chance
MIN_SECRET_CHARS = 12
#: logs bigger than this are read from their end (a runaway log is a finding itself)
MAX_LOG_BYTES = 64 << 20

ISSUED: set[str] = set()
ROOTS: set[Path] = set()


RECORD_DIR_ENV = "TENANTHUB_LOG_SCAN_DIR"


def record_dir() -> Path | None:
    folder = os.environ.get(RECORD_DIR_ENV)
    return Path(folder) if folder else None


def _record(kind: str, value: str) -> None:
    folder = record_dir()
    if folder is not None:
        with (folder / f"{kind}-{os.getpid()}.jsonl").open("a") as handle:
            handle.write(json.dumps(value) + "\n")


def _recorded(kind: str) -> set[str]:
    folder = record_dir()
    if folder is None:
        return set()
    return {
        json.loads(line)
        for path in sorted(folder.glob(f"{kind}-*.jsonl"))
        for line in path.read_text().splitlines()
        if line.strip()
    }


def remember(secret: object) -> None:
    text = str(secret or "").strip()
    if len(text) >= MIN_SECRET_CHARS and text not in ISSUED:
        ISSUED.add(text)
        _record("issued", text)


def watch(root: Path) -> None:
    if Path(root) not in ROOTS:
        ROOTS.add(Path(root))
        _record("roots", str(root))


def collected() -> tuple[set[Path], set[str]]:
    """The hub folders and issued secrets of this process and of every process that
    recorded them for this run."""
    roots = ROOTS | {Path(r) for r in _recorded("roots")}
    return roots, ISSUED | _recorded("issued")


def secrets_under(root: Path) -> set[str]:
    """The platform's own secrets in a hub's data folder (``**/secrets/*`` files)."""
    found: set[str] = set()
    for path in root.glob("**/secrets/*"):
        if not path.is_file() or path.stat().st_size > 4096:
            continue
        try:
            text = path.read_text().strip()
        except (OSError, UnicodeDecodeError):
            continue
        for line in text.splitlines():
            value = line.split("=", 1)[-1].strip()  # KEY=value files keep the value
            if len(value) >= MIN_SECRET_CHARS:
                found.add(value)
    return found


def logs_under(root: Path) -> list[Path]:
    return sorted(p for p in root.glob("**/*.log") if p.is_file())


def leaks(logs: Iterable[Path], secrets: Iterable[str]) -> list[tuple[Path, str]]:
    """(log, the secret's first 6 characters) for every secret found in a log (pure on
    the files' contents)."""
    wanted = sorted(set(secrets))
    found: list[tuple[Path, str]] = []
    for log in logs:
        with log.open("rb") as handle:
            size = log.stat().st_size
            handle.seek(max(0, size - MAX_LOG_BYTES))
            text = handle.read().decode("utf-8", "replace")
        found += [(log, secret[:6]) for secret in wanted if secret in text]
    return found
