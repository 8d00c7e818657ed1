"""One paid request, with DESIGN.md's money rules applied around it (no Prefect inside).

- The ledger records the request before it goes out (``IN_FLIGHT``) and the answer the moment it
  arrives, so a crash in between is visible afterwards as a possible double charge.
- A failure after the vendor may have accepted the job (``RETRY_ONCE``) leaves the record in
  flight: the resend that follows is counted as a possible double charge, and a second such
  failure turns permanent, so a possibly billed job is resent at most once.
- A failure before acceptance (``RESUBMIT``) cost nothing; a permanent one marks the record failed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager, nullcontext
from typing import TypeVar

from prefect_image_edit.ledger import CallState, Ledger, PaidCall
from prefect_image_edit.state import RepaymentReason, StateStore
from prefect_image_edit.vendors.errors import ErrorKind, RetryVerdict, VendorError

__all__ = ["MAX_AMBIGUOUS_FAILURES", "pay", "pay_once"]

T = TypeVar("T")

MAX_AMBIGUOUS_FAILURES = 2
"""The first ambiguous failure may be retried once; the second is final."""


def _permanent(error: VendorError, reason: str) -> VendorError:
    copy = type(error).__new__(type(error))
    copy.__dict__.update(error.__dict__)
    copy.retry = RetryVerdict.PERMANENT
    copy.message = f"{error.message} ({reason})"
    copy.args = (copy._render(),)
    return copy


async def pay(ledger: Ledger, record: PaidCall, send: Callable[[], Awaitable[T]]) -> T:
    """Send one paid request through ``send()``, keeping ``ledger`` truthful around it.

    Returns:
        Whatever ``send()`` returns; the caller records the result (``READY``/``SUBMITTED``).

    Raises:
        VendorError: from ``send()``; a second ambiguous failure is re-raised as permanent.
    """
    started = ledger.begin_attempt(record)
    try:
        return await send()
    except VendorError as error:
        _record_failure(ledger, started, error)
        if error.retry is RetryVerdict.RETRY_ONCE:
            latest = ledger.get(record.key)
            if latest is not None and latest.ambiguous_failures >= MAX_AMBIGUOUS_FAILURES:
                raise _permanent(error, "already resent once after an ambiguous failure") from error
        raise
    except (asyncio.CancelledError, TimeoutError) as error:
        # Interrupted while the request was out (a task timeout, a cancelled flow): the vendor
        # may have accepted it. Same rule as an ambiguous failure.
        ledger.update(
            record.key,
            ambiguous_failures=started.ambiguous_failures + 1,
            error=f"interrupted: {type(error).__name__}",
        )
        raise


def _record_failure(ledger: Ledger, started: PaidCall, error: VendorError) -> None:
    if error.retry is RetryVerdict.RETRY_ONCE:
        # Outcome unknown: stay IN_FLIGHT, so the resend counts as a possible double charge.
        ledger.update(
            started.key,
            ambiguous_failures=started.ambiguous_failures + 1,
            error=str(error),
            request_ids=_with(started.request_ids, error.request_id),
        )
    else:
        ledger.update(
            started.key,
            state=CallState.FAILED,
            error=str(error),
            request_ids=_with(started.request_ids, error.request_id),
        )


def _with(ids: list[str], new: str | None) -> list[str]:
    return [*ids, new] if new and new not in ids else list(ids)


async def pay_once(
    store: StateStore,
    call: PaidCall,
    send: Callable[[], Awaitable[T]],
    *,
    slot: AbstractAsyncContextManager[object] | None = None,
    repayment: RepaymentReason | None = None,
    detail: str | None = None,
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

    Returns:
        Whatever ``send()`` returns; the caller records the answer (``record_answer``).
    """
    async with slot or nullcontext():
        if repayment is not None:
            started = await store.record_repayment(call, repayment, detail)
        else:
            started = await store.begin(call)
        try:
            return await send()
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


async def _record_vendor_failure(store: StateStore, started: PaidCall, error: VendorError) -> None:
    if error.retry is RetryVerdict.RETRY_ONCE:
        await store.record_ambiguous_failure(started.key, str(error), request_id=error.request_id)
    else:
        await store.mark_failed(
            started.key,
            str(error),
            request_id=error.request_id,
            poisoned=error.kind is ErrorKind.BAD_RESULT,
        )
