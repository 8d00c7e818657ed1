"""Every scripted fault, met by the real clients: the typed error, its verdict, and billing.

Expectations come from docs/vendors/ (codes, HTTP statuses) and docs/design.md#money-rules
(verdicts); billing is what the emulator documents per fault kind (``BILLED``).
"""

from __future__ import annotations

import socket
import time

import httpx
import pytest

from prefect_image_edit.emulators import BILLED, FaultKind
from prefect_image_edit.vendors import (
    EraseResult,
    ErrorKind,
    ModerationError,
    RateLimitedError,
    RetryVerdict,
    VendorRequestError,
    VendorServerError,
)

from .conftest import ERASE_ACTION, VENDORS, Tap, erase, garment, overlapping, person

pytestmark = pytest.mark.anyio

K, R = ErrorKind, RetryVerdict

# kind -> vendor -> (exception, error kind, verdict, code, HTTP status)
API_FAULTS = {
    FaultKind.SERVER_ERROR: {
        "ailabtools": (VendorServerError, K.SERVER, R.RETRY_ONCE, "SERVICE_INTERNAL_ERROR", 500),
        "tencent": (VendorServerError, K.SERVER, R.RETRY_ONCE, "InternalError", 200),
        "volcengine": (VendorServerError, K.SERVER, R.RETRY_ONCE, "50500", 500),
    },
    FaultKind.RATE_LIMIT: {
        "ailabtools": (RateLimitedError, K.RATE_LIMITED, R.RESUBMIT, "EXCEEDING_LIMITS", 429),
        "tencent": (RateLimitedError, K.RATE_LIMITED, R.RESUBMIT, "RequestLimitExceeded", 200),
        "volcengine": (RateLimitedError, K.RATE_LIMITED, R.RESUBMIT, "50429", 429),
    },
    FaultKind.GATEWAY_RATE_LIMIT: {
        "ailabtools": (
            RateLimitedError,
            K.RATE_LIMITED,
            R.RESUBMIT,
            "AI_SERVICE_FLOW_RESTRICTION",
            503,
        ),
        "tencent": (
            RateLimitedError,
            K.RATE_LIMITED,
            R.RESUBMIT,
            "RequestLimitExceeded.UinLimitExceeded",
            200,
        ),
        "volcengine": (RateLimitedError, K.RATE_LIMITED, R.RESUBMIT, "FlowLimitExceeded", 429),
    },
    FaultKind.CONCURRENCY_LIMIT: {
        "ailabtools": (RateLimitedError, K.RATE_LIMITED, R.RESUBMIT, "EXCEEDING_LIMITS", 429),
        "tencent": (
            RateLimitedError,
            K.RATE_LIMITED,
            R.RESUBMIT,
            "RequestLimitExceeded.JobNumExceed",
            200,
        ),
        "volcengine": (RateLimitedError, K.RATE_LIMITED, R.RESUBMIT, "50430", 429),
    },
    FaultKind.MODERATION: {
        "ailabtools": (
            ModerationError,
            K.MODERATION,
            R.PERMANENT,
            "FILE_CONTENT_NON_COMPLIANCE",
            422,
        ),
        "tencent": (
            ModerationError,
            K.MODERATION,
            R.PERMANENT,
            "OperationDenied.ImageIllegalDetected",
            200,
        ),
        "volcengine": (ModerationError, K.MODERATION, R.PERMANENT, "50411", 400),
    },
}


def _credits(emu, vendor: str) -> int | None:
    return emu.ailabtools_credits_left() if vendor == "ailabtools" else None


@pytest.mark.parametrize("vendor", VENDORS)
@pytest.mark.parametrize("kind", list(API_FAULTS))
async def test_error_envelopes(emu, clients, vendor, kind):
    exc, error_kind, verdict, code, status = API_FAULTS[kind][vendor]
    credits = _credits(emu, vendor)
    emu.inject(vendor, kind)
    tap = Tap()
    async with clients.of(vendor, transport=tap) as client:
        with pytest.raises(exc) as caught:
            await erase(vendor, client)
        error = caught.value
        assert type(error) is exc
        assert (error.kind, error.retry, error.code) == (error_kind, verdict, code)
        assert (error.vendor, error.action) == (vendor, ERASE_ACTION[vendor])
        assert error.http_status == status
        assert error.request_id == tap.request_id(vendor) and error.request_id
        assert emu.counters.billable(vendor) == int(BILLED[kind]) == 0
        assert _credits(emu, vendor) == credits
        # The fault is used up: the next call goes through and is billed once.
        assert isinstance(await erase(vendor, client), EraseResult)
    assert emu.counters.billable(vendor) == 1


@pytest.mark.parametrize("vendor", VENDORS)
@pytest.mark.parametrize(
    ("status", "verdict"),
    [(502, R.RESUBMIT), (503, R.RESUBMIT), (504, R.RETRY_ONCE)],
)
async def test_gateway_html_pages(emu, clients, vendor, status, verdict):
    emu.inject(vendor, FaultKind.GATEWAY_ERROR, status=status)
    async with clients.of(vendor) as client:
        with pytest.raises(VendorServerError) as caught:
            await erase(vendor, client)
    error = caught.value
    assert (error.kind, error.retry, error.code) == (K.SERVER, verdict, "")
    assert (error.http_status, error.request_id) == (status, None)
    assert emu.counters.billable(vendor) == 0


TRANSPORT_FAULTS = [
    # kind, fault parameters, error kind, HTTP status the client saw
    (FaultKind.RESET_BEFORE_PROCESSING, {}, K.NETWORK, None),
    (FaultKind.RESET_AFTER_PROCESSING, {}, K.NETWORK, None),
    (FaultKind.TIMEOUT, {"seconds": 1.0}, K.NETWORK, None),
    (FaultKind.MALFORMED_JSON, {}, K.SERVER, 200),
]


@pytest.mark.parametrize("vendor", VENDORS)
@pytest.mark.parametrize(("kind", "params", "error_kind", "status"), TRANSPORT_FAULTS)
async def test_no_usable_answer(emu, clients, vendor, kind, params, error_kind, status):
    """The request went out and no answer can be read: at most one retry, whatever was billed."""
    credits = _credits(emu, vendor)
    emu.inject(vendor, kind, **params)
    timeout = httpx.Timeout(10.0, read=0.3)
    async with clients.of(vendor, timeout=timeout) as client:
        started = time.monotonic()
        with pytest.raises(VendorRequestError) as caught:
            await erase(vendor, client)
        assert time.monotonic() - started < 5
    error = caught.value
    assert (error.kind, error.retry, error.http_status) == (error_kind, R.RETRY_ONCE, status)
    if kind is FaultKind.TIMEOUT:
        assert "ReadTimeout" in error.message
    billed = BILLED[kind]
    assert emu.counters.billable(vendor) == int(billed)
    if billed:
        (record,) = emu.counters.billing_records(vendor)
        assert record.fault == kind.value  # a possible double charge, as the emulator notes it
    if vendor == "ailabtools":
        assert emu.ailabtools_credits_left() == credits - (20 if billed else 0)


@pytest.mark.parametrize("vendor", VENDORS)
async def test_the_client_recovers_after_a_dropped_connection(emu, clients, vendor):
    async with clients.of(vendor) as client:
        await erase(vendor, client)  # leaves a pooled keep-alive connection
        emu.inject(vendor, FaultKind.RESET_AFTER_PROCESSING)
        with pytest.raises(VendorRequestError):
            await erase(vendor, client)
        assert (await erase(vendor, client)).image_bytes
    assert emu.counters.billable(vendor) == 3


@pytest.mark.parametrize("vendor", VENDORS)
async def test_connection_refused_is_safe_to_resubmit(emu, clients, vendor):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with clients.of(vendor, url=f"http://127.0.0.1:{port}", default_transport=True) as client:
        with pytest.raises(VendorRequestError) as caught:
            await erase(vendor, client)
    error = caught.value
    assert (error.kind, error.retry, error.http_status) == (K.NETWORK, R.RESUBMIT, None)
    assert "ConnectError" in error.message
    assert emu.counters.requests(vendor) == 0


@pytest.mark.parametrize("vendor", VENDORS)
async def test_slow_answers_still_arrive_and_bill_once(emu, clients, vendor):
    emu.inject(vendor, FaultKind.SLOW, delay=0.3)
    async with clients.of(vendor) as client:
        started = time.monotonic()
        result = await erase(vendor, client)
    assert time.monotonic() - started >= 0.3 and result.image_bytes
    (record,) = emu.counters.billing_records(vendor)
    assert record.fault is None and result.request_id == record.request_id


@pytest.mark.parametrize("kind", [FaultKind.RATE_LIMIT, FaultKind.SERVER_ERROR])
async def test_faults_on_polls_raise_and_leave_the_task_alone(emu, clients, kind):
    emu.settings.ailabtools.task_queued_seconds = 0
    emu.settings.ailabtools.task_processing_seconds = 0
    async with clients.ailabtools() as client:
        submission = await client.submit_try_on_pro(person(), garment())
        emu.inject("ailabtools", kind, action="query-async-task-result")
        with pytest.raises((RateLimitedError, VendorServerError)) as caught:
            await client.query_async_task(submission.task_id)
        assert caught.value.retry.transient
        result = await client.query_async_task(submission.task_id)
    assert result.image_url
    assert emu.counters.billable("ailabtools") == 1


REAL_LIMIT_CODE = {"ailabtools": "EXCEEDING_LIMITS", "volcengine": "50430"}


@pytest.mark.parametrize("vendor", ["ailabtools", "volcengine"])
async def test_a_configured_concurrency_limit_refuses_the_second_job(emu, clients, vendor):
    # Tencent's default limit of 1 has its own test; the others have it configurable.
    settings = emu.settings.vendor(vendor)
    settings.max_concurrency, settings.latency = 1, 0.4
    async with clients.of(vendor) as client:
        done, refused = await overlapping(emu, vendor, lambda: erase(vendor, client))
    assert isinstance(done, EraseResult), done
    assert isinstance(refused, RateLimitedError), refused
    assert (refused.code, refused.retry) == (REAL_LIMIT_CODE[vendor], R.RESUBMIT)
    assert refused.http_status == 429
    assert emu.counters.max_in_flight(vendor) == 2
    assert emu.counters.billable(vendor) == 1
