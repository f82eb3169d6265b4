"""Where configurable-http-proxy is and the token the hub shares with it.

The token is kept in the data dir (mode 0600) so a restarted hub reconnects
to the proxy that kept running, with its routes, instead of starting over.
"""

from __future__ import annotations

import os
import secrets
import shutil
from pathlib import Path

CACHE = Path(os.environ.get("TENANTHUB_CACHE", Path.home() / ".cache" / "tenanthub"))
NPM_BIN = CACHE / "npm" / "node_modules" / ".bin"


def find_proxy_command() -> str:
    """configurable-http-proxy on PATH, else the copy `make` installs in the cache."""
    found = shutil.which("configurable-http-proxy")
    if found:
        return found
    cached = NPM_BIN / "configurable-http-proxy"
    if cached.exists():
        return str(cached)
    raise FileNotFoundError(
        "configurable-http-proxy not found on PATH or in "
        f"{NPM_BIN}; run `make install` (it installs it with npm)"
    )


def secret_file(path: Path, nbytes: int = 32) -> str:
    """Read a secret kept in ``path``, creating it (0600) on first use."""
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    token = secrets.token_hex(nbytes)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(token)
    return token
