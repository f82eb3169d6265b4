"""A real OpenID Connect provider for the tests: PyPI ``oidc-provider-mock`` on loopback.

Started once per test session as its own process (``python -m
tests.services.oidc --port N``), stopped by its PID at the end. Users and
their claims are set over its HTTP API (``PUT /users/<sub>``); a login posts
the user's ``sub`` to its authorization form.

The mock (0.3.x) accepts an authorization code without checking PKCE, so the
process puts a small WSGI layer in front of it that does what a real provider
does (RFC 7636 section 4.6): it remembers the ``code_challenge`` of every
authorization request and refuses a token request whose ``code_verifier``
does not hash to it. A successful login therefore proves the hub sent the
right verifier.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import importlib.util
import io
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlparse

import pytest
import requests

from tests.conftest import need
from tests.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
MODULE_CMD = (sys.executable, "-m", "tests.services.oidc")

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


class PkceEnforcer:
    """WSGI middleware: authorization codes are redeemed only with the matching verifier."""

    def __init__(self, app: WsgiApp) -> None:
        self.app = app
        self.challenges: dict[str, tuple[str, str]] = {}  # code -> (challenge, method)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        path = environ.get("PATH_INFO", "")
        if path == "/oauth2/token" and environ.get("REQUEST_METHOD") == "POST":
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length)
            environ["wsgi.input"] = io.BytesIO(body)
            form = parse_qs(body.decode("utf-8"))
            if form.get("grant_type") == ["authorization_code"]:
                problem = self.check(form.get("code", [""])[0], form.get("code_verifier", [""])[0])
                if problem:
                    payload = json.dumps({"error": "invalid_grant", "error_description": problem})
                    start_response("400 Bad Request", [("Content-Type", "application/json")])
                    return [payload.encode()]
        if path == "/oauth2/authorize":
            query = parse_qs(environ.get("QUERY_STRING", ""))
            challenge = query.get("code_challenge", [""])[0]
            method = query.get("code_challenge_method", ["plain"])[0]

            def remember(status: str, headers: list[tuple[str, str]], *rest: Any) -> Any:
                for name, value in headers:
                    if name.lower() == "location":
                        code = parse_qs(urlparse(value).query).get("code", [""])[0]
                        if code:
                            self.challenges[code] = (challenge, method)
                return start_response(status, headers, *rest)

            return self.app(environ, remember)
        return self.app(environ, start_response)

    def check(self, code: str, verifier: str) -> str:
        challenge, method = self.challenges.pop(code, ("", ""))
        if not challenge:
            return "PKCE is required: the authorization request had no code_challenge"
        if method != "S256":
            return f"PKCE method {method!r} refused (S256 only)"
        if not verifier:
            return "PKCE code_verifier missing"
        if s256(verifier) != challenge:
            return "PKCE code_verifier does not match the code_challenge"
        return ""


def serve(port: int, token_max_age: int) -> None:
    """Run the provider (with PKCE enforced) until terminated."""
    os.environ["AUTHLIB_INSECURE_TRANSPORT"] = "1"  # plain HTTP on loopback
    import oidc_provider_mock
    import werkzeug.serving

    app = oidc_provider_mock.app(access_token_max_age=timedelta(seconds=token_max_age))
    server = werkzeug.serving.make_server("127.0.0.1", port, PkceEnforcer(app), threaded=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    server.serve_forever()


@dataclass
class OidcProvider:
    url: str  # the issuer
    proc: subprocess.Popen[bytes]
    log_path: Path
    token_max_age: int

    def set_user(self, sub: str, claims: dict[str, Any]) -> None:
        """Create or replace the user ``sub`` and the claims the provider will give out."""
        response = requests.put(f"{self.url}/users/{quote(sub, safe='')}", json=claims, timeout=10)
        response.raise_for_status()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


class OidcUnavailable(RuntimeError):
    pass


def start_oidc_provider(token_max_age: int = 3600, timeout: float = 30) -> OidcProvider:
    if importlib.util.find_spec("oidc_provider_mock") is None:
        raise OidcUnavailable(
            "oidc-provider-mock is not installed; `pip install -e '.[dev]'` installs it"
        )
    port = free_port()
    log_path = Path(tempfile.mkdtemp(prefix="tenanthub-oidc-")) / "provider.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [*MODULE_CMD, "--port", str(port), "--token-max-age", str(token_max_age)],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    provider = OidcProvider(f"http://127.0.0.1:{port}", proc, log_path, token_max_age)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise OidcUnavailable(f"oidc-provider-mock exited: {provider.log()[-2000:]}")
        try:
            discovery = f"{provider.url}/.well-known/openid-configuration"
            if requests.get(discovery, timeout=2).status_code == 200:
                return provider
        except requests.RequestException:
            pass
        time.sleep(0.2)
    provider.stop()
    raise OidcUnavailable(f"oidc-provider-mock did not answer in {timeout}s: {provider.log()}")


#: access tokens expire this soon, so a test can see a refresh with the refresh token
TOKEN_MAX_AGE = 3


@pytest.fixture(scope="session", name="oidc_provider")
def oidc_provider_fixture() -> Iterator[OidcProvider]:
    """The session's provider; a test module imports this function to use ``oidc_provider``."""
    try:
        provider = start_oidc_provider(token_max_age=TOKEN_MAX_AGE)
    except OidcUnavailable as exc:
        need(str(exc))
        raise  # unreachable: need() raises
    try:
        yield provider
    finally:
        provider.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--token-max-age", type=int, default=3600)
    args = parser.parse_args(argv)
    serve(args.port, args.token_max_age)


if __name__ == "__main__":
    main()
