"""Several "machines" sharing one Prefect server, one state, one bucket and the emulators.

The set-up a team runs (issue 8), on 127.0.0.1:

- one PostgreSQL (``testing.PostgresServer``) holding two databases: ``prefect`` for the
  Prefect server (with ``pg_trgm``, which its migrations need) and the pack's state (a fresh
  database per test, so each test counts only its own records);
- one real ``prefect server start`` on it, with the filesystem lease storage, on a fixed port
  so that it can be restarted under the machines' feet (``PrefectServer.restart()``);
- the emulators (Tencent at 0.3 s latency), SeaweedFS with one bucket, and the saved blocks
  (Tencent credentials for the emulator, an S3 archive for the bucket) on that server;
- each machine a subprocess (``Machine``) with its own ``PREFECT_HOME`` and
  ``PREFECT_IMAGE_EDIT_HOME``, running ``batch-erase`` and printing a JSON summary.

Every server is stopped at the end of the session; every machine is killed at the end of its
test. Findings (billed vs unique inputs...) are collected by ``cluster_report`` and printed in
the terminal summary (and written to ``$PIE_CLUSTER_RESULTS`` when that is set).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image, ImageDraw

from prefect_image_edit.testing import PostgresServer, free_port

BUCKET = "cluster-archive"
TENCENT_LATENCY_S = 0.3
TENCENT_LIMIT = "image-edit:tencent-aiart"
"""The Prefect global concurrency limit the pack takes around each Tencent call."""
SERVER_START_TIMEOUT_S = 120.0
MACHINE_TIMEOUT_S = 150.0
SUMMARY_MARK = "CLUSTER-SUMMARY "
MACHINE_SCRIPT = Path(__file__).with_name("machine_main.py")

# Settings a machine must not inherit from the test process: each gets its own.
_PRIVATE_ENV = (
    "PREFECT_HOME",
    "PREFECT_API_URL",
    "PREFECT_API_KEY",
    "PREFECT_IMAGE_EDIT_HOME",
    "PREFECT_IMAGE_EDIT_STATE_URL",
    "PREFECT_IMAGE_EDIT_ARCHIVE_DIR",
    "PREFECT_API_DATABASE_CONNECTION_URL",
    "PREFECT_SERVER_CONCURRENCY_LEASE_STORAGE",
)


def _base_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _PRIVATE_ENV}
    env.update(
        {
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "DO_NOT_TRACK": "1",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def _run_async(coro) -> Any:
    """Run ``coro`` on a loop of its own thread (callers may be inside an event loop)."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def wait_for(condition: Callable[[], Any], timeout: float, what: str, interval: float = 0.1):
    """Poll ``condition`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


# -- PostgreSQL ------------------------------------------------------------------------------


def create_extension(server: PostgresServer, database: str, extension: str) -> None:
    import asyncpg

    async def create() -> None:
        conn = await asyncpg.connect(server.url_for(database), timeout=10)
        try:
            await conn.execute(f"CREATE EXTENSION IF NOT EXISTS {extension}")
        finally:
            await conn.close()

    _run_async(create())


def fresh_state_url(server: PostgresServer) -> str:
    """A new, empty database for the pack's state on ``server`` (with its password)."""
    return server.create_database(f"image_edit_{uuid.uuid4().hex[:10]}")


def state_records(url: str) -> list[dict[str, Any]]:
    """Every record of the PostgreSQL state at ``url`` (none if its table is not created yet)."""
    import asyncpg

    from prefect_image_edit.state.postgres import TABLE

    async def read() -> list[dict[str, Any]]:
        conn = await asyncpg.connect(url, timeout=10)
        try:
            rows = await conn.fetch(f"SELECT record::text FROM {TABLE}")
        except asyncpg.UndefinedTableError:
            return []
        finally:
            await conn.close()
        return [json.loads(row[0]) for row in rows]

    return _run_async(read())


# -- the Prefect server ----------------------------------------------------------------------


class PrefectServer:
    """``prefect server start`` on PostgreSQL, a fixed loopback port and its own home."""

    def __init__(self, database_url: str) -> None:
        self.workdir = Path(tempfile.mkdtemp(prefix="pie-cluster-prefect-"))
        self.port = free_port()
        self.api_url = f"http://127.0.0.1:{self.port}/api"
        self.database_url = database_url
        self.process: subprocess.Popen | None = None
        self.log_path = self.workdir / "server.log"
        self.restarts = 0

    def env(self) -> dict[str, str]:
        env = _base_env()
        env.update(
            {
                "PREFECT_HOME": str(self.workdir / "home"),
                "PREFECT_API_DATABASE_CONNECTION_URL": self.database_url,
                # Leases survive a restart (the default in-memory storage leaks held slots).
                "PREFECT_SERVER_CONCURRENCY_LEASE_STORAGE": (
                    "prefect.server.concurrency.lease_storage.filesystem"
                ),
                "PREFECT_UI_API_URL": self.api_url,
                # No UI build: saves seconds of start-up on a 2-core machine; the API is the same.
                "PREFECT_UI_ENABLED": "false",
                "PREFECT_LOGGING_LEVEL": "WARNING",
            }
        )
        return env

    def start(self) -> None:
        prefect = Path(sys.executable).with_name("prefect")
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [str(prefect), "server", "start", "--host", "127.0.0.1", "--port", str(self.port)],
            env=self.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            cwd=self.workdir,
        )
        log.close()
        self.wait_healthy()

    def healthy(self) -> bool:
        try:
            response = httpx.get(f"{self.api_url}/health", timeout=2)
        except httpx.HTTPError:
            return False
        return response.status_code == 200 and response.json() is True

    def wait_healthy(self, timeout: float = SERVER_START_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout
        while not self.healthy():
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"prefect server exited:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"prefect server not healthy in {timeout} s:\n{self.log_tail()}")
            time.sleep(0.25)

    def log_tail(self, chars: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.exists() else ""

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)

    def restart(self) -> None:
        """Stop and start again on the same port, database and home (leases included)."""
        self.restarts += 1
        self.stop()
        self.start()

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)

    # -- global concurrency limits, through the REST API the `prefect gcl` commands use ------

    def limit(self, name: str) -> dict[str, Any] | None:
        response = httpx.get(f"{self.api_url}/v2/concurrency_limits/{name}", timeout=10)
        if response.status_code == 404:
            return None
        response.raise_for_status()
        return response.json()

    def active_slots(self, name: str) -> int:
        limit = self.limit(name)
        return 0 if limit is None else int(limit["active_slots"])

    def create_limit(self, name: str, size: int) -> None:
        if self.limit(name) is None:
            response = httpx.post(
                f"{self.api_url}/v2/concurrency_limits/",
                json={"name": name, "limit": size},
                timeout=10,
            )
            response.raise_for_status()

    def leases(self, name: str) -> list[str]:
        """Ids of the leases held on limit ``name`` (read from the filesystem lease storage)."""
        limit = self.limit(name)
        if limit is None:
            return []
        ids = []
        for path in (self.workdir / "home" / "concurrency_leases").glob("*.json"):
            with contextlib.suppress(OSError, ValueError):
                lease = json.loads(path.read_text())
                if isinstance(lease, dict) and limit["id"] in lease.get("resource_ids", []):
                    ids.append(path.stem)
        return ids

    def release_leases(self, name: str) -> int:
        """Give back the slots of every lease on ``name`` (as their holder would on exit).

        For a holder known to be dead, instead of waiting for its lease to run out and the
        server's repossessor loop to notice. Returns how many leases were released.
        """
        leases = self.leases(name)
        for lease_id in leases:
            response = httpx.post(
                f"{self.api_url}/v2/concurrency_limits/decrement-with-lease",
                json={"lease_id": lease_id},
                timeout=10,
            )
            response.raise_for_status()
        return len(leases)

    def set_active_slots(self, name: str, slots: int) -> None:
        """What ``prefect gcl update NAME --active-slots N`` does."""
        response = httpx.patch(
            f"{self.api_url}/v2/concurrency_limits/{name}",
            json={"active_slots": slots},
            timeout=10,
        )
        response.raise_for_status()


# -- machines --------------------------------------------------------------------------------


@dataclass
class MachineRun:
    """One ``batch-erase`` run on a machine: the process, then its summary once finished."""

    machine: Machine
    process: subprocess.Popen
    started: float = field(default_factory=time.monotonic)
    stdout: str = ""
    stderr: str = ""
    elapsed: float | None = None
    """Seconds from start to exit (process start-up and Prefect import included)."""

    def wait(self, timeout: float = MACHINE_TIMEOUT_S) -> dict[str, Any]:
        """The JSON summary the machine printed (fails the test if it printed none)."""
        try:
            self.stdout, self.stderr = self.process.communicate(timeout=timeout)
            self.elapsed = time.monotonic() - self.started
        except subprocess.TimeoutExpired:
            self.kill()
            self.stdout, self.stderr = self.process.communicate(timeout=10)
            raise AssertionError(
                f"machine {self.machine.name} still running after {timeout} s:\n"
                f"{self.stderr[-3000:]}"
            ) from None
        for line in reversed(self.stdout.splitlines()):
            if line.startswith(SUMMARY_MARK):
                summary = json.loads(line[len(SUMMARY_MARK) :])
                summary["elapsed_s"] = round(self.elapsed, 1)
                print(f"{self.machine.name}: {summary}")
                return summary
        raise AssertionError(
            f"machine {self.machine.name} printed no summary (exit {self.process.returncode}):\n"
            f"{self.stdout[-2000:]}\n{self.stderr[-3000:]}"
        )

    def kill(self) -> None:
        """SIGKILL the machine's whole process group: no clean-up runs, as in a crash."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=10)


@dataclass
class Machine:
    """A worker host: its own Prefect and pack homes, the shared API, one state URL (or none).

    Args:
        name: For messages.
        root: Its private directory (homes live under it).
        api_url: The shared Prefect server's API.
        state_url: ``PREFECT_IMAGE_EDIT_STATE_URL``; None keeps the embedded backend.
        extra_env: More environment (e.g. vendor credentials).
    """

    name: str
    root: Path
    api_url: str
    state_url: str | None = None
    extra_env: dict[str, str] = field(default_factory=dict)
    runs: list[MachineRun] = field(default_factory=list)

    def env(self) -> dict[str, str]:
        env = _base_env()
        env.update(
            {
                "PREFECT_HOME": str(self.root / "prefect-home"),
                "PREFECT_IMAGE_EDIT_HOME": str(self.root / "image-edit-home"),
                "PREFECT_API_URL": self.api_url,
                "PREFECT_LOGGING_LEVEL": "WARNING",
            }
        )
        if self.state_url:
            env["PREFECT_IMAGE_EDIT_STATE_URL"] = self.state_url
        env.update(self.extra_env)
        return env

    def popen(self, args: list[str], stdin: int = subprocess.DEVNULL) -> subprocess.Popen:
        self.root.mkdir(parents=True, exist_ok=True)
        return subprocess.Popen(
            [sys.executable, *args],
            env=self.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=stdin,
            text=True,
            start_new_session=True,
            cwd=self.root,
        )

    def start_batch(self, images: Path, connections: dict[str, Any], **flow_kwargs: Any):
        """Start ``batch-erase`` of the folder ``images`` (masks in ``images/masks``)."""
        job = {"images": str(images), "connections": connections, **flow_kwargs}
        run = MachineRun(self, self.popen([str(MACHINE_SCRIPT), json.dumps(job)]))
        self.runs.append(run)
        return run

    def run_batch(self, images: Path, connections: dict[str, Any], **flow_kwargs: Any):
        return self.start_batch(images, connections, **flow_kwargs).wait()

    def python(self, code: str, timeout: float = 120.0) -> subprocess.CompletedProcess:
        """Run ``python -c code`` on this machine; fails the test if it exits non-zero."""
        process = self.popen(["-c", code])
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            stdout, stderr = process.communicate(timeout=10)
            raise AssertionError(f"{self.name}: timed out ({timeout} s):\n{stderr}") from None
        if process.returncode != 0:
            raise AssertionError(f"{self.name}: exit {process.returncode}:\n{stderr[-3000:]}")
        return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)

    def kill_all(self) -> None:
        for run in self.runs:
            run.kill()


@dataclass
class Cluster:
    """What the tests use: the shared servers and a factory of machines."""

    postgres: PostgresServer
    prefect: PrefectServer
    emulators: Any
    seaweedfs: Any
    connections: dict[str, Any]
    workdir: Path
    machines: list[Machine] = field(default_factory=list)
    dead_worker_probe: DeadWorkerProbe | None = None

    def machine(self, name: str | None = None, *, state_url: str | None = None) -> Machine:
        name = name or f"m{len(self.machines) + 1}"
        machine = Machine(
            name, self.workdir / f"{name}-{uuid.uuid4().hex[:6]}", self.prefect.api_url, state_url
        )
        self.machines.append(machine)
        return machine

    def fresh_state(self) -> str:
        return fresh_state_url(self.postgres)

    def billed(self) -> int:
        return self.emulators.counters.billable("tencent")

    def release_dead_slots(self) -> int:
        """Release the Tencent leases still held by machines that have all exited.

        Only while no machine runs (checked). A machine exiting within a second of its last
        call leaves its lease to expire (tasks.slots: "the process exiting does it through
        expiry"), and the next machine then waits up to 75 s for Tencent: tests that run
        machines one after another call this between them, so each measures its own case
        (``test_a_machine_that_exits_gives_its_slot_back`` checks the leak itself).

        Returns:
            How many leases were left behind.
        """
        running = [m.name for m in self.machines for run in m.runs if run.process.poll() is None]
        assert not running, f"machines still running: {running}"
        return self.prefect.release_leases(TENCENT_LIMIT)

    def kill_machines(self) -> None:
        for machine in self.machines:
            machine.kill_all()
        self.machines.clear()


class DeadWorkerProbe(threading.Thread):
    """How long a SIGKILLed worker's slot takes to come back, measured in the background.

    A holder process takes one slot of a limit of its own with the pack's lease
    (``tasks.limits.LEASE_SECONDS``) and is SIGKILLed; the thread then polls the server until
    the slot is free again (at most ``timeout`` s). Started with the session, so its minute of
    waiting overlaps the tests instead of adding to them.
    """

    def __init__(self, server: PrefectServer, machine: Machine, timeout: float = 120.0) -> None:
        from prefect_image_edit.tasks.slots import LEASE_SECONDS

        super().__init__(name="dead-worker-probe", daemon=True)
        self.server, self.machine, self.timeout = server, machine, timeout
        self.lease = LEASE_SECONDS
        self.limit = "cluster-dead-worker-probe"
        self.waited: float | None = None
        self.error: BaseException | None = None
        self.restarts = 0
        self._stop_event = threading.Event()

    def run(self) -> None:
        holder = None
        try:
            self.server.create_limit(self.limit, 1)
            self.server.set_active_slots(self.limit, 0)
            never = self.machine.root / "never"
            holder = self.machine.popen(["-c", HOLD_SLOT, self.limit, str(never), str(self.lease)])
            self._poll(lambda slots: slots == 1, 90, "the holder to take its slot")
            holder.kill()  # SIGKILL: no clean-up, the lease is all the server has
            holder.wait(timeout=10)
            killed, restarts = time.monotonic(), self.server.restarts
            self._poll(lambda slots: slots == 0, self.timeout, "the dead holder's slot")
            self.waited = time.monotonic() - killed
            self.restarts = self.server.restarts - restarts
        except BaseException as error:  # reported by result()
            self.error = error
        finally:
            if holder is not None and holder.poll() is None:
                holder.kill()
                holder.wait(timeout=10)

    def _poll(self, done: Callable[[int], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not self._stop_event.is_set():
            with contextlib.suppress(httpx.HTTPError):  # the server may be restarting
                if done(self.server.active_slots(self.limit)):
                    return
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out after {timeout} s waiting for {what}")
            time.sleep(0.5)
        raise RuntimeError("stopped")

    def result(self, timeout: float) -> float:
        """Seconds from the kill until the slot was free (fails the test if it never was)."""
        self.join(timeout)
        if self.is_alive():
            raise AssertionError(f"no answer after {timeout} s more")
        if self.error is not None:
            raise AssertionError(f"the probe failed: {self.error!r}")
        assert self.waited is not None
        return self.waited

    def stop(self) -> None:
        self._stop_event.set()
        self.join(30)


# Holds one slot of limit argv[1] until the file argv[2] exists; lease of argv[3] seconds.
HOLD_SLOT = """
import asyncio
import pathlib
import sys

from prefect.concurrency.asyncio import concurrency

name, release, lease = sys.argv[1], pathlib.Path(sys.argv[2]), float(sys.argv[3])


async def main():
    async with concurrency(
        name, occupy=1, strict=True, lease_duration=lease, raise_on_lease_renewal_failure=False
    ):
        print("HELD", flush=True)
        while not release.exists():
            await asyncio.sleep(0.1)
    print("RELEASED", flush=True)


asyncio.run(main())
"""


_SAVE_BLOCKS = """
import json
import sys
from prefect_image_edit.blocks import S3ArchiveStorage, TencentCloudCredentials
cfg = json.loads(sys.stdin.readline())
TencentCloudCredentials(**cfg["tencent"]).save("cluster-emu", overwrite=True)
S3ArchiveStorage(**cfg["archive"]).save("cluster", overwrite=True)
print("saved")
"""


# -- fixtures --------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def cluster_postgres(postgres_server) -> PostgresServer:
    """The session's PostgreSQL, with a ``prefect`` database (pg_trgm) for the Prefect server."""
    postgres_server.create_database("prefect")
    create_extension(postgres_server, "prefect", "pg_trgm")
    return postgres_server


@pytest.fixture(scope="session")
def prefect_server(cluster_postgres) -> Iterator[PrefectServer]:
    url = cluster_postgres.url_for("prefect").replace("postgresql://", "postgresql+asyncpg://", 1)
    server = PrefectServer(url)
    try:
        server.start()
        yield server
    finally:
        server.close()


@pytest.fixture(scope="session")
def cluster_emulators():
    from prefect_image_edit.emulators import run_emulators

    with run_emulators(tencent={"latency": TENCENT_LATENCY_S}) as suite:
        yield suite


@pytest.fixture(scope="session")
def cluster_session(
    cluster_postgres, prefect_server, cluster_emulators, seaweedfs, tmp_path_factory
) -> Iterator[Cluster]:
    seaweedfs.create_bucket(BUCKET)
    workdir = tmp_path_factory.mktemp("cluster")
    cluster = Cluster(
        postgres=cluster_postgres,
        prefect=prefect_server,
        emulators=cluster_emulators,
        seaweedfs=seaweedfs,
        connections={"tencent": "cluster-emu", "archive": "image-edit-s3-archive/cluster"},
        workdir=workdir,
    )
    blocks = {
        "tencent": {
            "secret_id": cluster_emulators.tencent.secret_id,
            "secret_key": cluster_emulators.tencent.secret_key,
            "endpoint_url": cluster_emulators.tencent.base_url,
        },
        "archive": {
            "bucket": BUCKET,
            "endpoint_url": seaweedfs.endpoint_url,
            "aws_access_key_id": seaweedfs.access_key_id,
            "aws_secret_access_key": seaweedfs.secret_access_key,
        },
    }
    admin = cluster.machine("admin")
    # Secrets go through stdin, never a command line other processes could read.
    process = admin.popen(["-c", _SAVE_BLOCKS], stdin=subprocess.PIPE)
    stdout, stderr = process.communicate(json.dumps(blocks) + "\n", timeout=120)
    assert process.returncode == 0 and "saved" in stdout, stderr[-3000:]
    cluster.machines.clear()
    doomed = Machine("doomed", workdir / "doomed", prefect_server.api_url)
    probe = DeadWorkerProbe(prefect_server, doomed)
    cluster.dead_worker_probe = probe
    probe.start()
    try:
        yield cluster
    finally:
        probe.stop()


@pytest.fixture
def cluster(cluster_session) -> Iterator[Cluster]:
    """The shared cluster, fresh for the test: emulators reset, no machines left after it."""
    cluster_session.emulators.reset()
    cluster_session.emulators.settings.tencent.latency = TENCENT_LATENCY_S
    try:
        yield cluster_session
    finally:
        cluster_session.kill_machines()
        cluster_session.release_dead_slots()
        cluster_session.emulators.clear_faults()
        cluster_session.emulators.settings.tencent.latency = TENCENT_LATENCY_S


def write_images(folder: Path, count: int) -> Path:
    """``count`` unique images (no other test has them) in ``folder``, masks in ``masks/``."""
    masks = folder / "masks"
    masks.mkdir(parents=True)
    size = (320, 240)
    box = (size[0] // 3, size[1] // 3, size[0] // 2, size[1] // 2)
    for i in range(count):
        salt = uuid.uuid4().int
        colour = (salt % 100 + 20, (salt >> 8) % 160 + 60, (salt >> 16) % 160 + 60)
        image = Image.new("RGB", size, colour)
        ImageDraw.Draw(image).ellipse(box, fill=(230, 20, 20))
        mask = Image.new("L", size, 0)
        ImageDraw.Draw(mask).rectangle(box, fill=255)
        image.save(folder / f"item-{i:02d}.jpg", quality=95)
        mask.save(masks / f"item-{i:02d}.png")
    return folder


@pytest.fixture
def make_images(tmp_path) -> Callable[..., Path]:
    """``make_images(n)``: a folder of ``n`` unique images with their masks in ``masks/``."""

    def make(count: int, name: str = "images") -> Path:
        return write_images(tmp_path / name, count)

    return make


@dataclass
class Report:
    """Rows of the table issue 8 asks for, printed at the end of the session."""

    rows: list[tuple[str, str, str]] = field(default_factory=list)

    def add(self, case: str, measured: object, expected: object) -> None:
        self.rows.append((case, str(measured), str(expected)))

    def markdown(self) -> str:
        lines = ["| case | measured | should be |", "|---|---|---|"]
        lines += [f"| {case} | {got} | {want} |" for case, got, want in self.rows]
        return "\n".join(lines) + "\n"


_REPORT = Report()


@pytest.fixture
def cluster_report() -> Report:
    return _REPORT


def pytest_terminal_summary(terminalreporter) -> None:
    if not _REPORT.rows:
        return
    terminalreporter.section("cluster results (issue 8)")
    terminalreporter.write(_REPORT.markdown())
    target = os.environ.get("PIE_CLUSTER_RESULTS")
    if target:
        Path(target).write_text("# Cluster results (tests/cluster)\n\n" + _REPORT.markdown())
