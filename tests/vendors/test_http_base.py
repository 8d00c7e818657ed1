"""What every client shares: timeouts, User-Agent, closing, no redirects, scrubbing secrets."""

from __future__ import annotations

import httpx
import pytest

from prefect_image_edit.vendors import (
    DEFAULT_TIMEOUT,
    USER_AGENT,
    AILabToolsClient,
    TencentAiartClient,
    VolcengineVisualClient,
)
from prefect_image_edit.vendors._http import api_error, scrub
from prefect_image_edit.vendors.ailabtools import AILABTOOLS_ERRORS
from prefect_image_edit.vendors.errors import (
    AuthError,
    InvalidParameterError,
    RateLimitedError,
    RetryVerdict,
    VendorAPIError,
)
from prefect_image_edit.vendors.tencent import LogoParam

from .conftest import (
    AILAB_KEY,
    FROZEN_NOW,
    MASK_PNG,
    PNG,
    TC_SECRET_ID,
    TC_SECRET_KEY,
    TC_TOKEN,
    VOLC_AK,
    VOLC_SK,
    VOLC_TOKEN,
    Recorder,
    assert_no_secrets,
    json_response,
)

pytestmark = pytest.mark.anyio


def make_clients(recorder: Recorder, **kwargs):
    return [
        (
            TencentAiartClient(
                TC_SECRET_ID,
                TC_SECRET_KEY,
                token=TC_TOKEN,
                transport=recorder.transport,
                clock=lambda: FROZEN_NOW,
                **kwargs,
            ),
            lambda c: c.image_inpainting_removal(image=PNG, mask=MASK_PNG),
        ),
        (
            VolcengineVisualClient(
                VOLC_AK,
                VOLC_SK,
                session_token=VOLC_TOKEN,
                transport=recorder.transport,
                clock=lambda: FROZEN_NOW,
                **kwargs,
            ),
            lambda c: c.i2i_inpainting(image=PNG, mask=MASK_PNG),
        ),
        (
            AILabToolsClient(AILAB_KEY, transport=recorder.transport, **kwargs),
            lambda c: c.remove_objects_advanced(PNG, MASK_PNG),
        ),
    ]


async def test_default_timeout_and_user_agent_on_every_request():
    recorder = Recorder(httpx.Response(503))
    for client, call in make_clients(recorder):
        async with client:
            with pytest.raises(VendorAPIError):
                await call(client)
        sent = recorder.last
        assert sent.headers["User-Agent"] == USER_AGENT
        assert sent.extensions["timeout"] == DEFAULT_TIMEOUT.as_dict()
        assert client.is_closed


async def test_custom_timeout_is_used():
    recorder = Recorder(httpx.Response(503))
    timeout = httpx.Timeout(30.0, connect=2.0)
    for client, call in make_clients(recorder, timeout=timeout):
        async with client:
            with pytest.raises(VendorAPIError):
                await call(client)
        assert recorder.last.extensions["timeout"] == timeout.as_dict()


def test_timeout_must_be_an_httpx_timeout():
    with pytest.raises(TypeError, match=r"httpx\.Timeout"):
        AILabToolsClient(AILAB_KEY, timeout=5)


async def test_one_connection_pool_per_client_object():
    recorder = Recorder(httpx.Response(503))
    client = AILabToolsClient(AILAB_KEY, transport=recorder.transport)
    pool = client._http
    for _ in range(2):
        with pytest.raises(VendorAPIError):
            await client.remove_objects_advanced(PNG, MASK_PNG)
        assert client._http is pool
    await client.aclose()
    assert client.is_closed


async def test_redirects_are_not_followed():
    recorder = Recorder(httpx.Response(302, headers={"Location": "https://elsewhere.example/"}))
    for client, call in make_clients(recorder):
        async with client:
            with pytest.raises(VendorAPIError) as caught:
                await call(client)
        assert caught.value.retry is RetryVerdict.PERMANENT
    assert len(recorder.requests) == 3
    assert all("elsewhere" not in str(request.url) for request in recorder.requests)


@pytest.mark.parametrize(
    ("factory", "body"),
    [
        (
            lambda t: TencentAiartClient(TC_SECRET_ID, TC_SECRET_KEY, token=TC_TOKEN, transport=t),
            {"Response": {"Error": {"Code": "AuthFailure.TokenFailure", "Message": TC_TOKEN}}},
        ),
        (
            lambda t: VolcengineVisualClient(
                VOLC_AK, VOLC_SK, session_token=VOLC_TOKEN, transport=t
            ),
            {"ResponseMetadata": {"Error": {"Code": "AccessDenied", "Message": f"{VOLC_TOKEN}!"}}},
        ),
    ],
    ids=["tencent", "volcengine"],
)
async def test_echoed_short_secrets_are_scrubbed(factory, body):
    recorder = Recorder(json_response(body, 200 if "Response" in body else 403))
    client = factory(recorder.transport)
    call = (
        client.image_inpainting_removal(image=PNG, mask=MASK_PNG)
        if isinstance(client, TencentAiartClient)
        else client.i2i_inpainting(image=PNG, mask=MASK_PNG)
    )
    async with client:
        with pytest.raises(AuthError) as caught:
            await call
    assert "<redacted>" in str(caught.value)
    assert_no_secrets(str(caught.value), repr(caught.value))


def test_scrub_removes_each_secret_and_leaves_other_types():
    assert scrub("a key=abcd1234 and abcd1234", ("abcd1234",)) == "a key=<redacted> and <redacted>"
    assert scrub(None, ("x",)) is None
    assert scrub(42, ("42",)) == 42


def test_api_error_uses_fallback_status_only_without_a_code():
    by_status = api_error(
        AILABTOOLS_ERRORS,
        vendor="ailabtools",
        action="a",
        code=None,
        message=None,
        http_status=200,
        request_id=None,
        fallback_status=429,
    )
    assert isinstance(by_status, RateLimitedError)
    assert (by_status.http_status, by_status.message) == (200, "HTTP 200")
    by_code = api_error(
        AILABTOOLS_ERRORS,
        vendor="ailabtools",
        action="a",
        code="ERROR_NOT_ENOUGH_CREDITS",
        message="m",
        http_status=429,
        request_id="r",
        fallback_status=429,
    )
    assert by_code.retry is RetryVerdict.PERMANENT


def test_missing_credentials_are_refused():
    with pytest.raises(InvalidParameterError):
        TencentAiartClient("", TC_SECRET_KEY)
    with pytest.raises(InvalidParameterError):
        VolcengineVisualClient(VOLC_AK, "")


async def test_parameters_are_checked_before_files():
    recorder = Recorder(httpx.Response(500))
    async with VolcengineVisualClient(VOLC_AK, VOLC_SK, transport=recorder.transport) as volc:
        with pytest.raises(InvalidParameterError, match="strength"):
            await volc.i2i_inpainting(image="/missing.png", mask="/missing.png", strength=9)
    async with TencentAiartClient(TC_SECRET_ID, TC_SECRET_KEY, transport=recorder.transport) as tc:
        with pytest.raises(InvalidParameterError, match="rsp_img_type"):
            await tc.image_inpainting_removal(
                image="/missing.png", mask="/missing.png", rsp_img_type="jpeg"
            )
    assert recorder.requests == []


def test_base64_stays_out_of_reprs():
    logo = LogoParam(logo_image="QUJD" * 40)
    assert "QUJD" not in repr(logo)


def test_client_errors_survive_pickling():
    # Prefect pickles exceptions into task states; the fields must come back.
    import pickle

    param = pickle.loads(pickle.dumps(InvalidParameterError("must be H, M or L", field="quality")))
    assert (type(param), param.field, str(param)) == (
        InvalidParameterError,
        "quality",
        "quality: must be H, M or L",
    )
    api = api_error(
        AILABTOOLS_ERRORS,
        vendor="ailabtools",
        action="a",
        code="EXCEEDING_LIMITS",
        message="slow down",
        http_status=429,
        request_id="r",
    )
    back = pickle.loads(pickle.dumps(api))
    assert (type(back), back.retry, back.code, back.request_id) == (
        RateLimitedError,
        RetryVerdict.RESUBMIT,
        "EXCEEDING_LIMITS",
        "r",
    )
