"""wait_until_answering: a spawner returns once its new server accepts connections."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator

import pytest

from spawner.tenancy import TenantSpawnerMixin


class Waiting(TenantSpawnerMixin):
    start_timeout = 5


def unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Listener:
    def __init__(self) -> None:
        self.connections = 0
        self.server: asyncio.Server | None = None

    async def start(self, port: int = 0) -> int:
        listener = self

        class Count(asyncio.Protocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                listener.connections += 1
                transport.close()

        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(Count, "127.0.0.1", port)
        return int(self.server.sockets[0].getsockname()[1])


@pytest.fixture
async def listener() -> AsyncIterator[Listener]:
    listening = Listener()
    yield listening
    if listening.server is not None:
        listening.server.close()
        await listening.server.wait_closed()


async def test_returns_at_once_when_the_server_listens(listener: Listener) -> None:
    port = await listener.start()
    started = time.monotonic()
    await Waiting().wait_until_answering(f"http://127.0.0.1:{port}")
    await Waiting().wait_until_answering(("127.0.0.1", port))  # (ip, port) from old spawners
    await Waiting().wait_until_answering(f"http://localhost:{port}/user/x/")  # a host name
    assert time.monotonic() - started < 1
    await asyncio.sleep(0.05)
    assert listener.connections == 3


async def test_polls_until_the_server_starts_listening(listener: Listener) -> None:
    port = unused_port()

    async def listen_later() -> None:
        await asyncio.sleep(0.35)
        await listener.start(port)

    started = time.monotonic()
    later = asyncio.create_task(listen_later())
    await Waiting().wait_until_answering(f"http://127.0.0.1:{port}", interval=0.05)
    await later
    assert 0.3 < time.monotonic() - started < 2
    await asyncio.sleep(0.05)
    assert listener.connections >= 1


@pytest.mark.parametrize("host", ["127.0.0.1", "no-such-host.invalid"])
async def test_gives_up_after_start_timeout_without_raising(host: str) -> None:
    spawner = Waiting()
    spawner.start_timeout = 0.3
    started = time.monotonic()
    await spawner.wait_until_answering(f"http://{host}:{unused_port()}", interval=0.05)
    assert 0.25 < time.monotonic() - started < 3
