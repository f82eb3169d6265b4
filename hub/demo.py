"""`tenanthub demo`: a ready-to-try platform in one folder, with working logins.

The demo config is copied once (later runs keep your edits); each demo user
gets a random password, stored only as a bcrypt hash for the hub and in a
0600 credentials file for you, and printed at start.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

import bcrypt

DEMO_USERS = {
    "admin": "platform admin (approves sign-ups, JupyterHub admin)",
    "alice": "tenant admin of vision",
    "bob": "member of vision, tenant admin of nlp",
    "carol": "in no tenant: shows what happens then",
}
EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "demo.yaml"


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)


def prepare_demo(folder: Path, example: Path = EXAMPLE) -> tuple[Path, dict[str, str]]:
    """Create (or reuse) the demo folder; returns the config path and the logins."""
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "tenanthub.yaml"
    if not config.exists():
        config.write_text(example.read_text())
    credentials = folder / "demo-credentials.json"
    if credentials.exists():
        logins: dict[str, str] = json.loads(credentials.read_text())
    else:
        logins = {user: secrets.token_urlsafe(12) for user in DEMO_USERS}
        _write_private(credentials, json.dumps(logins, indent=2))
    hashes = {
        user: bcrypt.hashpw(password.encode(), bcrypt.gensalt()).decode()
        for user, password in logins.items()
    }
    _write_private(folder / "seed-users.json", json.dumps(hashes, indent=2))
    return config, logins


def banner(url: str, logins: dict[str, str], backend_note: str, credentials: Path) -> str:
    width = max(len(u) for u in logins)
    lines = [
        "",
        "=" * 72,
        f"  TenantHub demo: {url}",
        f"  Admin console:  {url}services/tenanthub/console",
        f"  Platform API:   {url}services/tenanthub/api/v1/openapi.json",
        "",
        f"  Logins (also in {credentials}):",
    ]
    for user, password in logins.items():
        lines.append(f"    {user:<{width}}  {password:<18}  {DEMO_USERS.get(user, '')}")
    lines += [
        "",
        f"  {backend_note}",
        "  Stop with Ctrl-C; `make demo` again keeps users and files.",
        "=" * 72,
        "",
    ]
    return "\n".join(lines)
