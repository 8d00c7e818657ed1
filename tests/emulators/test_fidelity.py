"""The emulators' new faults (issue 9) and the leniencies removed (issue 7), on the raw wire.

Requests are built by hand (the conftest callers), so these tests say what the emulator answers
and bills, whatever the pack's clients do.
"""

from __future__ import annotations

import base64
import io
import json

import httpx
import pytest
from PIL import Image

from prefect_image_edit.emulators import BILLED, EmulatorControl, FaultKind
from prefect_image_edit.emulators.faults import APPLIES_TO, ONLY_FOR, RequestClass
from prefect_image_edit.emulators.pipeline import CORRUPT_HTML
from prefect_image_edit.emulators.tencent.backend import MAX_BODY

VENDORS = ("ailabtools", "tencent", "volcengine")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def png(image: Image.Image, fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    return buffer.getvalue()


@pytest.fixture
def call(tencent, volcengine, ailab, img):
    """A valid paid call per vendor, Base64 results: call(vendor, **extra) -> httpx.Response."""

    def run(vendor: str, **extra):
        if vendor == "tencent":
            body = {"InputImage": b64(img.scene()), "Mask": b64(img.mask_png()), "LogoAdd": 0}
            return tencent.post({**body, **extra})
        if vendor == "volcengine":
            body = {
                "req_key": "i2i_inpainting",
                "binary_data_base64": [b64(img.scene()), b64(img.mask_png())],
            }
            return volcengine.post({**body, **extra})
        return ailab.remove(**extra)

    return run


def error_code(vendor: str, response: httpx.Response):
    data = response.json()
    if vendor == "tencent":
        return data["Response"].get("Error", {}).get("Code")
    if vendor == "volcengine":
        meta = data.get("ResponseMetadata")
        return meta["Error"]["Code"] if meta else data["code"]
    return data["error_detail"]["code"] or None


def result_bytes(vendor: str, response: httpx.Response) -> str:
    data = response.json()
    if vendor == "tencent":
        return data["Response"]["ResultImage"]
    return data["data"]["binary_data_base64"][0]


# -- refusals: the answer, and nothing billed ---------------------------------------------
REFUSALS = [
    ("tencent", FaultKind.OUTPUT_MODERATION, 200, "FailedOperation.GenerateImageFailed"),
    ("volcengine", FaultKind.OUTPUT_MODERATION, 400, 50511),
    ("tencent", FaultKind.NO_CREDITS, 200, "ResourceUnavailable.LowBalance"),
    ("ailabtools", FaultKind.NO_CREDITS, 429, "ERROR_NOT_ENOUGH_CREDITS"),
    ("tencent", FaultKind.ARREARS, 200, "ResourceUnavailable.InArrears"),
    ("tencent", FaultKind.TOKEN_EXPIRED, 200, "AuthFailure.TokenFailure"),
    ("volcengine", FaultKind.TOKEN_EXPIRED, 401, "InvalidAccessKey"),
]


@pytest.mark.parametrize(("vendor", "kind", "status", "code"), REFUSALS)
def test_refusal_faults_answer_the_vendor_code_unbilled(emu, call, vendor, kind, status, code):
    emu.inject(vendor, kind)
    response = call(vendor)
    assert response.status_code == status, response.text
    assert error_code(vendor, response) == code
    assert emu.counters.billable(vendor) == 0 and not BILLED[kind]
    assert call(vendor).status_code == 200 and emu.counters.billable(vendor) == 1


def test_output_moderation_can_use_50519(emu, call):
    emu.inject("volcengine", FaultKind.OUTPUT_MODERATION, code=50519)
    response = call("volcengine")
    assert (response.status_code, error_code("volcengine", response)) == (400, 50519)


@pytest.mark.parametrize(
    ("kind", "vendor"),
    [
        (FaultKind.OUTPUT_MODERATION, "ailabtools"),
        (FaultKind.NO_CREDITS, "volcengine"),
        (FaultKind.ARREARS, "ailabtools"),
        (FaultKind.TOKEN_EXPIRED, "ailabtools"),
        (FaultKind.STUCK_QUEUED, "tencent"),
    ],
)
def test_kinds_a_vendor_does_not_have_are_refused(emu, kind, vendor):
    assert vendor not in ONLY_FOR[kind]
    with pytest.raises(ValueError, match="exists only for"):
        emu.inject(vendor, kind)


def test_ghost_face_inside_data(emu, call):
    emu.inject("volcengine", FaultKind.GHOST_FACE, shape="data")
    response = call("volcengine")
    data = response.json()
    assert response.status_code == 200 and data["code"] == 10000
    assert data["data"]["algorithm_base_resp"]["status_code"] == 201304
    assert data["data"]["binary_data_base64"] == [] and data["data"]["image_urls"] == []
    assert emu.counters.billable("volcengine") == 0


# -- bad results: a success answer, billed ------------------------------------------------
@pytest.mark.parametrize("vendor", VENDORS)
def test_empty_result_is_a_billed_success_with_nothing_in_it(emu, call, vendor):
    emu.inject(vendor, FaultKind.EMPTY_RESULT)
    response = call(vendor)
    assert response.status_code == 200 and error_code(vendor, response) in (None, 10000)
    assert result_bytes(vendor, response) == ""
    (record,) = emu.counters.billing_records(vendor)
    assert record.fault == "empty_result" and BILLED[FaultKind.EMPTY_RESULT]


def test_empty_result_urls(emu, call):
    emu.inject("tencent", FaultKind.EMPTY_RESULT)
    assert call("tencent", RspImgType="url").json()["Response"]["ResultImage"] == ""
    emu.inject("volcengine", FaultKind.EMPTY_RESULT)
    data = call("volcengine", return_url=True).json()["data"]
    assert data["binary_data_base64"] == [""] and data["image_urls"] == [""]


@pytest.mark.parametrize("vendor", VENDORS)
@pytest.mark.parametrize("variant", ["html", "truncated"])
def test_corrupt_result_in_base64(emu, call, vendor, variant):
    emu.inject(vendor, FaultKind.CORRUPT_RESULT, variant=variant)
    data = base64.b64decode(result_bytes(vendor, call(vendor)))
    if variant == "html":
        assert data == CORRUPT_HTML
    else:
        assert data[:2] == b"\xff\xd8"  # a JPEG that stops short
        with pytest.raises(OSError):
            Image.open(io.BytesIO(data)).load()
    assert emu.counters.billable(vendor) == 1


def test_corrupt_result_at_the_url(emu, call, http):
    emu.inject("tencent", FaultKind.CORRUPT_RESULT)
    url = call("tencent", RspImgType="url").json()["Response"]["ResultImage"]
    served = http.get(url)
    assert served.status_code == 200 and served.content == CORRUPT_HTML
    assert emu.counters.billable("tencent") == 1


# -- AILabTools async: stuck, PROCESSING_FAILURE, answers inside data ---------------------
def test_stuck_queued_task_never_starts_and_costs_nothing(emu, ailab):
    emu.inject("ailabtools", FaultKind.STUCK_QUEUED)
    task_id = ailab.try_on().json()["task_id"]
    for _ in range(3):
        emu.clock.advance(86400)
        data = ailab.query(task_id).json()
        assert (data["task_status"], data["output"]["task_status"]) == (0, "PENDING")
    assert emu.counters.billable("ailabtools") == 0
    assert emu.ailabtools_credits_left() == emu.settings.ailabtools.credits


def test_processing_failure_while_polling(emu, ailab):
    emu.inject("ailabtools", FaultKind.TASK_FAILURE, code="PROCESSING_FAILURE", status=500)
    task_id = ailab.try_on().json()["task_id"]
    emu.clock.advance(60)
    response = ailab.query(task_id)
    assert response.status_code == 500
    assert response.json()["error_detail"]["code"] == "PROCESSING_FAILURE"
    assert response.json()["task_status"] == 3


@pytest.mark.parametrize("shape", ["top", "data"])
def test_query_shape_setting(emu, ailab, shape):
    emu.settings.ailabtools.query_shape = shape
    task_id = ailab.try_on().json()["task_id"]
    emu.clock.advance(60)
    data = ailab.query(task_id).json()
    where = data["data"] if shape == "data" else data
    assert where["task_status"] == 2 and where["output"]["image_url"]
    assert ("task_status" in data) is (shape == "top")
    if shape == "data":
        assert data["data"]["task_id"] == task_id


# -- downloads: revoked early, trickling --------------------------------------------------
def test_url_forbidden_before_expiry(emu, call, http):
    url = call("tencent", RspImgType="url").json()["Response"]["ResultImage"]
    emu.inject("tencent", FaultKind.URL_FORBIDDEN, action="download")
    refused = http.get(url)
    assert refused.status_code == 403 and b"AccessDenied" in refused.content
    assert http.get(url).status_code == 200  # once; the URL itself is still valid
    assert emu.counters.billable("tencent") == 1  # downloads are never billed


def test_trickle_serves_the_body_slowly_but_whole(emu, call, http):
    emu.inject("volcengine", FaultKind.TRICKLE, action="download", rate=4_000)
    data = call("volcengine", return_url=True).json()["data"]
    url, expected = data["image_urls"][0], base64.b64decode(data["binary_data_base64"][0])
    sizes = []
    with http.stream("GET", url) as response:
        assert int(response.headers["content-length"]) == len(expected)
        body = b"".join(chunk for chunk in response.iter_raw() if not sizes.append(len(chunk)))
    assert body == expected
    assert max(sizes) <= 400 and len(sizes) > 1  # a tenth of a second's worth per chunk


def test_new_kinds_apply_where_they_make_sense():
    assert APPLIES_TO[FaultKind.URL_FORBIDDEN] == {RequestClass.DOWNLOAD}
    assert APPLIES_TO[FaultKind.TRICKLE] == {RequestClass.DOWNLOAD}
    assert APPLIES_TO[FaultKind.STUCK_QUEUED] == {RequestClass.SUBMIT}


def test_new_kinds_over_the_control_api(emu, call):
    control = EmulatorControl(emu.tencent.base_url)
    fault = control.inject("tencent", "arrears")
    assert fault["kind"] == "arrears"
    assert error_code("tencent", call("tencent")) == "ResourceUnavailable.InArrears"
    control.inject("volcengine", "corrupt_result", variant="truncated")
    assert base64.b64decode(result_bytes("volcengine", call("volcengine")))[:2] == b"\xff\xd8"
    with pytest.raises(ValueError, match="exists only for tencent"):
        control.inject("volcengine", "arrears")


# -- leniencies removed -------------------------------------------------------------------
def test_tencent_refuses_a_body_over_10_mb(emu, tencent):
    body = json.dumps({"InputImage": "A" * (MAX_BODY + 1)}).encode()
    response = tencent.post(body)
    assert error_code("tencent", response) == "RequestSizeLimitExceeded"
    assert emu.counters.billable("tencent") == 0


@pytest.mark.parametrize("what", ["rgb", "tiff"])
def test_tencent_refuses_an_rgb_or_tiff_mask(emu, tencent, img, what):
    grey = Image.open(io.BytesIO(img.mask_png()))
    mask = png(grey.convert("RGB")) if what == "rgb" else png(grey, "TIFF")
    response = tencent.post({"InputImage": b64(img.scene()), "Mask": b64(mask), "LogoAdd": 0})
    assert error_code("tencent", response) == "InvalidParameterValue.ParameterValueError"
    assert emu.counters.billable("tencent") == 0


@pytest.mark.parametrize("mode", ["L", "RGBA", "P"])
def test_volcengine_refuses_a_non_rgb_input(emu, volcengine, img, mode):
    image = png(Image.open(io.BytesIO(img.scene())).convert(mode))
    payload = {"req_key": "i2i_inpainting", "binary_data_base64": [b64(image), b64(img.mask_png())]}
    response = volcengine.post(payload)
    assert (response.status_code, response.json()["code"]) == (400, 50200)
    assert "RGB" in response.json()["message"]


def test_volcengine_refuses_base64_and_urls_at_once(emu, volcengine, img):
    images = [b64(img.scene()), b64(img.mask_png())]
    urls = ["http://127.0.0.1:1/a.png", "http://127.0.0.1:1/b.png"]
    response = volcengine.post(
        {"req_key": "i2i_inpainting", "binary_data_base64": images, "image_urls": urls}
    )
    assert (response.status_code, response.json()["code"]) == (400, 50200)


@pytest.mark.parametrize(
    ("logo", "ok"),
    [
        ({"add_logo": True, "position": 3}, True),
        ({"add_logo": True, "position": 9}, False),
        ({"add_logo": True, "position": -1}, False),
        ({"add_logo": True, "language": 2}, False),
        ({"add_logo": True, "opacity": 1.5}, False),
    ],
)
def test_volcengine_logo_ranges(emu, volcengine, img, logo, ok):
    images = [b64(img.scene()), b64(img.mask_png())]
    response = volcengine.post(
        {"req_key": "i2i_inpainting", "binary_data_base64": images, "logo_info": logo}
    )
    assert (response.status_code == 200) is ok, response.text
    if not ok:
        assert response.json()["code"] == 50200


@pytest.mark.parametrize(
    ("scale", "ok"), [("7", True), ("20", True), ("7.5", False), ("7.0", False)]
)
def test_ailabtools_scale_is_an_integer(emu, ailab, scale, ok):
    response = ailab.remove(scale=scale)
    assert (response.status_code == 200) is ok, response.text
    if not ok:
        assert response.json()["error_detail"]["code"] == "ERROR_INVALID_PARAMETER"
