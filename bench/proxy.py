"""A counting reverse proxy on loopback: how many requests the pack makes, and to what.

Put in front of the Prefect API or SeaweedFS, it forwards every request unchanged (the ``Host``
header too, so S3 signatures made for the proxy's address still verify) and counts it by method
and path shape. WebSockets (Prefect's event stream) are passed through and counted apart: the
issue's per-item budget excludes task-run events.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
import threading
from collections import Counter
from collections.abc import Callable, Iterator

import httpx
import uvicorn
import websockets

__all__ = ["CountingProxy", "run_proxy"]

_HOP = {b"connection", b"keep-alive", b"transfer-encoding", b"upgrade", b"expect"}
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def prefect_shape(path: str) -> str:
    """``/api/flow_runs/<uuid>/set_state`` -> ``/api/flow_runs/{id}/set_state``."""
    return _UUID.sub("{id}", path)


RUN_OBJECTS = ("/manifests/",)
"""Key parts of objects written once per run, not per item (the batch's results manifest)."""


def s3_shape(path: str) -> str:
    """``/bucket/a/b/c.png`` -> ``/bucket/*`` (objects), ``/bucket`` (the bucket itself);
    objects written once per run (``RUN_OBJECTS``) -> ``/bucket/<per run>``."""
    parts = path.strip("/").split("/", 1)
    if len(parts) == 1:
        return f"/{parts[0]}"
    if any(part in path for part in RUN_OBJECTS):
        return f"/{parts[0]}/<per run>"
    return f"/{parts[0]}/*"


class CountingProxy:
    """An ASGI app forwarding to ``upstream`` and counting requests as ``(method, shape)``."""

    def __init__(self, upstream: str, shape: Callable[[str], str] = prefect_shape) -> None:
        self.upstream = upstream.rstrip("/")
        self.shape = shape
        self.requests: Counter[tuple[str, str]] = Counter()
        self.websockets = 0
        self._lock = threading.Lock()
        self._client: httpx.AsyncClient | None = None

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self.websockets = 0

    def total(self) -> int:
        with self._lock:
            return sum(self.requests.values())

    def breakdown(self) -> list[tuple[str, int]]:
        with self._lock:
            return [(f"{m} {p}", n) for (m, p), n in self.requests.most_common()]

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "websocket":
            await self._websocket(scope, receive, send)

    def _target(self, scope, base: str) -> str:
        query = scope.get("query_string") or b""
        raw = scope.get("raw_path") or scope["path"].encode()
        return base + raw.decode("latin-1") + (f"?{query.decode('latin-1')}" if query else "")

    async def _http(self, scope, receive, send) -> None:
        with self._lock:
            self.requests[(scope["method"], self.shape(scope["path"]))] += 1
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        if self._client is None:  # created on the server's own event loop
            self._client = httpx.AsyncClient(timeout=120, limits=httpx.Limits(max_connections=64))
        headers = [
            (k, v) for k, v in scope["headers"] if k.lower() not in _HOP | {b"content-length"}
        ]
        request = self._client.build_request(
            scope["method"], self._target(scope, self.upstream), headers=headers,
            content=b"".join(chunks),
        )  # fmt: skip
        try:
            response = await self._client.send(request, stream=True)
        except httpx.HTTPError as exc:
            await send({"type": "http.response.start", "status": 502, "headers": []})
            await send({"type": "http.response.body", "body": str(exc).encode()})
            return
        try:
            body = b"".join([chunk async for chunk in response.aiter_raw()])
        finally:
            await response.aclose()
        out = [(k, v) for k, v in response.headers.raw if k.lower() not in _HOP]
        await send({"type": "http.response.start", "status": response.status_code, "headers": out})
        await send({"type": "http.response.body", "body": body})

    async def _websocket(self, scope, receive, send) -> None:
        with self._lock:
            self.websockets += 1
        await receive()  # websocket.connect
        url = self._target(scope, "ws" + self.upstream.removeprefix("http"))
        try:
            upstream = await websockets.connect(url, subprotocols=scope.get("subprotocols") or None)
        except Exception:
            await send({"type": "websocket.close", "code": 1011})
            return
        async with upstream:
            await send({"type": "websocket.accept", "subprotocol": upstream.subprotocol})

            async def inbound() -> None:
                while True:
                    message = await receive()
                    if message["type"] == "websocket.disconnect":
                        return
                    data = message.get("text")
                    await upstream.send(data if data is not None else message.get("bytes", b""))

            async def outbound() -> None:
                async for data in upstream:
                    key = "text" if isinstance(data, str) else "bytes"
                    await send({"type": "websocket.send", key: data})
                await send({"type": "websocket.close", "code": 1000})

            tasks = [asyncio.ensure_future(inbound()), asyncio.ensure_future(outbound())]
            _, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)


@contextlib.contextmanager
def run_proxy(proxy: CountingProxy, timeout: float = 15.0) -> Iterator[str]:
    """Serve ``proxy`` on a free 127.0.0.1 port in a daemon thread; yields its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        proxy, log_config=None, log_level="warning", access_log=False, lifespan="off",
        ws="websockets-sansio", timeout_keep_alive=30, timeout_graceful_shutdown=2,
    )  # fmt: skip
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=lambda: asyncio.run(server.serve(sockets=[sock])), name="bench-proxy", daemon=True
    )
    thread.start()
    try:
        for _ in range(int(timeout / 0.01)):
            if server.started or not thread.is_alive():
                break
            threading.Event().wait(0.01)
        if not server.started:
            raise RuntimeError("the counting proxy did not start")
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout)
        sock.close()
