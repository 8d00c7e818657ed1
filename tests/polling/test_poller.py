"""JobPoller on virtual time with a scripted fake vendor: no sockets, no real sleeping.

Unless a test says otherwise, ``jitter`` is 0 and ``rand`` is fixed at 0.5: the first poll comes
half an interval after the start and every later poll time is exact.
"""

from __future__ import annotations

import asyncio
import pickle
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from prefect_image_edit.polling import JobPoller, PollOutcome, PollTarget, PollTimeout, deadline_for
from prefect_image_edit.vendors.errors import (
    AuthError,
    VendorRequestError,
    VendorServerError,
)
from prefect_image_edit.vendors.results import TaskResult, TaskState

from .conftest import START, FakeVendor, VirtualTime, gaps, result

pytestmark = pytest.mark.anyio

HOUR = 3600.0


def at(seconds: float) -> datetime:
    return datetime.fromtimestamp(START + seconds, UTC)


def target(task_id: str = "t1", deadline: float = HOUR) -> PollTarget:
    return PollTarget(task_id, at(deadline))


def make_poller(vt: VirtualTime, vendor: FakeVendor, **kw: Any) -> JobPoller:
    kw.setdefault("rand", lambda: 0.5)
    kw.setdefault("jitter", 0.0)
    return JobPoller(vendor.query, clock=vt.time, sleep=vt.sleep, **kw)


async def poll_one(
    vt: VirtualTime, script: str, deadline: float = HOUR, latency: float = 0.0, **kw: Any
) -> tuple[PollOutcome, FakeVendor]:
    vendor = FakeVendor(vt, {"t1": script}, latency=latency)
    outcomes = await vt.run(make_poller(vt, vendor, **kw).run([target("t1", deadline)]))
    return outcomes["t1"], vendor


# --- how a job ends ------------------------------------------------------------------------------

ENDINGS = [
    # (case, script, poller keywords, final state or error type, polls, transient errors)
    ("succeeds", "QQPPS", {}, TaskState.SUCCEEDED, 5, 0),
    ("fails at the vendor: a result", "QPF", {}, TaskState.FAILED, 3, 0),
    ("transient errors retried", "TTS", {}, TaskState.SUCCEEDED, 3, 2),
    ("nothing sent, resubmit", "NNQS", {}, TaskState.SUCCEEDED, 4, 2),
    ("rate limited, backs off", "RRS", {}, TaskState.SUCCEEDED, 3, 2),
    ("permanent error at once", "X", {}, AuthError, 1, 0),
    ("permanent after transient", "QTX", {}, AuthError, 3, 1),
    ("permanent transport error", "U", {}, VendorRequestError, 1, 0),
    ("bug in the query function", "QB", {}, RuntimeError, 2, 0),
    ("budget exhausted", "T", {"error_budget": 2}, VendorServerError, 3, 3),
    ("budget zero: first error ends", "QT", {"error_budget": 0}, VendorServerError, 2, 1),
    ("budget refilled by any answer", "TTQTTPTTS", {"error_budget": 2}, TaskState.SUCCEEDED, 9, 6),
    (
        "queued polls never use budget",
        "Q" * 60 + "S",
        {"error_budget": 0},
        TaskState.SUCCEEDED,
        61,
        0,
    ),
]


@pytest.mark.parametrize(
    ("script", "kw", "expected", "polls", "transient"),
    [case[1:] for case in ENDINGS],
    ids=[case[0] for case in ENDINGS],
)
async def test_how_a_job_ends(vt, script, kw, expected, polls, transient):
    outcome, vendor = await poll_one(vt, script, **kw)
    assert (outcome.polls, outcome.transient_errors) == (polls, transient)
    assert outcome.polls == len(vendor.calls)
    if isinstance(expected, TaskState):
        assert outcome.error is None
        assert outcome.result is not None and outcome.result.state is expected
        assert outcome.succeeded is (expected is TaskState.SUCCEEDED)
    else:
        assert outcome.result is None
        assert type(outcome.error) is expected
        assert not outcome.succeeded
    assert outcome.finished_at == at(vt.elapsed)


# --- when polls happen ---------------------------------------------------------------------------

TIMELINES = [
    # (case, script, keywords, seconds after the start of every poll)
    ("every interval", "QQQS", {}, [2.5, 7.5, 12.5, 17.5]),
    ("other interval", "QPS", {"interval": 2.0}, [1.0, 3.0, 5.0]),
    ("back-off doubles, capped", "TTTTTTS", {}, [2.5, 12.5, 32.5, 72.5, 132.5, 192.5, 252.5]),
    ("back-off resets on answer", "TTQQS", {}, [2.5, 12.5, 32.5, 37.5, 42.5]),
    ("cap below doubling", "TTTS", {"max_interval": 15}, [2.5, 12.5, 27.5, 42.5]),
    ("interval after latency", "QQS", {"latency": 1.0}, [2.5, 8.5, 14.5]),
]


@pytest.mark.parametrize(
    ("script", "kw", "times"),
    [case[1:] for case in TIMELINES],
    ids=[case[0] for case in TIMELINES],
)
async def test_poll_times(vt, script, kw, times):
    latency = kw.pop("latency", 0.0)
    _, vendor = await poll_one(vt, script, latency=latency, **kw)
    assert vendor.times("t1") == pytest.approx(times)


DELAYS = [
    # (errors in a row, rand, jitter, expected delay) for interval 5, max 60. With jitter 0.1 the
    # draw is from [base, base * 1.1] + 0.05: jitter only lengthens, and 0.05 s is the slack of
    # shared wake-ups, paid back so that a poll sent early is never sooner than the interval.
    (0, 0.5, 0.0, 5.0),
    (2, 0.3, 0.0, 20.0),
    (5, 0.9, 0.0, 60.0),
    (0, 0.0, 0.1, 5.05),
    (0, 0.5, 0.1, 5.3),
    (0, 0.999999, 0.1, 5.55),
    (1, 0.5, 0.1, 10.55),
    (3, 0.5, 0.1, 42.05),
    (4, 0.0, 0.1, 60.05),
    (4, 0.5, 0.1, 63.05),
    (30, 0.999999, 0.1, 66.05),
]


@pytest.mark.parametrize(("errors", "rand", "jitter", "expected"), DELAYS)
def test_delay_is_capped_back_off_with_jitter(errors, rand, jitter, expected):
    poller = JobPoller(lambda _: None, rand=lambda: rand, jitter=jitter)  # type: ignore[arg-type]
    assert poller.delay(errors) == pytest.approx(expected, abs=1e-4)


async def test_interval_respected_within_jitter_for_many_jobs(vt):
    rng = random.Random(7)
    scripts = {f"t{i}": "Q" * 20 + "S" for i in range(50)}
    vendor = FakeVendor(vt, scripts)
    poller = make_poller(vt, vendor, rand=rng.random, jitter=0.1)
    outcomes = await vt.run(poller.run([target(task_id) for task_id in scripts]))
    assert all(outcome.succeeded and outcome.polls == 21 for outcome in outcomes.values())
    firsts = [vendor.times(task_id)[0] for task_id in scripts]
    assert all(0 <= first < 5 for first in firsts)
    assert max(firsts) - min(firsts) > 2.5  # spread over the first interval, not a burst
    every_gap = [gap for task_id in scripts for gap in gaps(vendor.times(task_id))]
    assert all(5.0 <= gap <= 5.55 for gap in every_gap)  # interval + up to 10 %, + the slack
    assert len(set(every_gap)) > 100  # jittered, not lockstep


async def test_polls_due_close_together_share_a_wake_up(vt):
    rng = random.Random(11)
    scripts = {f"t{i}": "QQQQQS" for i in range(1000)}
    vendor = FakeVendor(vt, scripts)
    poller = make_poller(vt, vendor, rand=rng.random, jitter=0.1)
    outcomes = await vt.run(poller.run([target(task_id) for task_id in scripts]))
    assert all(outcome.succeeded for outcome in outcomes.values())
    polls = len(vendor.calls)
    assert polls == 6000
    assert len(vt.sleeps) < polls / 3  # ~200 polls a second, far fewer wake-ups
    every_gap = [gap for task_id in scripts for gap in gaps(vendor.times(task_id))]
    assert min(every_gap) >= 5.0 and max(every_gap) <= 5.55  # early by the slack, inside jitter


async def test_no_job_is_polled_sooner_than_the_interval_under_load(vt):
    # Answers coming back every few ms wake the loop as often, and each wake-up sends what is due
    # within the slack: most polls go out nearly a whole slack (50 ms) early. The delay pays that
    # back, so no gap between two polls of a job is shorter than the interval, without counting
    # on the round trip (each gap holds one: the next delay starts at the answer).
    rng = random.Random(5)
    scripts = {f"t{i}": "Q" * 6 + "S" for i in range(1000)}
    vendor = FakeVendor(vt, scripts, latency=0.005)
    poller = make_poller(vt, vendor, rand=rng.random, jitter=0.1)
    outcomes = await vt.run(poller.run([target(task_id) for task_id in scripts]))
    assert all(outcome.succeeded and outcome.polls == 7 for outcome in outcomes.values())
    every_gap = [gap for task_id in scripts for gap in gaps(vendor.times(task_id))]
    assert min(every_gap) - 0.005 >= 5.0 - 1e-9
    assert max(every_gap) <= 5.55 + 0.005 + 1e-9


# --- deadlines -----------------------------------------------------------------------------------


async def test_deadline_ends_a_queued_job_with_poll_timeout(vt):
    outcome, vendor = await poll_one(vt, "Q", deadline=12.0)
    assert vendor.times("t1") == [2.5, 7.5]  # no poll at the deadline itself
    error = outcome.error
    assert isinstance(error, PollTimeout)
    assert (error.task_id, error.deadline, error.last_state, error.polls) == (
        "t1",
        at(12.0),
        TaskState.QUEUED,
        2,
    )
    assert error.last_error is None
    assert outcome.finished_at == at(12.0)
    assert "do not resubmit" in str(error)


async def test_a_deadline_is_never_brought_forward_to_share_a_wake_up(vt):
    # interval 5, jitter 0.1, rand 0.5: slack 0.05 s, first polls at 2.5, then +5.3.
    vendor = FakeVendor(vt, {"a": "QS", "b": "T"})
    poller = make_poller(vt, vendor, jitter=0.1)
    outcomes = await vt.run(poller.run([target("a"), target("b", deadline=7.82)]))
    assert vendor.times("a") == pytest.approx([2.5, 7.8])
    assert vendor.times("b") == [2.5]  # backing off to 13, cut at the deadline 7.82
    assert isinstance(outcomes["b"].error, PollTimeout)
    assert outcomes["b"].finished_at == at(7.82)  # not 7.8, with a's wake-up


async def test_a_short_deadline_still_gets_polled(vt):
    outcome, vendor = await poll_one(vt, "Q", deadline=1.0)
    assert vendor.times("t1") == [0.5]  # the first poll is spread over the 1 s left
    assert isinstance(outcome.error, PollTimeout)
    assert outcome.finished_at == at(1.0)


async def test_deadline_already_passed_sends_nothing(vt):
    outcome, vendor = await poll_one(vt, "S", deadline=-1.0)
    assert vendor.calls == []
    assert isinstance(outcome.error, PollTimeout)
    assert (outcome.error.last_state, outcome.polls) == (None, 0)


async def test_deadline_during_back_off_keeps_the_last_error(vt):
    outcome, vendor = await poll_one(vt, "PT", deadline=30.0)
    assert vendor.times("t1") == [2.5, 7.5, 17.5]
    error = outcome.error
    assert isinstance(error, PollTimeout)
    assert error.last_state is TaskState.PROCESSING
    assert isinstance(error.last_error, VendorServerError)
    assert outcome.transient_errors == 2


ACROSS_DEADLINE = [
    # (script, result state or None for PollTimeout): the first poll is spread over the 4 s left
    # before the deadline, so it starts at 2.0 and answers at 5.0
    ("S", TaskState.SUCCEEDED),
    ("F", TaskState.FAILED),
    ("P", None),
]


@pytest.mark.parametrize(("script", "state"), ACROSS_DEADLINE)
async def test_answer_arriving_after_the_deadline(vt, script, state):
    outcome, vendor = await poll_one(vt, script, deadline=4.0, latency=3.0)
    assert vendor.times("t1") == [2.0]
    assert outcome.finished_at == at(5.0)
    if state is None:
        assert isinstance(outcome.error, PollTimeout)
    else:
        assert outcome.result is not None and outcome.result.state is state


DEADLINES = [
    # (timeout, retention, expected seconds after submission)
    (None, 86400, 86400),
    (900, 86400, 900),
    (100_000, 86400, 86400),
    (0, 86400, 0),
    (None, 60, 60),
]


@pytest.mark.parametrize(("timeout", "retention", "seconds"), DEADLINES)
def test_deadline_for(timeout, retention, seconds):
    submitted = at(0)
    got = deadline_for(submitted, timeout=timeout, retention=retention)
    assert got == submitted + timedelta(seconds=seconds)


def test_deadline_for_defaults_to_ailabtools_retention():
    assert deadline_for(at(0)) == at(86400)


# --- one loop for many jobs ----------------------------------------------------------------------


@pytest.mark.parametrize(("jobs", "cap"), [(100, 4), (40, 1), (30, 16)])
async def test_concurrency_cap(vt, jobs, cap):
    scripts = {f"t{i}": "QQS" for i in range(jobs)}
    vendor = FakeVendor(vt, scripts, latency=1.0)
    poller = make_poller(vt, vendor, max_concurrent_queries=cap)
    outcomes = await vt.run(poller.run([target(task_id) for task_id in scripts]))
    assert vendor.max_in_flight == min(cap, jobs)
    assert len(outcomes) == jobs
    assert all(outcome.succeeded and outcome.polls == 3 for outcome in outcomes.values())


async def test_no_busy_waiting_and_no_task_per_job(vt):
    scripts = {f"t{i}": "Q" * 10 + "S" for i in range(200)}
    vendor = FakeVendor(vt, scripts, latency=0.2)
    tasks_seen: list[int] = []
    before = len(asyncio.all_tasks())  # this test's own, and its runner's

    async def counting(task_id: str) -> TaskResult:
        tasks_seen.append(len(asyncio.all_tasks()) - before)
        return await vendor.query(task_id)

    poller = JobPoller(counting, clock=vt.time, sleep=vt.sleep, rand=random.Random(3).random)
    outcomes = await vt.run(poller.run([target(task_id) for task_id in scripts]))
    assert all(outcome.succeeded for outcome in outcomes.values())
    polls = len(vendor.calls)
    assert polls == 200 * 11
    poller_sleeps = [s for s in vt.sleeps if s != 0.2]  # the vendor's latency is not ours
    assert len(poller_sleeps) <= polls  # at most one wake-up per poll, never a spin
    assert min(poller_sleeps) >= 0
    # queries in flight (<= 16), the timer and run() (vt.run() is this test's task): never a
    # task per job
    assert max(tasks_seen) <= 16 + 2


async def test_on_update_sees_every_answer_in_order(vt):
    seen: list[tuple[str, TaskState]] = []
    vendor = FakeVendor(vt, {"a": "QTPPS", "b": "QF"})
    poller = make_poller(vt, vendor, on_update=lambda tid, res: seen.append((tid, res.state)))
    await vt.run(poller.run([target("a"), target("b")]))
    q, p, s, f = TaskState.QUEUED, TaskState.PROCESSING, TaskState.SUCCEEDED, TaskState.FAILED
    assert [state for tid, state in seen if tid == "a"] == [q, p, p, s]  # no entry for T
    assert [state for tid, state in seen if tid == "b"] == [q, f]


async def test_empty_run(vt):
    vendor = FakeVendor(vt, {})
    assert await vt.run(make_poller(vt, vendor).run([])) == {}
    assert vt.sleeps == []


# --- cancellation and failures of the caller -----------------------------------------------------


async def test_cancelling_run_cancels_queries_in_flight():
    started, cancelled = [], []
    gate = asyncio.Event()

    async def hang(task_id: str) -> TaskResult:
        started.append(task_id)
        try:
            await gate.wait()
        except asyncio.CancelledError:
            cancelled.append(task_id)
            raise
        return result(task_id, TaskState.SUCCEEDED)

    poller = JobPoller(hang, interval=0.01, rand=lambda: 0.0, max_concurrent_queries=3)
    before = asyncio.all_tasks()
    run = asyncio.ensure_future(poller.run([PollTarget(f"t{i}", at(10**9)) for i in range(5)]))
    for _ in range(100):
        await asyncio.sleep(0.001)
        if len(started) == 3:
            break
    assert len(started) == 3
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        async with asyncio.timeout(5):  # a poller that does not cancel its queries hangs here
            await run
    assert sorted(cancelled) == sorted(started)
    assert asyncio.all_tasks() == before  # no query, timer or helper left behind


async def test_on_update_error_ends_run_and_cancels_the_rest(vt):
    def explode(task_id: str, res: TaskResult) -> None:
        if task_id == "boom":
            raise OSError("disk full")

    vendor = FakeVendor(vt, {"boom": "Q", **{f"t{i}": "Q" for i in range(5)}}, latency=1.0)
    poller = make_poller(vt, vendor, rand=random.Random(1).random, on_update=explode)
    before = asyncio.all_tasks()
    with pytest.raises(OSError, match="disk full"):
        await vt.run(poller.run([target(tid) for tid in vendor.scripts]))
    await vt.settle()
    assert asyncio.all_tasks() == before


# --- contracts -----------------------------------------------------------------------------------

BAD_ARGUMENTS = [
    ({"interval": 0}, ValueError),
    ({"interval": 10, "max_interval": 5}, ValueError),
    ({"error_budget": -1}, ValueError),
    ({"max_concurrent_queries": 0}, ValueError),
    ({"jitter": 1.0}, ValueError),
    ({"jitter": -0.1}, ValueError),
]


@pytest.mark.parametrize(("kw", "error"), BAD_ARGUMENTS)
def test_constructor_checks_arguments(kw, error):
    with pytest.raises(error):
        JobPoller(lambda _: None, **kw)  # type: ignore[arg-type, return-value]


def test_query_must_be_callable():
    with pytest.raises(TypeError, match="callable"):
        JobPoller("not a function")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("task_id", "deadline"),
    [("", at(0)), (None, at(0)), ("t1", datetime(2030, 1, 1))],
    ids=["empty id", "no id", "naive deadline"],
)
def test_poll_target_checks(task_id, deadline):
    with pytest.raises(ValueError):
        PollTarget(task_id, deadline)


async def test_duplicate_task_ids_are_refused(vt):
    vendor = FakeVendor(vt, {"t1": "S"})
    with pytest.raises(ValueError, match="twice"):
        await vt.run(make_poller(vt, vendor).run([target("t1"), target("t1")]))
    assert vendor.calls == []


def test_poll_timeout_survives_pickling():
    # Prefect pickles exceptions into task states.
    error = PollTimeout(
        "t1",
        deadline=at(5),
        last_state=TaskState.PROCESSING,
        polls=3,
        last_error=RuntimeError("x"),
    )
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.task_id, copy.deadline, copy.last_state, copy.polls) == (
        "t1",
        at(5),
        TaskState.PROCESSING,
        3,
    )
    assert str(copy) == str(error)
    assert isinstance(copy.last_error, RuntimeError)
