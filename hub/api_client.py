"""A small synchronous client of the platform API, for the ``tenanthub`` command.

Standard library only (``urllib.request``): the CLI makes a handful of JSON calls
and exits, so it needs no connection pool, and the platform's runtime
dependencies stay as they are (``requests`` is only a test dependency).

Where the API is and who calls it come from ``TENANTHUB_URL`` and
``TENANTHUB_TOKEN``, else from the config file (``~/.config/tenanthub/config``,
or ``$XDG_CONFIG_HOME/tenanthub/config``)::

    # the hub's address, as in the browser
    url = https://hub.example.org/
    # a JupyterHub API token (hub > Token page); this file must be private: chmod 600
    token = 0123456789abcdef

The token is sent in the ``Authorization`` header and never printed: not in
errors, not in ``repr``.
"""

from __future__ import annotations

import json
import os
import stat
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

API_PATH = "services/tenanthub/api/v1/"
CONFIG_KEYS = ("url", "token")


class ClientError(Exception):
    """Something the person at the terminal can fix; the message says what."""


class ApiError(ClientError):
    """The API answered with an error status; ``message`` is its sentence."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Settings:
    url: str
    token: str = field(repr=False)
    #: where each came from ("TENANTHUB_URL", or the config file's path), for messages
    url_from: str = ""
    token_from: str = ""


def config_path(env: Mapping[str, str]) -> Path:
    base = env.get("XDG_CONFIG_HOME") or str(Path(env.get("HOME") or Path.home()) / ".config")
    return Path(base) / "tenanthub" / "config"


def parse_config(text: str, source: str) -> dict[str, str]:
    """``key = value`` lines, ``#`` comments; unknown keys and malformed lines are errors."""
    values: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ClientError(f"{source}, line {number}: expected 'key = value'")
        if key not in CONFIG_KEYS:
            raise ClientError(
                f"{source}, line {number}: unknown key {key!r} (known: {', '.join(CONFIG_KEYS)})"
            )
        values[key] = value.strip()
    return values


def read_config(path: Path) -> dict[str, str]:
    """The config file's values; refused when others may read it (it holds a token)."""
    try:
        info = path.stat()
    except FileNotFoundError:
        return {}
    if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        mode = stat.S_IMODE(info.st_mode)
        raise ClientError(
            f"{path} is readable by other users (mode {mode:o}) and holds an API token; "
            f"make it private with: chmod 600 {path}"
        )
    return parse_config(path.read_text(encoding="utf-8"), str(path))


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """URL and token: the environment first, then the config file."""
    env = os.environ if env is None else env
    url, token = env.get("TENANTHUB_URL", ""), env.get("TENANTHUB_TOKEN", "")
    url_from = "TENANTHUB_URL" if url else ""
    token_from = "TENANTHUB_TOKEN" if token else ""
    path = config_path(env)
    if not (url and token):
        values = read_config(path)
        if not url and values.get("url"):
            url, url_from = values["url"], str(path)
        if not token and values.get("token"):
            token, token_from = values["token"], str(path)
    missing = [name for name, value in (("URL", url), ("token", token)) if not value]
    if missing:
        raise ClientError(
            f"No API {' or '.join(missing)}: set TENANTHUB_URL (the hub's address) and "
            f"TENANTHUB_TOKEN (a JupyterHub API token), or write them to {path} "
            "('url = ...' and 'token = ...' lines, chmod 600)."
        )
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ClientError(f"The API URL from {url_from} is not an http(s) URL: {url!r}")
    return Settings(url=url, token=token, url_from=url_from, token_from=token_from)


def api_path(*parts: str) -> str:
    """A path below the API root from its parts, each quoted whole: a name given on the
    command line stays one path segment (``a/../b`` cannot reach another route)."""
    for part in parts:
        if part in ("", ".", ".."):
            raise ClientError(f"{part!r} is not a name the API knows")
    return "/".join(urllib.parse.quote(part, safe="") for part in parts)


def api_base(url: str) -> str:
    """The API root for a hub URL (``https://hub/`` -> ``https://hub/services/...v1/``);
    a URL that already points at the API is kept."""
    base = url if url.endswith("/") else url + "/"
    return base if base.endswith(API_PATH) else base + API_PATH


class ApiClient:
    """``request(method, path, query, body)`` -> the decoded JSON answer (None for 204)."""

    def __init__(self, settings: Settings, timeout: float = 30) -> None:
        self.settings = settings
        self.base = api_base(settings.url)
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"ApiClient({self.base!r})"

    def url_for(self, path: str, query: Mapping[str, Any] | None = None) -> str:
        """``path`` as built by ``api_path`` (its parts already quoted)."""
        url = self.base + path.strip("/")
        params = {k: str(v) for k, v in (query or {}).items() if v is not None}
        return url + ("?" + urllib.parse.urlencode(params) if params else "")

    def request(
        self,
        method: str,
        path: str,
        query: Mapping[str, Any] | None = None,
        body: Any = None,
    ) -> Any:
        url = self.url_for(path, query)
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 - http(s) only
        request.add_header("Authorization", f"token {self.settings.token}")
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                raw = response.read()
        except urllib.error.HTTPError as exc:
            raise self._error(exc.code, exc.read(), url) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ClientError(
                f"Cannot reach the TenantHub API at {self.base} ({reason}); is the hub running "
                f"there? (URL from {self.settings.url_from})"
            ) from None
        return json.loads(raw) if raw.strip() else None

    def _error(self, status: int, raw: bytes, url: str) -> ApiError:
        """The API's own message, or -- for an answer that is not the API's -- what to check."""
        try:
            message = json.loads(raw).get("message")
        except (ValueError, AttributeError, UnicodeDecodeError):
            message = None
        if isinstance(message, str) and message:
            return ApiError(status, message)
        return ApiError(
            status,
            f"{url.split('?')[0]} answered {status} without an API error message; check that "
            f"the URL from {self.settings.url_from} is the hub's address.",
        )

    def pages(
        self, path: str, query: Mapping[str, Any] | None = None, size: int = 500
    ) -> list[Any]:
        """Every item of a paged list, one request per page."""
        items: list[Any] = []
        while True:
            page = self.request("GET", path, {**(query or {}), "limit": size, "offset": len(items)})
            items += page["items"]
            if not page["items"] or len(items) >= page["total"]:
                return items
