"""uvicorn in a daemon thread, on a socket bound before the thread starts.

Binding first means the port is known (and free) before anything runs, which is what lets
``run_emulators`` hand out base URLs on free ports; the ready event is set only once uvicorn
has started serving, so the first request never races the server.
"""

from __future__ import annotations

import asyncio
import socket
import threading

import uvicorn
from starlette.types import ASGIApp

__all__ = ["ServerThread"]


class ServerThread:
    """One uvicorn server on ``host:port`` (0: a free port), run in its own event loop."""

    def __init__(
        self, app: ASGIApp, host: str = "127.0.0.1", port: int = 0, name: str = ""
    ) -> None:
        self.host = host
        # IPPROTO_TCP explicitly: asyncio only sets TCP_NODELAY on accepted connections when the
        # listening socket says it is TCP; without it every answer waits ~40 ms on Nagle.
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self._sock.bind((host, port))
        except OSError:
            self._sock.close()
            raise
        self.port: int = self._sock.getsockname()[1]
        config = uvicorn.Config(
            app,
            log_config=None,  # leave the host application's logging alone
            log_level="warning",
            access_log=False,
            lifespan="off",
            http="h11",
            ws="none",
            timeout_keep_alive=15,  # above the clients' 4 s pool expiry
            timeout_graceful_shutdown=2,
        )
        self._server = uvicorn.Server(config)
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(
            target=self._run, name=f"emulator-{name or self.port}", daemon=True
        )

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # surfaced by start()
            self._error = exc
        finally:
            self._ready.set()

    async def _serve(self) -> None:
        task = asyncio.create_task(self._server.serve(sockets=[self._sock]))
        while not self._server.started and not task.done():
            await asyncio.sleep(0.005)
        self._ready.set()
        await task

    def start(self, timeout: float = 15.0) -> None:
        """Start serving; returns once requests are accepted.

        Raises:
            RuntimeError: the server failed or did not start within ``timeout`` seconds.
        """
        self._thread.start()
        if not self._ready.wait(timeout) or self._error is not None or not self._server.started:
            self.stop()
            raise RuntimeError(f"emulator server on {self.base_url} did not start: {self._error!r}")

    def request_stop(self) -> None:
        """Ask uvicorn to exit, without waiting (``stop`` waits)."""
        self._server.should_exit = True

    def stop(self, timeout: float = 10.0) -> None:
        """Ask uvicorn to exit and wait for the thread (hanging requests are cut after 2 s)."""
        self.request_stop()
        if self._thread.is_alive():
            self._thread.join(timeout)
        self._sock.close()
