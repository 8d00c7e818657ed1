"""One contract, both backends: every transition, staged bytes, pending order, and locks that
exclude other processes and die with their holder."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta

import pytest

from prefect_image_edit.state import (
    CallState,
    IllegalTransition,
    LockBusy,
    PaidCall,
    RepaymentReason,
)

pytestmark = pytest.mark.anyio

S = CallState


def _call(key: str = "image-edit/erase/tencent/abc", **kw) -> PaidCall:
    return PaidCall(key=key, vendor="tencent", action="ImageInpaintingRemoval", **kw)


async def test_sync_call_from_begin_to_archive(store):
    key = _call().key
    assert await store.get(key) is None
    started = await store.begin(_call(inputs={"image": "a" * 64}, parameters={"seed": 7}))
    assert (started.state, started.attempts, started.possible_double_charges) == (
        S.IN_FLIGHT,
        1,
        0,
    )
    data = os.urandom(3 * 1024 * 1024 + 17)
    expires = datetime.now(UTC) + timedelta(hours=1)
    ready = await store.record_answer(
        key,
        data=data,
        media_type="image/jpeg",
        result_url="https://r/x",
        expires_at=expires,
        request_id="req-1",
    )
    assert ready.state is S.READY and ready.request_ids == ["req-1"]
    assert await store.staged(key) == data
    got = await store.get(key)
    assert got.expires_at == expires and got.staged_size == len(data)
    assert got.media_type == "image/jpeg" and got.parameters == {"seed": 7}
    refreshed = await store.record_answer(key, result_url="https://r/y", expires_at=expires)
    assert refreshed.result_url == "https://r/y" and await store.staged(key) == data
    archived = await store.mark_archived(
        key, uri="s3://b/k.png", object_key="k.png", sha256="f" * 64
    )
    assert archived.state is S.ARCHIVED and (await store.get(key)).archived_key == "k.png"
    assert await store.staged(key) is None


async def test_async_job_submitted_polled_failed_and_expired(store):
    await store.begin(_call("job-1"))
    submitted = await store.mark_submitted("job-1", "task-9", request_id="req-s")
    assert (submitted.state, submitted.task_id) == (S.SUBMITTED, "task-9")
    failed = await store.mark_failed("job-1", "E_MODERATION: refused", request_id="req-p")
    assert failed.state is S.FAILED and failed.request_ids == ["req-s", "req-p"]

    await store.begin(_call("job-2"))
    await store.mark_submitted("job-2", "task-10")
    await store.record_answer("job-2", result_url="https://r/2", expires_at=datetime.now(UTC))
    expired = await store.mark_expired("job-2", "the vendor no longer has task-10")
    assert expired.state is S.EXPIRED and (await store.get("job-2")).error.startswith("the vendor")


async def test_resends_count_and_failures_keep_the_record_truthful(store):
    await store.begin(_call("k"))
    await store.record_ambiguous_failure("k", "connection reset", request_id="r1")
    resent = await store.begin(_call("k"))
    assert (resent.attempts, resent.ambiguous_failures, resent.possible_double_charges) == (
        2,
        1,
        1,
    )
    await store.mark_failed("k", "bad seed")
    again = await store.begin(_call("k", parameters={"seed": 2}))
    assert (again.attempts, again.possible_double_charges) == (3, 1)


async def test_illegal_moves_are_refused_and_write_nothing(store):
    with pytest.raises(IllegalTransition):
        await store.mark_archived("nothing", uri="u", object_key="k", sha256="s")
    assert await store.get("nothing") is None
    await store.begin(_call("k"))
    await store.record_answer("k", data=b"bytes")
    before = await store.get("k")
    for attempt in (
        store.begin(_call("k")),
        store.mark_submitted("k", "t"),
        store.record_ambiguous_failure("k", "x"),
        store.mark_failed("k", "x"),
    ):
        with pytest.raises(IllegalTransition):
            await attempt
    assert await store.get("k") == before and await store.staged("k") == b"bytes"


async def test_paying_again_is_counted_with_its_reason(store):
    await store.begin(_call("k"))
    await store.record_answer("k", data=b"first")
    await store.mark_archived("k", uri="s3://a/x", object_key="x", sha256="a" * 64)
    repaid = await store.record_repayment(_call("k"), RepaymentReason.ARCHIVE_MISSING, "NoSuchKey")
    assert repaid.state is S.IN_FLIGHT and repaid.attempts == 2
    await store.record_answer("k", data=b"poisoned")
    again = await store.record_repayment(_call("k"), "poisoned")
    assert [(r.reason, r.previous_state) for r in again.repayments] == [
        (RepaymentReason.ARCHIVE_MISSING, S.ARCHIVED),
        (RepaymentReason.POISONED, S.READY),
    ]
    assert await store.staged("k") is None and (await store.get("k")).attempts == 3


async def test_pending_lists_what_is_not_durable_soonest_expiry_first(store):
    now = datetime.now(UTC)
    for key, expires in [("late", 20), ("soon", 1), ("nodate", None), ("done", 2)]:
        await store.begin(_call(key))
        if expires is not None:
            at = now + timedelta(hours=expires)
            await store.record_answer(key, result_url="u", expires_at=at)
    await store.mark_archived("done", uri="u", object_key="k", sha256="s")
    await store.begin(_call("refused"))
    await store.mark_failed("refused", "no")
    assert [r.key for r in await store.pending()] == ["soon", "late", "nodate"]
    assert [r.key for r in await store.pending(limit=2)] == ["soon", "late"]


async def test_concurrent_transitions_on_one_key_are_atomic(store):
    await asyncio.gather(*(store.begin(_call("hot")) for _ in range(8)))
    record = await store.get("hot")
    assert record.attempts == 8 and record.possible_double_charges == 7


async def test_the_lock_excludes_within_a_process_and_times_out(store):
    async with store.lock("k"):
        with pytest.raises(LockBusy):
            async with store.lock("k", timeout=0):
                pass
        with pytest.raises(LockBusy):
            async with store.lock("k", timeout=0.2):
                pass
        async with store.lock("other", timeout=0):
            pass
    async with store.lock("k", timeout=0):
        pass


CHILD = textwrap.dedent(
    """
    import asyncio, sys
    from prefect_image_edit.state import PaidCall, resolve_state

    url, key, mode = sys.argv[1:4]

    async def main():
        store = resolve_state(url)
        if mode == "hold":
            async with store.lock(key):
                print("held", flush=True)
                sys.stdin.readline()
            print("released", flush=True)
        else:  # "pay": wait for "go", then pay for key unless someone already did
            print("ready", flush=True)
            sys.stdin.readline()
            async with store.lock(key):
                record = await store.get(key)
                if record is None:
                    await store.begin(PaidCall(key=key, vendor="tencent", action="A"))
                    await asyncio.sleep(0.3)  # the vendor call
                    await store.record_answer(key, data=b"result")
                    print("paid", flush=True)
                else:
                    print("found", record.state.value, record.attempts, flush=True)
        await store.close()

    asyncio.run(main())
    """
)


def _child(state_url: str, key: str, mode: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, state_url, key, mode],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def _finish(*children: subprocess.Popen) -> None:
    for child in children:
        if child.poll() is None:
            child.kill()
        child.wait(10)


async def test_the_lock_excludes_another_process_until_it_lets_go(store, state_url):
    child = _child(state_url, "shared", "hold")
    try:
        assert child.stdout.readline().strip() == "held"
        with pytest.raises(LockBusy):
            async with store.lock("shared", timeout=0.3):
                pass
        child.stdin.write("release\n")
        child.stdin.flush()
        assert child.stdout.readline().strip() == "released"
        async with store.lock("shared", timeout=10):
            pass
    finally:
        _finish(child)


async def test_a_sigkilled_holder_frees_the_lock_at_once(store, state_url):
    child = _child(state_url, "shared", "hold")
    try:
        assert child.stdout.readline().strip() == "held"
        with pytest.raises(LockBusy):
            async with store.lock("shared", timeout=0):
                pass
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
        # No lease to run out: the kernel (flock) or the server (connection gone) frees it.
        async with store.lock("shared", timeout=5):
            pass
    finally:
        _finish(child)


async def test_two_processes_paying_for_one_input_pay_once(store, state_url):
    children = [_child(state_url, "same-input", "pay") for _ in range(2)]
    try:
        for child in children:
            assert child.stdout.readline().strip() == "ready"
        for child in children:
            child.stdin.write("go\n")
            child.stdin.flush()
        outcomes = sorted(child.stdout.readline().strip() for child in children)
        assert outcomes == ["found ready 1", "paid"]
        record = await store.get("same-input")
        assert record.attempts == 1 and await store.staged("same-input") == b"result"
    finally:
        _finish(*children)


async def _advisory_locks(state_url: str, *, waiting: bool) -> int:
    """PostgreSQL sessions waiting for (or holding) an advisory lock."""
    import asyncpg

    conn = await asyncpg.connect(state_url)
    try:
        return await conn.fetchval(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted <> $1", waiting
        )
    finally:
        await conn.close()


async def _until(condition, what: str) -> None:
    for _ in range(250):
        if await condition():
            return
        await asyncio.sleep(0.02)
    pytest.fail(f"never: {what}")


async def test_a_cancelled_wait_leaves_no_lock_behind(store, state_url):
    postgres = state_url.startswith("postgresql")
    async with store.lock("k"):

        async def wait_for_it():
            async with store.lock("k"):
                pytest.fail("acquired a lock that is held")

        waiter = asyncio.create_task(wait_for_it())
        await asyncio.sleep(0)  # the embedded waiter is now in its poll
        if postgres:

            async def server_side_wait() -> bool:
                return await _advisory_locks(state_url, waiting=True) == 1

            await _until(server_side_wait, "the waiter waits in PostgreSQL")
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
    if postgres:

        async def nothing_left() -> bool:
            held = await _advisory_locks(state_url, waiting=False)
            return held + await _advisory_locks(state_url, waiting=True) == 0

        await _until(nothing_left, "no advisory lock or waiter left")
    async with store.lock("k", timeout=0):
        pass


async def test_remembered_items_are_recalled_in_one_call(store):
    await store.remember("item-a", {"final": "s3://b/a.png", "n": 1})
    await store.remember("item-b", {"final": "s3://b/b.png"})
    await store.remember("item-a", {"final": "s3://b/a2.png"})
    found = await store.recall(["item-a", "item-b", "item-c"])
    assert found == {"item-a": {"final": "s3://b/a2.png"}, "item-b": {"final": "s3://b/b.png"}}
    assert await store.recall([]) == {}


async def test_counter_adds_up_to_its_cap_and_never_past_it(store):
    assert await store.counter("budget") == 0
    assert await store.add_to_counter("budget", 20, cap=50) == 20
    assert await store.add_to_counter("budget", 20, cap=50) == 40
    assert await store.add_to_counter("budget", 20, cap=50) is None  # 60 > 50: nothing added
    assert await store.counter("budget") == 40
    assert await store.add_to_counter("budget", -20) == 20  # a release ignores the cap
    assert await store.add_to_counter("budget", 30, cap=50) == 50  # exactly the cap is fine
    assert await store.add_to_counter("other", 60, cap=50) is None  # a first add past the cap
    assert await store.counter("other") == 0
    assert await store.add_to_counter("free", 0.1) == pytest.approx(0.1)


async def test_concurrent_reservations_never_exceed_the_cap(state_url):
    # Separate stores (separate connections / file handles), as on separate machines.
    from prefect_image_edit.state.resolve import build_state

    stores = [build_state(state_url) for _ in range(4)]
    try:
        results = await asyncio.gather(
            *(stores[i % 4].add_to_counter("run", 7, cap=50) for i in range(20))
        )
    finally:
        for s in stores:
            await s.close()
    granted = [r for r in results if r is not None]
    assert len(granted) == 7  # 7 * 7 = 49 <= 50 < 56
    assert sorted(granted) == [7 * (i + 1) for i in range(7)]


async def test_a_run_budget_holds_across_machines_sharing_the_state(state_url):
    """Two processes' meters of one run (separate connections) never reserve past the cap."""
    from prefect_image_edit.state.resolve import build_state
    from prefect_image_edit.tasks.cost import BudgetExceeded, PriceTable, RunMeter, budget_key

    stores = [build_state(state_url) for _ in range(2)]
    meters = [RunMeter(PriceTable.defaults(), cap=100, store=s, run_id="run-1") for s in stores]
    try:
        results = await asyncio.gather(
            *(meters[i % 2].reserve("ailabtools", "RemoveObjectsAdvanced") for i in range(12)),
            return_exceptions=True,
        )
        assert sum(r == 20 for r in results) == 5
        assert sum(isinstance(r, BudgetExceeded) for r in results) == 7
        assert await stores[0].counter(budget_key("run-1")) == 100
        # a release (a request the vendor refused) makes room for the next one
        await meters[0].settle("ailabtools", "RemoveObjectsAdvanced", 20, billed=False)
        assert await stores[1].counter(budget_key("run-1")) == 80
    finally:
        for s in stores:
            await s.close()
