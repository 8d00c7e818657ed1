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
    "encode_within",
    "matching_format",
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


def matching_format(source: bytes | None, *, alpha: bool) -> str:
    """The output format of the source's kind: ``JPEG`` for a JPEG photo without
    transparency (its pixels were never exact: a lossless copy only makes it larger and slower
    to write), else ``PNG`` (lossless, keeps alpha)."""
    if not alpha and source is not None and source[:3] == b"\xff\xd8\xff":
        return "JPEG"
    return "PNG"


def normalize_quality(value: object, name: str = "quality") -> int:
    """A JPEG/WebP quality as an int in 1..100; ``ValueError`` otherwise."""
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 100:
        return value
    raise ValueError(f"{name} must be an int in 1..100, got {value!r}")


def sha256(data: bytes) -> str:
    """Hex SHA-256 of ``data``: the content key of what is sent."""
    return hashlib.sha256(data).hexdigest()


def encode(im: Image.Image, fmt: str, quality: int = 95, png_level: int = 6) -> bytes:
    """Encode an RGB or RGBA image as PNG, JPEG or WebP, without metadata.

    JPEG is baseline with Pillow's default 4:2:0 chroma subsampling, which every vendor
    decodes. PNG uses zlib level ``png_level`` (6, Pillow's default, for what is sent to a
    vendor; results use 1, about 3x faster for the same pixels). WebP is lossy at
    ``quality``, lossless at 100.
    """
    buffer = io.BytesIO()
    if fmt == "JPEG":
        im.save(buffer, "JPEG", quality=quality, icc_profile=None, exif=b"")
    elif fmt == "PNG":
        im.save(buffer, "PNG", icc_profile=None, compress_level=png_level)
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


# A byte-capped JPEG needs the best quality that fits. Each full encode of a 16 MP photo costs
# about as much as decoding it, so rather than walking the ladder, the size at each quality
# is predicted from a mosaic of 16 tiles spread over the image (1 MP), scaled by area. On the
# benchmark's photos it lands within 1%; on uneven photos (sky above, detail below) it is
# rougher, which costs one more encode, or one quality step when it overestimates by more
# than _SKIP_FIRST. It only chooses where to *start*: every quality is checked by a real encode.
_TILE, _TILES = 256, 4
_SKIP_FIRST = 1.25  # skip the best quality only when predicted this far over the budget


def _mosaic(im: Image.Image) -> Image.Image | None:
    w, h = im.size
    side = _TILE * _TILES
    if w < 2 * side or h < 2 * side:
        return None  # small enough to just try every quality
    mosaic = Image.new(im.mode, (side, side))
    for i in range(_TILES):
        for j in range(_TILES):
            x, y = (w - _TILE) * i // (_TILES - 1), (h - _TILE) * j // (_TILES - 1)
            mosaic.paste(im.crop((x, y, x + _TILE, y + _TILE)), (i * _TILE, j * _TILE))
    return mosaic


def _likely_start(im: Image.Image, qualities: tuple[int, ...], budget: int) -> int:
    """Index of the best quality predicted to fit ``budget`` bytes (0 when unsure)."""
    mosaic = _mosaic(im)
    if mosaic is None:
        return 0
    area = (im.width * im.height) / (mosaic.width * mosaic.height)
    for index, quality in enumerate(qualities):
        predicted = len(encode(mosaic, "JPEG", quality)) * area
        if predicted <= budget * (_SKIP_FIRST if index == 0 else 1.02):
            return index
    return len(qualities) - 1


def encode_within(
    im: Image.Image, fmt: str, qualities: tuple[int, ...], budget: int | None
) -> tuple[bytes, str, int | None]:
    """Encode ``im`` as ``fmt`` (PNG or JPEG) within ``budget`` bytes if it can.

    PNG is returned when it fits; otherwise JPEG at the best of ``qualities`` (best first)
    that fits, or at the last one tried when none does (the caller then shrinks or fails).

    Returns:
        The bytes, the format used, and the JPEG quality (``None`` for PNG).
    """
    if fmt == "PNG":
        data = encode(im, "PNG")
        if budget is None or len(data) <= budget:
            return data, "PNG", None
    start = 0 if budget is None or len(qualities) == 1 else _likely_start(im, qualities, budget)
    for quality in qualities[start:]:
        data = encode(im, "JPEG", quality)
        if budget is None or len(data) <= budget:
            break
    return data, "JPEG", quality
