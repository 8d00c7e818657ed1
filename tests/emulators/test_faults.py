"""Scripted faults on every vendor: what the client sees, and whether the call is billed."""

from __future__ import annotations

import base64
import json
import time

import httpx
import pytest

from prefect_image_edit.emulators import BILLED, FaultKind

VENDORS = ("ailabtools", "tencent", "volcengine")


@pytest.fixture
def call(tencent, volcengine, ailab, img):
    """A valid paid call per vendor: call(vendor, client=None) -> httpx.Response."""

    def run(vendor: str, client: httpx.Client | None = None):
        callers = {"tencent": tencent, "volcengine": volcengine, "ailabtools": ailab}
        caller = callers[vendor]
        if client is not None:
            caller.http = client
        if vendor == "tencent":
            return tencent.post(
                {
                    "InputImage": base64.b64encode(img.scene()).decode(),
                    "Mask": base64.b64encode(img.mask_png()).decode(),
                    "LogoAdd": 0,
                }
            )
        if vendor == "volcengine":
            images = [base64.b64encode(d).decode() for d in (img.scene(), img.mask_png())]
            return volcengine.post({"req_key": "i2i_inpainting", "binary_data_base64": images})
        return ailab.remove()

    return run


def code_of(vendor: str, response: httpx.Response):
    data = response.json()
    if vendor == "tencent":
        return data["Response"].get("Error", {}).get("Code")
    if vendor == "volcengine":
        meta = data.get("ResponseMetadata")
        return meta["Error"]["Code"] if meta else data["code"]
    return data["error_detail"]["code"] or None


ERRORS = {
    FaultKind.SERVER_ERROR: {
        "tencent": (200, "InternalError"),
        "volcengine": (500, 50500),
        "ailabtools": (500, "SERVICE_INTERNAL_ERROR"),
    },
    FaultKind.RATE_LIMIT: {
        "tencent": (200, "RequestLimitExceeded"),
        "volcengine": (429, 50429),
        "ailabtools": (429, "EXCEEDING_LIMITS"),
    },
    FaultKind.GATEWAY_RATE_LIMIT: {
        "tencent": (200, "RequestLimitExceeded.UinLimitExceeded"),
        "volcengine": (429, "FlowLimitExceeded"),
        "ailabtools": (503, "AI_SERVICE_FLOW_RESTRICTION"),
    },
    FaultKind.CONCURRENCY_LIMIT: {
        "tencent": (200, "RequestLimitExceeded.JobNumExceed"),
        "volcengine": (429, 50430),
        "ailabtools": (429, "EXCEEDING_LIMITS"),
    },
    FaultKind.MODERATION: {
        "tencent": (200, "OperationDenied.ImageIllegalDetected"),
        "volcengine": (400, 50411),
        "ailabtools": (422, "FILE_CONTENT_NON_COMPLIANCE"),
    },
}


@pytest.mark.parametrize("vendor", VENDORS)
@pytest.mark.parametrize("kind", list(ERRORS))
def test_error_faults_use_the_vendor_envelope_and_are_not_billed(emu, call, vendor, kind):
    emu.inject(vendor, kind)
    status, code = ERRORS[kind][vendor]
    response = call(vendor)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert code_of(vendor, response) == code
    assert emu.counters.billable(vendor) == 0
    assert call(vendor).status_code == 200  # one time only
    assert emu.counters.billable(vendor) == 1


def test_ghost_face_is_volcengine_only_and_not_billed(emu, call):
    with pytest.raises(ValueError, match="volcengine"):
        emu.inject("tencent", FaultKind.GHOST_FACE)
    emu.inject("volcengine", FaultKind.GHOST_FACE)
    response = call("volcengine")
    assert response.status_code == 400 and code_of("volcengine", response) == 201304
    assert emu.counters.billable("volcengine") == 0


@pytest.mark.parametrize("vendor", VENDORS)
def test_gateway_error_is_a_bare_html_5xx(emu, call, vendor):
    emu.inject(vendor, FaultKind.GATEWAY_ERROR, status=503)
    response = call(vendor)
    assert response.status_code == 503 and response.headers["content-type"].startswith("text/html")
    assert emu.counters.billable(vendor) == 0


def test_rate_limit_can_carry_retry_after(emu, call):
    emu.inject("volcengine", FaultKind.RATE_LIMIT, retry_after=7)
    assert call("volcengine").headers["retry-after"] == "7"


@pytest.mark.parametrize("vendor", VENDORS)
@pytest.mark.parametrize(
    "kind", [FaultKind.RESET_BEFORE_PROCESSING, FaultKind.RESET_AFTER_PROCESSING]
)
def test_connection_resets_abort_tcp_without_an_answer(emu, call, vendor, kind):
    emu.inject(vendor, kind)
    with pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)):
        call(vendor)
    assert emu.counters.billable(vendor) == (1 if BILLED[kind] else 0)
    if BILLED[kind]:
        (record,) = emu.counters.billing_records(vendor)
        assert record.fault == kind.value
    assert call(vendor).status_code == 200  # the server is fine afterwards


@pytest.mark.parametrize("vendor", VENDORS)
def test_timeout_hangs_after_billing(emu, call, vendor):
    emu.inject(vendor, FaultKind.TIMEOUT, seconds=2)
    with httpx.Client(timeout=httpx.Timeout(5.0, read=0.5), trust_env=False) as client:
        started = time.monotonic()
        with pytest.raises(httpx.ReadTimeout):
            call(vendor, client)
        assert time.monotonic() - started < 3
    assert emu.counters.billable(vendor) == 1


@pytest.mark.parametrize("vendor", VENDORS)
def test_malformed_json_after_billing(emu, call, vendor):
    emu.inject(vendor, FaultKind.MALFORMED_JSON)
    response = call(vendor)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    with pytest.raises(json.JSONDecodeError):
        response.json()
    assert emu.counters.billable(vendor) == 1


@pytest.mark.parametrize("vendor", VENDORS)
def test_slow_delays_then_answers(emu, call, vendor):
    emu.inject(vendor, FaultKind.SLOW, delay=0.4)
    started = time.monotonic()
    response = call(vendor)
    assert time.monotonic() - started >= 0.4
    assert response.status_code == 200 and code_of(vendor, response) in (None, 10000)
    assert emu.counters.billable(vendor) == 1


def test_matching_by_times_action_and_account(emu, call, ailab):
    emu.inject("ailabtools", FaultKind.RATE_LIMIT, times=2, action="remove-objects-advanced")
    emu.inject("ailabtools", FaultKind.SERVER_ERROR, account="emulator-ailab-someone-else")
    emu.inject("tencent", "rate_limit", action="SomeOtherAction")
    assert [call("ailabtools").status_code for _ in range(3)] == [429, 429, 200]
    assert call("tencent").json()["Response"].get("Error") is None
    assert [f.kind for f in emu.state.faults.pending()] == [
        FaultKind.SERVER_ERROR,
        FaultKind.RATE_LIMIT,
    ]
    with pytest.raises(ValueError, match="Unknown fault kind"):
        emu.inject("tencent", "meteor_strike")
    with pytest.raises(ValueError, match="Unknown vendor"):
        emu.inject("aws", FaultKind.RATE_LIMIT)


def test_task_failure_fails_the_async_task_unbilled(emu, ailab):
    emu.settings.ailabtools.task_queued_seconds = 0
    emu.settings.ailabtools.task_processing_seconds = 0
    emu.inject("ailabtools", FaultKind.TASK_FAILURE)
    submitted = ailab.try_on()
    assert submitted.status_code == 200
    failed = ailab.query(submitted.json()["task_id"])
    assert failed.status_code == 422
    data = failed.json()
    assert data["task_status"] == 3 and data["output"]["task_status"] == "FAILED"
    assert data["error_detail"]["code"] == "ERROR_POSE_NOT_ENOUGH_KEYPOINTS"
    assert emu.counters.billable("ailabtools") == 0
    assert emu.ailabtools_credits_left() == emu.settings.ailabtools.credits
    emu.settings.ailabtools.failed_task_http_status = 200
    quiet = ailab.query(submitted.json()["task_id"])
    assert quiet.status_code == 200 and quiet.json()["task_status"] == 3


def test_faults_on_polls_and_downloads(emu, ailab, http):
    emu.settings.ailabtools.task_queued_seconds = 0
    emu.settings.ailabtools.task_processing_seconds = 0
    task_id = ailab.try_on().json()["task_id"]
    emu.inject("ailabtools", FaultKind.RATE_LIMIT, action="query-async-task-result")
    assert ailab.query(task_id).status_code == 429
    url = ailab.query(task_id).json()["output"]["image_url"]
    emu.inject("ailabtools", FaultKind.SERVER_ERROR, action="download")
    broken = http.get(url)
    assert broken.status_code == 500 and b"<Code>InternalError</Code>" in broken.content
    assert http.get(url).status_code == 200
    assert emu.counters.polls(task_id) == 2
