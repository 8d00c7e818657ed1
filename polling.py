"""Poll many asynchronous vendor jobs from one loop, so that waiting is cheap.

A try-on job runs for seconds to minutes at the vendor and is asked about every 5 s, as
AILabTools advises (docs/vendors/ailabtools.md#querying-async-tasks), until it ends.
:class:`JobPoller` keeps every job in one
heap of due times, sleeps until the earliest (polls due within a few tens of milliseconds share
the wake-up), and has at most ``max_concurrent_queries`` queries in flight: no task per job, no
Prefect. The tasks layer wraps it and persists progress through ``on_update``. Per job::

    queued / processing answer  -> poll again in interval (+ jitter); error budget refilled
    SUCCEEDED / FAILED answer   -> done, outcome.result
    transient VendorError       -> back off interval * 2**k (capped at max_interval, + jitter)
                                   and use one unit of the budget; none left -> outcome.error
    any other exception         -> done, outcome.error (permanent: retrying cannot help)
    deadline passed             -> done, outcome.error = PollTimeout (no poll at the deadline)

The budget counts errors in a row only, so a job may stay queued for hours without being given
up on. Throughput is bounded by ``max_concurrent_queries / round trip``: 1,000 jobs at 5 s need
200 queries a second, i.e. 16 in flight at <= 80 ms a query; raise the cap for a distant vendor.

Time is read from one injectable clock (Unix seconds, since deadlines are wall-clock instants)
and waiting goes through one injectable ``sleep``, so tests run on virtual time.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from prefect_image_edit.errors import ImageEditError
from prefect_image_edit.vendors import registry
from prefect_image_edit.vendors._constants import AILABTOOLS, AILABTOOLS_POLL_INTERVAL_SECONDS
from prefect_image_edit.vendors.errors import VendorError
from prefect_image_edit.vendors.results import TaskResult, TaskState

__all__ = ["JobPoller", "PollOutcome", "PollTarget", "PollTimeout", "deadline_for"]

logger = logging.getLogger(__name__)

Query = Callable[[str], Awaitable[TaskResult]]
OnUpdate = Callable[[str, TaskResult], None]


def deadline_for(
    submitted_at: datetime,
    *,
    timeout: float | None = None,
    retention: float | None = None,
) -> datetime:
    """When to stop polling a job: ``timeout`` s after submission, never past the retention.

    The vendor keeps a task for ``retention`` s after it *finished*; counting from submission
    is the conservative reading, so a poll never asks about a task that may be gone. The
    default retention is AILabTools' (the vendor of the async jobs polled here).
    """
    if retention is None:
        retention = registry.get(AILABTOOLS).task_retention_seconds or 0
    if submitted_at.tzinfo is None:
        raise ValueError("submitted_at must be timezone-aware (UTC), got a naive datetime.")
    if timeout is not None and timeout < 0:
        raise ValueError(f"timeout must be >= 0 seconds, got {timeout}.")
    window = retention if timeout is None else min(timeout, retention)
    return submitted_at + timedelta(seconds=window)


@dataclass(frozen=True, slots=True)
class PollTarget:
    """One job to poll until ``deadline`` (aware; see :func:`deadline_for`)."""

    task_id: str
    deadline: datetime

    def __post_init__(self) -> None:
        if not isinstance(self.task_id, str) or not self.task_id:
            raise ValueError(f"task_id must be a non-empty string, got {self.task_id!r}.")
        if self.deadline.tzinfo is None:
            raise ValueError(f"deadline of {self.task_id} must be timezone-aware (UTC).")


@dataclass(frozen=True, slots=True)
class PollOutcome:
    """How polling one job ended: a terminal ``result`` or an ``error``, never both.

    ``polls`` counts queries sent (failed ones included, as the vendor counts them);
    ``transient_errors`` counts the failed ones that were retried or ended the job.
    """

    task_id: str
    result: TaskResult | None
    error: BaseException | None
    polls: int
    transient_errors: int
    finished_at: datetime

    @property
    def succeeded(self) -> bool:
        return self.result is not None and self.result.state is TaskState.SUCCEEDED


class PollTimeout(ImageEditError):
    """A job's deadline passed before it reached a terminal state.

    Attributes:
        task_id: The vendor's task id (still valid until the vendor's retention ends).
        deadline: The deadline that passed.
        last_state: The state of the last successful poll, ``None`` if no poll answered.
        polls: Queries sent.
        last_error: The error of the last poll, if it failed.
    """

    def __init__(
        self,
        task_id: str,
        *,
        deadline: datetime,
        last_state: TaskState | None,
        polls: int,
        last_error: BaseException | None = None,
    ) -> None:
        self.task_id = task_id
        self.deadline = deadline
        self.last_state = last_state
        self.polls = polls
        self.last_error = last_error
        state = last_state.value if last_state is not None else "unknown"
        super().__init__(
            f"task {task_id} still {state} at its deadline {deadline.isoformat()} after "
            f"{polls} polls; it may still finish at the vendor (poll it again, do not resubmit)"
        )


@dataclass(eq=False, slots=True)
class _Job:
    target: PollTarget
    deadline: float
    polls: int = 0
    transient: int = 0
    in_a_row: int = 0
    last: TaskResult | None = None
    last_error: BaseException | None = None


@dataclass(eq=False)
class _Run:
    """The state of one ``run()`` call; nothing survives it."""

    heap: list[tuple[float, int, _Job]] = field(default_factory=list)
    inflight: dict[asyncio.Task[TaskResult], _Job] = field(default_factory=dict)
    completed: deque[asyncio.Task[TaskResult]] = field(default_factory=deque)
    outcomes: dict[str, PollOutcome] = field(default_factory=dict)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    timer: asyncio.Task[None] | None = None
    timer_at: float = float("inf")

    def done(self, task: asyncio.Task[TaskResult]) -> None:
        """A query finished: queue it for the loop and wake the loop."""
        self.completed.append(task)
        self.wake.set()


class JobPoller:
    """Poll many async jobs with one loop, one heap of due times and a cap on queries in flight.

    Args:
        query: One poll of one task, e.g. ``AILabToolsClient.query_async_task``. Returns a
            :class:`TaskResult`; raises :class:`VendorError` (its ``retry`` verdict decides).
        interval: Seconds between polls of a pending job (AILabTools advises 5).
        max_interval: Cap of the back-off after transient errors, seconds.
        error_budget: Transient errors in a row a job may have; the next one ends it.
        max_concurrent_queries: Queries in flight at once, across all jobs.
        jitter: Relative spread of every delay (0.1: up to 10 % longer), so jobs do not poll
            in lockstep; it only ever lengthens a delay, never below the vendor's interval.
        clock: Current time as Unix seconds.
        sleep: ``await sleep(seconds)``; the only way the poller waits.
        rand: Uniform floats in [0, 1), for jitter and to spread the first polls.
        on_update: Called with every poll answer, in the loop; keep it quick (it is how the
            caller persists progress). An exception from it ends ``run()``.
    """

    def __init__(
        self,
        query: Query,
        *,
        interval: float = AILABTOOLS_POLL_INTERVAL_SECONDS,
        max_interval: float = 60.0,
        error_budget: int = 8,
        max_concurrent_queries: int = 16,
        jitter: float = 0.1,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        rand: Callable[[], float] = random.random,
        on_update: OnUpdate | None = None,
    ) -> None:
        if not callable(query):
            raise TypeError(f"query must be callable, got {type(query).__name__}.")
        if not interval > 0:
            raise ValueError(f"interval must be > 0 seconds, got {interval}.")
        if not max_interval >= interval:
            raise ValueError(f"max_interval ({max_interval}) must be >= interval ({interval}).")
        if error_budget < 0:
            raise ValueError(f"error_budget must be >= 0, got {error_budget}.")
        if max_concurrent_queries < 1:
            raise ValueError(f"max_concurrent_queries must be >= 1, got {max_concurrent_queries}.")
        if not 0 <= jitter < 1:
            raise ValueError(f"jitter must be in [0, 1), got {jitter}.")
        self.query = query
        self.interval = float(interval)
        self.max_interval = float(max_interval)
        self.error_budget = error_budget
        self.max_concurrent_queries = max_concurrent_queries
        self.jitter = jitter
        self._clock = clock
        self._sleep = sleep
        self._rand = rand
        self._on_update = on_update
        self._seq = itertools.count()
        # Polls due this soon ride on the current wake-up: 1,000 jobs at 5 s wake the loop
        # ~20 times a second instead of 200 (50 ms at the defaults; none without jitter).
        self._slack = self.interval * jitter / 10

    def delay(self, errors_in_a_row: int = 0) -> float:
        """Seconds until the next poll: the interval, or its back-off after errors, jittered.

        Drawn from ``[base, base * (1 + jitter)] + slack``. A poll may go out up to ``slack``
        early to share a wake-up, so the gap between two polls of a job stays within
        ``[base, base * (1 + jitter) + slack]`` (plus the round trip): no job is ever asked
        about sooner than the interval the vendor advises, as retries never wait less than the
        vendor asked (tasks/policy.py). Jitter centred on ``base`` put the mean gap of 1,000
        jobs at 5 s at 4.997-5.008 s (every answer wakes the loop too, so under load most polls
        go out nearly a whole slack early): as often as the advice allows, and in many 10 s
        windows more often (2,006 polls where 2,000 were due; issue 10 figure 7).
        """
        base = min(self.interval * 2**errors_in_a_row, self.max_interval)
        return self._slack + base * (1 + self.jitter * self._rand())

    async def run(self, targets: Iterable[PollTarget]) -> dict[str, PollOutcome]:
        """Poll every target until it ends; returns one outcome per task id.

        The first polls are spread over the first interval (or the time left before the
        deadline, if shorter), so a thousand jobs do not all ask at once. Cancelling ``run()``
        cancels the queries in flight and waits for them.

        Raises:
            ValueError: the same task id twice.
        """
        run = _Run()
        now = self._clock()
        seen: set[str] = set()
        for target in targets:
            if target.task_id in seen:
                raise ValueError(f"task {target.task_id} given twice.")
            seen.add(target.task_id)
            job = _Job(target, target.deadline.timestamp())
            spread = min(self.interval, max(0.0, job.deadline - now))
            self._push(run, job, now + self._rand() * spread)
        try:
            while run.heap or run.inflight:
                self._collect(run)
                self._dispatch(run)
                if run.heap or run.inflight:
                    await run.wake.wait()
                    run.wake.clear()
        finally:
            await self._cancel_all(run)
        return run.outcomes

    # --- the loop ------------------------------------------------------------------------------

    def _push(self, run: _Run, job: _Job, due: float) -> None:
        heapq.heappush(run.heap, (min(due, job.deadline), next(self._seq), job))

    def _dispatch(self, run: _Run) -> None:
        """Send the queries that are due (up to the cap), then arm the timer for the next one."""
        now, cap = self._clock(), self.max_concurrent_queries
        soon = now + self._slack
        while run.heap and len(run.inflight) < cap:
            due, _, job = run.heap[0]
            if due > now and (due > soon or due >= job.deadline):  # deadlines are never early
                break
            heapq.heappop(run.heap)
            if now >= job.deadline:
                self._finish(run, job, error=self._timeout(job))
                continue
            job.polls += 1
            task = asyncio.ensure_future(self.query(job.target.task_id))
            run.inflight[task] = job
            task.add_done_callback(run.done)
        if run.heap and len(run.inflight) < cap:
            self._arm(run, run.heap[0][0])

    def _arm(self, run: _Run, at: float) -> None:
        """Wake the loop at ``at``; a timer already due earlier is kept (waking early is free)."""
        if run.timer is not None and not run.timer.done() and run.timer_at <= at:
            return
        if run.timer is not None:
            run.timer.cancel()
        run.timer_at = at
        run.timer = asyncio.ensure_future(self._alarm(run, max(0.0, at - self._clock())))

    async def _alarm(self, run: _Run, seconds: float) -> None:
        await self._sleep(seconds)
        run.timer_at = float("inf")
        run.wake.set()

    def _collect(self, run: _Run) -> None:
        """Act on every finished query: end the job, or schedule its next poll."""
        while run.completed:
            task = run.completed.popleft()
            job = run.inflight.pop(task)
            error = task.exception()  # re-raises CancelledError: only we cancel queries
            if error is None:
                self._answered(run, job, task.result())
            elif isinstance(error, VendorError) and error.transient:
                self._transient(run, job, error)
            elif isinstance(error, Exception):
                self._finish(run, job, error=error)
            else:  # KeyboardInterrupt, SystemExit: not ours to swallow
                raise error

    def _answered(self, run: _Run, job: _Job, result: TaskResult) -> None:
        job.last, job.last_error, job.in_a_row = result, None, 0
        if self._on_update is not None:
            self._on_update(job.target.task_id, result)
        if result.state.terminal:
            self._finish(run, job, result=result)
        else:  # past the deadline, this is due at once and ends as a timeout
            self._push(run, job, self._clock() + self.delay())

    def _transient(self, run: _Run, job: _Job, error: VendorError) -> None:
        job.transient += 1
        job.last_error = error
        if job.in_a_row >= self.error_budget:
            self._finish(run, job, error=error)
            return
        job.in_a_row += 1
        logger.debug("poll of %s failed (%d in a row): %s", job.target.task_id, job.in_a_row, error)
        self._push(run, job, self._clock() + self.delay(job.in_a_row))

    def _timeout(self, job: _Job) -> PollTimeout:
        return PollTimeout(
            job.target.task_id,
            deadline=job.target.deadline,
            last_state=job.last.state if job.last is not None else None,
            polls=job.polls,
            last_error=job.last_error,
        )

    def _finish(
        self,
        run: _Run,
        job: _Job,
        *,
        result: TaskResult | None = None,
        error: BaseException | None = None,
    ) -> None:
        run.outcomes[job.target.task_id] = PollOutcome(
            task_id=job.target.task_id,
            result=result,
            error=error,
            polls=job.polls,
            transient_errors=job.transient,
            finished_at=datetime.fromtimestamp(self._clock(), UTC),
        )

    async def _cancel_all(self, run: _Run) -> None:
        """Cancel the timer and the queries in flight, and wait until they have unwound."""
        pending = [*run.inflight, *([run.timer] if run.timer is not None else [])]
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
