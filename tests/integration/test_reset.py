"""``reset()`` between tests, with a paid call still running at the emulator.

A client that gives up (a read timeout) leaves its job running on the emulator. When the next
test resets the emulators, that leftover job must not leak into the fresh state when it ends:
no concurrency slot or in-flight count released twice, no late charge, no credits given back
twice. Otherwise the next test sees two Tencent jobs run at once, or a charge it never made.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest

from prefect_image_edit.emulators import FaultKind
from prefect_image_edit.vendors import EraseResult, RateLimitedError, VendorRequestError

from .conftest import erase, garment, mask_png, overlapping, person, scene, until

pytestmark = pytest.mark.anyio

LATENCY = 0.6
GIVE_UP = httpx.Timeout(5.0, read=0.1)


async def test_a_leftover_tencent_job_does_not_leak_into_the_reset_state(emu, clients):
    emu.settings.tencent.latency = LATENCY
    async with clients.tencent(timeout=GIVE_UP) as client:
        with pytest.raises(VendorRequestError):
            await erase("tencent", client)
    # The client gave up; the emulator is still working on the job.
    await until(lambda: emu.state.slots.running("tencent", emu.tencent.secret_id) == 1)
    emu.reset()
    await asyncio.sleep(LATENCY + 0.3)  # the leftover job ends
    secret_id = emu.tencent.secret_id
    assert emu.counters.current_in_flight("tencent") == 0
    assert emu.state.slots.running("tencent", secret_id) == 0
    assert emu.counters.billable("tencent") == 0
    # The one-job limit still holds after the reset.
    emu.settings.tencent.latency = 0.3
    async with clients.tencent() as client:
        done, refused = await overlapping(emu, "tencent", lambda: erase("tencent", client))
    assert isinstance(done, EraseResult) and isinstance(refused, RateLimitedError)
    assert emu.counters.max_in_flight("tencent") == 2
    assert emu.counters.billable("tencent") == 1


async def test_a_leftover_failing_task_gives_no_credits_back_after_reset(emu, clients):
    emu.settings.ailabtools.latency = LATENCY
    emu.inject("ailabtools", FaultKind.TASK_FAILURE)
    async with clients.ailabtools(timeout=GIVE_UP) as client:
        with pytest.raises(VendorRequestError):
            await client.submit_try_on_pro(person(), garment())
    credits = emu.settings.ailabtools.credits
    await until(lambda: emu.ailabtools_credits_left() == credits - 30)  # accepted, running
    emu.reset()
    await asyncio.sleep(LATENCY + 0.3)
    assert emu.ailabtools_credits_left() == emu.settings.ailabtools.credits
    assert emu.counters.current_in_flight("ailabtools") == 0
    async with clients.ailabtools() as client:
        await client.remove_objects_advanced(scene(), mask_png())
    assert emu.ailabtools_credits_left() == emu.settings.ailabtools.credits - 20
