"""Kit for the poller tests: virtual time, and a fake vendor that answers from scripts.

``VirtualTime`` gives the poller a clock and a sleep that never really wait: ``run(coro)`` lets
every runnable callback run, then jumps the clock to the earliest pending sleep and wakes it.
So a test of an hour of polling takes milliseconds and every poll time is exact.

A script is a string, one letter a poll (the last letter repeats)::

    Q queued   P processing   S succeeded   F failed (a terminal answer, not an error)
    T transient VendorServerError (RETRY_ONCE)   N VendorRequestError, nothing sent (RESUBMIT)
    R RateLimitedError (RESUBMIT)   X AuthError (permanent)   U VendorRequestError (PERMANENT)
    B RuntimeError (a bug in the query function)
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

import pytest

from prefect_image_edit.vendors.errors import (
    AuthError,
    ErrorKind,
    RateLimitedError,
    RetryVerdict,
    VendorRequestError,
    VendorServerError,
)
from prefect_image_edit.vendors.results import TaskResult, TaskState

T = TypeVar("T")

START = 1_700_000_000.0  # 2023-11-14T22:13:20Z

STATES = {
    "Q": TaskState.QUEUED,
    "P": TaskState.PROCESSING,
    "S": TaskState.SUCCEEDED,
    "F": TaskState.FAILED,
}

_VENDOR = {"vendor": "ailabtools", "action": "query-async-task-result"}
ERRORS: dict[str, Callable[[], BaseException]] = {
    "T": lambda: VendorServerError(
        "internal", **_VENDOR, http_status=500, kind=ErrorKind.SERVER, retry=RetryVerdict.RETRY_ONCE
    ),
    "N": lambda: VendorRequestError(
        "ConnectError", **_VENDOR, kind=ErrorKind.NETWORK, retry=RetryVerdict.RESUBMIT
    ),
    "R": lambda: RateLimitedError(
        "slow down",
        **_VENDOR,
        http_status=429,
        kind=ErrorKind.RATE_LIMITED,
        retry=RetryVerdict.RESUBMIT,
    ),
    "X": lambda: AuthError(
        "bad key", **_VENDOR, http_status=401, kind=ErrorKind.AUTH, retry=RetryVerdict.PERMANENT
    ),
    "U": lambda: VendorRequestError(
        "UnsupportedProtocol", **_VENDOR, kind=ErrorKind.NETWORK, retry=RetryVerdict.PERMANENT
    ),
    "B": lambda: RuntimeError("bug in query"),
}


def result(task_id: str, state: TaskState, now: float = START) -> TaskResult:
    from datetime import UTC, datetime

    return TaskResult(
        **_VENDOR,
        task_id=task_id,
        state=state,
        received_at=datetime.fromtimestamp(now, UTC),
        image_url="http://127.0.0.1/out.jpg" if state is TaskState.SUCCEEDED else None,
    )


class VirtualTime:
    """A clock and a sleep on virtual time; ``run`` drives a coroutine to completion."""

    def __init__(self, start: float = START) -> None:
        self.now = start
        self.start = start
        self.sleeps: list[float] = []
        self._timers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def time(self) -> float:
        return self.now

    @property
    def elapsed(self) -> float:
        return self.now - self.start

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        future = asyncio.get_running_loop().create_future()
        heapq.heappush(self._timers, (self.now + max(0.0, seconds), next(self._seq), future))
        await future

    async def settle(self) -> None:
        """Let every callback that can run, run (CPython's ready queue; else 200 turns)."""
        loop = asyncio.get_running_loop()
        for _ in range(200):
            await asyncio.sleep(0)
            if not getattr(loop, "_ready", True):
                return

    async def run(self, coro: Coroutine[Any, Any, T], *, max_steps: int = 100_000) -> T:
        task = asyncio.ensure_future(coro)
        try:
            for _ in range(max_steps):
                await self.settle()
                if task.done():
                    return task.result()
                while self._timers and self._timers[0][2].done():  # cancelled sleeps
                    heapq.heappop(self._timers)
                if not self._timers:
                    raise AssertionError("deadlock: the poller waits for nothing")
                self.now = max(self.now, self._timers[0][0])
                while self._timers and self._timers[0][0] <= self.now:
                    future = heapq.heappop(self._timers)[2]
                    if not future.done():
                        future.set_result(None)
            raise AssertionError("virtual time ran too many steps")
        finally:
            if not task.done():
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)


class FakeVendor:
    """Answers ``query(task_id)`` from per-task scripts, after ``latency`` virtual seconds."""

    def __init__(self, vt: VirtualTime, scripts: dict[str, str], latency: float = 0.0) -> None:
        self.vt = vt
        self.scripts = {task_id: list(script) for task_id, script in scripts.items()}
        self.latency = latency
        self.calls: list[tuple[float, str]] = []
        self.in_flight = 0
        self.max_in_flight = 0

    def times(self, task_id: str) -> list[float]:
        """Virtual seconds since the start at which ``task_id`` was queried."""
        return [at - self.vt.start for at, tid in self.calls if tid == task_id]

    async def query(self, task_id: str) -> TaskResult:
        self.calls.append((self.vt.now, task_id))
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.latency:
                await self.vt.sleep(self.latency)
            script = self.scripts[task_id]
            letter = script.pop(0) if len(script) > 1 else script[0]
            if letter in ERRORS:
                raise ERRORS[letter]()
            return result(task_id, STATES[letter], self.vt.now)
        finally:
            self.in_flight -= 1


def gaps(times: list[float]) -> list[float]:
    return [round(b - a, 9) for a, b in itertools.pairwise(times)]


@pytest.fixture
def vt() -> VirtualTime:
    return VirtualTime()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


Query = Callable[[str], Awaitable[TaskResult]]
