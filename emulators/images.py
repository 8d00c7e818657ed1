"""Reading what clients upload: formats, sizes, resolutions and the vendors' mask rules.

Pure functions over bytes and Pillow images, shared by the three emulators so that the same
mask is judged the same way everywhere the vendors agree (AILabTools and Volcengine publish the
same mask rules; Tencent only asks for a single-channel image of the input's size).
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image, ImageChops, UnidentifiedImageError

__all__ = [
    "MB",
    "Decoded",
    "binary_mask",
    "decode",
    "encode",
    "mask_problem",
]

MB = 1024 * 1024


@dataclass(frozen=True)
class Decoded:
    """An uploaded image, opened and fully decoded.

    Attributes:
        image: The decoded Pillow image (mode as stored in the file).
        format: Pillow's format name (``JPEG``, ``PNG``, ``BMP``, ``TIFF``, ``WEBP``, ...).
        size_bytes: Length of the encoded file in bytes.
    """

    image: Image.Image
    format: str
    size_bytes: int

    @property
    def width(self) -> int:
        return self.image.width

    @property
    def height(self) -> int:
        return self.image.height


class TooLarge(Exception):
    """Pillow's decompression-bomb guard refused the image (far beyond any vendor's limit)."""


def decode(data: bytes) -> Decoded | None:
    """Open and decode ``data``; ``None`` when it is not an image Pillow can read.

    Raises:
        TooLarge: the pixel count trips Pillow's decompression-bomb guard.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            image.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise TooLarge(str(exc)) from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        return None
    return Decoded(image=image, format=(image.format or "").upper(), size_bytes=len(data))


def _channels_equal(image: Image.Image) -> bool:
    red, green, blue = image.split()[:3]
    return (
        ImageChops.difference(red, green).getbbox() is None
        and ImageChops.difference(red, blue).getbbox() is None
    )


def mask_problem(mask: Decoded) -> str | None:
    """Why a mask breaks the AILabTools/Volcengine rules, or ``None`` when it is acceptable.

    The rules: an 8-bit PNG with no embedded ICC profile, either single-channel grey, or RGB
    with R=G=B, or RGBA with R=G=B and A=255 everywhere.
    """
    image = mask.image
    if mask.format != "PNG":
        return f"the mask must be a PNG file, got {mask.format or 'unknown'}"
    if image.info.get("icc_profile"):
        return "the mask must not embed an ICC profile"
    if image.mode == "L":
        return None
    if image.mode == "RGB":
        return None if _channels_equal(image) else "the mask's R, G and B channels must be equal"
    if image.mode == "RGBA":
        if not _channels_equal(image):
            return "the mask's R, G and B channels must be equal"
        if image.getchannel("A").getextrema() != (255, 255):
            return "the mask's alpha channel must be 255 everywhere"
        return None
    return f"the mask must be an 8-bit grey, RGB or RGBA PNG, got mode {image.mode}"


def binary_mask(image: Image.Image) -> Image.Image:
    """The erase region as an ``L`` image of 0/255: white (> 127) erases, black keeps."""
    grey = image.convert("RGB").convert("L") if image.mode not in ("L", "1") else image.convert("L")
    return grey.point(lambda value: 255 if value > 127 else 0)


def encode(image: Image.Image, fmt: str = "JPEG", quality: int = 95) -> tuple[bytes, str]:
    """Encode a result image; returns (bytes, media type)."""
    fmt = fmt.upper()
    buffer = io.BytesIO()
    if fmt in ("JPEG", "JPG"):
        image.convert("RGB").save(buffer, "JPEG", quality=quality)
        return buffer.getvalue(), "image/jpeg"
    image.save(buffer, fmt)
    return buffer.getvalue(), Image.MIME.get(fmt, "application/octet-stream")


def to_rgb(image: Image.Image) -> Image.Image:
    """An RGB copy; transparent pixels are flattened onto white, as the vendors do with PNGs."""
    if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        canvas = Image.new("RGB", rgba.size, (255, 255, 255))
        canvas.paste(rgba, mask=rgba.getchannel("A"))
        return canvas
    return image.convert("RGB")
