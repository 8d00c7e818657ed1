"""VolcengineVisualClient against a MockTransport: wire format, results, both error layers."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import httpx
import pytest

from prefect_image_edit.vendors import EraseResult, VolcengineVisualClient
from prefect_image_edit.vendors._constants import USER_AGENT
from prefect_image_edit.vendors.errors import (
    AuthError,
    BadResultError,
    InvalidImageError,
    InvalidParameterError,
    ModerationError,
    NotFoundError,
    RateLimitedError,
    RetryVerdict,
    SeedRejectedError,
    VendorAPIError,
    VendorInputError,
    VendorRequestError,
    VendorServerError,
)
from prefect_image_edit.vendors.volcengine import LogoInfo

from .conftest import (
    FROZEN_NOW,
    JPEG,
    MASK_PNG,
    PNG,
    VOLC_AK,
    VOLC_SK,
    VOLC_TOKEN,
    WEBP,
    Recorder,
    assert_no_secrets,
    json_response,
)

pytestmark = pytest.mark.anyio

URLS = ["https://example.com/input.jpg", "https://example.com/mask.png"]
VECTOR_V1_BODY = (
    b'{"req_key": "i2i_inpainting", "image_urls": ["https://example.com/input.jpg",'
    b' "https://example.com/mask.png"], "return_url": true, "steps": 30, "strength": 0.8,'
    b' "scale": 7, "seed": 0, "dilate_size": 15, "quality": "M"}'
)
VECTOR_SIGNATURES = {
    "CVProcess": "4166bcbf589f40b7ebac2dfa0050d0b751ed1647402c82a8e768a4b6828e0e71",
    "Img2ImgInpainting": "e1d8e06f1deeaa913f42c0161ed17b67d28507d17eba37d7899bde272f9dd49d",
}
RESULT_URL = (
    "https://p9-aiop-sign.byteimg.com/tos-cn-i-vuqhorh59i/abc~tplv-vuqhorh59i-image.image"
    "?rk3s=7f9e702d&x-expires=1731577645&x-signature=abc%3D"
)
OUT = JPEG  # a real image: results are decoded and checked


def ok(*, with_url: bool = True, with_b64: bool = True) -> httpx.Response:
    data: dict = {"algorithm_base_resp": {"status_code": 0, "status_message": "Success"}}
    if with_b64:
        data["binary_data_base64"] = [base64.b64encode(OUT).decode()]
    if with_url:
        data["image_urls"] = [RESULT_URL]
    return json_response(
        {
            "code": 10000,
            "data": data,
            "message": "Success",
            "request_id": "2024031414442379E5503DD25AA800AB0F",
            "status": 10000,
            "time_elapsed": "2.17s",
        }
    )


def service_error(code: int, status: int, message: str = "Pre Img Risk Not Pass") -> httpx.Response:
    body = {"code": code, "data": None, "message": message, "request_id": "svc-req-1"}
    return json_response(body, status)


def gateway_error(code: str, code_n: int, status: int) -> httpx.Response:
    return json_response(
        {
            "ResponseMetadata": {
                "RequestId": "gw-req-1",
                "Action": "CVProcess",
                "Version": "2022-08-31",
                "Service": "cv",
                "Region": "cn-north-1",
                "Error": {"CodeN": code_n, "Code": code, "Message": "gateway says no"},
            }
        },
        status,
    )


def client(recorder: Recorder, **kwargs) -> VolcengineVisualClient:
    kwargs.setdefault("clock", lambda: FROZEN_NOW)
    return VolcengineVisualClient(VOLC_AK, VOLC_SK, transport=recorder.transport, **kwargs)


@pytest.mark.parametrize("action", ["CVProcess", "Img2ImgInpainting"])
async def test_url_request_is_the_vector_on_the_wire(action):
    recorder = Recorder(ok())
    async with client(recorder, action=action) as volc:
        result = await volc.i2i_inpainting(image_urls=URLS)
    sent = recorder.last
    assert str(sent.url) == (
        f"https://visual.volcengineapi.com/?Action={action}&Version=2022-08-31"
    )
    assert sent.content == VECTOR_V1_BODY
    assert sent.headers["Content-Type"] == "application/json"
    assert sent.headers["X-Date"] == "20231114T221320Z"
    assert sent.headers["User-Agent"] == USER_AGENT
    assert sent.headers["Authorization"].endswith(f"Signature={VECTOR_SIGNATURES[action]}")
    assert isinstance(result, EraseResult)
    assert (result.vendor, result.action, result.request_id) == (
        "volcengine",
        action,
        "2024031414442379E5503DD25AA800AB0F",
    )
    assert result.image_bytes == OUT
    assert result.image_url == RESULT_URL
    assert result.expires_at == datetime.fromtimestamp(1731577645, UTC)
    assert result.seed == 0
    assert result.parameters == {
        "req_key": "i2i_inpainting",
        "image_urls": URLS,
        "return_url": True,
        "steps": 30,
        "strength": 0.8,
        "scale": 7,
        "seed": 0,
        "dilate_size": 15,
        "quality": "M",
    }


async def test_binary_request_with_session_token_and_logo():
    recorder = Recorder(ok(with_url=False))
    async with client(recorder, session_token=VOLC_TOKEN) as volc:
        result = await volc.i2i_inpainting(
            image=JPEG,
            mask=MASK_PNG,
            return_url=False,
            seed=42,
            strength=0.5,
            scale=7.5,
            quality="H",
            logo_info=LogoInfo(add_logo=True, position=2, language=1),
        )
    sent = recorder.last
    body = json.loads(sent.content)
    assert [base64.b64decode(item) for item in body["binary_data_base64"]] == [JPEG, MASK_PNG]
    assert "image_urls" not in body
    assert body["logo_info"] == {
        "add_logo": True,
        "position": 2,
        "language": 1,
        "opacity": 0.3,
        "logo_text_content": "",
    }
    assert sent.headers["X-Security-Token"] == VOLC_TOKEN
    assert "x-security-token" in sent.headers["Authorization"]
    assert result.seed == 42
    assert "binary_data_base64" not in result.parameters
    assert result.parameters["scale"] == 7.5
    assert set(result.input_sha256) == {"image", "mask"}
    assert (result.image_url, result.expires_at) == (None, None)


async def test_emulator_endpoint():
    recorder = Recorder(ok())
    async with client(recorder, endpoint="http://127.0.0.1:8124/") as volc:
        await volc.i2i_inpainting(image_urls=URLS)
    assert str(recorder.last.url).startswith("http://127.0.0.1:8124/?Action=CVProcess")
    assert recorder.last.headers["Host"] == "127.0.0.1:8124"


@pytest.mark.parametrize(
    ("code", "status", "cls", "verdict"),
    [
        (201304, 200, SeedRejectedError, RetryVerdict.NEW_SEED),
        (201304, 400, SeedRejectedError, RetryVerdict.NEW_SEED),
        (50411, 400, ModerationError, RetryVerdict.PERMANENT),
        (50511, 400, SeedRejectedError, RetryVerdict.NEW_SEED),
        (50519, 400, SeedRejectedError, RetryVerdict.NEW_SEED),
        (50215, 400, VendorInputError, RetryVerdict.PERMANENT),
        (50400, 401, AuthError, RetryVerdict.PERMANENT),
        (50402, 404, NotFoundError, RetryVerdict.PERMANENT),
        (50429, 429, RateLimitedError, RetryVerdict.RESUBMIT),
        (50430, 429, RateLimitedError, RetryVerdict.RESUBMIT),
        (50500, 500, VendorServerError, RetryVerdict.RETRY_ONCE),
        (12345, 500, VendorAPIError, RetryVerdict.PERMANENT),
    ],
)
async def test_service_errors(code, status, cls, verdict):
    recorder = Recorder(service_error(code, status))
    async with client(recorder) as volc:
        with pytest.raises(cls) as caught:
            await volc.i2i_inpainting(image=PNG, mask=MASK_PNG)
    err = caught.value
    assert type(err) is cls
    assert (err.code, err.retry, err.http_status, err.request_id) == (
        str(code),
        verdict,
        status,
        "svc-req-1",
    )


@pytest.mark.parametrize(
    ("code", "code_n", "status", "cls", "verdict", "expected_code"),
    [
        ("SignatureDoesNotMatch", 100010, 401, AuthError, RetryVerdict.PERMANENT, None),
        ("InvalidTimestamp", 100006, 400, AuthError, RetryVerdict.PERMANENT, None),
        ("FlowLimitExceeded", 100018, 429, RateLimitedError, RetryVerdict.RESUBMIT, None),
        ("InvalidActionOrVersion", 100008, 404, NotFoundError, RetryVerdict.PERMANENT, None),
        # An unfamiliar name with a familiar number is found by the number.
        ("FlowLimitExceededV2", 100018, 429, RateLimitedError, RetryVerdict.RESUBMIT, "100018"),
        ("BrandNew", 100099, 503, VendorAPIError, RetryVerdict.PERMANENT, "100099"),
    ],
)
async def test_gateway_errors(code, code_n, status, cls, verdict, expected_code):
    recorder = Recorder(gateway_error(code, code_n, status))
    async with client(recorder) as volc:
        with pytest.raises(cls) as caught:
            await volc.i2i_inpainting(image_urls=URLS)
    err = caught.value
    assert type(err) is cls
    assert (err.code, err.retry, err.http_status, err.request_id) == (
        expected_code or code,
        verdict,
        status,
        "gw-req-1",
    )
    assert "gateway says no" in str(err)


@pytest.mark.parametrize(
    ("status", "verdict"),
    [(502, RetryVerdict.RESUBMIT), (503, RetryVerdict.RESUBMIT), (504, RetryVerdict.RETRY_ONCE)],
)
async def test_bodiless_failures_by_status(status, verdict):
    recorder = Recorder(httpx.Response(status, text="upstream went away"))
    async with client(recorder) as volc:
        with pytest.raises(VendorServerError) as caught:
            await volc.i2i_inpainting(image_urls=URLS)
    assert (caught.value.retry, caught.value.http_status) == (verdict, status)


@pytest.mark.parametrize(
    "payload",
    [
        {"code": 10000, "data": None, "request_id": "r"},
        {"code": 10000, "data": {"binary_data_base64": [], "image_urls": []}, "request_id": "r"},
        {"something": "else"},
    ],
    ids=["no-data", "no-image", "unknown-shape"],
)
async def test_malformed_success_retries_once(payload):
    recorder = Recorder(json_response(payload))
    async with client(recorder) as volc:
        with pytest.raises(VendorRequestError) as caught:
            await volc.i2i_inpainting(image_urls=URLS)
    assert caught.value.retry is RetryVerdict.RETRY_ONCE


async def test_a_success_whose_base64_is_garbage_is_a_bad_result_never_resent():
    # Billed (a well-formed success answer): resending would pay again (issue 9), as Tencent.
    data = {"code": 10000, "data": {"binary_data_base64": ["@@not base64@@"]}, "request_id": "r"}
    async with client(Recorder(json_response(data))) as volc:
        with pytest.raises(BadResultError, match="not Base64") as caught:
            await volc.i2i_inpainting(image_urls=URLS)
    assert caught.value.retry is RetryVerdict.PERMANENT


async def test_a_success_whose_base64_is_garbage_but_has_a_url_gives_the_url():
    data = {
        "code": 10000,
        "data": {"binary_data_base64": ["@@not base64@@"], "image_urls": [RESULT_URL]},
        "request_id": "r",
    }
    async with client(Recorder(json_response(data))) as volc:
        result = await volc.i2i_inpainting(image_urls=URLS)
    assert result.image_bytes is None and result.image_url == RESULT_URL


BAD_CALLS = [
    ({}, InvalidParameterError, "image"),
    ({"image": PNG}, InvalidParameterError, "mask"),
    ({"image": PNG, "mask": MASK_PNG, "image_urls": URLS}, InvalidParameterError, "image_urls"),
    ({"image_urls": URLS[:1]}, InvalidParameterError, "image_urls"),
    ({"image_urls": "https://example.com/a.png"}, InvalidParameterError, "image_urls"),
    ({"image_urls": ["file:///etc/passwd", URLS[1]]}, InvalidParameterError, "image_urls"),
    ({"image_urls": URLS, "steps": 0}, InvalidParameterError, "steps"),
    ({"image_urls": URLS, "steps": True}, InvalidParameterError, "steps"),
    ({"image_urls": URLS, "strength": 0.05}, InvalidParameterError, "strength"),
    ({"image_urls": URLS, "strength": 1.01}, InvalidParameterError, "strength"),
    ({"image_urls": URLS, "strength": float("nan")}, InvalidParameterError, "strength"),
    ({"image_urls": URLS, "scale": 0.5}, InvalidParameterError, "scale"),
    ({"image_urls": URLS, "scale": 21}, InvalidParameterError, "scale"),
    ({"image_urls": URLS, "seed": -2}, InvalidParameterError, "seed"),
    ({"image_urls": URLS, "dilate_size": 0}, InvalidParameterError, "dilate_size"),
    ({"image_urls": URLS, "quality": "X"}, InvalidParameterError, "quality"),
    ({"image_urls": URLS, "return_url": "yes"}, InvalidParameterError, "return_url"),
    ({"image_urls": URLS, "logo_info": {"add_logo": True}}, InvalidParameterError, "logo_info"),
    ({"image": WEBP, "mask": MASK_PNG}, InvalidImageError, "image"),
    ({"image": PNG, "mask": JPEG}, InvalidImageError, "mask"),
    ({"image": b"", "mask": MASK_PNG}, InvalidImageError, "image"),
    ({"image": PNG + b"\x00" * 5_000_000, "mask": MASK_PNG}, InvalidImageError, "image"),
]


@pytest.mark.parametrize(("kwargs", "cls", "field"), BAD_CALLS)
async def test_bad_input_sends_nothing(kwargs, cls, field):
    recorder = Recorder(ok())
    async with client(recorder) as volc:
        with pytest.raises(cls) as caught:
            await volc.i2i_inpainting(**kwargs)
    assert recorder.requests == []
    assert caught.value.field == field
    assert field in str(caught.value)


def test_unknown_action_is_refused_at_construction():
    with pytest.raises(InvalidParameterError, match="action"):
        VolcengineVisualClient(VOLC_AK, VOLC_SK, action="CVSubmitTask")


async def test_secrets_never_reach_errors_or_repr():
    recorder = Recorder(gateway_error("SignatureDoesNotMatch", 100010, 401))
    volc = client(recorder, session_token=VOLC_TOKEN)
    async with volc:
        with pytest.raises(AuthError) as caught:
            await volc.i2i_inpainting(image=PNG, mask=MASK_PNG)
    assert_no_secrets(str(caught.value), repr(caught.value), repr(volc))
    assert VOLC_AK not in repr(volc)


@pytest.mark.parametrize(
    ("payload", "status", "cls", "code"),
    [
        (
            {"code": "50429", "message": "slow down", "request_id": "r"},
            429,
            RateLimitedError,
            "50429",
        ),
        (
            {"ResponseMetadata": {"RequestId": "r", "Error": {"CodeN": "100010"}}},
            401,
            AuthError,
            "100010",
        ),
        ({"ResponseMetadata": {"RequestId": "r", "Error": "denied"}}, 403, AuthError, ""),
        ({"ResponseMetadata": {"RequestId": "r", "Error": "denied"}}, 503, VendorServerError, ""),
    ],
    ids=["string-code", "string-code-n", "error-as-text-403", "error-as-text-503"],
)
async def test_garbled_envelopes_still_classify(payload, status, cls, code):
    async with client(Recorder(json_response(payload, status))) as volc:
        with pytest.raises(cls) as caught:
            await volc.i2i_inpainting(image_urls=URLS)
    assert (caught.value.code, caught.value.request_id) == (code, "r")
