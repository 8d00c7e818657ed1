"""Inputs: what the clients refuse before sending (nothing reaches the emulator), what only the
vendor can refuse (the clients do cheap checks; pixels and mask rules are the vendor's), and
inputs given as URLs."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from prefect_image_edit.vendors import (
    ErrorKind,
    InvalidImageError,
    InvalidParameterError,
    RetryVerdict,
    TaskState,
    VendorInputError,
)
from prefect_image_edit.vendors.tencent import LogoParam, LogoRect

from .conftest import (
    ERASE_ACTION,
    SIZE,
    VENDORS,
    Tap,
    assert_erased,
    encode,
    erase,
    flat,
    garment,
    mask_png,
    mean_diff,
    open_image,
    person,
    region_mask,
    scene,
)

pytestmark = pytest.mark.anyio

MISSING = str(Path("/nonexistent-dir") / "image.png")
NOT_AN_IMAGE = b"%PDF-1.7 this is not an image at all"


async def _refuse(vendor: str, client, case: str):
    if case == "missing image file":
        return await erase(vendor, client, image=MISSING)
    if case == "missing mask file":
        return await erase(vendor, client, mask=MISSING)
    if case == "image is not an image":
        return await erase(vendor, client, image=NOT_AN_IMAGE)
    if case == "mask is a JPEG":
        return await erase(vendor, client, mask=scene(fmt="JPEG"))
    if case == "empty image":
        return await erase(vendor, client, image=b"")
    if case == "wrong enum":
        if vendor == "tencent":
            return await erase(vendor, client, rsp_img_type="jpeg")
        return await erase(vendor, client, quality="X")
    if case == "out of range":
        if vendor == "tencent":
            return await erase(vendor, client, logo_add=2)
        return await erase(vendor, client, strength=1.5)
    raise AssertionError(case)


CASES = {
    "missing image file": (InvalidImageError, "image"),
    "missing mask file": (InvalidImageError, "mask"),
    "image is not an image": (InvalidImageError, "image"),
    "empty image": (InvalidImageError, "image"),
    "wrong enum": (InvalidParameterError, None),
    "out of range": (InvalidParameterError, None),
}


@pytest.mark.parametrize("vendor", VENDORS)
@pytest.mark.parametrize("case", list(CASES))
async def test_bad_input_is_refused_before_anything_is_sent(emu, clients, vendor, case):
    exc, field = CASES[case]
    async with clients.of(vendor) as client:
        with pytest.raises(exc) as caught:
            await _refuse(vendor, client, case)
    assert isinstance(caught.value, ValueError)  # InputError is a ValueError
    if field is not None:
        assert caught.value.field == field
    assert emu.counters.requests(vendor) == 0


@pytest.mark.parametrize("vendor", ["ailabtools", "volcengine"])
async def test_a_jpeg_mask_is_refused_where_the_vendor_wants_png(emu, clients, vendor):
    async with clients.of(vendor) as client:
        with pytest.raises(InvalidImageError) as caught:
            await _refuse(vendor, client, "mask is a JPEG")
    assert caught.value.field == "mask"
    assert emu.counters.requests(vendor) == 0


@pytest.mark.parametrize(
    ("call", "exc"),
    [
        ("pro resolution", InvalidParameterError),
        ("refiner gender", InvalidParameterError),
        ("person is a GIF", InvalidImageError),
        ("empty task id", InvalidParameterError),
    ],
)
async def test_ailabtools_try_on_refusals(emu, clients, call, exc):
    async with clients.ailabtools() as client:
        with pytest.raises(exc):
            if call == "pro resolution":
                await client.submit_try_on_pro(person(), garment(), resolution=720)
            elif call == "refiner gender":
                await client.submit_try_on_refiner(person(), garment(), garment(), gender="x")
            elif call == "person is a GIF":
                await client.submit_try_on_pro(encode(open_image(person()), "GIF"), garment())
            else:
                await client.query_async_task(" ")
    assert emu.counters.requests("ailabtools") == 0


# What only the vendor checks: vendor, case -> (code, HTTP status).
REJECTED = {
    ("ailabtools", "mask of another size"): ("ERROR_MASK_IMAGE_RESOLUTION_MISMATCH", 400),
    ("ailabtools", "mask with an ICC profile"): ("ERROR_INVALID_FILE", 422),
    ("ailabtools", "too many pixels"): ("FILE_RESOLUTION_EXCEEDS_LIMITS", 413),
    ("ailabtools", "too few pixels"): ("ERROR_LOW_RESOLUTION", 422),
    ("tencent", "mask of another size"): ("InvalidParameterValue.ParameterValueError", 200),
    ("tencent", "too many pixels"): ("FailedOperation.ImageResolutionExceed", 200),
    ("volcengine", "mask of another size"): ("50200", 400),
    ("volcengine", "mask with an ICC profile"): ("50200", 400),
    ("volcengine", "too many pixels"): ("50205", 400),
    ("volcengine", "too few pixels"): ("50205", 400),
}
# Sides just past each vendor's documented pixel limits.
TOO_MANY = {"ailabtools": 4096, "tencent": 5000, "volcengine": 4097}
TOO_FEW = {"ailabtools": 64, "volcengine": 63}


def _inputs(vendor: str, case: str) -> tuple[bytes, bytes]:
    if case == "mask of another size":
        return scene(), mask_png(SIZE - 8, SIZE)
    if case == "mask with an ICC profile":
        return scene(), mask_png(icc=True)
    side = TOO_MANY[vendor] if case == "too many pixels" else TOO_FEW[vendor]
    height = 100 if case == "too many pixels" else side
    return flat(side, height), flat(side, height, mode="L")


@pytest.mark.parametrize(("vendor", "case"), list(REJECTED))
async def test_input_only_the_vendor_refuses(emu, clients, vendor, case):
    code, status = REJECTED[(vendor, case)]
    image, mask = _inputs(vendor, case)
    tap = Tap()
    async with clients.of(vendor, transport=tap) as client:
        with pytest.raises(VendorInputError) as caught:
            await erase(vendor, client, image=image, mask=mask)
    error = caught.value
    assert type(error) is VendorInputError
    assert (error.kind, error.retry) == (ErrorKind.BAD_INPUT, RetryVerdict.PERMANENT)
    assert (error.code, error.http_status) == (code, status)
    assert error.request_id == tap.request_id(vendor) and error.request_id
    assert emu.counters.requests(vendor, ERASE_ACTION[vendor]) == 1
    assert emu.counters.billable(vendor) == 0


async def test_tencent_takes_a_mask_with_an_icc_profile(emu, clients):
    # Tencent documents a single-channel mask of the input's size, and no ICC rule.
    async with clients.tencent() as client:
        result = await erase("tencent", client, mask=mask_png(icc=True))
    assert_erased(result.image_bytes, scene(), grown_by=0)


def _host(emu, vendor: str, data: bytes, content_type: str = "image/png") -> str:
    """Put ``data`` behind a signed 127.0.0.1 URL on the vendor's own port."""
    base_url = emu.base_url(vendor)
    host = base_url.removeprefix("http://")
    return emu.state.publish(vendor, data, content_type, base_url, host, 600)


async def test_tencent_inputs_by_url(emu, clients):
    image = scene()
    urls = {
        "image_url": _host(emu, "tencent", image),
        "mask_url": _host(emu, "tencent", mask_png()),
    }
    async with clients.tencent() as client:
        result = await client.image_inpainting_removal(**urls, rsp_img_type="base64")
    assert_erased(result.image_bytes, image, grown_by=0)
    assert result.parameters["InputUrl"] == urls["image_url"] and result.input_sha256 == {}
    assert emu.counters.requests("tencent", "download") == 2


async def test_volcengine_inputs_by_url(emu, clients):
    image = scene()
    urls = [_host(emu, "volcengine", image), _host(emu, "volcengine", mask_png())]
    async with clients.volcengine() as client:
        result = await client.i2i_inpainting(image_urls=urls, dilate_size=1)
    assert_erased(result.image_bytes, image, grown_by=1)
    assert result.parameters["image_urls"] == urls


async def test_tencent_custom_logo_goes_where_logo_rect_says(emu, clients):
    logo = base64.b64encode(flat(16, 16, colour=(0, 255, 0))).decode()
    param = LogoParam(logo_image=logo, logo_rect=LogoRect(x=4, y=4, width=16, height=16))
    async with clients.tencent() as client:
        plain = await erase("tencent", client)
        marked = await erase("tencent", client, logo_add=1, logo_param=param)
    a, b = open_image(plain.image_bytes), open_image(marked.image_bytes)
    rect = region_mask(a.size, (6, 6, 17, 17), True)
    assert mean_diff(a, b, rect) > 60
    assert b.getpixel((12, 12))[1] > 200  # green
    assert marked.parameters["LogoParam"]["LogoImage"].startswith("sha256:")


# Every image format each client lets through must be one the vendor takes.
CLIENT_FORMATS = {
    "ailabtools": ["PNG", "JPEG"],
    "tencent": ["PNG", "JPEG", "BMP", "TIFF", "WEBP"],
    "volcengine": ["PNG", "JPEG"],
}


@pytest.mark.parametrize(
    ("vendor", "fmt"), [(v, f) for v, formats in CLIENT_FORMATS.items() for f in formats]
)
async def test_every_format_the_client_sends_is_accepted(emu, clients, vendor, fmt):
    image = scene(fmt=fmt)
    async with clients.of(vendor) as client:
        kw = {} if vendor == "tencent" else {"dilate_size": 1}
        result = await erase(vendor, client, image=image, **kw)
    assert_erased(result.image_bytes, image, grown_by=1)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "BMP"])
async def test_every_try_on_format_the_client_sends_is_accepted(emu, clients, fmt):
    emu.settings.ailabtools.task_queued_seconds = 0
    emu.settings.ailabtools.task_processing_seconds = 0
    async with clients.ailabtools() as client:
        submission = await client.submit_try_on_pro(person(), scene(160, 160, fmt))
        assert (await client.query_async_task(submission.task_id)).state is TaskState.SUCCEEDED


# The largest and smallest sides each vendor documents as allowed (imaging/limits.py reads the
# same words the same way): the emulator must take them.
AT_THE_LIMIT = [
    ("ailabtools", 4095, 100),
    ("ailabtools", 65, 65),
    ("tencent", 4999, 100),
    ("volcengine", 4096, 100),
    ("volcengine", 64, 64),
]


@pytest.mark.parametrize(("vendor", "width", "height"), AT_THE_LIMIT)
async def test_sides_at_the_documented_limits_are_accepted(emu, clients, vendor, width, height):
    async with clients.of(vendor) as client:
        result = await erase(
            vendor, client, image=flat(width, height), mask=flat(width, height, mode="L")
        )
    assert open_image(result.image_bytes).size == (width, height)
