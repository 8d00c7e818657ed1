"""The life of one paid call, the same for every vendor: faults, acceptance, work, billing.

The order is what decides billing (see ``faults.py``)::

    authenticate -> take a scripted fault -> [SLOW delay] -> pre-acceptance faults
    (incl. NO_CREDITS, ARREARS, TOKEN_EXPIRED) -> validate -> concurrency slot -> [MODERATION]
    -> latency -> work -> [GHOST_FACE, OUTPUT_MODERATION] -> bill -> [EMPTY_RESULT,
    CORRUPT_RESULT: ``tamper``] -> answer -> post-processing faults (reset, timeout, malformed)

Vendor routes call these steps; vendor ``errors.py`` modules say how each fault looks on the
wire through ``Call.fault_error``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from starlette.requests import Request
from starlette.responses import Response

from prefect_image_edit.emulators.counters import BillingRecord
from prefect_image_edit.emulators.faults import BILLED, Fault, FaultKind, RequestClass
from prefect_image_edit.emulators.wire import (
    AbortResponse,
    EmulatorError,
    HangResponse,
    gateway_page,
    pause,
    truncated,
)

if TYPE_CHECKING:
    from prefect_image_edit.emulators.settings import VendorSettings
    from prefect_image_edit.emulators.state import EmulatorState

__all__ = ["CORRUPT_HTML", "Call", "before_acceptance", "deliver", "run_job", "tamper"]

T = TypeVar("T")

_PRE_ERRORS = (
    FaultKind.SERVER_ERROR,
    FaultKind.RATE_LIMIT,
    FaultKind.GATEWAY_RATE_LIMIT,
    FaultKind.CONCURRENCY_LIMIT,
    FaultKind.NO_CREDITS,
    FaultKind.ARREARS,
    FaultKind.TOKEN_EXPIRED,
    FaultKind.URL_FORBIDDEN,
)
# Refusals of a job that did run (its output failed the vendor's own check): not billed.
_AFTER_WORK = (FaultKind.GHOST_FACE, FaultKind.OUTPUT_MODERATION)

# What a CDN or a misconfigured store serves instead of an image.
CORRUPT_HTML = (
    b"<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>"
    b"<body><h1>502 Bad Gateway</h1><p>The upstream image service is unavailable.</p>"
    b"</body></html>\n"
)


@dataclass
class Call:
    """One request going through an emulator, with everything its answer needs."""

    state: EmulatorState
    vendor: str
    action: str
    cls: RequestClass
    request: Request
    fault_error: Callable[[Call, FaultKind], EmulatorError]
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    started: float = field(default_factory=time.perf_counter)
    account: str | None = None
    fault: Fault | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    # The counters' generation when the call began: a reset since then makes its late
    # charges and refunds no business of the fresh state.
    generation: int = field(init=False, default=-1)

    def __post_init__(self) -> None:
        self.generation = self.state.counters.generation

    @property
    def stale(self) -> bool:
        """True once the emulators were reset after this call began."""
        return self.generation != self.state.counters.generation

    @property
    def settings(self) -> VendorSettings:
        return self.state.settings.vendor(self.vendor)

    @property
    def kind(self) -> FaultKind | None:
        return self.fault.kind if self.fault is not None else None

    def take_fault(self) -> Fault | None:
        self.fault = self.state.faults.take(self.vendor, self.action, self.account, self.cls)
        return self.fault

    def elapsed(self) -> float:
        return time.perf_counter() - self.started


async def before_acceptance(call: Call) -> Response | None:
    """Apply a SLOW delay and the faults that strike before the vendor accepts the job.

    Returns a response to send instead of doing the job, or ``None`` to carry on.

    Raises:
        EmulatorError: the fault is a vendor error (5xx, rate or concurrency limit).
    """
    kind = call.kind
    if kind is None:
        return None
    if kind is FaultKind.SLOW:
        await pause(float(call.fault.param("delay", 2.0)), call.state.stopping)
        return None
    if kind in (FaultKind.GATEWAY_ERROR, FaultKind.RESET_BEFORE_PROCESSING):
        # Take the whole upload first, so the client fails reading the answer, not writing.
        await call.request.body()
        if kind is FaultKind.GATEWAY_ERROR:
            return gateway_page(int(call.fault.param("status", 502)))
        return AbortResponse()
    if kind in _PRE_ERRORS:
        raise call.fault_error(call, kind)
    return None


async def run_job(
    call: Call,
    work: Callable[[], Awaitable[T]],
    *,
    billable: bool = True,
    accept: Callable[[], None] | None = None,
    refund: Callable[[], None] | None = None,
) -> T:
    """Run an accepted paid job under the account's concurrency limit, and bill it.

    Args:
        call: The request.
        work: Produces the result (after the configured latency).
        billable: Whether a finished job is charged (an async task bound to fail is not).
        accept: Called once the slot is held, e.g. to reserve credits; may raise.
        refund: Called when an accepted job ends unbilled, e.g. to return reserved credits.

    Raises:
        EmulatorError: over the concurrency limit, moderation, or a GHOST_FACE fault.
    """
    state, account = call.state, call.account or ""
    limit = call.settings.concurrency_for(account)
    ticket = state.slots.try_acquire(call.vendor, account, limit)
    if ticket is None:
        raise call.fault_error(call, FaultKind.CONCURRENCY_LIMIT)
    try:
        if accept is not None:
            accept()
        billed = False
        try:
            if call.kind is FaultKind.MODERATION:
                raise call.fault_error(call, FaultKind.MODERATION)
            await pause(call.settings.latency, state.stopping)
            result = await work()
            if call.kind in _AFTER_WORK:
                raise call.fault_error(call, call.kind)
            if billable:
                bill(call)
                billed = True
            return result
        finally:
            if not billed and refund is not None and not call.stale:
                refund()
    finally:
        state.slots.release(call.vendor, account, ticket)


def bill(call: Call, units: int = 1) -> None:
    """Record one charge, noting a fault that will hide the answer from the client."""
    kind = call.kind
    hidden = (
        kind.value if kind is not None and BILLED.get(kind) and kind is not FaultKind.SLOW else None
    )
    call.state.counters.record_billable(
        BillingRecord(
            vendor=call.vendor,
            account=call.account or "",
            action=call.action,
            request_id=call.request_id,
            at=call.state.clock.time(),
            units=units,
            fault=hidden,
        ),
        generation=call.generation,
    )


def tamper(call: Call, data: bytes) -> bytes:
    """The result image as the fault would deliver it: empty, an HTML page, or truncated.

    Routes pass every result through this before encoding or publishing it, so the same bad
    bytes reach the Base64 answer and the result URL.
    """
    kind = call.kind
    if kind is FaultKind.EMPTY_RESULT:
        return b""
    if kind is FaultKind.CORRUPT_RESULT:
        if call.fault.param("variant", "html") == "truncated":
            return data[: max(1, len(data) // 3)]
        return CORRUPT_HTML
    return data


def deliver(call: Call, response: Response) -> Response:
    """Apply the faults that strike once the answer is ready: reset, timeout, malformed JSON."""
    kind = call.kind
    if kind is FaultKind.RESET_AFTER_PROCESSING:
        return AbortResponse()
    if kind is FaultKind.TIMEOUT:
        seconds = float(call.fault.param("seconds", call.state.settings.hang_seconds))
        return HangResponse(seconds, call.state.stopping)
    if kind is FaultKind.MALFORMED_JSON and not isinstance(response, AbortResponse | HangResponse):
        return truncated(response)
    return response
