"""Turn any decoded mode into 8-bit sRGB RGB, keeping the alpha channel aside.

Vendors take 8-bit RGB JPEG or PNG and assume sRGB. What users have is wider: CMYK JPEGs,
palette GIFs, LA/RGBA PNGs, 16-bit and float TIFFs, and photos tagged with Display P3 or
Adobe RGB profiles. Dropping a profile shifts every colour (P3 reds turn orange-red on the
vendor's side and come back that way), so profiles are *converted* to sRGB with ``ImageCms``
(relative colorimetric, the usual intent for display profiles). A profile that says it is
sRGB is taken at its word and left alone, because a round trip through LittleCMS can move
values by one step and sRGB-to-sRGB must not change anything.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Sequence
from typing import NamedTuple

from PIL import Image, ImageCms, ImageColor

from prefect_image_edit.imaging.errors import UnsupportedImageError

__all__ = ["RGB", "Srgb", "parse_color", "to_8bit_gray", "to_srgb8"]

RGB = tuple[int, int, int]

_ALPHA_MODES = {"RGBA": "RGB", "LA": "L"}
# Modes Pillow converts losslessly enough to RGB (or L) by itself.
_SIMPLE = {
    "1": "L",
    "RGBX": "RGB",
    "YCbCr": "RGB",
    "HSV": "RGB",
    "PA": "RGBA",
    "RGBa": "RGBA",
    "La": "LA",
}
_PROFILE_SPACES = {"RGB": "RGB ", "L": "GRAY", "CMYK": "CMYK"}


def parse_color(value: object) -> RGB:
    """Normalise a colour to ``(r, g, b)`` with 0..255 ints.

    Accepts a 3-sequence of ints in 0..255, or a colour string Pillow knows
    (``"white"``, ``"#ffffff"``, ``"rgb(255,255,255)"``).
    """
    if isinstance(value, str):
        try:
            rgb = ImageColor.getrgb(value)
        except ValueError:
            pass
        else:
            return (rgb[0], rgb[1], rgb[2])
    elif (
        isinstance(value, Sequence)
        and len(value) == 3
        and all(isinstance(c, int) and not isinstance(c, bool) and 0 <= c <= 255 for c in value)
    ):
        return (value[0], value[1], value[2])
    raise ValueError(
        f"expected a colour as (r, g, b) with ints 0..255 or a colour name such as '#ffffff', "
        f"got {value!r}"
    )


@functools.cache
def _lut_16_to_8() -> list[int]:
    # Scale 0..65535 to 0..255 with rounding (v / 257), not by dropping the low byte.
    return [(v * 255 + 32767) // 65535 for v in range(65536)]


def to_8bit_gray(im: Image.Image) -> Image.Image:
    """A single-band image of any depth (``I;16*``, ``I``, ``F``, ``1``, ``L``) as 8-bit L.

    ``I;16*`` is scaled from 0..65535. ``I`` is taken as 8-bit when its values fit 0..255 and
    as 16-bit otherwise. ``F`` is taken as 0..1 when its maximum is at most 1.0 and as
    0..255 otherwise; values outside the range are clipped.
    """
    mode = im.mode
    if mode == "L":
        return im
    if mode.startswith("I;16") or mode == "I":
        wide = im if mode == "I" else im.convert("I")
        low, high = wide.getextrema()
        if mode == "I" and low >= 0 and high <= 255:
            return wide.convert("L")
        return wide.point(_lut_16_to_8(), "L")
    if mode == "F":
        _low, high = im.getextrema()
        gain = 255.0 if high <= 1.0 else 1.0
        return im.point(lambda v: v * gain + 0.5).convert("L")
    return im.convert("L")


@functools.cache
def _srgb() -> ImageCms.ImageCmsProfile:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


def _convert_profile(
    im: Image.Image, icc: bytes, source: str
) -> tuple[Image.Image, str, str | None]:
    """Convert ``im`` (RGB, L or CMYK) from its embedded profile to sRGB RGB.

    Returns the image, a note, and the profile's description when it was converted.
    """
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        description = (profile.profile.profile_description or "unnamed").strip()
        space = profile.profile.xcolor_space
    except Exception:  # PyCMSError, OSError, TypeError on damaged profiles
        reason = (
            "the embedded ICC colour profile is damaged, so its colours cannot be converted "
            "to sRGB; re-save the image with a valid profile or without one"
        )
        raise UnsupportedImageError(reason, source=source) from None
    if space != _PROFILE_SPACES.get(im.mode):
        note = f"ignored ICC profile {description!r}: {space.strip()} profile, {im.mode} pixels"
        return im, note, None
    if im.mode == "RGB" and "srgb" in description.lower():
        return im, f"ICC profile {description!r} is sRGB: values kept", None
    try:
        transform = ImageCms.buildTransform(
            profile, _srgb(), im.mode, "RGB", renderingIntent=ImageCms.Intent.RELATIVE_COLORIMETRIC
        )
        if im.mode == "RGB":
            ImageCms.applyTransform(im, transform, inPlace=True)
            out = im
        else:
            out = ImageCms.applyTransform(im, transform)
    except Exception as exc:
        reason = f"the embedded ICC profile {description!r} cannot be converted to sRGB ({exc})"
        raise UnsupportedImageError(reason, source=source) from None
    return out, f"converted ICC profile {description!r} ({im.mode}) to sRGB", description


class Srgb(NamedTuple):
    """An image made 8-bit sRGB RGB by :func:`to_srgb8`.

    Attributes:
        image: Mode RGB, transparency flattened onto the background.
        alpha: The alpha channel (mode L), or ``None`` when absent or fully opaque.
        notes: What was done, in order.
        profile: The description of the ICC profile converted to sRGB, or ``None``.
    """

    image: Image.Image
    alpha: Image.Image | None
    notes: list[str]
    profile: str | None


def to_srgb8(im: Image.Image, *, source: str, background: RGB) -> Srgb:
    """Make a decoded image 8-bit sRGB RGB; flatten transparency but keep the alpha.

    ``im`` is consumed: an RGB image with a profile is converted in place, so pass a decode
    of your own, never an image the caller still uses.

    Args:
        im: A decoded image in any Pillow mode.
        source: The input's name for errors.
        background: The colour transparent pixels are flattened onto, ``(r, g, b)``.

    Raises:
        UnsupportedImageError: a mode Pillow cannot turn into RGB, or a damaged profile.
    """
    notes: list[str] = []
    icc = im.info.get("icc_profile")
    mode = im.mode
    if mode == "P":
        has_alpha = "transparency" in im.info or (
            im.palette is not None and im.palette.mode == "RGBA"
        )
        im = im.convert("RGBA" if has_alpha else "RGB")
    elif mode in _SIMPLE:
        im = im.convert(_SIMPLE[mode])
    elif mode in ("RGB", "L") and "transparency" in im.info:
        im = im.convert(mode + "A")  # a tRNS colour key: one colour is transparent
    elif mode.startswith("I") or mode == "F":
        im = to_8bit_gray(im)
        notes.append(f"scaled {mode} samples to 8-bit")
    elif mode == "LAB":
        icc = None
        lab = ImageCms.createProfile("LAB")
        im = ImageCms.applyTransform(im, ImageCms.buildTransform(lab, _srgb(), "LAB", "RGB"))
        notes.append("converted LAB to sRGB")
    elif mode not in ("RGB", "RGBA", "L", "LA", "CMYK"):
        accepted = "1, L, LA, P, PA, RGB, RGBA, RGBX, CMYK, YCbCr, HSV, LAB, I, I;16, F"
        raise UnsupportedImageError(
            f"mode {mode} is not supported; supported: {accepted}", source=source
        )

    alpha = None
    if im.mode in _ALPHA_MODES:
        alpha = im.getchannel("A")
        im = im.convert(_ALPHA_MODES[im.mode])
        if alpha.getextrema() == (255, 255):
            alpha = None
            notes.append("alpha channel is fully opaque: dropped")

    profile = None
    if icc:
        im, note, profile = _convert_profile(im, icc, source)
        notes.append(note)
    if im.mode == "CMYK":
        notes.append(
            "CMYK without a usable profile: converted with Pillow's formula (colours approximate)"
        )
    if im.mode != "RGB":
        im = im.convert("RGB")

    if alpha is not None:
        flat = Image.new("RGB", im.size, background)
        flat.paste(im, mask=alpha)
        im = flat
        notes.append(f"flattened transparency onto {background}; alpha kept for the result")
    im.info.clear()
    return Srgb(im, alpha, notes, profile)
