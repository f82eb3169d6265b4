"""Named platforms (URL + token) for the ``tenanthub`` API commands, like kubectl contexts.

The contexts file is ``$TENANTHUB_CONTEXTS``, else ``$XDG_CONFIG_HOME/tenanthub/contexts.yaml``
(``~/.config/tenanthub/contexts.yaml``); it holds tokens, so it is written 0600 and refused
when others may read it::

    current: prod
    contexts:
      prod: {url: https://hub.example.org/, token: ...}
      staging: {url: https://staging.example.org/, token: ...}

Where an API command's URL and token come from, first found wins, each on its own:

1. ``--url`` / ``--token-file`` on the command line
2. ``--context NAME``: that context
3. ``TENANTHUB_URL`` / ``TENANTHUB_TOKEN``
4. the current context (``tenanthub context use NAME``)
5. the older single-platform file ``~/.config/tenanthub/config``

A context's token is only ever sent to that context's URL: when the URL came from
somewhere else, the token must too (the command says so and sends nothing). There is no
``--token`` flag: a token in the command line is visible to every user in ``ps``.
"""

from __future__ import annotations

import os
import re
import stat
import sys
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from hub.api_client import ClientError, Settings, config_path, read_config

CONTEXTS_ENV = "TENANTHUB_CONTEXTS"
FROM_STDIN = "-"
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")


@dataclass(frozen=True)
class Context:
    name: str
    url: str
    token: str

    def __repr__(self) -> str:  # never the token
        return f"Context({self.name!r}, {self.url!r})"


@dataclass
class Contexts:
    current: str | None
    items: dict[str, Context]


def contexts_path(env: Mapping[str, str]) -> Path:
    if env.get(CONTEXTS_ENV):
        return Path(env[CONTEXTS_ENV])
    return config_path(env).with_name("contexts.yaml")


def check_url(url: str, source: str) -> str:
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ClientError(f"The API URL from {source} is not an http(s) URL: {url!r}")
    return url


def check_name(name: str) -> str:
    if not NAME.match(name):
        raise ClientError(
            f"{name!r} is not a context name (letters, digits, '.', '_', '-', at most 63)"
        )
    return name


def load(path: Path) -> Contexts:
    """The contexts file (none yet: empty); refused when others may read it."""
    try:
        info = path.stat()
    except FileNotFoundError:
        return Contexts(None, {})
    if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ClientError(
            f"{path} is readable by other users (mode {stat.S_IMODE(info.st_mode):o}) and holds "
            f"API tokens; make it private with: chmod 600 {path}"
        )
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ClientError(f"{path} is not valid YAML: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("contexts") or {}, dict):
        raise ClientError(f"{path}: expected 'current' and a 'contexts' mapping")
    items: dict[str, Context] = {}
    for name, entry in (data.get("contexts") or {}).items():
        if not (isinstance(entry, dict) and entry.get("url") and entry.get("token")):
            raise ClientError(f"{path}: context {name!r} needs a url and a token")
        items[str(name)] = Context(str(name), str(entry["url"]), str(entry["token"]))
    current = data.get("current")
    if current is not None and current not in items:
        current = None  # removed by hand: no current context, not an error
    return Contexts(current, items)


def save(path: Path, contexts: Contexts) -> None:
    """Write the file 0600 (created private, replaced atomically)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    data: dict[str, Any] = {
        "current": contexts.current,
        "contexts": {c.name: {"url": c.url, "token": c.token} for c in contexts.items.values()},
    }
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            yaml.safe_dump(data, handle, sort_keys=False)
        os.chmod(partial, 0o600)
        os.replace(partial, path)
    finally:
        if partial.exists():
            partial.unlink()


def read_token(token_file: str | None, token_stdin: bool, stdin: Any) -> str:
    """A token from a file (``-``: stdin) or stdin, first line, stripped."""
    if token_stdin or token_file == FROM_STDIN:
        raw = stdin.readline()
        source = "stdin"
    elif token_file:
        try:
            raw = Path(token_file).read_text(encoding="utf-8")
        except OSError as exc:
            raise ClientError(f"cannot read the token file {token_file}: {exc.strerror}") from None
        source = token_file
    else:
        raise ClientError("give the token with --token-file FILE or --token-stdin")
    token = raw.strip().splitlines()[0].strip() if raw.strip() else ""
    if not token:
        raise ClientError(f"no token in {source}")
    return token


# ---------------------------------------------------------------------- resolution


def resolve(
    env: Mapping[str, str],
    url_flag: str | None = None,
    token_file: str | None = None,
    context: str | None = None,
) -> Settings:
    """URL and token for an API command, by the precedence in this module's docstring."""
    path = contexts_path(env)
    contexts = load(path)
    named: Context | None = None
    if context is not None:
        named = contexts.items.get(context)
        if named is None:
            known = ", ".join(sorted(contexts.items)) or "none"
            raise ClientError(f"no context {context!r} in {path} (contexts: {known})")
    current = contexts.items.get(contexts.current) if contexts.current else None
    legacy = config_path(env)

    url = url_from = ""
    # (value, where from, the context it belongs to)
    url_candidates: list[tuple[str | None, str, Context | None]] = [
        (url_flag, "--url", None),
        (named.url if named else None, f"context {context!r}", named),
        (env.get("TENANTHUB_URL"), "TENANTHUB_URL", None),
        (current.url if current else None, f"current context {contexts.current!r}", current),
    ]
    url_owner: Context | None = None
    for value, source, owner in url_candidates:
        if value:
            url, url_from, url_owner = value, source, owner
            break
    token = token_from = ""
    token_owner: Context | None = None
    if token_file:
        token, token_from = read_token(token_file, False, sys.stdin), "--token-file"
    elif named is not None:
        token, token_from, token_owner = named.token, f"context {context!r}", named
    elif env.get("TENANTHUB_TOKEN"):
        token, token_from = env["TENANTHUB_TOKEN"], "TENANTHUB_TOKEN"
    elif current is not None:
        token, token_from, token_owner = current.token, url_candidates[3][1], current
    if not (url and token):
        values = read_config(legacy)
        if not url and values.get("url"):
            url, url_from = values["url"], str(legacy)
        if not token and values.get("token"):
            token, token_from = values["token"], str(legacy)
    if token_owner is not None and url_owner is not token_owner and url != token_owner.url:
        raise ClientError(
            f"the API URL comes from {url_from} ({url}) but the token from {token_from}, which "
            f"is for {token_owner.url}; not sending it elsewhere. Give the token for {url} "
            "too (--token-file or TENANTHUB_TOKEN), or use that context alone"
        )
    missing = [name for name, value in (("URL", url), ("token", token)) if not value]
    if missing:
        raise ClientError(
            f"No API {' or '.join(missing)}: add a platform with `tenanthub context add NAME "
            "--url URL --token-file FILE` (or --token-stdin), or set TENANTHUB_URL and "
            f"TENANTHUB_TOKEN, or write them to {legacy}."
        )
    return Settings(url=check_url(url, url_from), token=token, url_from=url_from,
                    token_from=token_from)  # fmt: skip
