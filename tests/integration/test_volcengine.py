"""VolcengineVisualClient against the Volcengine emulator: both actions, URLs, auth, seeds."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import pytest

from prefect_image_edit.emulators import FaultKind
from prefect_image_edit.vendors import (
    AuthError,
    ErrorKind,
    LogoInfo,
    RetryVerdict,
    SeedRejectedError,
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
    region_mask,
    scene,
)

pytestmark = pytest.mark.anyio

VENDOR = "volcengine"


def x_expires(url: str) -> int:
    return int(parse_qs(urlsplit(url).query)["x-expires"][0])


@pytest.mark.parametrize("action", ["CVProcess", "Img2ImgInpainting"])
async def test_both_actions_erase_and_return_a_24h_url(emu, clients, action):
    image = scene()
    async with clients.volcengine(action=action, default_transport=True) as client:
        before = emu.clock.time()
        result = await client.i2i_inpainting(image=image, mask=mask_png(), dilate_size=2)
    assert result.action == action
    assert_erased(result.image_bytes, image, grown_by=2)
    assert result.expires_at == datetime.fromtimestamp(x_expires(result.image_url), UTC)
    assert abs(result.expires_at.timestamp() - (before + 86400)) <= 2
    async with http_client() as http:
        download = await http.get(result.image_url)
    assert download.status_code == 200 and download.content == result.image_bytes
    assert emu.counters.requests(VENDOR, action) == 1
    (record,) = emu.counters.billing_records(VENDOR)
    assert (record.action, result.request_id) == (action, record.request_id)


async def test_without_return_url_there_is_no_url(emu, clients):
    async with clients.volcengine() as client:
        result = await client.i2i_inpainting(image=scene(), mask=mask_png(), return_url=False)
    assert result.image_bytes and result.image_url is None and result.expires_at is None
    assert result.parameters["return_url"] is False


async def test_logo_info_adds_a_mark_only_when_asked(emu, clients):
    async with clients.volcengine() as client:
        plain = await client.i2i_inpainting(image=scene(), mask=mask_png(), return_url=False)
        marked = await client.i2i_inpainting(
            image=scene(),
            mask=mask_png(),
            return_url=False,
            logo_info=LogoInfo(add_logo=True, position=2, language=1, opacity=1.0),
        )
    a, b = open_image(plain.image_bytes), open_image(marked.image_bytes)
    top_left = region_mask(a.size, (0, 0, SIZE // 2, SIZE // 8), True)
    bottom = region_mask(a.size, (0, SIZE * 3 // 4, SIZE - 1, SIZE - 1), True)
    assert mean_diff(a, b, top_left) > 20 and mean_diff(a, b, bottom) < 1


async def test_sts_session_token_is_signed_and_checked(emu, clients):
    access_key = emu.volcengine.access_key_id
    emu.settings.volcengine.tokens[access_key] = "emulator-sts-session-1"
    async with clients.volcengine(session_token="emulator-sts-session-1") as client:
        assert (await client.i2i_inpainting(image=scene(), mask=mask_png())).image_bytes
    for token in (None, "emulator-sts-session-2"):
        tap = Tap()
        async with clients.volcengine(session_token=token, transport=tap) as client:
            with pytest.raises(AuthError) as caught:
                await client.i2i_inpainting(image=scene(), mask=mask_png())
        assert (caught.value.code, caught.value.http_status) == ("InvalidAccessKey", 401)
        assert caught.value.request_id == tap.request_id(VENDOR)
        assert "emulator-sts-session-2" not in str(caught.value)
    assert emu.counters.billable(VENDOR) == 1


@pytest.mark.parametrize(
    ("credentials", "code"),
    [
        ({"secret_access_key": "emulator-wrong-secret-0000000"}, "SignatureDoesNotMatch"),
        ({"access_key_id": "AKLTemulatorunknown0000000000"}, "InvalidAccessKey"),
    ],
)
async def test_wrong_credentials(emu, clients, credentials, code):
    tap = Tap()
    async with clients.volcengine(transport=tap, **credentials) as client:
        with pytest.raises(AuthError) as caught:
            await client.i2i_inpainting(image=scene(), mask=mask_png())
    error = caught.value
    assert (error.kind, error.retry, error.code) == (ErrorKind.AUTH, RetryVerdict.PERMANENT, code)
    assert error.http_status == 401
    assert error.request_id == tap.request_id(VENDOR) and error.request_id
    assert "emulator-wrong-secret" not in str(error)
    assert emu.counters.requests(VENDOR) == 1 and emu.counters.billable(VENDOR) == 0


@pytest.mark.parametrize(
    ("client_skew", "emulator_skew", "accepted"),
    [
        (-1000, 0, False),
        (1000, 0, False),
        (0, 1000, False),
        (0, -1000, False),
        (-800, 0, True),  # inside the emulator's 15 minute window
        (0, 800, True),
    ],
)
async def test_clock_skew_beyond_the_window(emu, clients, client_skew, emulator_skew, accepted):
    emu.clock.advance(emulator_skew)
    tap = Tap()
    clock = lambda: time.time() + client_skew  # noqa: E731
    async with clients.volcengine(clock=clock, transport=tap) as client:
        if accepted:
            await client.i2i_inpainting(image=scene(), mask=mask_png(), return_url=False)
            assert emu.counters.billable(VENDOR) == 1
            return
        with pytest.raises(AuthError) as caught:
            await client.i2i_inpainting(image=scene(), mask=mask_png())
    error = caught.value
    assert (error.code, error.http_status) == ("InvalidTimestamp", 400)
    assert error.retry is RetryVerdict.PERMANENT
    assert error.request_id == tap.request_id(VENDOR)
    assert emu.counters.billable(VENDOR) == 0


async def test_ghost_face_asks_for_a_new_seed_and_is_not_billed(emu, clients):
    emu.inject(VENDOR, FaultKind.GHOST_FACE)
    tap = Tap()
    async with clients.volcengine(transport=tap) as client:
        with pytest.raises(SeedRejectedError) as caught:
            await client.i2i_inpainting(image=scene(), mask=mask_png(), seed=0)
        error = caught.value
        assert (error.kind, error.retry) == (ErrorKind.BAD_SEED, RetryVerdict.NEW_SEED)
        assert (error.code, error.http_status) == ("201304", 400)
        assert error.request_id == tap.request_id(VENDOR)
        assert emu.counters.billable(VENDOR) == 0
        again = await client.i2i_inpainting(image=scene(), mask=mask_png(), seed=1)
    assert again.seed == 1 and again.parameters["seed"] == 1
    assert emu.counters.billable(VENDOR) == 1


@pytest.mark.parametrize(
    "mutate", [flip_signature, change_body(b'"seed": 0', b'"seed": 1')], ids=["signature", "body"]
)
async def test_a_request_changed_after_signing_fails_the_signature(emu, clients, mutate):
    tap = Tap(mutate)
    async with clients.volcengine(transport=tap) as client:
        with pytest.raises(AuthError) as caught:
            await client.i2i_inpainting(image=scene(), mask=mask_png())
    assert (caught.value.code, caught.value.http_status) == ("SignatureDoesNotMatch", 401)
    assert caught.value.request_id == tap.request_id(VENDOR)
    assert emu.counters.billable(VENDOR) == 0
