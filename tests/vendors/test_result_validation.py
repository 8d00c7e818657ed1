"""Pure checks of vendor results and of Retry-After: no network, no Prefect."""

from __future__ import annotations

import io
import pickle
import struct
import zlib
from datetime import UTC, datetime
from email.utils import format_datetime

import httpx
import pytest
from PIL import Image

from prefect_image_edit.vendors import BadResultError, ErrorKind, RetryVerdict
from prefect_image_edit.vendors._http import retry_after_of
from prefect_image_edit.vendors.errors import (
    MAX_RETRY_AFTER,
    VendorAPIError,
    VendorError,
    parse_retry_after,
)
from prefect_image_edit.vendors.results import check_result_url, validate_result_image

from .conftest import BMP, GIF, JPEG, PNG, WEBP


def image(fmt: str, size: tuple[int, int] = (32, 24)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (10, 120, 200)).save(buffer, fmt)
    return buffer.getvalue()


def png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` (a decompression bomb's shape)."""
    data = bytearray(PNG)
    ihdr = 8 + 4  # signature, then the IHDR chunk's length
    data[ihdr + 4 : ihdr + 12] = struct.pack(">II", width, height)
    crc = zlib.crc32(bytes(data[ihdr : ihdr + 4 + 13])) & 0xFFFFFFFF
    data[ihdr + 4 + 13 : ihdr + 4 + 17] = struct.pack(">I", crc)
    return bytes(data)


@pytest.mark.parametrize(
    ("data", "media_type"),
    [(JPEG, "image/jpeg"), (PNG, "image/png"), (WEBP, "image/webp"), (image("JPEG"), "image/jpeg")],
)
def test_valid_results_give_their_media_type(data, media_type):
    assert validate_result_image(data, vendor="tencent") == media_type


HTML = b"<!DOCTYPE html><html><body>502 Bad Gateway</body></html>"


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty"),
        (HTML, "not a decodable image"),
        (image("JPEG", (200, 200))[:300], "not a decodable image"),  # truncated
        (image("PNG", (200, 200))[:-40], "not a decodable image"),  # truncated
        (b"\x89PNG\r\n\x1a\n garbage", "not a decodable image"),
        (GIF, "GIF"),
        (BMP, "BMP"),
        (png_claiming(100_000, 100_000), "decompression bomb"),
    ],
    ids=["empty", "html", "truncated-jpeg", "truncated-png", "bad-png", "gif", "bmp", "bomb"],
)
def test_bad_results_are_vendor_faults(data, reason):
    with pytest.raises(BadResultError) as caught:
        validate_result_image(data, vendor="volcengine", action="CVProcess", request_id="r-1")
    error = caught.value
    assert reason in error.message
    assert (error.vendor, error.action, error.request_id) == ("volcengine", "CVProcess", "r-1")
    assert (error.kind, error.retry) == (ErrorKind.BAD_RESULT, RetryVerdict.PERMANENT)
    assert isinstance(error, VendorAPIError) and not isinstance(error, ValueError)
    assert error.__cause__ is None and (error.__context__ is None or error.__suppress_context__)
    assert pickle.loads(pickle.dumps(error)).message == error.message


def test_absurd_size_is_refused():
    with pytest.raises(BadResultError, match="over 100 px"):
        validate_result_image(image("PNG", (20, 20)), vendor="tencent", max_pixels=100)
    assert validate_result_image(image("PNG", (10, 10)), vendor="tencent", max_pixels=100)


@pytest.mark.parametrize(
    ("url", "endpoint", "ok"),
    [
        ("https://x.myqcloud.com/r.jpg?q-sign-time=1;2", "https://aiart.tencentcloudapi.com", True),
        ("http://x.myqcloud.com/r.jpg", "https://aiart.tencentcloudapi.com", False),
        ("file:///etc/passwd", "https://aiart.tencentcloudapi.com", False),
        ("file:///etc/passwd", "http://127.0.0.1:8123", False),
        ("data:image/png;base64,AAAA", "https://visual.volcengineapi.com", False),
        ("ftp://host/r.jpg", "https://www.ailabapi.com", False),
        ("https:///no-host", "https://www.ailabapi.com", False),
        ("", "https://www.ailabapi.com", False),
        (None, "https://www.ailabapi.com", False),
        ("http://127.0.0.1:8123/r.jpg", "http://127.0.0.1:8123", True),  # an emulator
    ],
)
def test_result_urls_must_be_https(url, endpoint, ok):
    if ok:
        assert check_result_url(url, vendor="tencent", action="a", endpoint=endpoint) == url
    else:
        with pytest.raises(BadResultError) as caught:
            check_result_url(url, vendor="tencent", action="a", endpoint=endpoint)
        assert caught.value.retry is RetryVerdict.PERMANENT


NOW = 1_700_000_000.0


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("", None),
        ("soon", None),
        ("nan", None),
        ("4", 4.0),
        (" 2.5 ", 2.5),
        ("0", 0.0),
        ("-3", 0.0),
        ("120", MAX_RETRY_AFTER),
        (format_datetime(datetime.fromtimestamp(NOW + 10, UTC), usegmt=True), 10.0),
        (format_datetime(datetime.fromtimestamp(NOW - 10, UTC), usegmt=True), 0.0),
        (format_datetime(datetime.fromtimestamp(NOW + 3600, UTC), usegmt=True), 60.0),
    ],
)
def test_parse_retry_after(value, expected):
    assert parse_retry_after(value, now=lambda: NOW) == expected


def test_retry_after_of_a_response_and_on_every_error():
    assert retry_after_of(httpx.Response(429, headers={"Retry-After": "4"})) == 4.0
    assert retry_after_of(httpx.Response(429)) is None
    assert retry_after_of(None) is None
    error = VendorError("x", vendor="tencent", action="a")
    assert error.retry_after is None
    assert VendorError("x", vendor="v", action="a", retry_after=4.0).retry_after == 4.0
