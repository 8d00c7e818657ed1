"""Known-answer vectors (docs/signing.md#known-answer-vectors), checked step by step.

The vectors were computed with the vendors' official SDKs (clock frozen); every intermediate
(canonical request, string to sign, Authorization) must match byte for byte.
"""

from __future__ import annotations

import hashlib

import pytest

from prefect_image_edit.vendors.tencent import signing as tc3
from prefect_image_edit.vendors.volcengine import signing as volc

TC_SECRET_ID = "AKIDEXAMPLEa1b2c3d4e5f6g7h8i9j0kLmNoP"
TC_SECRET_KEY = "SKEYexampleA1B2C3D4E5F6G7H8I9J0kl"
TC_BODY = (
    b'{"InputUrl": "https://example.com/input.jpg", "MaskUrl": "https://example.com/mask.png",'
    b' "RspImgType": "url", "LogoAdd": 0}'
)
TC_HEADERS = {
    "Content-Type": "application/json",
    "Host": "aiart.tencentcloudapi.com",
    "X-TC-Action": "ImageInpaintingRemoval",
    "X-TC-RequestClient": "SDK_PYTHON_3.1.179",
    "X-TC-Timestamp": "1700000000",
    "X-TC-Version": "2022-12-29",
    "X-TC-Region": "ap-guangzhou",
    "X-TC-Language": "zh-CN",
}
TC_PAYLOAD_HASH = "58b4bf707f30c57cbc3a69ef0e9996cf84d3f77aafcc0e813f994a0e44540920"
TC_AUTH_A = (
    "TC3-HMAC-SHA256 Credential=AKIDEXAMPLEa1b2c3d4e5f6g7h8i9j0kLmNoP/2023-11-14/aiart/tc3_request,"
    " SignedHeaders=content-type;host,"
    " Signature=2a0abef0930164a2736c75038c904dd6932add39de9307e16528cec91be9ea63"
)


def test_tencent_vector_a_every_step():
    assert tc3.hash_payload(TC_BODY) == TC_PAYLOAD_HASH
    result = tc3.sign(
        secret_id=TC_SECRET_ID,
        secret_key=TC_SECRET_KEY,
        timestamp=1700000000,
        service="aiart",
        headers=TC_HEADERS,
        body=TC_BODY,
    )
    assert result.canonical_request == (
        "POST\n/\n\ncontent-type:application/json\nhost:aiart.tencentcloudapi.com\n\n"
        "content-type;host\n" + TC_PAYLOAD_HASH
    )
    assert result.string_to_sign == (
        "TC3-HMAC-SHA256\n1700000000\n2023-11-14/aiart/tc3_request\n"
        "a33dca6eac1971714dc5c8ed6c3f83ef079cc22ccccfbf56b34711ec1d1f2668"
    )
    assert result.authorization == TC_AUTH_A


def test_tencent_vector_b_token_is_not_signed():
    headers = {**TC_HEADERS, "X-TC-Token": "TOKENexample0123456789"}
    result = tc3.sign(
        secret_id=TC_SECRET_ID,
        secret_key=TC_SECRET_KEY,
        timestamp=1700000000,
        service="aiart",
        headers=headers,
        body=TC_BODY,
    )
    assert result.authorization == TC_AUTH_A


def test_tencent_vector_c_signs_lowercased_action_value():
    result = tc3.sign(
        secret_id=TC_SECRET_ID,
        secret_key=TC_SECRET_KEY,
        timestamp=1700000000,
        service="aiart",
        headers=TC_HEADERS,
        body=TC_BODY,
        signed_headers=("content-type", "host", "x-tc-action"),
    )
    assert result.canonical_request == (
        "POST\n/\n\ncontent-type:application/json\nhost:aiart.tencentcloudapi.com\n"
        "x-tc-action:imageinpaintingremoval\n\ncontent-type;host;x-tc-action\n" + TC_PAYLOAD_HASH
    )
    assert result.authorization == (
        "TC3-HMAC-SHA256 Credential=AKIDEXAMPLEa1b2c3d4e5f6g7h8i9j0kLmNoP/2023-11-14/aiart/"
        "tc3_request, SignedHeaders=content-type;host;x-tc-action,"
        " Signature=db5487f91e34a47a67c94918f91e11722fe709f9f68c04545e1636e7f815991c"
    )


def test_tencent_vector_d_official_doc_example_key_independent_part():
    payload = (
        b'{"Limit": 1, "Filters": [{"Values": ["\\u672a\\u547d\\u540d"], "Name": "instance-name"}]}'
    )
    payload_hash = tc3.hash_payload(payload)
    assert payload_hash == "35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064"
    canonical = tc3.canonical_request(
        method="POST",
        uri="/",
        query="",
        headers={
            "Content-Type": "application/json; charset=utf-8",
            "Host": "cvm.tencentcloudapi.com",
            "X-TC-Action": "DescribeInstances",
        },
        signed_headers=("content-type", "host", "x-tc-action"),
        payload_hash=payload_hash,
    )
    assert (
        hashlib.sha256(canonical.encode()).hexdigest()
        == "7019a55be8395899b900fb5564e4200d984910f34794a27cb3fb7d10ff6a1e84"
    )


def test_tencent_authorization_round_trips_through_parser():
    parsed = tc3.parse_authorization(TC_AUTH_A)
    assert parsed == tc3.ParsedAuthorization(
        TC_SECRET_ID,
        "2023-11-14",
        "aiart",
        ("content-type", "host"),
        "2a0abef0930164a2736c75038c904dd6932add39de9307e16528cec91be9ea63",
    )
    assert tc3.parse_authorization("TC3-HMAC-SHA256 Credential=x") is None
    assert tc3.parse_authorization("") is None


VOLC_AK = "AKLTexampleAKID0123456789abcdef"
VOLC_SK = "c2VjcmV0LWtleS1leGFtcGxlLTAxMjM0NTY3ODk="
VOLC_BODY = (
    b'{"req_key": "i2i_inpainting", "image_urls": ["https://example.com/input.jpg",'
    b' "https://example.com/mask.png"], "return_url": true, "steps": 30, "strength": 0.8,'
    b' "scale": 7, "seed": 0, "dilate_size": 15, "quality": "M"}'
)
VOLC_PAYLOAD_HASH = "b484ef28174e184cd5a16796968d0ef477695a0a7607e7476693092e39bb3b14"


def _volc_headers(token: str | None = None) -> dict[str, str]:
    headers = {
        "Host": "visual.volcengineapi.com",
        "User-Agent": "volc-sdk-python/v1.0.229",
        "Content-Type": "application/json",
        "X-Date": "20231114T221320Z",
    }
    if token:
        headers["X-Security-Token"] = token
    headers["X-Content-Sha256"] = VOLC_PAYLOAD_HASH
    return headers


@pytest.mark.parametrize(
    ("action", "token", "sts_hash", "signed", "sig"),
    [
        (
            "CVProcess",
            None,
            "03e8c306603838a0767ca1fe2339b546c8a12ec658f428c48179ab350e920a0f",
            "content-type;host;x-content-sha256;x-date",
            "4166bcbf589f40b7ebac2dfa0050d0b751ed1647402c82a8e768a4b6828e0e71",
        ),
        (
            "Img2ImgInpainting",
            None,
            "9c768cd3fb61900bec9f8650344c36d4e7028c48d9c08f6f0e2fef70bc7c2042",
            "content-type;host;x-content-sha256;x-date",
            "e1d8e06f1deeaa913f42c0161ed17b67d28507d17eba37d7899bde272f9dd49d",
        ),
        (
            "CVProcess",
            "STS2exampleSessionToken",
            "5b9e099a950cc8f7330686c2d566ec920749207a50246148b0414ae6b7cacd49",
            "content-type;host;x-content-sha256;x-date;x-security-token",
            "59f3010ca83149253d1a772da3e124cae91a9486cd5d258ae21613abaecfc746",
        ),
    ],
    ids=["V1-CVProcess", "V2-Img2ImgInpainting", "V3-session-token"],
)
def test_volcengine_vectors_every_step(action, token, sts_hash, signed, sig):
    headers = _volc_headers(token)
    assert volc.hash_payload(VOLC_BODY) == VOLC_PAYLOAD_HASH
    assert ";".join(volc.signed_header_names(headers)) == signed
    result = volc.sign(
        access_key=VOLC_AK,
        secret_key=VOLC_SK,
        x_date="20231114T221320Z",
        region="cn-north-1",
        service="cv",
        headers=headers,
        body=VOLC_BODY,
        query={"Action": action, "Version": "2022-08-31"},
    )
    token_line = f"x-security-token:{token}\n" if token else ""
    assert result.canonical_request == (
        f"POST\n/\nAction={action}&Version=2022-08-31\ncontent-type:application/json\n"
        f"host:visual.volcengineapi.com\nx-content-sha256:{VOLC_PAYLOAD_HASH}\n"
        f"x-date:20231114T221320Z\n{token_line}\n{signed}\n{VOLC_PAYLOAD_HASH}"
    )
    assert result.string_to_sign == (
        f"HMAC-SHA256\n20231114T221320Z\n20231114/cn-north-1/cv/request\n{sts_hash}"
    )
    assert result.authorization == (
        f"HMAC-SHA256 Credential={VOLC_AK}/20231114/cn-north-1/cv/request, "
        f"SignedHeaders={signed}, Signature={sig}"
    )
    parsed = volc.parse_authorization(result.authorization)
    assert parsed is not None
    assert (parsed.access_key, parsed.region, parsed.service, parsed.signature) == (
        VOLC_AK,
        "cn-north-1",
        "cv",
        sig,
    )


def test_volcengine_canonical_query_encoding_and_order():
    assert volc.canonical_query({"b": "x y", "a": ["2", "1"], "c": "~ok"}) == (
        "a=1&a=2&b=x%20y&c=~ok"
    )


def test_volcengine_host_default_port_is_dropped():
    headers = {"Host": "visual.volcengineapi.com:443"}
    assert volc.canonical_headers(headers, ["host"]) == "host:visual.volcengineapi.com\n"
