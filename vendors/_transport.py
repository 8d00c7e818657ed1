"""The default httpx transport of every vendor client: httpx's own, with a cheaper idle check.

Before each request enters httpcore's pool and after each answer leaves it, the pool asks every
idle keep-alive connection whether the server closed it (``get_extra_info("is_readable")``).
Over anyio that means looking the raw socket up through ``extra()``, which builds a dict of all
the socket's attributes (and calls ``getpeername``) each time: with the ~10 idle connections a
poller of 1,000 jobs keeps, that was about a fifth of its CPU (cProfile, issue 10 figure 7).

:class:`_CachedSocketStream` looks the socket up once per connection and then runs the same
check httpcore runs (``poll`` of the descriptor, no read): what is decided is unchanged, a
closed socket still reads as "server disconnected". Everything else is passed through as is.

httpx has no public way to give its transport a network backend, so the pool's
``_network_backend`` is wrapped in place; if a future httpx lays its transport out otherwise,
the transport is returned unchanged (slower, never wrong).
"""

from __future__ import annotations

import select
import socket
import ssl
import sys
from collections.abc import Iterable
from typing import Any

import httpcore
import httpx

__all__ = ["pooled_transport", "socket_readable"]

_UNKNOWN: Any = object()


def socket_readable(sock: socket.socket | None) -> bool:
    """Whether ``sock`` has something to read now (for an idle connection: the server's EOF).

    httpcore's own rule: no socket, or a closed one, counts as readable, i.e. disconnected.
    """
    fd = None if sock is None else sock.fileno()
    if fd is None or fd < 0:
        return True
    if sys.platform == "win32" or getattr(select, "poll", None) is None:  # pragma: no cover
        ready, _, _ = select.select([fd], [], [], 0)
        return bool(ready)
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(0))


class _CachedSocketStream(httpcore.AsyncNetworkStream):
    """A network stream that finds its raw socket once, for the pool's idle checks."""

    __slots__ = ("_inner", "_socket")

    def __init__(self, inner: httpcore.AsyncNetworkStream) -> None:
        self._inner = inner
        self._socket: Any = _UNKNOWN

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await self._inner.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        await self._inner.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        upgraded = await self._inner.start_tls(ssl_context, server_hostname, timeout)
        return _CachedSocketStream(upgraded)

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":
            if self._socket is _UNKNOWN:
                self._socket = self._inner.get_extra_info("socket")
            return socket_readable(self._socket)
        return self._inner.get_extra_info(info)


class _CachedSocketBackend(httpcore.AsyncNetworkBackend):
    """Wraps another backend (httpcore's auto-detected one) so its streams are cached-socket."""

    def __init__(self, inner: httpcore.AsyncNetworkBackend) -> None:
        self._inner = inner

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        stream = await self._inner.connect_tcp(
            host, port, timeout=timeout, local_address=local_address, socket_options=socket_options
        )
        return _CachedSocketStream(stream)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        stream = await self._inner.connect_unix_socket(
            path, timeout=timeout, socket_options=socket_options
        )
        return _CachedSocketStream(stream)

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def pooled_transport(*, verify: ssl.SSLContext, limits: httpx.Limits) -> httpx.AsyncHTTPTransport:
    """What ``httpx.AsyncClient(verify=verify, limits=limits)`` would build, idle check cached."""
    transport = httpx.AsyncHTTPTransport(verify=verify, limits=limits)
    pool = getattr(transport, "_pool", None)
    backend = getattr(pool, "_network_backend", None)
    if isinstance(pool, httpcore.AsyncConnectionPool) and isinstance(
        backend, httpcore.AsyncNetworkBackend
    ):
        pool._network_backend = _CachedSocketBackend(backend)
    return transport
