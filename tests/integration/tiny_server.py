"""A trivial long-running single-user server for tests where the hub is the subject.

The local backend runs it in place of ``jupyterhub-singleuser`` (``backend.local.cmd``):
it listens where JupyterHub told it to (``JUPYTERHUB_SERVICE_URL``) and answers 200
with the hub's version header to every request, which is all JupyterHub's readiness
check needs. It starts in a fraction of the time of a Jupyter server, so a test can
start many servers through the real spawner (admission, quota, launch, readiness).
"""

from __future__ import annotations

import contextlib
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from jupyterhub._version import __version__


class Always200(BaseHTTPRequestHandler):
    def _answer(self) -> None:
        body = b"{}"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-JupyterHub-Version", __version__)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_HEAD = _answer

    def log_message(self, format: str, *args: object) -> None:
        pass


def main() -> None:
    url = urlsplit(os.environ["JUPYTERHUB_SERVICE_URL"])
    server = ThreadingHTTPServer((url.hostname or "127.0.0.1", int(url.port or 80)), Always200)
    with contextlib.suppress(KeyboardInterrupt):  # the local spawner stops with SIGINT first
        server.serve_forever()


if __name__ == "__main__":
    main()
