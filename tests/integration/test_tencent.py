"""TencentAiartClient against the Tencent aiart emulator: results, marks, TC3 auth, concurrency."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import pytest

from prefect_image_edit.vendors import (
    AuthError,
    EraseResult,
    ErrorKind,
    QuotaError,
    RateLimitedError,
    RetryVerdict,
)

from .conftest import (
    SIZE,
    Tap,
    assert_erased,
    change_body,
    flip_signature,
    http_client,
    mask_png,
    mean_diff,
    open_image,
    overlapping,
    region_mask,
    scene,
)

pytestmark = pytest.mark.anyio

VENDOR = "tencent"
ACTION = "ImageInpaintingRemoval"


def sign_window(url: str) -> tuple[int, int]:
    start, end = parse_qs(urlsplit(url).query)["q-sign-time"][0].split(";")
    return int(start), int(end)


async def test_url_result_expires_at_the_end_of_q_sign_time(emu, clients):
    image = scene()
    async with clients.tencent(default_transport=True) as client:
        before = emu.clock.time()
        result = await client.image_inpainting_removal(image=image, mask=mask_png())
    assert result.image_bytes is None and result.image_url
    start, end = sign_window(result.image_url)
    assert result.expires_at == datetime.fromtimestamp(end, UTC)
    assert end - start == 3600 and abs(start - before) <= 2
    assert result.parameters == {"RspImgType": "url", "LogoAdd": 0}
    async with http_client() as http:
        download = await http.get(result.image_url)
    assert download.status_code == 200 and download.headers["content-type"] == "image/jpeg"
    assert_erased(download.content, image, grown_by=0)
    (record,) = emu.counters.billing_records(VENDOR)
    assert (record.action, result.request_id) == (ACTION, record.request_id)


async def test_base64_result_is_the_erased_image(emu, clients):
    image = scene()
    async with clients.tencent() as client:
        result = await client.image_inpainting_removal(
            image=image, mask=mask_png(), rsp_img_type="base64"
        )
    assert result.image_url is None and result.expires_at is None
    assert_erased(result.image_bytes, image, grown_by=0)  # Tencent does not dilate
    assert emu.counters.billable(VENDOR, ACTION) == 1


async def test_logo_add_0_gives_no_mark_and_1_a_visible_one(emu, clients):
    async with clients.tencent() as client:
        results: list[EraseResult] = [
            await client.image_inpainting_removal(
                image=scene(), mask=mask_png(), rsp_img_type="base64", logo_add=logo_add
            )
            for logo_add in (0, 1)
        ]
    plain, marked = (open_image(r.image_bytes) for r in results)
    corner = region_mask(plain.size, (SIZE * 5 // 8, SIZE * 7 // 8, SIZE - 1, SIZE - 1), True)
    top = region_mask(plain.size, (0, 0, SIZE - 1, SIZE // 4), True)
    assert mean_diff(plain, marked, corner) > 20  # the mark is there, bottom right
    assert mean_diff(plain, marked, top) < 1  # and nowhere else
    assert results[0].parameters["LogoAdd"] == 0 and results[1].parameters["LogoAdd"] == 1
    assert emu.counters.billable(VENDOR) == 2


async def test_sts_token_is_sent_and_checked(emu, clients):
    secret_id = emu.tencent.secret_id
    emu.settings.tencent.tokens[secret_id] = "emulator-sts-token-1"
    async with clients.tencent(token="emulator-sts-token-1") as client:
        assert (await client.image_inpainting_removal(image=scene(), mask=mask_png())).image_url
    for token in (None, "emulator-sts-token-2"):
        tap = Tap()
        async with clients.tencent(token=token, transport=tap) as client:
            with pytest.raises(AuthError) as caught:
                await client.image_inpainting_removal(image=scene(), mask=mask_png())
        assert caught.value.code == "AuthFailure.TokenFailure"
        assert caught.value.request_id == tap.request_id(VENDOR)
        assert "emulator-sts-token-2" not in str(caught.value)
    assert emu.counters.billable(VENDOR) == 1


@pytest.mark.parametrize(
    ("credentials", "code"),
    [
        ({"secret_key": "emulator-wrong-secret-key-000000"}, "AuthFailure.SignatureFailure"),
        ({"secret_id": "AKIDemulatorunknown000000000000"}, "AuthFailure.SecretIdNotFound"),
    ],
)
async def test_wrong_credentials(emu, clients, credentials, code):
    tap = Tap()
    async with clients.tencent(transport=tap, **credentials) as client:
        with pytest.raises(AuthError) as caught:
            await client.image_inpainting_removal(image=scene(), mask=mask_png())
    error = caught.value
    assert (error.kind, error.retry, error.code) == (ErrorKind.AUTH, RetryVerdict.PERMANENT, code)
    assert error.http_status == 200  # Tencent answers errors at HTTP 200
    assert error.request_id == tap.request_id(VENDOR) and error.request_id
    assert "emulator-wrong-secret-key" not in str(error)
    assert emu.counters.requests(VENDOR) == 1 and emu.counters.billable(VENDOR) == 0


@pytest.mark.parametrize(
    ("client_skew", "emulator_skew", "accepted"),
    [
        (-400, 0, False),  # the client's clock is behind
        (400, 0, False),  # ahead
        (0, 400, False),  # the vendor's clock is ahead
        (0, -400, False),  # behind
        (-250, 0, True),  # inside the 5 minute window
        (0, 250, True),
    ],
)
async def test_clock_skew_beyond_five_minutes(emu, clients, client_skew, emulator_skew, accepted):
    emu.clock.advance(emulator_skew)
    tap = Tap()
    clock = lambda: time.time() + client_skew  # noqa: E731
    async with clients.tencent(clock=clock, transport=tap) as client:
        if accepted:
            await client.image_inpainting_removal(image=scene(), mask=mask_png())
            assert emu.counters.billable(VENDOR) == 1
            return
        with pytest.raises(AuthError) as caught:
            await client.image_inpainting_removal(image=scene(), mask=mask_png())
    error = caught.value
    assert (error.code, error.retry) == ("AuthFailure.SignatureExpire", RetryVerdict.PERMANENT)
    assert error.request_id == tap.request_id(VENDOR)
    assert emu.counters.billable(VENDOR) == 0


async def test_concurrency_limit_of_one(emu, clients):
    emu.settings.tencent.latency = 0.4
    tap = Tap()
    async with clients.tencent(transport=tap) as client:
        done, refused = await overlapping(
            emu, VENDOR, lambda: client.image_inpainting_removal(image=scene(), mask=mask_png())
        )
    assert isinstance(done, EraseResult), done
    assert isinstance(refused, RateLimitedError), refused
    assert refused.code == "RequestLimitExceeded.JobNumExceed"
    assert (refused.kind, refused.retry) == (ErrorKind.RATE_LIMITED, RetryVerdict.RESUBMIT)
    (answer,) = [r.json()["Response"] for r in tap.responses if "Error" in r.json()["Response"]]
    assert refused.http_status == 200 and refused.request_id == answer["RequestId"]
    assert emu.counters.max_in_flight(VENDOR) == 2
    assert emu.counters.billable(VENDOR) == 1


@pytest.mark.parametrize(
    "code",
    ["ResourceUnavailable.InArrears", "ResourceUnavailable.LowBalance"],
)
async def test_billing_codes_are_permanent_quota_errors(emu, clients, code):
    # The emulator has no billing state for Tencent; a scripted error carries the code.
    emu.inject(VENDOR, "server_error", code=code)
    async with clients.tencent() as client:
        with pytest.raises(QuotaError) as caught:
            await client.image_inpainting_removal(image=scene(), mask=mask_png())
    assert (caught.value.code, caught.value.kind) == (code, ErrorKind.NO_CREDITS)
    assert caught.value.retry is RetryVerdict.PERMANENT
    assert emu.counters.billable(VENDOR) == 0


@pytest.mark.parametrize(
    "mutate",
    [flip_signature, change_body(b'"LogoAdd": 0', b'"LogoAdd": 1')],
    ids=["signature", "body"],
)
async def test_a_request_changed_after_signing_fails_the_signature(emu, clients, mutate):
    tap = Tap(mutate)
    async with clients.tencent(transport=tap) as client:
        with pytest.raises(AuthError) as caught:
            await client.image_inpainting_removal(image=scene(), mask=mask_png())
    assert caught.value.code == "AuthFailure.SignatureFailure"
    assert caught.value.request_id == tap.request_id(VENDOR)
    assert emu.counters.billable(VENDOR) == 0
