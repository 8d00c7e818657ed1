"""Vendor slots leased per process: the limit holds, and a busy batch costs no request per call."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import textwrap
import time

import httpx
import pytest
from prefect import get_client

from prefect_image_edit.tasks.limits import ensure_limit
from prefect_image_edit.tasks.slots import IDLE_SECONDS, SlotPool

pytestmark = pytest.mark.usefixtures("prefect_api")


async def _active(name: str) -> int:
    async with get_client() as client:
        return (await client.read_global_concurrency_limit_by_name(name)).active_slots


def test_calls_reuse_leased_slots_and_give_them_back_when_idle():
    name = "image-edit:test-pool"

    async def main():
        await ensure_limit(name, 2)
        pool = SlotPool(name, 2)
        inside = peak = 0

        async def call():
            nonlocal inside, peak
            async with pool.slot():
                inside += 1
                peak = max(peak, inside)
                assert await _active(name) <= 2
                await asyncio.sleep(0.01)
                inside -= 1

        await asyncio.gather(*(call() for _ in range(30)))
        during = pool.requests
        held = await _active(name)
        for _ in range(50):  # bounded: idle slots go back within a few idle periods
            if await _active(name) == 0:
                break
            await asyncio.sleep(IDLE_SECONDS / 4)
        after = await _active(name)
        await pool.close()
        return peak, during, held, after

    peak, during, held, after = asyncio.run(main())
    assert peak == 2
    assert during <= 4  # 30 calls, 2 leases (and perhaps a refused ask): not 3 requests a call
    assert held == 2 and after == 0


def test_the_limit_holds_across_processes(tmp_path):
    """Two processes, one slot: their calls never overlap (the server counts every lease)."""
    name = "image-edit:test-pool-shared"
    asyncio.run(ensure_limit(name, 1))
    log = tmp_path / "log"
    script = textwrap.dedent(
        f"""
        import asyncio, time
        from prefect_image_edit.tasks.slots import SlotPool

        async def main():
            pool = SlotPool({name!r}, 1)
            for _ in range(4):
                async with pool.slot():
                    with open({str(log)!r}, "a") as out:
                        out.write(f"in {{time.monotonic()}}\\n")
                    await asyncio.sleep(0.2)
                    with open({str(log)!r}, "a") as out:
                        out.write(f"out {{time.monotonic()}}\\n")
                await asyncio.sleep(0)
            await pool.close()

        asyncio.run(main())
        """
    )
    from prefect.settings import PREFECT_API_URL

    env = {**os.environ, "PREFECT_API_URL": str(PREFECT_API_URL.value())}
    procs = [subprocess.Popen([sys.executable, "-c", script], env=env) for _ in range(2)]
    for proc in procs:
        assert proc.wait(timeout=120) == 0
    depth = peak = 0
    events = sorted(
        (float(t), kind) for kind, t in (line.split() for line in log.read_text().splitlines())
    )
    for _, kind in events:
        depth += 1 if kind == "in" else -1
        peak = max(peak, depth)
    assert len(events) == 16 and peak == 1


def test_a_process_that_exits_gives_its_slots_back_at_once():
    name = "image-edit:test-pool-exit"
    asyncio.run(ensure_limit(name, 2))
    script = textwrap.dedent(
        f"""
        import asyncio
        from prefect_image_edit.tasks.slots import pool_for

        async def main():
            pool = pool_for("test", {name!r}, 2)
            async with pool.slot():
                pass

        asyncio.run(main())
        """
    )
    from prefect.settings import PREFECT_API_URL

    env = {**os.environ, "PREFECT_API_URL": str(PREFECT_API_URL.value())}
    assert subprocess.run([sys.executable, "-c", script], env=env, timeout=120).returncode == 0
    assert asyncio.run(_active(name)) == 0  # right after exit, not after the lease's 60 s


def test_slots_leased_ahead_serve_the_first_calls_and_go_back_when_unused():
    name = "image-edit:test-pool-ahead"

    async def main():
        await ensure_limit(name, 3)
        pool = SlotPool(name, 3)
        pool.reserve(2)
        for _ in range(100):  # bounded: two lease requests
            if pool.held == 2:
                break
            await asyncio.sleep(0.02)
        leased = pool.requests
        async with pool.slot():  # a reserved slot: no request
            during = pool.requests
        active = await _active(name)
        for _ in range(100):  # unused, they go back after RESERVED_SECONDS and an idle period
            if await _active(name) == 0:
                break
            await asyncio.sleep(0.05)
        after = await _active(name)
        await pool.close()
        return leased, during, active, after

    leased, during, active, after = asyncio.run(main())
    assert leased == 2 and during == 2
    assert active == 2 and after == 0


def test_a_caller_cancelled_while_waiting_loses_no_slot():
    """Size 1: a waiter is cancelled while the slot is busy; the slot still serves the next."""
    name = "image-edit:test-pool-cancel"

    async def main():
        await ensure_limit(name, 1)
        pool = SlotPool(name, 1)
        release = asyncio.Event()

        async def holder():
            async with pool.slot():
                await release.wait()

        async def waiter():
            async with pool.slot():
                raise AssertionError("a cancelled waiter never holds the slot")

        holding = asyncio.create_task(holder())
        await asyncio.sleep(0.3)
        waiting = asyncio.create_task(waiter())
        await asyncio.sleep(0.05)
        waiting.cancel()
        release.set()
        await holding
        with contextlib.suppress(asyncio.CancelledError):
            await waiting
        async with asyncio.timeout(5):  # the slot was handed on, not lost with the waiter
            async with pool.slot():
                held = pool.held
        await pool.close()
        return held

    assert asyncio.run(main()) == 1


def test_a_busy_server_is_asked_again_within_milliseconds():
    """HTTP 503 (two writes collided on a SQLite server) is retried under Prefect's client,
    which would wait 2 s first (docs/prefect.md#busy-answers-http-503)."""
    from prefect_image_edit.tasks.slots import _AskAgainWhenBusy

    answers = iter([503, 503, 200])

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(next(answers), json={})

    async def main():
        transport = _AskAgainWhenBusy(httpx.MockTransport(handler))
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            started = time.monotonic()
            response = await client.post("/v2/concurrency_limits/increment-with-lease", json={})
            return response.status_code, time.monotonic() - started

    status, seconds = asyncio.run(main())
    assert status == 200 and seconds < 1.0


def test_leasing_ahead_stops_at_a_refusal():
    """A full limit (another process holds it) answers 423: a reserve with nobody waiting stops
    asking instead of polling the server until a slot frees."""
    name = "image-edit:test-pool-ahead-full"

    async def main():
        await ensure_limit(name, 1)
        holder, other = SlotPool(name, 1), SlotPool(name, 1)
        async with holder.slot():
            other.reserve(1)
            await asyncio.sleep(1.5)
            asked = other.requests
        await holder.close()
        await other.close()
        return asked

    assert asyncio.run(main()) == 1
