"""HTTP plumbing shared by the emulators: exact JSON responses, dropped connections, hangs.

Two faults need more than a status code:

- a connection reset: ``AbortResponse`` finds the request's asyncio transport (captured from
  uvicorn's ``send`` callable by ``capture_transport``), sets ``SO_LINGER`` to zero and aborts
  it, so the client gets a TCP RST and no response at all (httpx raises ``ReadError`` or
  ``RemoteProtocolError``, never a 500);
- a timeout: ``HangResponse`` holds the request without answering, far beyond any client read
  timeout, then drops it the same way (or as soon as the servers stop).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import socket
import struct
import threading
import time
from typing import Any
from urllib.parse import urlsplit

import httpx
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = [
    "AbortResponse",
    "EmulatorError",
    "FetchError",
    "HangResponse",
    "TrickleResponse",
    "base_url_of",
    "capture_transport",
    "fetch_local",
    "gateway_page",
    "json_response",
    "pause",
    "truncated",
]

TRANSPORT_KEY = "emulator.transport"


class EmulatorError(Exception):
    """A vendor error; each vendor's ``errors.py`` renders it in that vendor's envelope."""

    def render(self, call: Any) -> Response:  # pragma: no cover - abstract
        raise NotImplementedError


def json_response(
    payload: Any, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    """JSON with ``Content-Type: application/json`` exactly
    (no charset: docs/vendors/tencent-aiart.md#errors-at-http-200)."""
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return Response(body, status_code=status, headers=headers, media_type="application/json")


def truncated(response: Response) -> Response:
    """The same answer cut in half: HTTP 200 and a JSON content type, but unparseable JSON."""
    body = bytes(response.body)
    cut = body[: max(1, len(body) // 2)]
    return Response(cut, status_code=response.status_code, media_type="application/json")


def gateway_page(status: int = 502) -> Response:
    """What a front proxy answers when the service behind it is down: HTML, not the API's JSON."""
    reason = {502: "Bad Gateway", 503: "Service Temporarily Unavailable", 504: "Gateway Time-out"}
    text = reason.get(status, "Bad Gateway")
    html = (
        f"<html>\r\n<head><title>{status} {text}</title></head>\r\n<body>\r\n"
        f"<center><h1>{status} {text}</h1></center>\r\n<hr><center>nginx</center>\r\n"
        "</body>\r\n</html>\r\n"
    )
    return Response(html, status_code=status, media_type="text/html")


async def pause(seconds: float, stop: threading.Event | None = None) -> None:
    """Sleep ``seconds`` of real time, waking early when the servers are stopping."""
    deadline = time.monotonic() + max(0.0, seconds)
    while True:
        left = deadline - time.monotonic()
        if left <= 0 or (stop is not None and stop.is_set()):
            return
        await asyncio.sleep(min(left, 0.05))


def capture_transport(app: ASGIApp) -> ASGIApp:
    """Wrap an ASGI app so handlers can reach the connection's transport (to abort it).

    uvicorn hands the app its ``RequestResponseCycle.send`` bound method; the cycle owns the
    asyncio transport. Middleware wraps ``send`` further in, so it is captured out here.
    """

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        transport = getattr(getattr(send, "__self__", None), "transport", None)
        if transport is not None:
            scope[TRANSPORT_KEY] = transport
        await app(scope, receive, send)

    return wrapped


async def _abort(scope: Scope) -> None:
    transport = scope.get(TRANSPORT_KEY)
    if transport is None:
        # In-process (httpx.ASGITransport) there is no socket to reset: fail loudly instead.
        raise ConnectionResetError("emulator: connection reset by peer")
    sock = transport.get_extra_info("socket")
    if sock is not None:
        # Linger 0: close() sends RST instead of FIN, like a crashed peer.
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()
    # Let connection_lost run, so uvicorn knows there is nobody left to send a 500 to.
    for _ in range(3):
        await asyncio.sleep(0)


class AbortResponse(Response):
    """Drop the TCP connection without sending anything."""

    def __init__(self) -> None:
        super().__init__(b"")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await _abort(scope)


class HangResponse(Response):
    """Send nothing for ``seconds`` (or until the servers stop), then drop the connection."""

    def __init__(self, seconds: float, stop: threading.Event | None) -> None:
        super().__init__(b"")
        self.seconds = seconds
        self.stop = stop

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await pause(self.seconds, self.stop)
        await _abort(scope)


class TrickleResponse(Response):
    """Send the body at ``rate`` bytes a second, in ten chunks a second (a dying link).

    ``Content-Length`` is the whole size, so only a total deadline on the client's side ends it
    early; a per-read timeout never trips. Stops when the servers stop or the client leaves.
    """

    def __init__(
        self,
        content: bytes,
        *,
        rate: float,
        stop: threading.Event | None,
        media_type: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(content, media_type=media_type, headers=headers)
        self.rate = max(1.0, float(rate))
        self.stop = stop

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )
        body = bytes(self.body)
        if not body:
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            return
        step = max(1, int(self.rate / 10))
        for start in range(0, len(body), step):
            if self.stop is not None and self.stop.is_set():
                break
            try:
                await send(
                    {
                        "type": "http.response.body",
                        "body": body[start : start + step],
                        "more_body": start + step < len(body),
                    }
                )
            except OSError:
                return
            if start + step < len(body):
                await pause(step / self.rate, self.stop)
        else:
            return
        await _abort(scope)


def base_url_of(request: Request) -> tuple[str, str]:
    """(``scheme://host[:port]``, host header) as the client addressed this server."""
    host = request.headers.get("host") or f"{request.url.hostname}:{request.url.port}"
    return f"{request.url.scheme}://{host}", host


class FetchError(Exception):
    """An input URL could not be downloaded (the vendor's ImageDownloadError and friends)."""


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return False  # the brief: only 127.0.0.1 (no DNS, even for localhost)
    try:
        return ipaddress.ip_address(host).is_loopback and ipaddress.ip_address(host).version == 4
    except ValueError:
        return False


def is_valid_url(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.hostname)


async def fetch_local(url: str, timeout: float, max_bytes: int = 64 * 1024 * 1024) -> bytes:
    """Download an input image, but only from 127.0.0.1: the emulators never leave the machine.

    Raises:
        FetchError: not a 127.0.0.1 http(s) URL, a network error, a non-200 answer, or too big.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not _is_loopback(parts.hostname or ""):
        raise FetchError(f"the emulator only downloads from 127.0.0.1, not {parts.hostname!r}")
    try:
        async with (
            httpx.AsyncClient(timeout=timeout, follow_redirects=False, trust_env=False) as client,
            client.stream("GET", url) as response,
        ):
            if response.status_code != 200:
                raise FetchError(f"GET {url} answered HTTP {response.status_code}")
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > max_bytes:
                    raise FetchError(f"GET {url} is larger than {max_bytes} bytes")
                chunks.append(chunk)
            return b"".join(chunks)
    except httpx.HTTPError as exc:
        raise FetchError(f"GET {url} failed: {exc.__class__.__name__}") from exc
