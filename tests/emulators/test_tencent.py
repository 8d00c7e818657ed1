"""Tencent aiart ImageInpaintingRemoval: TC3 verification, body rules, limits, results."""

from __future__ import annotations

import base64
import json

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
