"""The httpx auths, driven through their generators with the known-answer vectors.

No client and no transport: build the request, run ``sync_auth_flow``/``async_auth_flow`` with
``next()``, and compare what the auth stamped with docs/signing.md#known-answer-vectors.
"""

from __future__ import annotations

import logging

import httpx
import pytest

from prefect_image_edit.vendors.ailabtools import ApiKeyAuth
from prefect_image_edit.vendors.tencent import TC3Auth
from prefect_image_edit.vendors.tencent import signing as tc3
from prefect_image_edit.vendors.volcengine import VolcengineAuth
from prefect_image_edit.vendors.volcengine import signing as volc

from .conftest import (
    AILAB_KEY,
    FROZEN_NOW,
    TC_SECRET_ID,
    TC_SECRET_KEY,
    TC_TOKEN,
    VOLC_AK,
    VOLC_SK,
    VOLC_TOKEN,
)

TC_BODY = (
    b'{"InputUrl": "https://example.com/input.jpg", "MaskUrl": "https://example.com/mask.png",'
    b' "RspImgType": "url", "LogoAdd": 0}'
)
TC_AUTH_A = (
    "TC3-HMAC-SHA256 Credential=AKIDEXAMPLEa1b2c3d4e5f6g7h8i9j0kLmNoP/2023-11-14/aiart/tc3_request,"
    " SignedHeaders=content-type;host,"
    " Signature=2a0abef0930164a2736c75038c904dd6932add39de9307e16528cec91be9ea63"
)
VOLC_BODY = (
    b'{"req_key": "i2i_inpainting", "image_urls": ["https://example.com/input.jpg",'
    b' "https://example.com/mask.png"], "return_url": true, "steps": 30, "strength": 0.8,'
    b' "scale": 7, "seed": 0, "dilate_size": 15, "quality": "M"}'
)
VOLC_PAYLOAD_HASH = "b484ef28174e184cd5a16796968d0ef477695a0a7607e7476693092e39bb3b14"
VOLC_SIG_V1 = "4166bcbf589f40b7ebac2dfa0050d0b751ed1647402c82a8e768a4b6828e0e71"
VOLC_SIG_V2 = "e1d8e06f1deeaa913f42c0161ed17b67d28507d17eba37d7899bde272f9dd49d"
VOLC_SIG_V3 = "59f3010ca83149253d1a772da3e124cae91a9486cd5d258ae21613abaecfc746"


class Clock:
    """A frozen clock that counts how often it is read."""

    def __init__(self, now: float = FROZEN_NOW) -> None:
        self.now = now
        self.reads = 0

    def __call__(self) -> float:
        self.reads += 1
        return self.now


def tencent_request(url: str = "https://aiart.tencentcloudapi.com/") -> httpx.Request:
    return httpx.Request(
        "POST",
        url,
        content=TC_BODY,
        headers={
            "Content-Type": "application/json",
            "X-TC-Action": "ImageInpaintingRemoval",
            "X-TC-Version": "2022-12-29",
            "X-TC-Region": "ap-guangzhou",
        },
    )


def volc_request(
    action: str = "CVProcess", base: str = "https://visual.volcengineapi.com"
) -> httpx.Request:
    return httpx.Request(
        "POST",
        f"{base}/",
        params={"Action": action, "Version": "2022-08-31"},
        content=VOLC_BODY,
        headers={"Content-Type": "application/json", "User-Agent": "prefect-image-edit/test"},
    )


def run_sync(auth: httpx.Auth, request: httpx.Request) -> httpx.Request:
    flow = auth.sync_auth_flow(request)
    signed = next(flow)
    with pytest.raises(StopIteration):
        flow.send(httpx.Response(200))
    return signed


# --- Tencent -----------------------------------------------------------------------------------


def test_tc3_auth_reproduces_vector_a():
    clock = Clock()
    signed = run_sync(TC3Auth(TC_SECRET_ID, TC_SECRET_KEY, clock=clock), tencent_request())
    assert signed.headers["Authorization"] == TC_AUTH_A
    assert signed.headers["X-TC-Timestamp"] == "1700000000"
    assert "X-TC-Token" not in signed.headers
    assert clock.reads == 1


def test_tc3_auth_sends_token_unsigned_vector_b():
    signed = run_sync(
        TC3Auth(TC_SECRET_ID, TC_SECRET_KEY, token=TC_TOKEN, clock=Clock()), tencent_request()
    )
    assert signed.headers["X-TC-Token"] == TC_TOKEN
    assert signed.headers["Authorization"] == TC_AUTH_A


@pytest.mark.anyio
async def test_tc3_async_flow_signs_the_same():
    flow = TC3Auth(TC_SECRET_ID, TC_SECRET_KEY, clock=Clock()).async_auth_flow(tencent_request())
    signed = await flow.__anext__()
    assert signed.headers["Authorization"] == TC_AUTH_A
    with pytest.raises(StopAsyncIteration):
        await flow.asend(httpx.Response(200))


def test_tc3_resigning_replaces_stale_headers_and_reads_the_clock_again():
    clock = Clock()
    auth = TC3Auth(TC_SECRET_ID, TC_SECRET_KEY, token=TC_TOKEN, clock=clock)
    request = tencent_request()
    run_sync(auth, request)
    clock.now += 60
    again = run_sync(auth, request)
    assert clock.reads == 2
    assert again.headers.get_list("Authorization") == [again.headers["Authorization"]]
    assert again.headers.get_list("X-TC-Timestamp") == ["1700000060"]
    assert again.headers.get_list("X-TC-Token") == [TC_TOKEN]
    assert again.headers["Authorization"] != TC_AUTH_A


def test_tc3_signs_the_host_with_its_port():
    clock = Clock()
    signed = run_sync(
        TC3Auth(TC_SECRET_ID, TC_SECRET_KEY, clock=clock), tencent_request("http://127.0.0.1:8123/")
    )
    assert signed.headers["Host"] == "127.0.0.1:8123"
    expected = tc3.sign(
        secret_id=TC_SECRET_ID,
        secret_key=TC_SECRET_KEY,
        timestamp=1700000000,
        service="aiart",
        headers={"Content-Type": "application/json", "Host": "127.0.0.1:8123"},
        body=TC_BODY,
    )
    assert "host:127.0.0.1:8123\n" in expected.canonical_request
    assert signed.headers["Authorization"] == expected.authorization


def test_tc3_debug_logs_intermediates_but_never_the_key(caplog):
    caplog.set_level(logging.DEBUG, logger="prefect_image_edit.vendors.tencent.auth")
    run_sync(TC3Auth(TC_SECRET_ID, TC_SECRET_KEY, token=TC_TOKEN, clock=Clock()), tencent_request())
    text = caplog.text
    assert "content-type;host" in text
    assert "TC3-HMAC-SHA256\n1700000000" in text
    assert TC_SECRET_KEY not in text
    assert TC_TOKEN not in text


# --- Volcengine --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "token", "signed_headers", "signature"),
    [
        ("CVProcess", None, "content-type;host;x-content-sha256;x-date", VOLC_SIG_V1),
        ("Img2ImgInpainting", None, "content-type;host;x-content-sha256;x-date", VOLC_SIG_V2),
        (
            "CVProcess",
            VOLC_TOKEN,
            "content-type;host;x-content-sha256;x-date;x-security-token",
            VOLC_SIG_V3,
        ),
    ],
    ids=["V1", "V2", "V3-session-token"],
)
def test_volcengine_auth_reproduces_vectors(action, token, signed_headers, signature):
    clock = Clock()
    auth = VolcengineAuth(VOLC_AK, VOLC_SK, session_token=token, clock=clock)
    signed = run_sync(auth, volc_request(action))
    assert signed.headers["X-Date"] == "20231114T221320Z"
    assert signed.headers["X-Content-Sha256"] == VOLC_PAYLOAD_HASH
    assert signed.headers.get("X-Security-Token") == token
    assert signed.headers["Authorization"] == (
        f"HMAC-SHA256 Credential={VOLC_AK}/20231114/cn-north-1/cv/request, "
        f"SignedHeaders={signed_headers}, Signature={signature}"
    )
    assert clock.reads == 1


@pytest.mark.anyio
async def test_volcengine_async_flow_signs_the_same():
    auth = VolcengineAuth(VOLC_AK, VOLC_SK, clock=Clock())
    signed = await auth.async_auth_flow(volc_request()).__anext__()
    assert signed.headers["Authorization"].endswith(VOLC_SIG_V1)


def test_volcengine_user_agent_is_not_signed():
    auth = VolcengineAuth(VOLC_AK, VOLC_SK, clock=Clock())
    request = volc_request()
    request.headers["User-Agent"] = "something-else/9"
    assert run_sync(auth, request).headers["Authorization"].endswith(VOLC_SIG_V1)


def test_volcengine_resigning_replaces_stale_headers():
    clock = Clock()
    auth = VolcengineAuth(VOLC_AK, VOLC_SK, session_token=VOLC_TOKEN, clock=clock)
    request = volc_request()
    run_sync(auth, request)
    clock.now += 1
    again = run_sync(auth, request)
    assert clock.reads == 2
    for name in ("Authorization", "X-Date", "X-Content-Sha256", "X-Security-Token"):
        assert len(again.headers.get_list(name)) == 1, name
    assert again.headers["X-Date"] == "20231114T221321Z"
    assert not again.headers["Authorization"].endswith(VOLC_SIG_V3)


def test_volcengine_signs_the_host_with_its_port():
    auth = VolcengineAuth(VOLC_AK, VOLC_SK, clock=Clock())
    signed = run_sync(auth, volc_request(base="http://127.0.0.1:8123"))
    headers = {
        "Content-Type": "application/json",
        "Host": "127.0.0.1:8123",
        "X-Date": "20231114T221320Z",
        "X-Content-Sha256": VOLC_PAYLOAD_HASH,
    }
    expected = volc.sign(
        access_key=VOLC_AK,
        secret_key=VOLC_SK,
        x_date="20231114T221320Z",
        region="cn-north-1",
        service="cv",
        headers=headers,
        body=VOLC_BODY,
        query={"Action": "CVProcess", "Version": "2022-08-31"},
    )
    assert "host:127.0.0.1:8123\n" in expected.canonical_request
    assert signed.headers["Authorization"] == expected.authorization


def test_volcengine_debug_logs_never_show_key_or_token(caplog):
    caplog.set_level(logging.DEBUG, logger="prefect_image_edit.vendors.volcengine.auth")
    auth = VolcengineAuth(VOLC_AK, VOLC_SK, session_token=VOLC_TOKEN, clock=Clock())
    run_sync(auth, volc_request())
    assert "x-security-token:<redacted>" in caplog.text
    assert VOLC_TOKEN not in caplog.text
    assert VOLC_SK not in caplog.text


# --- AILabTools and repr -----------------------------------------------------------------------


def test_api_key_auth_sets_the_header():
    signed = run_sync(ApiKeyAuth(AILAB_KEY), httpx.Request("GET", "https://www.ailabapi.com/x"))
    assert signed.headers["ailabapi-api-key"] == AILAB_KEY


@pytest.mark.parametrize(
    "auth",
    [
        TC3Auth(TC_SECRET_ID, TC_SECRET_KEY, token=TC_TOKEN),
        VolcengineAuth(VOLC_AK, VOLC_SK, session_token=VOLC_TOKEN),
        ApiKeyAuth(AILAB_KEY),
    ],
    ids=["tc3", "volcengine", "api-key"],
)
def test_auth_repr_holds_no_secret(auth):
    for secret in (TC_SECRET_KEY, TC_TOKEN, VOLC_SK, VOLC_TOKEN, AILAB_KEY, TC_SECRET_ID, VOLC_AK):
        assert secret not in repr(auth)
