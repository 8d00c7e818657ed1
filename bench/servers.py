"""Subprocesses the bench owns: a real ``prefect server start``, and helpers to stop any child.

Every process is started in its own session (process group), so stopping it also stops what it
spawned (uvicorn workers, an ephemeral Prefect server); every wait is bounded.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from prefect_image_edit.testing import free_port

__all__ = ["PrefectServer", "base_environment", "run_prefect_server", "stop_process"]

SERVER_STARTUP_TIMEOUT_S = 180.0
LEASE_STORAGE = "prefect.server.concurrency.lease_storage.filesystem"


def base_environment() -> dict[str, str]:
    """This process's environment without any Prefect target, telemetry off."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_API_", "AWS_"))}
    env.pop("PREFECT_PROFILE", None)
    env.update(DO_NOT_TRACK="1", PREFECT_SERVER_ANALYTICS_ENABLED="false")
    return env


def stop_process(process: subprocess.Popen, timeout: float = 15.0) -> None:
    """SIGTERM the process group, then SIGKILL it if it has not exited within ``timeout``."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


@dataclass(frozen=True)
class PrefectServer:
    url: str  # http://127.0.0.1:PORT
    pid: int

    @property
    def api_url(self) -> str:
        return f"{self.url}/api"


def _prefect_command() -> list[str]:
    script = Path(sys.executable).with_name("prefect")
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-m", "prefect"]


@contextlib.contextmanager
def run_prefect_server() -> Iterator[PrefectServer]:
    """``prefect server start`` on a free loopback port, its own PREFECT_HOME and SQLite file,
    with the file-system lease storage (a restart leaks no concurrency slot)."""
    home = Path(tempfile.mkdtemp(prefix="pie-bench-server-"))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = base_environment()
    env.update(
        PREFECT_HOME=str(home),
        PREFECT_UI_API_URL=f"{url}/api",
        PREFECT_UI_ENABLED="false",  # nobody looks at it; spares the UI build at start
        PREFECT_SERVER_CONCURRENCY_LEASE_STORAGE=LEASE_STORAGE,
        PREFECT_LOGGING_LEVEL="WARNING",
    )
    log = (home / "server.log").open("wb")
    process = subprocess.Popen(
        [*_prefect_command(), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        _wait_healthy(url, process, home / "server.log")
        yield PrefectServer(url=url, pid=process.pid)
    finally:
        stop_process(process)
        log.close()
        shutil.rmtree(home, ignore_errors=True)


def _wait_healthy(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + SERVER_STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"prefect server exited with {process.returncode}:\n{tail}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/api/health", timeout=2).status_code == 200:
                return
        time.sleep(0.25)
    raise RuntimeError(f"prefect server did not answer in {SERVER_STARTUP_TIMEOUT_S} s")
