"""Volcengine visual i2i_inpainting: gateway signature checks, service rules, results."""

from __future__ import annotations

import base64
import io
import json
import os
from datetime import UTC, datetime, timedelta

import pytest
from PIL import Image, ImageCms

B64 = base64.b64encode


def _body(img, image: bytes | None = None, mask: bytes | None = None, **extra):
    return {
        "req_key": "i2i_inpainting",
        "binary_data_base64": [
            B64(image if image is not None else img.scene(128, 128, "JPEG", quality=95)).decode(),
            B64(mask if mask is not None else img.mask_png(128, 128)).decode(),
        ],
        **extra,
    }


def _gateway(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    meta = response.json()["ResponseMetadata"]
    assert meta["Error"]["Code"] == code
    assert {"RequestId", "Action", "Version", "Service", "Region"} <= set(meta)
    assert isinstance(meta["Error"]["CodeN"], int)
    return meta


def _service(response, status: int, code: int) -> dict:
    assert response.status_code == status, response.text
    data = response.json()
    assert set(data) == {"code", "data", "message", "request_id", "status", "time_elapsed"}
    assert data["code"] == data["status"] == code and data["data"] is None
    return data


@pytest.mark.parametrize("action", ["CVProcess", "Img2ImgInpainting"])
def test_valid_call_returns_a_real_erase(volcengine, img, http, action):
    response = volcengine.post(_body(img, return_url=True), action=action)
    assert response.status_code == 200, response.text
    data = response.json()
    assert data["code"] == 10000 and data["message"] == "Success"
    assert data["data"]["algorithm_base_resp"] == {"status_code": 0, "status_message": "Success"}
    out = img.open(base64.b64decode(data["data"]["binary_data_base64"][0]))
    src = img.open(img.scene(128, 128, "JPEG", quality=95))
    assert img.mean_diff(out, src, img.object_box(128, 128)) > 60
    # dilate_size 15 (default) grows the mask; the top band stays the input's own pixels.
    assert img.outside_diff(out, src, 20) < 3
    (url,) = data["data"]["image_urls"]
    assert "x-expires=" in url and "x-signature=" in url and "rk3s=" in url
    assert http.get(url).content == base64.b64decode(data["data"]["binary_data_base64"][0])
    assert volcengine.emu.counters.billable("volcengine", action=action) == 1


def test_gateway_rejections(volcengine, img):
    body = json.dumps(_body(img)).encode()
    headers = volcengine.headers(body)
    tampered = dict(headers, Authorization=headers["Authorization"][:-4] + "abcd")
    _gateway(volcengine.post(body, headers=tampered), 401, "SignatureDoesNotMatch")
    _gateway(volcengine.post(body, secret_key="wrong"), 401, "SignatureDoesNotMatch")
    _gateway(volcengine.post(body, access_key="AKLTnobody"), 401, "InvalidAccessKey")
    stale = (datetime.now(UTC) - timedelta(minutes=16)).strftime("%Y%m%dT%H%M%SZ")
    meta = _gateway(volcengine.post(body, x_date=stale), 400, "InvalidTimestamp")
    assert meta["Error"]["CodeN"] == 100006
    _gateway(volcengine.post(body, service="iam"), 404, "ServiceNotFound")
    _gateway(volcengine.post(body, action="ListUsers"), 404, "InvalidActionOrVersion")
    _gateway(volcengine.post(body, version="2020-01-01"), 404, "InvalidActionOrVersion")
    no_auth = {k: v for k, v in headers.items() if k != "Authorization"}
    _gateway(volcengine.post(body, headers=no_auth), 401, "MissingAuthenticationToken")
    _gateway(volcengine.post(body + b" ", headers=headers), 401, "SignatureDoesNotMatch")
    assert volcengine.emu.counters.billable("volcengine") == 0


def test_skew_window_is_configurable(volcengine, img):
    volcengine.emu.settings.volcengine.timestamp_window = 3600
    stale = (datetime.now(UTC) - timedelta(minutes=30)).strftime("%Y%m%dT%H%M%SZ")
    assert volcengine.post(_body(img), x_date=stale).status_code == 200


def _with_icc(mask: bytes) -> bytes:
    image = Image.open(io.BytesIO(mask))
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    buffer = io.BytesIO()
    image.save(buffer, "PNG", icc_profile=profile)
    return buffer.getvalue()


def _noise_png(side: int) -> bytes:
    """A PNG that does not compress: larger than 5 MB at 1400 px."""
    buffer = io.BytesIO()
    Image.frombytes("RGB", (side, side), os.urandom(side * side * 3)).save(buffer, "PNG")
    assert len(buffer.getvalue()) > 5 * 1024 * 1024
    return buffer.getvalue()


def test_service_rules(volcengine, img):
    v = volcengine
    _service(v.post(_body(img, req_key="jimeng")), 400, 50200)
    _service(v.post({"req_key": "i2i_inpainting"}), 400, 50206)
    _service(v.post(_body(img, mask=_with_icc(img.mask_png(128, 128)))), 400, 50200)
    _service(v.post(_body(img, mask=img.mask_png(96, 96))), 400, 50200)
    _service(v.post(_body(img, image=img.scene(63, 63))), 400, 50205)
    _service(v.post(_body(img, image=img.scene(128, 128, "BMP"))), 400, 50200)
    _service(v.post(_body(img, strength=1.5)), 400, 50200)
    _service(v.post(_body(img, quality="X")), 400, 50200)
    _service(v.post(_body(img, steps="30")), 400, 50204)
    _service(v.post(b"{not json"), 400, 50204)
    bad = _body(img)
    bad["binary_data_base64"][0] = "data:image/png;base64," + bad["binary_data_base64"][0]
    _service(v.post(bad), 400, 50207)
    _service(v.post(_body(img, image=_noise_png(1400))), 400, 50205)
    assert v.emu.counters.billable("volcengine") == 0


def test_result_url_lives_24_hours(volcengine, img, http):
    from prefect_image_edit.vendors.results import result_url_expiry

    data = volcengine.post(_body(img, return_url=True)).json()["data"]
    (url,) = data["image_urls"]
    now = datetime.now(UTC)
    expiry = result_url_expiry(url, vendor="volcengine", received_at=now)
    assert 86390 < (expiry - now).total_seconds() <= 86401
    assert http.get(url).status_code == 200
    forged = url.replace("x-expires=", "x-expires=9")
    assert http.get(forged).status_code == 403
    volcengine.emu.clock.advance(86401)
    expired = http.get(url)
    assert expired.status_code == 403 and b"AccessDenied" in expired.content


def test_concurrency_limit_per_access_key(volcengine, img):
    from concurrent.futures import ThreadPoolExecutor

    emu = volcengine.emu
    emu.settings.volcengine.max_concurrency = 1
    emu.settings.volcengine.latency = 0.5
    body = json.dumps(_body(img)).encode()
    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda _: volcengine.post(body), range(2)))
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [200, 429]
    limited = next(a for a in answers if a.status_code == 429)
    _service(limited, 429, 50430)
    assert emu.counters.max_in_flight("volcengine") == 2


def test_logo_info_adds_a_visible_mark(volcengine, img):
    plain = volcengine.post(_body(img)).json()["data"]["binary_data_base64"][0]
    marked = volcengine.post(_body(img, logo_info={"add_logo": True, "opacity": 1.0}))
    marked = marked.json()["data"]["binary_data_base64"][0]
    a, b = img.open(base64.b64decode(plain)), img.open(base64.b64decode(marked))
    assert img.mean_diff(a, b, (64, 112, 128, 128)) > 10
