"""A real S3 API server for the tests: moto's server (PyPI ``moto[server]``) on loopback.

It runs in the test process (``ThreadedMotoServer``: the same server as
``moto_server``, in a thread) so that large fixtures can be written straight into
its backend: 100 000 keys take seconds instead of 100 000 PUTs. Clients talk to it
over HTTP only. Request signing is enforced (moto's IAM check) once the
fixture has made its users: ``reader`` may do anything on S3, ``nobody`` nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from tests.ports import free_port


class S3Unavailable(RuntimeError):
    pass


@dataclass(frozen=True)
class Credentials:
    access_key: str
    secret_key: str


@dataclass
class S3Server:
    server: Any
    port: int
    reader: Credentials
    nobody: Credentials

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def backend(self) -> Any:
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.s3.models import s3_backends

        return s3_backends[DEFAULT_ACCOUNT_ID]["aws"]

    def create_bucket(self, name: str) -> None:
        self.backend().create_bucket(name, "us-east-1")

    def put(self, bucket: str, key: str, body: bytes) -> None:
        """Write an object straight into the server's store (no HTTP round trip)."""
        self.backend().put_object(bucket, key, body)

    def stop(self) -> None:
        from moto import settings

        settings.INITIAL_NO_AUTH_ACTION_COUNT = float("inf")
        self.server.stop()


def start_s3() -> S3Server:
    try:
        from moto import settings
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.iam.models import iam_backends
        from moto.server import ThreadedMotoServer
    except ImportError as exc:
        raise S3Unavailable(
            f"moto's server is not installed ({exc}); `make install` installs moto[server]"
        ) from exc
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    iam = iam_backends[DEFAULT_ACCOUNT_ID]["global"]
    users = {}
    for name in ("reader", "nobody"):
        # moto's backends live in the process: names unique per server, so two starts never clash
        user = f"{name}-{port}"
        iam.create_user("us-east-1", user)
        key = iam.create_access_key(user)
        users[name] = Credentials(key.access_key_id, key.secret_access_key)
    iam.put_user_policy(
        f"reader-{port}",
        "s3",
        json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
            }
        ),
    )
    settings.INITIAL_NO_AUTH_ACTION_COUNT = 0  # from now on every request is authenticated
    return S3Server(server, port, users["reader"], users["nobody"])
