"""The money rules of one paid request (``tasks.paid.pay_once``), as a table, with no Prefect.

Each row: what the vendor call did, then what the state says and what a resend would count.
"""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager

import pytest

from prefect_image_edit.state import CallState, PaidCall, RepaymentReason
from prefect_image_edit.state.embedded import EmbeddedStore
from prefect_image_edit.tasks.paid import pay_once
from prefect_image_edit.vendors.errors import (
    BadResultError,
    ErrorKind,
    RateLimitedError,
    RetryVerdict,
    VendorError,
    VendorRequestError,
    VendorServerError,
)

pytestmark = pytest.mark.anyio


def _error(cls, verdict, kind=ErrorKind.SERVER):
    return cls("x", vendor="tencent", action="A", kind=kind, retry=verdict)


CALL = PaidCall(key="k", vendor="tencent", action="A")

# outcome of the call -> (state after, ambiguous failures, doubles counted by the resend,
# verdict re-raised)
TABLE = [
    ("answered", None, (CallState.IN_FLIGHT, 0, 0, None)),
    (
        "rate limited (not accepted)",
        _error(RateLimitedError, RetryVerdict.RESUBMIT, ErrorKind.RATE_LIMITED),
        (CallState.FAILED, 0, 0, RetryVerdict.RESUBMIT),
    ),
    (
        "vendor 5xx before processing",
        _error(VendorServerError, RetryVerdict.RESUBMIT),
        (CallState.FAILED, 0, 0, RetryVerdict.RESUBMIT),
    ),
    (
        "reset after sending (maybe billed)",
        _error(VendorRequestError, RetryVerdict.RETRY_ONCE, ErrorKind.NETWORK),
        (CallState.IN_FLIGHT, 1, 1, RetryVerdict.RETRY_ONCE),
    ),
    (
        "refused for good",
        _error(VendorServerError, RetryVerdict.PERMANENT),
        (CallState.FAILED, 0, 0, RetryVerdict.PERMANENT),
    ),
    (
        "answered with a non-image (billed)",
        _error(BadResultError, RetryVerdict.PERMANENT, ErrorKind.BAD_RESULT),
        (CallState.FAILED, 0, 0, RetryVerdict.PERMANENT),
    ),
    ("timed out while out", TimeoutError(), (CallState.IN_FLIGHT, 1, 1, None)),
]


@pytest.fixture
def store(tmp_path):
    return EmbeddedStore(tmp_path / "state")


@pytest.mark.parametrize(("case", "raised", "expected"), TABLE, ids=[row[0] for row in TABLE])
async def test_money_rules(store, case, raised, expected):
    state, ambiguous, doubles, verdict = expected

    async def send():
        if raised is not None:
            raise raised
        return "answer"

    if raised is None:
        assert await pay_once(store, CALL, send) == "answer"
    else:
        with pytest.raises(type(raised)) as info:
            await pay_once(store, CALL, send)
        if isinstance(raised, VendorError):
            assert info.value.retry is verdict
    record = await store.get("k")
    assert (record.state, record.ambiguous_failures, record.attempts) == (state, ambiguous, 1)
    assert record.poisoned is (getattr(raised, "kind", None) is ErrorKind.BAD_RESULT)
    if state is not CallState.IN_FLIGHT or raised is not None:
        # What a resend would count: only where the vendor may have billed the first request.
        if state is CallState.FAILED and record.poisoned:
            resend = await store.record_repayment(CALL, RepaymentReason.POISONED)
        else:
            resend = await store.begin(CALL)
        assert resend.possible_double_charges == doubles


async def test_a_second_ambiguous_failure_turns_permanent(store):
    async def send():
        raise _error(VendorRequestError, RetryVerdict.RETRY_ONCE, ErrorKind.NETWORK)

    with pytest.raises(VendorRequestError) as first:
        await pay_once(store, CALL, send)
    assert first.value.retry is RetryVerdict.RETRY_ONCE
    with pytest.raises(VendorRequestError) as second:
        await pay_once(store, CALL, send)
    assert second.value.retry is RetryVerdict.PERMANENT
    record = await store.get("k")
    assert (record.attempts, record.possible_double_charges) == (2, 1)


async def test_nothing_is_recorded_while_waiting_for_the_slot(store):
    seen: list[PaidCall | None] = []
    release = asyncio.Event()

    @asynccontextmanager
    async def slot():
        seen.append(await store.get("k"))
        await release.wait()
        yield

    async def send():
        return "answer"

    waiting = asyncio.create_task(pay_once(store, CALL, send, slot=slot()))
    await asyncio.sleep(0.05)
    assert seen == [None] and await store.get("k") is None
    release.set()
    assert await waiting == "answer"
    assert (await store.get("k")).attempts == 1
