"""One paid request, with docs/design.md#money-rules applied around it (no Prefect inside).

- The shared state records the request once its vendor slot is held and just before it goes
  out (``IN_FLIGHT``), and the answer the moment it arrives, so a crash in between is visible
  afterwards as a possible double charge, and a call queued for a slot never is.
- A failure after the vendor may have accepted the job (``RETRY_ONCE``) leaves the record in
  flight: the resend that follows is counted as a possible double charge, and a second such
  failure turns permanent, so a possibly billed job is resent at most once.
- A failure before acceptance (``RESUBMIT``) cost nothing; a permanent one marks the record failed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager, nullcontext
from typing import Protocol, TypeVar

from prefect_image_edit.state import PaidCall, RepaymentReason, StateStore
from prefect_image_edit.vendors.errors import (
    ErrorKind,
    RetryVerdict,
    VendorError,
    VendorRequestError,
)

__all__ = ["MAX_AMBIGUOUS_FAILURES", "Meter", "may_have_billed", "pay_once"]

T = TypeVar("T")

MAX_AMBIGUOUS_FAILURES = 2
"""The first ambiguous failure may be retried once; the second is final."""


class Meter(Protocol):
    """Reserves a call's price before it goes out and settles it after (``tasks.cost``)."""

    async def reserve(self) -> None: ...

    async def settle(self, billed: bool) -> None: ...


def may_have_billed(error: BaseException) -> bool:
    """Whether a failed request may still have been billed by the vendor.

    A vendor error bills only when the job may have run: an ambiguous failure after the
    request was sent, or a paid but unusable result. Refusals (bad input, auth, no credits,
    rate limits, a rejected seed) and requests the vendor did not accept cost nothing. A
    timeout or a cancellation while the request was out may have been billed; so may any
    failure the pack did not classify.
    """
    if getattr(error, "possibly_billed", False):
        return True
    if isinstance(error, VendorError):
        return error.retry is RetryVerdict.RETRY_ONCE or error.kind is ErrorKind.BAD_RESULT
    return True


def _permanent(error: VendorError, reason: str) -> VendorError:
    copy = type(error).__new__(type(error))
    copy.__dict__.update(error.__dict__)
    copy.retry = RetryVerdict.PERMANENT
    copy.possibly_billed = True
    copy.message = f"{error.message} ({reason})"
    copy.args = (copy._render(),)
    return copy


async def pay_once(
    store: StateStore,
    call: PaidCall,
    send: Callable[[], Awaitable[T]],
    *,
    slot: AbstractAsyncContextManager[object] | None = None,
    repayment: RepaymentReason | None = None,
    detail: str | None = None,
    persist: Callable[[T], Awaitable[object]] | None = None,
    meter: Meter | None = None,
) -> T:
    """Send one paid request through ``send()``, keeping the shared state truthful around it.

    The call is marked in flight only once ``slot`` (the vendor's concurrency slot) is held, so
    calls still queued for a slot are never counted as possible double charges. Paying again
    for an input already paid for goes through ``record_repayment`` with its ``reason``.

    Failures are recorded by their verdict: a failure after the vendor may have accepted the
    job (``RETRY_ONCE``, a timeout, a cancellation) keeps the record in flight, so the resend
    counts one possible double charge, and a second such failure turns permanent; a result
    that came back unusable (``BAD_RESULT``, billed) marks the record poisoned; anything else
    (the vendor refused, or did not accept the job) marks it failed, free to try again.

    ``persist(answer)``, if given, runs before the slot is released: an async job's task id is
    what was paid for, and is written before anything else can fail.

    ``meter``, if given, reserves the call's price once the slot is held, before anything is
    recorded or sent (``BudgetExceeded`` there means nothing was paid), and settles it after:
    kept when the vendor may have billed (``may_have_billed``), released otherwise.

    Returns:
        Whatever ``send()`` returns; the caller records the answer (``record_answer``).
    """
    async with slot or nullcontext():
        if meter is not None:
            await meter.reserve()
        sent: list[bool] = []
        try:
            answer = await _send_recorded(store, call, send, repayment, detail, sent)
        except BaseException as error:
            if meter is not None:
                await asyncio.shield(meter.settle(bool(sent) and may_have_billed(error)))
            raise
        if meter is not None:
            await meter.settle(True)
        if persist is not None:
            await persist(answer)
        return answer


async def _send_recorded(
    store: StateStore,
    call: PaidCall,
    send: Callable[[], Awaitable[T]],
    repayment: RepaymentReason | None,
    detail: str | None,
    sent: list[bool],
) -> T:
    """Record the request as in flight, send it, record a failure by its verdict.

    ``sent`` gets an item once the request may have left (nothing is billed before).
    """
    if repayment is not None:
        started = await store.record_repayment(call, repayment, detail)
    else:
        started = await store.begin(call)
    try:
        sent.append(True)
        answer = await send()
    except VendorError as error:
        await _record_vendor_failure(store, started, error)
        if (
            error.retry is RetryVerdict.RETRY_ONCE
            and started.ambiguous_failures + 1 >= MAX_AMBIGUOUS_FAILURES
        ):
            raise _permanent(error, "already resent once after an ambiguous failure") from error
        raise
    except (asyncio.CancelledError, TimeoutError) as error:
        # Interrupted while the request was out: the vendor may have accepted it.
        await asyncio.shield(
            store.record_ambiguous_failure(started.key, f"interrupted: {type(error).__name__}")
        )
        raise
    return answer


def _unseen_outcome(error: VendorError) -> bool:
    """Whether the vendor may have billed without the client seeing the outcome: no usable
    answer (a reset, a timeout, an unreadable body) or a bare gateway page. A vendor's own
    error envelope (a 5xx code, an output refusal) says the job failed: vendors bill successes.
    """
    return isinstance(error, VendorRequestError) or not error.code


async def _record_vendor_failure(store: StateStore, started: PaidCall, error: VendorError) -> None:
    if error.retry is RetryVerdict.RETRY_ONCE and _unseen_outcome(error):
        await store.record_ambiguous_failure(started.key, str(error), request_id=error.request_id)
    else:
        await store.mark_failed(
            started.key,
            str(error),
            request_id=error.request_id,
            poisoned=error.kind is ErrorKind.BAD_RESULT,
        )
