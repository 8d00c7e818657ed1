"""AILabTools: API key, multipart rules, limits, mask rules, credits and async try-on tasks."""

from __future__ import annotations

import base64
import io
import os

from PIL import Image, ImageCms

REMOVE = "/api/image/editing/remove-objects-advanced"
REFINER = "/api/portrait/enhance/try-on-clothes-refiner"


def _envelope(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    data = response.json()
    assert data["error_code"] == status
    assert data["error_detail"]["status_code"] == status
    assert data["error_detail"]["code"] == code
    assert {"request_id", "log_id", "error_code_str", "error_msg"} <= set(data)
    return data


def _encode(image: Image.Image, fmt: str = "PNG", **save) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **save)
    return buffer.getvalue()


def test_remove_objects_erases_and_costs_20_credits(ailab, img):
    response = ailab.remove()
    assert response.status_code == 200, response.text
    data = response.json()
    assert data["error_code"] == 0 and data["error_detail"]["status_code"] == 200
    (b64,) = data["data"]["binary_data_base64"]
    out, src = img.open(base64.b64decode(b64)), img.open(img.scene())
    assert img.mean_diff(out, src, img.object_box(96, 96)) > 60
    assert img.outside_diff(out, src, 12) < 3
    emu = ailab.emu
    assert emu.counters.billable("ailabtools", action="remove-objects-advanced") == 1
    backend_left = emu.settings.ailabtools.credits - 20
    assert ailab.emu.ailabtools_credits_left() == backend_left


def test_api_key(ailab):
    _envelope(ailab.post(REMOVE, {}, key=""), 401, "ERROR_USER_NOT_EXISTS")
    _envelope(ailab.post(REMOVE, {}, key="emulator-ailab-unknown"), 401, "ERROR_USER_NOT_EXISTS")


def test_multipart_rules(ailab, img):
    only_image = {"image": ("image.png", img.scene(), "image/png")}
    data = _envelope(ailab.post(REMOVE, only_image), 400, "MISSING_PARAMETERS")
    assert "mask" in data["error_detail"]["message"]
    no_filename = {"image": (None, img.scene()), "mask": ("m.png", img.mask_png(), "image/png")}
    data = _envelope(ailab.post(REMOVE, no_filename), 502, "AI_SERVICE_INTERNAL_ERROR")
    assert data["error_detail"]["message"] == "File type not supported"
    _envelope(ailab.remove(steps="0"), 400, "ERROR_INVALID_PARAMETER")
    _envelope(ailab.remove(strength="1.2"), 400, "ERROR_INVALID_PARAMETER")
    _envelope(ailab.remove(scale="21"), 400, "ERROR_INVALID_PARAMETER")
    _envelope(ailab.remove(seed="-2"), 400, "ERROR_INVALID_PARAMETER")
    _envelope(ailab.remove(dilate_size="0"), 400, "ERROR_INVALID_PARAMETER")
    _envelope(ailab.remove(quality="X"), 400, "ERROR_INVALID_PARAMETER")
    assert ailab.remove(seed="-1", quality="H", strength="0.1", scale="20").status_code == 200


def test_file_limits(ailab, img):
    gif = _encode(Image.new("P", (96, 96)), "GIF")
    _envelope(ailab.remove(image=gif), 415, "UNSUPPORTED_FILE_TYPES")
    bmp = img.scene(96, 96, "BMP")  # BMP is for the try-on APIs only
    _envelope(ailab.remove(image=bmp), 415, "UNSUPPORTED_FILE_TYPES")
    noise = _encode(Image.frombytes("RGB", (1400, 1400), os.urandom(1400 * 1400 * 3)))
    assert len(noise) > 5 * 1024 * 1024
    _envelope(ailab.remove(image=noise), 413, "FILE_SIZE_EXCEEDS_LIMIT")
    _envelope(
        ailab.remove(image=img.scene(64, 64), mask=img.mask_png(64, 64)),
        422,
        "ERROR_LOW_RESOLUTION",
    )
    big = _encode(Image.new("RGB", (4096, 70)))
    _envelope(
        ailab.remove(image=big, mask=img.mask_png(4096, 70)), 413, "FILE_RESOLUTION_EXCEEDS_LIMITS"
    )
    assert ailab.remove(image=img.scene(65, 65), mask=img.mask_png(65, 65)).status_code == 200


def test_mask_rules(ailab, img):
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    mask = Image.open(io.BytesIO(img.mask_png()))
    icc = _encode(mask, icc_profile=profile)
    _envelope(ailab.remove(mask=icc), 422, "ERROR_INVALID_FILE")
    _envelope(ailab.remove(mask=img.mask_png(80, 80)), 400, "ERROR_MASK_IMAGE_RESOLUTION_MISMATCH")
    jpeg = _encode(mask, "JPEG")
    _envelope(ailab.remove(mask=jpeg), 415, "UNSUPPORTED_FILE_TYPES")
    coloured = mask.convert("RGB")
    coloured.putpixel((0, 0), (255, 0, 0))
    _envelope(ailab.remove(mask=_encode(coloured)), 422, "ERROR_INVALID_FILE")
    translucent = mask.convert("RGBA")
    translucent.putpixel((0, 0), (0, 0, 0, 128))
    _envelope(ailab.remove(mask=_encode(translucent)), 422, "ERROR_INVALID_FILE")
    for ok in (img.mask_png(mode="RGB"), img.mask_png(mode="RGBA")):
        assert ailab.remove(mask=ok).status_code == 200
    assert ailab.emu.counters.billable("ailabtools") == 2


def test_credits_run_out(ailab):
    ailab.emu.settings.ailabtools.credits = 45
    assert ailab.remove().status_code == 200
    assert ailab.remove().status_code == 200
    _envelope(ailab.remove(), 429, "ERROR_NOT_ENOUGH_CREDITS")
    assert ailab.emu.counters.billable("ailabtools") == 2


def test_try_on_task_state_machine(ailab, img, http):
    emu = ailab.emu
    _envelope(ailab.post("/api/portrait/editing/try-on-clothes-pro", {}), 400, "MISSING_PARAMETERS")
    _envelope(ailab.try_on(task_type="sync"), 400, "ERROR_INVALID_PARAMETER")
    _envelope(ailab.try_on(size=150), 422, "ERROR_LOW_RESOLUTION")
    submitted = ailab.try_on(resolution="-1", restore_face="true")
    assert submitted.status_code == 200, submitted.text
    body = submitted.json()
    assert body["task_type"] == "async" and body["error_code"] == 0
    task_id = body["task_id"]
    assert emu.counters.billable("ailabtools", action="try-on-clothes-pro") == 1

    def poll() -> dict:
        response = ailab.query(task_id)
        assert response.status_code == 200, response.text
        return response.json()

    first = poll()
    assert first["task_status"] == 0 and first["output"]["task_status"] == "PENDING"
    emu.clock.advance(emu.settings.ailabtools.task_queued_seconds)
    running = poll()
    assert running["task_status"] == 1 and running["output"]["task_status"] == "RUNNING"
    emu.clock.advance(emu.settings.ailabtools.task_processing_seconds)
    done = poll()
    assert done["task_status"] == 2 and done["output"]["task_status"] == "SUCCEEDED"
    assert done["usage"]["image_count"] == 1
    url = done["output"]["image_url"]
    assert "Expires=" in url and "OSSAccessKeyId=" in url and "Signature=" in url
    result = http.get(url)
    assert result.status_code == 200 and img.open(result.content).size == (200, 400)
    assert emu.counters.polls(task_id) == 3
    forged = http.get(url.replace("Signature=", "Signature=x"))
    assert forged.status_code == 403 and b"<Code>SignatureDoesNotMatch</Code>" in forged.content
    _envelope(ailab.query(task_id, key="emulator-ailab-other"), 401, "ERROR_USER_NOT_EXISTS")
    emu.clock.advance(86400)
    assert http.get(url).status_code == 403
    _envelope(ailab.query(task_id), 404, "ERROR_RESOURCE_NOT_FOUND")
    assert emu.counters.polls(task_id) == 4
    _envelope(ailab.query("no-such-task"), 404, "ERROR_RESOURCE_NOT_FOUND")


def test_pro_resolution_and_refiner(ailab, img, emu):
    emu.settings.ailabtools.task_queued_seconds = 0
    emu.settings.ailabtools.task_processing_seconds = 0
    task_id = ailab.try_on(resolution="1024").json()["task_id"]
    done = ailab.query(task_id).json()
    coarse = ailab.http.get(done["output"]["image_url"]).content
    assert img.open(coarse).size == (576, 1024)
    files = {
        "person_image": ("person.png", img.scene(200, 400), "image/png"),
        "top_garment": ("top.bmp", img.scene(200, 200, "BMP"), "image/bmp"),
        "coarse_image": ("coarse.jpg", coarse, "image/jpeg"),
    }
    _envelope(ailab.post(REFINER, files, {"task_type": "async"}), 400, "MISSING_PARAMETERS")
    _envelope(
        ailab.post(REFINER, files, {"task_type": "async", "gender": "x"}),
        400,
        "ERROR_INVALID_PARAMETER",
    )
    refined = ailab.post(REFINER, files, {"task_type": "async", "gender": "woman"})
    assert refined.status_code == 200, refined.text
    result = ailab.query(refined.json()["task_id"]).json()
    assert result["task_status"] == 2
    assert emu.counters.billable("ailabtools", action="try-on-clothes-refiner") == 1
    assert emu.ailabtools_credits_left() == emu.settings.ailabtools.credits - 30 - 25


def test_unknown_api(ailab):
    _envelope(ailab.post("/api/image/editing/no-such-thing", {}), 404, "ERROR_AI_NOT_EXISTS")


def test_optional_concurrency_limit_per_account(ailab, emu):
    from concurrent.futures import ThreadPoolExecutor

    emu.settings.ailabtools.latency = 0.5
    emu.settings.ailabtools.account_concurrency[emu.ailabtools.api_key] = 1
    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda _: ailab.remove(), range(2)))
    assert sorted(a.status_code for a in answers) == [200, 429]
    limited = next(a for a in answers if a.status_code == 429)
    _envelope(limited, 429, "EXCEEDING_LIMITS")
    assert emu.counters.max_in_flight("ailabtools", emu.ailabtools.api_key) == 2
    assert emu.ailabtools_credits_left() == emu.settings.ailabtools.credits - 20
