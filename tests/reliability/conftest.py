"""Fixtures of the reliability suite (issue 9): a state of each test's own, read back whole;
an S3 endpoint that can be killed, frozen and restored in front of the real SeaweedFS; and the
times at which the emulators saw each request.

The fixtures of ``tests/flows/conftest.py`` (``emu``, ``connections``, ``broken_archive``,
``make_scene``, ``s3``) are re-exported here, so these tests run the same real servers.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from prefect_image_edit.state import CallState, PaidCall, RepaymentReason
from prefect_image_edit.testing import free_port


def _flows_conftest():
    """``tests/flows/conftest.py``, loaded by path (the tests are not a package)."""
    import importlib.util

    path = Path(__file__).parents[1] / "flows" / "conftest.py"
    spec = importlib.util.spec_from_file_location("_pie_flows_conftest", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_flows = _flows_conftest()
BUCKET = _flows.BUCKET
emulators = _flows.emulators
emu = _flows.emu
connections = _flows.connections
broken_archive = _flows.broken_archive
s3 = _flows.s3
make_scene = _flows.make_scene


# -- the state, read back whole -----------------------------------------------------------------


@dataclass
class StateView:
    """The embedded state of one test (``PREFECT_IMAGE_EDIT_HOME`` points at it)."""

    home: Path

    @property
    def ledger(self) -> Path:
        return self.home / "ledger"

    def records(self) -> list[PaidCall]:
        return [
            PaidCall.model_validate_json(path.read_bytes())
            for path in sorted((self.ledger / "calls").glob("*.json"))
        ]

    def staged_bytes(self, record: PaidCall) -> bytes | None:
        from prefect_image_edit.state.embedded import _name

        path = self.ledger / "staged" / _name(record.key)
        return path.read_bytes() if path.exists() else None

    def possible_double_charges(self) -> int:
        return sum(r.possible_double_charges for r in self.records())

    def repayments(self, reason: RepaymentReason | None = None) -> int:
        return sum(
            1 for r in self.records() for p in r.repayments if reason is None or p.reason is reason
        )

    def recorded_extra_charges(self) -> int:
        """Every charge the state admits beyond the first per input: possible double charges
        (answers never seen) plus re-payments (with their reasons)."""
        return self.possible_double_charges() + self.repayments()

    def in_state(self, *states: CallState) -> list[PaidCall]:
        return [r for r in self.records() if r.state in states]


@pytest.fixture
def state(tmp_path, monkeypatch) -> StateView:
    """A state (ledger, locks, staged inputs, local archive) of this test's own."""
    home = tmp_path / "pie-home"
    monkeypatch.setenv("PREFECT_IMAGE_EDIT_HOME", str(home))
    monkeypatch.delenv("PREFECT_IMAGE_EDIT_STATE_URL", raising=False)
    return StateView(home)


@pytest.fixture(autouse=True)
def _archives_healthy_again():
    """``archive.health`` remembers failed archives process-wide: forget them between tests."""
    from prefect_image_edit.archive import health

    yield
    with health._lock:
        health._down.clear()


# -- an S3 endpoint that can die, freeze and come back ---------------------------------------


@dataclass
class S3Switch:
    """A TCP relay on 127.0.0.1 in front of the real SeaweedFS, with three positions.

    ``up``: every byte relayed; ``kill()``: the port refuses connections and open ones are
    dropped (a dead S3); ``freeze()``: connections are accepted and never answered (a hung
    S3); ``restore()``: up again on the same port, so the archive keeps its identity.
    """

    upstream: tuple[str, int]
    port: int = field(default_factory=free_port)
    mode: str = "up"
    _listener: socket.socket | None = None
    _conns: list[socket.socket] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> S3Switch:
        self._listen()
        return self

    def _listen(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        listener.settimeout(0.05)
        self._listener = listener
        self._stop.clear()
        self._thread = threading.Thread(target=self._accept, args=(listener,), daemon=True)
        self._thread.start()

    def _accept(self, listener: socket.socket) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self._conns.append(conn)
            if self.mode == "frozen":
                threading.Thread(target=self._drain, args=(conn,), daemon=True).start()
                continue
            try:
                upstream = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                conn.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._conns.append(upstream)
            for a, b in ((conn, upstream), (upstream, conn)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    @staticmethod
    def _drain(conn: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while conn.recv(65536):
                pass

    def _drop_all(self) -> None:
        with self._lock:
            conns, self._conns = self._conns, []
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                conn.close()

    def _close_listener(self) -> None:
        self._stop.set()
        if self._listener is not None:
            with contextlib.suppress(OSError):
                self._listener.close()
            self._listener = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def kill(self) -> None:
        self.mode = "down"
        self._close_listener()
        self._drop_all()

    def freeze(self) -> None:
        self.mode = "frozen"
        self._drop_all()
        if self._listener is None:
            self._listen()

    def restore(self) -> None:
        self.mode = "up"
        self._drop_all()
        if self._listener is None:
            deadline = time.monotonic() + 10
            while True:
                try:
                    self._listen()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)

    def close(self) -> None:
        self._close_listener()
        self._drop_all()


@pytest.fixture
def s3_switch(seaweedfs, connections) -> Iterator[tuple[S3Switch, str]]:
    """An S3 archive block (slug/name) whose endpoint is an ``S3Switch`` to SeaweedFS."""
    from urllib.parse import urlsplit

    from prefect_image_edit.blocks import S3ArchiveStorage

    parts = urlsplit(seaweedfs.endpoint_url)
    switch = S3Switch((parts.hostname, parts.port)).start()
    name = f"switch-{uuid.uuid4().hex[:8]}"
    S3ArchiveStorage(
        bucket=BUCKET,
        endpoint_url=switch.url,
        aws_access_key_id=seaweedfs.access_key_id,
        aws_secret_access_key=seaweedfs.secret_access_key,
    ).save(name, overwrite=True)
    try:
        yield switch, f"image-edit-s3-archive/{name}"
    finally:
        switch.close()


# -- when the emulators saw each request ------------------------------------------------------


@pytest.fixture
def request_times(emu, monkeypatch) -> list[tuple[str, str, float]]:
    """(vendor, action, monotonic time) of every request the emulators receive from now on."""
    seen: list[tuple[str, str, float]] = []
    counters = emu.counters
    original = counters.record_request

    def record(vendor: str, action: str) -> None:
        seen.append((vendor, action, time.monotonic()))
        original(vendor, action)

    monkeypatch.setattr(counters, "record_request", record)
    return seen
