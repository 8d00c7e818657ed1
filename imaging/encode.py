"""Encode what is sent and what is returned: no metadata, known formats, byte caps met.

Nothing a user's file carried rides along: no EXIF (GPS positions included), no ICC profile
(pixels are sRGB, which an untagged file means), no text chunks. Masks are always 8-bit L PNG.
"""

from __future__ import annotations

import hashlib
import io
from typing import Literal, TypeAlias

from PIL import Image

__all__ = [
    "MEDIA_TYPES",
    "OutputFormat",
    "encode",
    "encode_mask",
    "normalize_format",
    "normalize_quality",
    "sha256",
]

OutputFormat: TypeAlias = Literal["PNG", "JPEG", "WEBP"]

MEDIA_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}
_ALIASES = {"JPG": "JPEG"}


def normalize_format(value: object, accepted: tuple[str, ...] = ("PNG", "JPEG", "WEBP")) -> str:
    """A format name upper-cased (``jpg`` is ``JPEG``); ``ValueError`` listing ``accepted``."""
    if isinstance(value, str):
        name = _ALIASES.get(value.upper(), value.upper())
        if name in accepted:
            return name
    raise ValueError(f"expected a format in {', '.join(accepted)}, got {value!r}")


def normalize_quality(value: object, name: str = "quality") -> int:
    """A JPEG/WebP quality as an int in 1..100; ``ValueError`` otherwise."""
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 100:
        return value
    raise ValueError(f"{name} must be an int in 1..100, got {value!r}")


def sha256(data: bytes) -> str:
    """Hex SHA-256 of ``data``: the content key of what is sent."""
    return hashlib.sha256(data).hexdigest()


def encode(im: Image.Image, fmt: str, quality: int = 95) -> bytes:
    """Encode an RGB or RGBA image as PNG, JPEG or WebP, without metadata.

    JPEG is baseline with Pillow's default 4:2:0 chroma subsampling, which every vendor
    decodes. PNG uses zlib level 6. WebP is lossy at ``quality``, lossless at 100.
    """
    buffer = io.BytesIO()
    if fmt == "JPEG":
        im.save(buffer, "JPEG", quality=quality, icc_profile=None, exif=b"")
    elif fmt == "PNG":
        im.save(buffer, "PNG", icc_profile=None)
    elif fmt == "WEBP":
        im.save(
            buffer, "WEBP", quality=quality, lossless=quality == 100, icc_profile=None, exif=b""
        )
    else:
        raise ValueError(f"cannot encode {fmt!r}; expected PNG, JPEG or WEBP")
    return buffer.getvalue()


def encode_mask(mask: Image.Image) -> bytes:
    """An L mask as an 8-bit greyscale PNG with no ICC profile, EXIF or text chunks."""
    if mask.mode != "L":
        raise ValueError(f"a mask must be mode L, got {mask.mode}")
    buffer = io.BytesIO()
    mask.save(buffer, "PNG", icc_profile=None)
    return buffer.getvalue()
