"""The platform API as the notebook's user (standard library only).

Where the API is comes from ``TENANTHUB_API_URL`` (the spawner sets it), the token
from ``JUPYTERHUB_API_TOKEN`` (the server's own) and the tenant from
``TENANTHUB_TENANT`` (the tenant this server runs in).
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


class ApiError(RuntimeError):
    """The platform refused or failed a call; the message is the platform's own."""

    def __init__(
        self,
        status: int,
        message: str,
        problem: str | None = None,
        errors: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(f"{message} (HTTP {status})")
        self.status = status
        self.message = message
        self.problem = problem
        self.errors = errors  # an invalid body's per-field problems (key path and message)


@dataclass(frozen=True)
class Platform:
    url: str  # the API's base, ending in /api/v1/
    token: str
    tenant: str
    timeout: float = 60.0

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> Platform:
        missing = [
            name
            for name in ("TENANTHUB_API_URL", "JUPYTERHUB_API_TOKEN", "TENANTHUB_TENANT")
            if not environ.get(name)
        ]
        if missing:
            raise ApiError(
                0,
                f"not in a TenantHub notebook server ({', '.join(missing)} not set); outside "
                "one, use Platform(url, token, tenant)",
            )
        url = environ["TENANTHUB_API_URL"]
        return cls(url if url.endswith("/") else url + "/", environ["JUPYTERHUB_API_TOKEN"],
                   environ["TENANTHUB_TENANT"])  # fmt: skip

    def __repr__(self) -> str:  # never the token
        return f"Platform(url={self.url!r}, tenant={self.tenant!r})"

    def request(
        self,
        method: str,
        path: str,
        query: Mapping[str, Any] | None = None,
        body: Any = None,
    ) -> tuple[str, bytes]:
        """(content type, body) of one call (``body``: sent as JSON when not None);
        ApiError with the platform's message."""
        params = {k: str(v) for k, v in (query or {}).items() if v is not None}
        url = self.url + path.lstrip("/") + ("?" + urllib.parse.urlencode(params) if params else "")
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 - http(s) only
        request.add_header("Authorization", f"token {self.token}")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as answer:  # noqa: S310
                return answer.headers.get("Content-Type", ""), answer.read()
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            try:
                body = json.loads(raw)
                message, problem = body.get("message") or str(exc), body.get("problem")
                errors = body.get("errors") if isinstance(body.get("errors"), list) else None
            except (ValueError, AttributeError):
                message, problem = raw.decode(errors="replace")[:300] or str(exc), None
                errors = None
            raise ApiError(exc.code, message, problem, errors) from None
        except (urllib.error.URLError, OSError) as exc:
            raise ApiError(0, f"cannot reach the TenantHub API at {self.url}: {exc}") from None

    def get(self, route: str, /, **query: Any) -> Any:
        _type, body = self.request("GET", route, query)
        return json.loads(body) if body else None

    def tenant_path(self, *parts: str) -> str:
        quoted = [urllib.parse.quote(p, safe="") for p in (self.tenant, *parts)]
        return "tenants/" + "/".join(quoted)
