"""Tencent aiart ImageInpaintingRemoval: TC3 verification, body rules, limits, results."""

from __future__ import annotations

import base64
import io
import json

from PIL import Image

B64 = base64.b64encode


def _body(img, **extra):
    return {
        "InputImage": B64(img.scene()).decode(),
        "Mask": B64(img.mask_png()).decode(),
        "LogoAdd": 0,
        **extra,
    }


def _error(response) -> str:
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    data = response.json()["Response"]
    assert data["RequestId"]
    return data["Error"]["Code"]


def test_valid_call_returns_a_real_erase(tencent, img):
    response = tencent.post(_body(img))
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    data = response.json()["Response"]
    assert set(data) == {"ResultImage", "RequestId"}
    out = img.open(base64.b64decode(data["ResultImage"]))
    src = img.open(img.scene())
    assert out.size == src.size
    assert img.mean_diff(out, src, img.object_box(96, 96)) > 60  # the red square is gone
    assert img.outside_diff(out, src, 20) < 3  # JPEG noise only
    assert tencent.emu.counters.billable("tencent") == 1


def test_logo_is_added_unless_logo_add_is_zero(tencent, img):
    plain = img.open(base64.b64decode(tencent.post(_body(img)).json()["Response"]["ResultImage"]))
    body = _body(img)
    del body["LogoAdd"]  # the vendor's default is 1: a visible mark
    marked = tencent.post(body).json()["Response"]["ResultImage"]
    marked = img.open(base64.b64decode(marked))
    assert img.mean_diff(plain, marked, (60, 84, 96, 96)) > 10


def test_signature_errors_follow_the_recipe(tencent, img):
    body = json.dumps(_body(img)).encode()
    headers = tencent.headers(body)
    tampered = dict(headers, Authorization=headers["Authorization"][:-4] + "0000")
    assert _error(tencent.post(body, headers=tampered)) == "AuthFailure.SignatureFailure"
    assert _error(tencent.post(body, secret_key="wrong-key")) == "AuthFailure.SignatureFailure"
    assert _error(tencent.post(body, secret_id="AKIDunknown")) == "AuthFailure.SecretIdNotFound"
    stale = int(tencent.emu.clock.time()) - 301
    assert _error(tencent.post(body, timestamp=stale)) == "AuthFailure.SignatureExpire"
    assert _error(tencent.post(body, service="cvm")) == "AuthFailure.SignatureFailure"
    garbled = dict(headers, Authorization="TC3-HMAC-SHA256 nonsense")
    assert _error(tencent.post(body, headers=garbled)) == "AuthFailure.InvalidAuthorization"
    changed = body.replace(b'"LogoAdd": 0', b'"LogoAdd": 1')
    assert _error(tencent.post(changed, headers=headers)) == "AuthFailure.SignatureFailure"


def test_action_version_region_checks(tencent, img):
    body = json.dumps(_body(img)).encode()
    assert _error(tencent.post(body, action="TextToImage")) == "InvalidAction"
    assert _error(tencent.post(body, version="2020-01-01")) == "NoSuchVersion"
    assert _error(tencent.post(body, region="mars-1")) == "UnsupportedRegion"
    assert _error(tencent.post(body, region=None)) == "MissingParameter"


def test_content_type_is_exact_on_every_answer(tencent, img):
    ok = tencent.post(_body(img))
    bad = tencent.post(_body(img), secret_id="AKIDnope")
    for response in (ok, bad):
        assert response.headers["content-type"] == "application/json"
    # A body signed as form data is refused (the action takes JSON only).
    form = tencent.post(b"InputImage=x", content_type="application/x-www-form-urlencoded")
    assert _error(form) == "InvalidParameter"


def test_body_rules(tencent, img):
    assert _error(tencent.post(_body(img, Prompt="cat"))) == "UnknownParameter"
    assert _error(tencent.post(_body(img, LogoAdd="0"))) == "InvalidParameter"
    assert _error(tencent.post(_body(img, RspImgType="png"))) == (
        "InvalidParameterValue.ParameterValueError"
    )
    no_image = {"Mask": B64(img.mask_png()).decode()}
    assert _error(tencent.post(no_image)) == "InvalidParameterValue.ImageEmpty"
    assert tencent.emu.counters.billable("tencent") == 0


def _png(size: tuple[int, int], mode: str = "RGB", fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size).save(buffer, fmt)
    return buffer.getvalue()


def test_limits(tencent, img):
    huge = B64(b"\0" * (4_800_000)).decode()  # a Base64 string of 6.4 MB
    assert _error(tencent.post(_body(img, InputImage=huge))) == "FailedOperation.ImageSizeExceed"
    wide = B64(_png((5000, 8))).decode()
    assert _error(tencent.post(_body(img, InputImage=wide))) == (
        "FailedOperation.ImageResolutionExceed"
    )
    gif = B64(_png((96, 96), "P", "GIF")).decode()
    assert _error(tencent.post(_body(img, InputImage=gif))) == "FailedOperation.ImageDecodeFailed"
    small_mask = B64(img.mask_png(64, 64)).decode()
    assert _error(tencent.post(_body(img, Mask=small_mask))) == (
        "InvalidParameterValue.ParameterValueError"
    )
    assert _error(tencent.post(_body(img, InputImage="not base64!"))) == (
        "FailedOperation.ImageDecodeFailed"
    )


def test_url_result_expires_after_an_hour_and_rejects_tampering(tencent, img, http):
    from datetime import UTC, datetime

    from prefect_image_edit.vendors.results import result_url_expiry

    data = tencent.post(_body(img, RspImgType="url")).json()["Response"]
    url = data["ResultImage"]
    assert "q-sign-algorithm=sha1" in url and "q-signature=" in url
    now = datetime.now(UTC)
    expiry = result_url_expiry(url, vendor="tencent", received_at=now)
    assert 3590 < (expiry - now).total_seconds() <= 3601
    fetched = http.get(url)
    assert fetched.status_code == 200 and fetched.headers["content-type"] == "image/jpeg"
    assert img.open(fetched.content).size == (96, 96)
    tampered = http.get(url[:-3] + ("000" if not url.endswith("000") else "111"))
    assert tampered.status_code == 403 and b"<Code>SignatureDoesNotMatch</Code>" in tampered.content
    tencent.emu.clock.advance(3601)
    expired = http.get(url)
    assert expired.status_code == 403
    assert b"<Code>AccessDenied</Code>" in expired.content
    assert expired.headers["content-type"] == "application/xml"
    assert tencent.emu.counters.requests("tencent", "download") == 3


def test_input_urls_only_from_loopback(tencent, img):
    url = tencent.post(_body(img, RspImgType="url")).json()["Response"]["ResultImage"]
    body = _body(img, InputUrl=url, InputImage="ignored: the URL wins")
    assert "ResultImage" in tencent.post(body).json()["Response"]
    remote = _body(img, InputUrl="https://example.com/input.jpg")
    assert _error(tencent.post(remote)) == "FailedOperation.ImageDownloadError"
    assert _error(tencent.post(_body(img, InputUrl="not a url"))) == (
        "InvalidParameterValue.UrlIllegal"
    )


def test_sts_token_is_checked_when_configured(tencent, img):
    ep = tencent.emu.tencent
    tencent.emu.settings.tencent.tokens[ep.secret_id] = "sts-token-emulator"
    assert _error(tencent.post(_body(img))) == "AuthFailure.TokenFailure"
    ok = tencent.post(_body(img), token="sts-token-emulator").json()["Response"]
    assert "ResultImage" in ok


def test_one_job_at_a_time_per_secret_id(tencent, img):
    from concurrent.futures import ThreadPoolExecutor

    emu = tencent.emu
    emu.settings.tencent.latency = 0.6
    body = json.dumps(_body(img)).encode()
    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda _: tencent.post(body).json()["Response"], range(2)))
    codes = sorted(a.get("Error", {}).get("Code", "ok") for a in answers)
    assert codes == ["RequestLimitExceeded.JobNumExceed", "ok"]
    assert emu.counters.max_in_flight("tencent") == 2
    assert emu.counters.max_in_flight("tencent", emu.tencent.secret_id) == 2
    assert emu.counters.billable("tencent") == 1
    emu.settings.tencent.max_concurrency = 2
    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda _: tencent.post(body).json()["Response"], range(2)))
    assert all("ResultImage" in a for a in answers)
