"""The default transport (vendors/_transport.py) over real loopback sockets: keep-alive reuse,
and an idle connection the server closed is noticed before it is reused."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import httpcore
import pytest

from prefect_image_edit.vendors import AILabToolsClient, TaskState
from prefect_image_edit.vendors._transport import _CachedSocketBackend, socket_readable

from .conftest import AILAB_KEY

pytestmark = pytest.mark.anyio

QUEUED = json.dumps({"error_code": 0, "request_id": "r", "task_status": 0}).encode()


@dataclass
class Server:
    """A minimal HTTP/1.1 server: answers every GET "queued", keeps the connection open unless
    ``close_after_answer`` (then it closes it after the answer, as a keep-alive timeout would,
    without saying so in a header)."""

    close_after_answer: bool = False
    connections: int = 0
    closed: asyncio.Event = field(default_factory=asyncio.Event)
    port: int = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while await reader.readuntil(b"\r\n\r\n"):
                head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                writer.write(f"{head}{len(QUEUED)}\r\n\r\n".encode() + QUEUED)
                await writer.drain()
                if self.close_after_answer:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()
            self.closed.set()


@asynccontextmanager
async def serve(server: Server) -> AsyncIterator[Server]:
    listener = await asyncio.start_server(server.handle, "127.0.0.1", 0)
    server.port = listener.sockets[0].getsockname()[1]
    try:
        yield server
    finally:
        listener.close()
        await asyncio.wait_for(listener.wait_closed(), 10)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def test_default_client_pool_uses_the_cached_socket_backend():
    client = AILabToolsClient(AILAB_KEY)
    pool = client._http._transport._pool
    assert isinstance(pool, httpcore.AsyncConnectionPool)
    assert isinstance(pool._network_backend, _CachedSocketBackend)


async def test_polls_reuse_one_kept_alive_connection():
    async with (
        serve(Server()) as server,
        AILabToolsClient(AILAB_KEY, base_url=f"http://127.0.0.1:{server.port}") as client,
    ):
        for i in range(5):
            assert (await client.query_async_task(f"t{i}")).state is TaskState.QUEUED
    assert server.connections == 1


async def test_a_connection_the_server_closed_is_not_reused():
    async with (
        serve(Server(close_after_answer=True)) as server,
        AILabToolsClient(AILAB_KEY, base_url=f"http://127.0.0.1:{server.port}") as client,
    ):
        for i in range(3):
            server.closed.clear()
            assert (await client.query_async_task(f"t{i}")).state is TaskState.QUEUED
            await asyncio.wait_for(server.closed.wait(), 10)
            # The EOF may still be in flight on loopback: wait until the socket shows it.
            for _ in range(1000):
                pool = client._http._transport._pool
                streams = [c._connection._network_stream for c in pool.connections]  # type: ignore[union-attr]
                if all(stream.get_extra_info("is_readable") for stream in streams):
                    break
                await asyncio.sleep(0.001)
    assert server.connections == 3  # each poll found the old connection closed and opened anew


def test_socket_readable_follows_httpcores_rule():
    left, right = socket.socketpair()
    try:
        assert not socket_readable(left)
        right.sendall(b"x")
        assert socket_readable(left)
    finally:
        left.close()
        right.close()
    assert socket_readable(left)  # closed: treated as disconnected
    assert socket_readable(None)
