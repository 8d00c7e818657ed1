"""What every vendor call returns: enough to use the result and to trace its charge.

Results are small frozen pydantic models. Image bytes are kept out of ``repr`` so a result can
be logged; URLs carry ``expires_at`` so that whoever holds one knows how long it is good for.

A vendor's result is untrusted until checked: :func:`validate_result_image` (bytes) and
:func:`check_result_url` (a URL in a success answer) turn an unusable result into a
:class:`BadResultError`, a vendor fault, before anything archives or caches it.
"""

from __future__ import annotations

import io
import warnings
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any
from urllib.parse import parse_qs, urlsplit

from PIL import Image
from pydantic import BaseModel, ConfigDict, Field

from prefect_image_edit.vendors.errors import BadResultError, bad_result

__all__ = [
    "DEFAULT_MAX_RESULT_PIXELS",
    "EraseResult",
    "TaskResult",
    "TaskState",
    "TaskSubmission",
    "check_result_url",
    "result_url_expiry",
    "utcnow",
    "validate_result_image",
]

# The largest input any vendor takes is under 5000 x 5000 px (Tencent); results are the input's
# size (try-on: at most 4096 a side). Twice that area is generous; more is a broken answer.
DEFAULT_MAX_RESULT_PIXELS = 50_000_000
# The formats a vendor returns results in (JPEG, PNG; WEBP for safety).
_RESULT_FORMATS = {
    "JPEG": "image/jpeg",
    "MPO": "image/jpeg",
    "PNG": "image/png",
    "WEBP": "image/webp",
}


def validate_result_image(
    data: bytes,
    *,
    vendor: str,
    max_pixels: int = DEFAULT_MAX_RESULT_PIXELS,
    action: str = "result",
    request_id: str | None = None,
) -> str:
    """Check that a vendor's result is a whole, decodable image of a sane size.

    Pure (no I/O but decoding). The image is decoded in full, so truncated data is caught;
    Pillow's decompression-bomb guard is kept on and its warning made an error.

    Args:
        data: The result bytes (decoded Base64, or what the result URL served).
        vendor: The vendor, for the error.
        max_pixels: Largest width x height accepted.
        action: The vendor action, for the error.
        request_id: The vendor's request id of the answer, for the error.

    Returns:
        The media type, e.g. ``image/jpeg``.

    Raises:
        BadResultError: empty, not an image, truncated, an unexpected format, or too large.
    """

    def fail(reason: str) -> BadResultError:
        return bad_result(reason, vendor=vendor, action=action, request_id=request_id)

    if not isinstance(data, bytes | bytearray | memoryview) or len(data) == 0:
        raise fail("the result image is empty (0 bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                fmt = image.format or ""
                width, height = image.size
                if width <= 0 or height <= 0 or width * height > max_pixels:
                    raise fail(f"the result image is {width}x{height} px, over {max_pixels} px")
                image.load()
    except BadResultError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        # Not chained: Pillow's message adds nothing and the error must stay picklable.
        raise fail("the result image is a decompression bomb") from None
    except (OSError, SyntaxError, ValueError, EOFError):
        raise fail(
            f"the result is not a decodable image ({len(data)} bytes, starts {_head(data)})"
        ) from None
    media_type = _RESULT_FORMATS.get(fmt)
    if media_type is None:
        raise fail(f"the result is a {fmt or 'unknown'} image, not JPEG, PNG or WEBP")
    return media_type


def _head(data: bytes) -> str:
    """The first bytes, printable, for a message (an HTML page shows as ``<html>``)."""
    text = bytes(data[:8]).decode("latin-1")
    return repr("".join(ch if ch.isprintable() else "." for ch in text))


def check_result_url(
    url: Any, *, vendor: str, action: str, endpoint: str, request_id: str | None = None
) -> str:
    """A result URL from a success answer, refused unless it is https.

    Plain http is accepted only when the client itself talks plain http (an emulator on
    127.0.0.1); ``file:``, ``data:``, ``ftp:`` and the like never are.

    Raises:
        BadResultError: empty, not a string, or another scheme.
    """

    def fail(reason: str) -> BadResultError:
        return bad_result(reason, vendor=vendor, action=action, request_id=request_id)

    if not isinstance(url, str) or not url.strip():
        raise fail("the result URL is empty")
    try:
        parts = urlsplit(url)
    except ValueError:
        raise fail("the result URL cannot be parsed") from None
    allowed = {"https"}
    if urlsplit(endpoint).scheme == "http":
        allowed.add("http")
    if parts.scheme.lower() not in allowed or not parts.hostname:
        raise fail(f"the result URL is not https (scheme {parts.scheme or 'none'!r})")
    return url


def utcnow() -> datetime:
    return datetime.now(UTC)


def result_url_expiry(url: str, *, vendor: str, received_at: datetime) -> datetime:
    """When a result URL stops working.

    Read from the URL where the vendor encodes it (Tencent COS ``q-sign-time`` end, Volcengine
    ``x-expires``, Aliyun OSS ``Expires``), else ``received_at`` plus the vendor's TTL.
    """
    query = parse_qs(urlsplit(url).query, keep_blank_values=True)
    window = (query.get("q-sign-time") or query.get("q-key-time") or [None])[0]
    if window and ";" in window:
        end = window.split(";", 1)[1]
        if end.isdigit():
            return datetime.fromtimestamp(int(end), UTC)
    for name in ("x-expires", "Expires"):
        value = (query.get(name) or [None])[0]
        if value and value.isdigit():
            return datetime.fromtimestamp(int(value), UTC)
    from prefect_image_edit.vendors import registry

    return received_at + timedelta(seconds=registry.get(vendor).result_ttl_seconds)


class _Result(BaseModel):
    model_config = ConfigDict(frozen=True)

    vendor: str = Field(description="Vendor name: ailabtools, tencent or volcengine.")
    action: str = Field(description="The vendor API action that produced this result.")
    request_id: str | None = Field(default=None, description="Vendor request id (or log id).")
    received_at: datetime = Field(default_factory=utcnow, description="When the answer arrived.")


class EraseResult(_Result):
    """The answer of a synchronous erase call: image bytes, a result URL, or both."""

    image_bytes: bytes | None = Field(default=None, repr=False, description="Result image.")
    media_type: str | None = Field(
        default=None,
        description="image_bytes' media type, when the client already checked them with "
        "validate_result_image (a full decode: the caller need not do it again).",
    )
    image_url: str | None = Field(default=None, description="Result URL; expires.")
    expires_at: datetime | None = Field(default=None, description="When image_url expires.")
    seed: int | None = Field(default=None, description="The seed sent, when the API takes one.")
    parameters: dict[str, Any] = Field(
        default_factory=dict, description="The canonical parameters sent (no image data)."
    )
    input_sha256: dict[str, str] = Field(
        default_factory=dict,
        description="SHA-256 hex digest of each image sent as data, by argument name.",
    )


class TaskSubmission(_Result):
    """An accepted asynchronous job. Persist ``task_id`` at once: it is what was paid for."""

    task_id: str = Field(description="The vendor's async task id.")
    submitted_at: datetime = Field(default_factory=utcnow, description="When it was accepted.")
    parameters: dict[str, Any] = Field(
        default_factory=dict, description="The canonical parameters sent (no image data)."
    )
    input_sha256: dict[str, str] = Field(
        default_factory=dict,
        description="SHA-256 hex digest of each image sent as data, by argument name.",
    )


class TaskState(StrEnum):
    QUEUED = "queued"
    PROCESSING = "processing"
    SUCCEEDED = "succeeded"
    FAILED = "failed"

    @property
    def terminal(self) -> bool:
        return self in (TaskState.SUCCEEDED, TaskState.FAILED)


class TaskResult(_Result):
    """One poll of an async task, normalised across the vendor's status vocabularies."""

    task_id: str = Field(description="The vendor's async task id.")
    state: TaskState = Field(description="Normalised task state.")
    vendor_status: str = Field(default="", description="The vendor's raw status, for debugging.")
    image_url: str | None = Field(default=None, description="Result URL once succeeded.")
    expires_at: datetime | None = Field(default=None, description="When image_url expires.")
    error_code: str | None = Field(default=None, description="Vendor error code when failed.")
    error_message: str | None = Field(default=None, description="Vendor message when failed.")
