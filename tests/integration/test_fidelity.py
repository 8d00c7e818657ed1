"""Vendor fidelity (issue 7) and the faults of issue 9, met by the real clients over real HTTP.

Each case injects (or configures) the emulator's behaviour, calls the real client, and checks
the typed error or result it raises or returns, and what the emulator billed for it.
"""

from __future__ import annotations

import asyncio
import io
import os
from datetime import UTC, datetime

import httpx
import pytest
from PIL import Image

from prefect_image_edit.archive.download import AllowList, download_to_spool
from prefect_image_edit.emulators import BILLED, FaultKind
from prefect_image_edit.errors import ResultExpired
from prefect_image_edit.testing import frozen_endpoint
from prefect_image_edit.vendors import (
    AuthError,
    BadResultError,
    ErrorKind,
    InvalidImageError,
    InvalidParameterError,
    LogoInfo,
    ModerationError,
    QuotaError,
    RateLimitedError,
    RetryVerdict,
    SeedRejectedError,
    TaskState,
    validate_result_image,
)
from prefect_image_edit.vendors._constants import TENCENT_MAX_BODY_BYTES

from .conftest import (
    ERASE_ACTION,
    VENDORS,
    Tap,
    encode,
    erase,
    flat,
    garment,
    http_client,
    mask_png,
    person,
    scene,
)

pytestmark = pytest.mark.anyio

R = RetryVerdict


def billed(emu, vendor: str) -> int:
    return emu.counters.billable(vendor, action=ERASE_ACTION[vendor])


# -- Volcengine: output moderation and 201304 take the new-seed path ------------------------
@pytest.mark.parametrize("code", [None, 50519])
async def test_volcengine_output_moderation_asks_for_a_new_seed(emu, clients, code):
    params = {} if code is None else {"code": code}
    emu.inject("volcengine", FaultKind.OUTPUT_MODERATION, **params)
    async with clients.volcengine() as client:
        with pytest.raises(SeedRejectedError) as caught:
            await erase("volcengine", client, seed=5)
    error = caught.value
    assert (error.code, error.http_status) == (str(code or 50511), 400)
    assert (error.kind, error.retry) == (ErrorKind.BAD_SEED, R.NEW_SEED)
    assert billed(emu, "volcengine") == 0  # refused after the work, not charged
    assert not BILLED[FaultKind.OUTPUT_MODERATION]
    # Another seed goes through (what tasks/erase.py's 201304 loop does).
    async with clients.volcengine() as client:
        result = await erase("volcengine", client, seed=6)
    assert result.image_bytes and billed(emu, "volcengine") == 1


async def test_volcengine_201304_inside_data_is_a_seed_rejection(emu, clients):
    emu.inject("volcengine", FaultKind.GHOST_FACE, shape="data")
    tap = Tap()
    async with clients.volcengine(transport=tap) as client:
        with pytest.raises(SeedRejectedError) as caught:
            await erase("volcengine", client)
    raw = tap.last.json()
    assert raw["code"] == 10000 and raw["data"]["algorithm_base_resp"]["status_code"] == 201304
    assert (caught.value.code, caught.value.http_status) == ("201304", 200)
    assert caught.value.retry is R.NEW_SEED
    assert billed(emu, "volcengine") == 0


async def test_tencent_output_review_is_retried_once(emu, clients):
    emu.inject("tencent", FaultKind.OUTPUT_MODERATION)
    async with clients.tencent() as client:
        with pytest.raises(ModerationError) as caught:
            await erase("tencent", client)
    assert caught.value.code == "FailedOperation.GenerateImageFailed"
    # Tencent takes no seed and its generation is not deterministic: one more try.
    assert caught.value.retry is R.RETRY_ONCE
    assert billed(emu, "tencent") == 0


# -- empty and corrupt results: a vendor fault, billed, never resent silently ------------
EMPTY_CASES = [
    ("ailabtools", {}),
    ("tencent", {"rsp_img_type": "base64"}),
    ("tencent", {"rsp_img_type": "url"}),
    ("volcengine", {"return_url": True}),
    ("volcengine", {"return_url": False}),
]


@pytest.mark.parametrize(("vendor", "kw"), EMPTY_CASES)
async def test_an_empty_result_is_a_bad_result(emu, clients, vendor, kw):
    emu.inject(vendor, FaultKind.EMPTY_RESULT)
    async with clients.of(vendor) as client:
        with pytest.raises(BadResultError) as caught:
            await erase(vendor, client, **kw)
    error = caught.value
    assert (error.kind, error.retry, error.http_status) == (ErrorKind.BAD_RESULT, R.PERMANENT, 200)
    assert error.request_id
    assert billed(emu, vendor) == 1 and BILLED[FaultKind.EMPTY_RESULT]
    assert emu.counters.requests(vendor, ERASE_ACTION[vendor]) == 1  # no silent resend


@pytest.mark.parametrize("variant", ["html", "truncated"])
@pytest.mark.parametrize(
    ("vendor", "kw"), [c for c in EMPTY_CASES if c[1].get("rsp_img_type") != "url"]
)
async def test_a_corrupt_base64_result_is_a_bad_result(emu, clients, vendor, kw, variant):
    emu.inject(vendor, FaultKind.CORRUPT_RESULT, variant=variant)
    async with clients.of(vendor) as client:
        with pytest.raises(BadResultError) as caught:
            await erase(vendor, client, **kw)
    assert "not a decodable image" in caught.value.message
    assert caught.value.__cause__ is None  # Pillow's exception is never chained
    assert billed(emu, vendor) == 1 and BILLED[FaultKind.CORRUPT_RESULT]


@pytest.mark.parametrize("vendor", ["tencent", "volcengine"])
async def test_a_corrupt_result_at_the_url_fails_validation(emu, clients, vendor):
    emu.inject(vendor, FaultKind.CORRUPT_RESULT)
    kw = {"rsp_img_type": "url"} if vendor == "tencent" else {"return_url": True}
    async with clients.of(vendor) as client:
        if vendor == "volcengine":  # Base64 and URL carry the same bad bytes
            with pytest.raises(BadResultError):
                await erase(vendor, client, **kw)
            return
        result = await erase(vendor, client, **kw)
    async with http_client() as http:
        body = (await http.get(result.image_url)).content
    with pytest.raises(BadResultError) as caught:
        validate_result_image(body, vendor=vendor)
    assert caught.value.retry is R.PERMANENT and not caught.value.transient


async def test_a_corrupt_async_result_is_stored_corrupt(emu, clients):
    emu.inject("ailabtools", FaultKind.CORRUPT_RESULT)
    async with clients.ailabtools() as client:
        submission = await client.submit_try_on_pro(person(), garment())
        emu.clock.advance(60)
        done = await client.query_async_task(submission.task_id)
    assert done.state is TaskState.SUCCEEDED
    async with http_client() as http:
        body = (await http.get(done.image_url)).content
    with pytest.raises(BadResultError):
        validate_result_image(body, vendor="ailabtools")
    assert emu.counters.billable("ailabtools", action="try-on-clothes-pro") == 1


async def test_a_non_https_result_url_is_refused(emu, clients):
    # The client talks https to the real vendor: a file: or plain-http result is refused.
    from prefect_image_edit.vendors.results import check_result_url

    for url in ("file:///etc/passwd", "http://example.com/x.jpg", "ftp://h/x", ""):
        with pytest.raises(BadResultError):
            check_result_url(
                url, vendor="tencent", action="a", endpoint="https://aiart.tencentcloudapi.com"
            )
    # The emulator serves http on 127.0.0.1; a client pointed at it accepts http, never file:.
    async with clients.tencent() as client:
        result = await erase("tencent", client, rsp_img_type="url")
        assert result.image_url.startswith("http://127.0.0.1")
        with pytest.raises(BadResultError):
            check_result_url(
                "file:///etc/passwd", vendor="tencent", action="a", endpoint=client.base_url
            )


# -- Tencent: the whole signed body is capped at 10 MB ------------------------------------
def noise_png(width: int, height: int, mode: str) -> bytes:
    """An incompressible PNG: its size is about width x height x channels bytes."""
    channels = len(mode)
    image = Image.frombytes(mode, (width, height), os.urandom(width * height * channels))
    buffer = io.BytesIO()
    image.save(buffer, "PNG", compress_level=0)
    return buffer.getvalue()


async def test_tencent_client_refuses_a_body_over_10_mb_before_sending(emu, clients):
    image = noise_png(1200, 1200, "RGB")  # 5.8 M Base64 characters: under the 6 MB cap
    mask = noise_png(2000, 2000, "L")  # 5.3 M: under the cap too, but 11 M together
    async with clients.tencent() as client:
        with pytest.raises(InvalidImageError) as caught:
            await client.image_inpainting_removal(image=image, mask=mask)
    assert str(TENCENT_MAX_BODY_BYTES) in str(caught.value)
    assert emu.counters.requests("tencent") == 0


# -- AILabTools: query shapes, PROCESSING_FAILURE, stuck queue ----------------------------
@pytest.mark.parametrize("shape", ["top", "data"])
async def test_ailabtools_query_reads_task_status_in_either_place(emu, clients, shape):
    emu.settings.ailabtools.query_shape = shape
    tap = Tap()
    async with clients.ailabtools(transport=tap) as client:
        submission = await client.submit_try_on_pro(person(), garment())
        queued = await client.query_async_task(submission.task_id)
        raw = tap.last.json()
        emu.clock.advance(60)
        done = await client.query_async_task(submission.task_id)
    assert ("task_status" in raw.get("data", {})) is (shape == "data")
    assert ("task_status" in raw) is (shape == "top")
    assert queued.state is TaskState.QUEUED
    assert done.state is TaskState.SUCCEEDED and done.image_url and done.expires_at


@pytest.mark.parametrize("shape", ["top", "data"])
async def test_ailabtools_processing_failure_while_polling_ends_the_task(emu, clients, shape):
    emu.settings.ailabtools.query_shape = shape
    emu.inject("ailabtools", FaultKind.TASK_FAILURE, code="PROCESSING_FAILURE", status=500)
    tap = Tap()
    async with clients.ailabtools(transport=tap) as client:
        submission = await client.submit_try_on_pro(person(), garment())
        emu.clock.advance(60)
        result = await client.query_async_task(submission.task_id)
    assert tap.last.status_code == 500
    assert (result.state, result.error_code) == (TaskState.FAILED, "PROCESSING_FAILURE")
    assert emu.counters.billable("ailabtools") == 0


async def test_ailabtools_stuck_task_stays_queued(emu, clients):
    emu.inject("ailabtools", FaultKind.STUCK_QUEUED)
    async with clients.ailabtools() as client:
        submission = await client.submit_try_on_pro(person(), garment())
        states = []
        for _ in range(3):
            emu.clock.advance(3600)
            states.append((await client.query_async_task(submission.task_id)).state)
    assert states == [TaskState.QUEUED] * 3  # the poller's own deadline must end it
    assert emu.counters.billable("ailabtools") == 0 and not BILLED[FaultKind.STUCK_QUEUED]
    backend = emu.state.backends["ailabtools"]
    assert backend.credits_left(emu.ailabtools.api_key) == emu.settings.ailabtools.credits


# -- leniencies removed: the clients never send what the vendors refuse -------------------
async def test_volcengine_client_refuses_non_rgb_input(emu, clients):
    async with clients.volcengine() as client:
        for mode in ("L", "RGBA"):
            with pytest.raises(InvalidImageError, match="RGB"):
                await erase("volcengine", client, image=flat(128, 128, mode))
        with pytest.raises(InvalidParameterError):
            await client.i2i_inpainting(
                image=scene(), mask=mask_png(), image_urls=["http://127.0.0.1/a", "http://b/c"]
            )
        with pytest.raises(InvalidParameterError, match="position"):
            await erase("volcengine", client, logo_info=LogoInfo.model_construct(position=9))
    assert emu.counters.requests("volcengine") == 0
    with pytest.raises(ValueError):  # the doc's positions are 0-3
        LogoInfo(position=9)


async def test_tencent_client_refuses_rgb_or_tiff_masks(emu, clients):
    rgb_mask = encode(Image.open(io.BytesIO(mask_png())).convert("RGB"), "PNG")
    tiff_mask = encode(Image.open(io.BytesIO(mask_png())), "TIFF")
    async with clients.tencent() as client:
        for mask in (rgb_mask, tiff_mask):
            with pytest.raises(InvalidImageError):
                await erase("tencent", client, mask=mask)
        result = await erase("tencent", client)  # the L PNG mask still works
    assert result.image_bytes
    assert emu.counters.requests("tencent") == 1


async def test_ailabtools_client_refuses_fractional_scale(emu, clients):
    async with clients.ailabtools() as client:
        with pytest.raises(InvalidParameterError, match="scale"):
            await erase("ailabtools", client, scale=7.5)
        assert emu.counters.requests("ailabtools") == 0
        result = await erase("ailabtools", client, scale=8.0)  # sent as "8"
    assert result.parameters["scale"] == 8


# -- Retry-After ----------------------------------------------------------------------------
@pytest.mark.parametrize("vendor", VENDORS)
async def test_rate_limits_carry_retry_after(emu, clients, vendor):
    emu.inject(vendor, FaultKind.RATE_LIMIT, retry_after=4)
    emu.inject(vendor, FaultKind.RATE_LIMIT, retry_after=600)
    emu.inject(vendor, FaultKind.RATE_LIMIT)
    async with clients.of(vendor) as client:
        seen = []
        for _ in range(3):
            with pytest.raises(RateLimitedError) as caught:
                await erase(vendor, client)
            seen.append(caught.value.retry_after)
    assert seen == [4.0, 60.0, None]


# -- accounts and credentials -----------------------------------------------------------------
QUOTA_FAULTS = [
    ("ailabtools", FaultKind.NO_CREDITS, "ERROR_NOT_ENOUGH_CREDITS"),
    ("tencent", FaultKind.NO_CREDITS, "ResourceUnavailable.LowBalance"),
    ("tencent", FaultKind.ARREARS, "ResourceUnavailable.InArrears"),
]


@pytest.mark.parametrize(("vendor", "kind", "code"), QUOTA_FAULTS)
async def test_no_credits_and_arrears_are_permanent(emu, clients, vendor, kind, code):
    emu.inject(vendor, kind)
    async with clients.of(vendor) as client:
        with pytest.raises(QuotaError) as caught:
            await erase(vendor, client)
    assert (caught.value.code, caught.value.kind) == (code, ErrorKind.NO_CREDITS)
    assert caught.value.retry is R.PERMANENT
    assert billed(emu, vendor) == 0 and not BILLED[kind]


@pytest.mark.parametrize(
    ("vendor", "code"),
    [("tencent", "AuthFailure.TokenFailure"), ("volcengine", "InvalidAccessKey")],
)
async def test_an_sts_token_expiring_mid_run(emu, clients, vendor, code):
    async with clients.of(vendor) as client:
        first = await erase(vendor, client)
        emu.inject(vendor, FaultKind.TOKEN_EXPIRED, times=None)
        with pytest.raises(AuthError) as caught:
            await erase(vendor, client)
    assert first.image_bytes
    assert (caught.value.code, caught.value.retry) == (code, R.PERMANENT)
    assert billed(emu, vendor) == 1


# -- result downloads: revoked early, trickling, and a frozen endpoint ------------------------
async def test_a_result_url_forbidden_before_its_expiry(emu, clients):
    async with clients.tencent() as client:
        result = await erase("tencent", client, rsp_img_type="url")
    assert result.expires_at > datetime.now(UTC)
    emu.inject("tencent", FaultKind.URL_FORBIDDEN, action="download")
    allow = AllowList((emu.tencent.base_url,))
    async with http_client() as http:
        with pytest.raises(ResultExpired, match="expected valid until"):
            await download_to_spool(
                result.image_url, allow=allow, client=http, expires_at=result.expires_at
            )
        spool, media_type = await download_to_spool(
            result.image_url, allow=allow, client=http, expires_at=result.expires_at
        )  # the fault struck once
    spool.close()
    assert media_type.startswith("image/")
    assert emu.counters.requests("tencent", "download") == 2


async def test_a_trickling_download_needs_a_total_deadline(emu, clients):
    async with clients.tencent() as client:
        result = await erase("tencent", client, rsp_img_type="url")
    emu.inject("tencent", FaultKind.TRICKLE, action="download", rate=200)
    received = bytearray()
    timeout = httpx.Timeout(2.0)  # every read arrives well inside this

    async def read_all() -> None:
        async with (
            httpx.AsyncClient(trust_env=False, timeout=timeout) as http,
            http.stream("GET", result.image_url) as response,
        ):
            assert response.status_code == 200
            total = int(response.headers["content-length"])
            assert total > 2 * 200  # longer than the deadline below at 200 B/s
            async for chunk in response.aiter_raw():
                assert len(chunk) <= 200
                received.extend(chunk)

    with pytest.raises(TimeoutError):
        await asyncio.wait_for(read_all(), timeout=1.0)
    assert 0 < len(received) <= 400


async def test_a_frozen_endpoint_accepts_and_never_answers():
    with frozen_endpoint() as frozen:
        async with httpx.AsyncClient(trust_env=False, timeout=httpx.Timeout(0.3)) as http:
            with pytest.raises(httpx.ReadTimeout):
                await http.put(frozen.url + "/bucket/key", content=b"x" * 100_000)
        assert frozen.connections == 1


def test_every_new_fault_kind_is_covered():
    covered = {
        FaultKind.OUTPUT_MODERATION,
        FaultKind.NO_CREDITS,
        FaultKind.ARREARS,
        FaultKind.TOKEN_EXPIRED,
        FaultKind.STUCK_QUEUED,
        FaultKind.EMPTY_RESULT,
        FaultKind.CORRUPT_RESULT,
        FaultKind.URL_FORBIDDEN,
        FaultKind.TRICKLE,
    }
    assert covered <= set(BILLED)
