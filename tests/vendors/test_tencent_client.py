"""TencentAiartClient against a MockTransport: wire format, results, errors, refusals."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import httpx
import pytest

from prefect_image_edit.vendors import EraseResult, TencentAiartClient
from prefect_image_edit.vendors._constants import USER_AGENT
from prefect_image_edit.vendors.errors import (
    AuthError,
    BadResultError,
    InvalidImageError,
    InvalidParameterError,
    ModerationError,
    NotFoundError,
    QuotaError,
    RateLimitedError,
    RetryVerdict,
    VendorAPIError,
    VendorInputError,
    VendorRequestError,
    VendorServerError,
)
from prefect_image_edit.vendors.tencent import LogoParam, LogoRect

from .conftest import (
    FROZEN_NOW,
    GIF,
    JPEG,
    MASK_PNG,
    PNG,
    TC_SECRET_ID,
    TC_SECRET_KEY,
    TC_TOKEN,
    Recorder,
    assert_no_secrets,
    json_response,
)

pytestmark = pytest.mark.anyio

RESULT_URL = (
    "https://aiart-xxx.cos.ap-guangzhou.myqcloud.com/xxx.jpg?q-sign-algorithm=sha1&q-ak=xxxxx"
    "&q-sign-time=1731574045;1731577645&q-key-time=1731574045;1731577645&q-header-list=host"
    "&q-url-param-list=&q-signature=31fe75c1c18c3d91db59508961209dd37aaf41c7"
)
REQUEST_ID = "301bfc25-61ca-4ece-b03e-f6aefb547969"
VECTOR_A_BODY = (
    b'{"InputUrl": "https://example.com/input.jpg", "MaskUrl": "https://example.com/mask.png",'
    b' "RspImgType": "url", "LogoAdd": 0}'
)
VECTOR_A_AUTH = (
    "TC3-HMAC-SHA256 Credential=AKIDEXAMPLEa1b2c3d4e5f6g7h8i9j0kLmNoP/2023-11-14/aiart/tc3_request,"
    " SignedHeaders=content-type;host,"
    " Signature=2a0abef0930164a2736c75038c904dd6932add39de9307e16528cec91be9ea63"
)
URLS = {"image_url": "https://example.com/input.jpg", "mask_url": "https://example.com/mask.png"}


def ok(result_image: str = RESULT_URL) -> httpx.Response:
    return json_response({"Response": {"ResultImage": result_image, "RequestId": REQUEST_ID}})


def error(code: str, message: str = "something went wrong") -> httpx.Response:
    return json_response(
        {"Response": {"Error": {"Code": code, "Message": message}, "RequestId": "err-req-1"}}
    )


def client(recorder: Recorder, **kwargs) -> TencentAiartClient:
    kwargs.setdefault("clock", lambda: FROZEN_NOW)
    return TencentAiartClient(TC_SECRET_ID, TC_SECRET_KEY, transport=recorder.transport, **kwargs)


async def test_url_request_is_vector_a_on_the_wire():
    recorder = Recorder(ok())
    async with client(recorder) as tencent:
        result = await tencent.image_inpainting_removal(**URLS)
    sent = recorder.last
    assert (sent.method, str(sent.url)) == ("POST", "https://aiart.tencentcloudapi.com/")
    assert sent.content == VECTOR_A_BODY
    assert sent.headers["Content-Type"] == "application/json"
    assert sent.headers["Host"] == "aiart.tencentcloudapi.com"
    assert sent.headers["X-TC-Action"] == "ImageInpaintingRemoval"
    assert sent.headers["X-TC-Version"] == "2022-12-29"
    assert sent.headers["X-TC-Region"] == "ap-guangzhou"
    assert sent.headers["X-TC-Timestamp"] == "1700000000"
    assert sent.headers["User-Agent"] == USER_AGENT
    assert "X-TC-Token" not in sent.headers
    assert sent.headers["Authorization"] == VECTOR_A_AUTH
    assert isinstance(result, EraseResult)
    assert (result.vendor, result.action, result.request_id) == (
        "tencent",
        "ImageInpaintingRemoval",
        REQUEST_ID,
    )
    assert result.image_url == RESULT_URL
    assert result.image_bytes is None
    assert result.expires_at == datetime.fromtimestamp(1731577645, UTC)
    assert result.seed is None
    assert result.parameters == {
        "InputUrl": URLS["image_url"],
        "MaskUrl": URLS["mask_url"],
        "RspImgType": "url",
        "LogoAdd": 0,
    }


async def test_base64_request_and_result():
    out = JPEG  # a real image: results are decoded and checked
    recorder = Recorder(ok(base64.b64encode(out).decode()))
    async with client(recorder, token=TC_TOKEN, region="ap-shanghai") as tencent:
        result = await tencent.image_inpainting_removal(
            image=JPEG, mask=MASK_PNG, rsp_img_type="base64"
        )
    body = json.loads(recorder.last.content)
    assert list(body) == ["InputImage", "Mask", "RspImgType", "LogoAdd"]
    assert base64.b64decode(body["InputImage"]) == JPEG
    assert base64.b64decode(body["Mask"]) == MASK_PNG
    assert recorder.last.headers["X-TC-Token"] == TC_TOKEN
    assert recorder.last.headers["X-TC-Region"] == "ap-shanghai"
    assert result.image_bytes == out
    assert (result.image_url, result.expires_at) == (None, None)
    assert result.parameters == {"RspImgType": "base64", "LogoAdd": 0}
    assert set(result.input_sha256) == {"image", "mask"}


async def test_url_without_expiry_falls_back_to_one_hour():
    recorder = Recorder(ok("https://aiart-1.cos.ap-guangzhou.myqcloud.com/a.jpg"))
    async with client(recorder) as tencent:
        result = await tencent.image_inpainting_removal(**URLS)
    assert 3590 < (result.expires_at - result.received_at).total_seconds() <= 3600


async def test_logo_param_is_sent_and_digested_in_parameters():
    recorder = Recorder(ok())
    logo = LogoParam(logo_image="aGVsbG8=", logo_rect=LogoRect(x=1, y=2, width=30, height=40))
    async with client(recorder) as tencent:
        result = await tencent.image_inpainting_removal(**URLS, logo_add=1, logo_param=logo)
    body = json.loads(recorder.last.content)
    assert body["LogoAdd"] == 1
    assert body["LogoParam"] == {
        "LogoImage": "aGVsbG8=",
        "LogoRect": {"X": 1, "Y": 2, "Width": 30, "Height": 40},
    }
    assert result.parameters["LogoParam"]["LogoImage"].startswith("sha256:")


async def test_emulator_endpoint_signs_host_with_port():
    recorder = Recorder(ok())
    async with client(recorder, endpoint="http://127.0.0.1:8123") as tencent:
        await tencent.image_inpainting_removal(**URLS)
    assert str(recorder.last.url) == "http://127.0.0.1:8123/"
    assert recorder.last.headers["Host"] == "127.0.0.1:8123"
    assert recorder.last.headers["Authorization"] != VECTOR_A_AUTH


@pytest.mark.parametrize(
    ("code", "cls", "verdict"),
    [
        ("AuthFailure.SignatureFailure", AuthError, RetryVerdict.PERMANENT),
        ("InvalidParameterValue.ParameterValueError", VendorInputError, RetryVerdict.PERMANENT),
        ("OperationDenied.ImageIllegalDetected", ModerationError, RetryVerdict.PERMANENT),
        ("FailedOperation.GenerateImageFailed", ModerationError, RetryVerdict.RETRY_ONCE),
        ("ResourceUnavailable.InArrears", QuotaError, RetryVerdict.PERMANENT),
        ("FailedOperation.JobNotExist", NotFoundError, RetryVerdict.PERMANENT),
        ("RequestLimitExceeded.JobNumExceed", RateLimitedError, RetryVerdict.RESUBMIT),
        ("InternalError", VendorServerError, RetryVerdict.RETRY_ONCE),
        ("ServiceUnavailable", VendorServerError, RetryVerdict.RESUBMIT),
        ("Something.New", VendorAPIError, RetryVerdict.PERMANENT),
    ],
)
async def test_error_envelopes_at_http_200(code, cls, verdict):
    recorder = Recorder(error(code))
    async with client(recorder) as tencent:
        with pytest.raises(cls) as caught:
            await tencent.image_inpainting_removal(**URLS)
    err = caught.value
    assert type(err) is cls
    assert (err.code, err.retry, err.http_status, err.request_id) == (
        code,
        verdict,
        200,
        "err-req-1",
    )
    assert (err.vendor, err.action) == ("tencent", "ImageInpaintingRemoval")
    assert "something went wrong" in str(err)


async def test_error_envelope_with_charset_content_type_is_still_read():
    response = httpx.Response(
        200,
        content=json.dumps(
            {"Response": {"Error": {"Code": "InternalError", "Message": "x"}}}
        ).encode(),
        headers={"Content-Type": "application/json; charset=utf-8"},
    )
    async with client(Recorder(response)) as tencent:
        with pytest.raises(VendorServerError):
            await tencent.image_inpainting_removal(**URLS)


@pytest.mark.parametrize(
    ("status", "cls", "verdict"),
    [
        (502, VendorServerError, RetryVerdict.RESUBMIT),
        (503, VendorServerError, RetryVerdict.RESUBMIT),
        (429, RateLimitedError, RetryVerdict.RESUBMIT),
        (500, VendorServerError, RetryVerdict.RETRY_ONCE),
        (504, VendorServerError, RetryVerdict.RETRY_ONCE),
        (403, AuthError, RetryVerdict.PERMANENT),
        (418, VendorAPIError, RetryVerdict.PERMANENT),
    ],
)
async def test_gateway_failures_without_envelope_by_status(status, cls, verdict):
    recorder = Recorder(httpx.Response(status, text="<html>Bad Gateway</html>"))
    async with client(recorder) as tencent:
        with pytest.raises(cls) as caught:
            await tencent.image_inpainting_removal(**URLS)
    assert (caught.value.retry, caught.value.http_status, caught.value.code) == (
        verdict,
        status,
        "",
    )


async def test_success_without_result_image_is_malformed():
    recorder = Recorder(json_response({"Response": {"RequestId": "r-9"}}))
    async with client(recorder) as tencent:
        with pytest.raises(VendorRequestError) as caught:
            await tencent.image_inpainting_removal(**URLS)
    assert (caught.value.retry, caught.value.request_id) == (RetryVerdict.RETRY_ONCE, "r-9")


async def test_base64_result_that_is_not_base64_is_a_bad_result():
    # A well-formed success answer (billed) whose image is garbage or file:///...: a vendor
    # fault that is never resent silently (issue 9), not an ambiguous malformed answer.
    for garbage in ("not base64 at all!", "file:///etc/passwd"):
        recorder = Recorder(ok(garbage))
        async with client(recorder) as tencent:
            with pytest.raises(BadResultError, match="not Base64") as caught:
                await tencent.image_inpainting_removal(**URLS, rsp_img_type="base64")
        assert caught.value.retry is RetryVerdict.PERMANENT


BAD_CALLS = [
    ({"mask": MASK_PNG}, InvalidParameterError, "image"),
    ({"image": PNG}, InvalidParameterError, "mask"),
    (
        {"image": PNG, "image_url": URLS["image_url"], "mask": MASK_PNG},
        InvalidParameterError,
        "image",
    ),
    (
        {"image_url": "ftp://example.com/a.png", "mask": MASK_PNG},
        InvalidParameterError,
        "image_url",
    ),
    ({**URLS, "rsp_img_type": "png"}, InvalidParameterError, "rsp_img_type"),
    ({**URLS, "logo_add": 2}, InvalidParameterError, "logo_add"),
    ({**URLS, "logo_param": {"LogoUrl": "x"}}, InvalidParameterError, "logo_param"),
    ({"image": b"", "mask": MASK_PNG}, InvalidImageError, "image"),
    ({"image": b"plain text", "mask": MASK_PNG}, InvalidImageError, "image"),
    ({"image": PNG, "mask": GIF}, InvalidImageError, "mask"),
    ({"image": "/no/such/file.png", "mask": MASK_PNG}, InvalidImageError, "image"),
    ({"image": PNG + b"\x00" * 4_500_000, "mask": MASK_PNG}, InvalidImageError, "image"),
]


@pytest.mark.parametrize(("kwargs", "cls", "field"), BAD_CALLS)
async def test_bad_input_sends_nothing(kwargs, cls, field):
    recorder = Recorder(ok())
    async with client(recorder) as tencent:
        with pytest.raises(cls) as caught:
            await tencent.image_inpainting_removal(**kwargs)
    assert recorder.requests == []
    assert caught.value.field == field
    assert isinstance(caught.value, ValueError)


async def test_secrets_never_reach_errors_or_repr():
    recorder = Recorder(error("AuthFailure.SignatureFailure", f"bad key {'A' * 80}"))
    tencent = client(recorder, token=TC_TOKEN)
    async with tencent:
        with pytest.raises(AuthError) as caught:
            await tencent.image_inpainting_removal(image=PNG, mask=MASK_PNG)
    assert "<redacted>" in str(caught.value)
    assert_no_secrets(str(caught.value), repr(caught.value), repr(tencent))
    assert TC_SECRET_ID not in repr(tencent)
    assert tencent.is_closed


@pytest.mark.parametrize(
    "error_value", ["AuthFailure", {"Code": 7}, {}], ids=["text", "numeric-code", "empty"]
)
async def test_garbled_error_envelope_is_still_an_error(error_value):
    response = json_response({"Response": {"Error": error_value, "RequestId": "r-1"}})
    async with client(Recorder(response)) as tencent:
        with pytest.raises(VendorAPIError) as caught:
            await tencent.image_inpainting_removal(**URLS)
    assert (caught.value.retry, caught.value.request_id) == (RetryVerdict.PERMANENT, "r-1")
