"""Masks from images, alpha channels, boxes and polygons, normalised for every vendor.

Convention (all three vendors): **white (255) erases, black (0) keeps**. Sources:

- a mask image (bytes, path or file; any mode): its brightness, and where it has alpha, its
  brightness over black, so white strokes on a transparent layer mark what to erase;
- :class:`AlphaMask`: an image's alpha channel, where **transparent erases** (pixels with
  alpha ``<= 255 - threshold``). Some tools read alpha the other way round (opaque = the
  region); pass ``invert=True`` for those;
- :class:`BoxMask` / a list of ``(left, top, right, bottom)`` boxes, and
  :class:`PolygonMask` / a list of point lists, in px of the upright picture;
- a :class:`PreparedMask` made earlier (re-framed for another prepared image).

Normalising binarises at ``threshold`` (anti-aliased or JPEG masks become clean 0/255),
applies ``invert``, resizes to the image with nearest-neighbour only, applies the image's
orientation, erodes then dilates (px of the upright image), and refuses, before any paid
call, a mask that is empty, full (unless ``allow_full``) or of another aspect ratio. The
result is cropped and scaled like the image it goes with and written as an 8-bit L PNG with
no ICC profile and no EXIF.

*Which frame is a mask image in?* A mask with its own EXIF orientation is turned upright by
it. Otherwise ``frame="auto"`` compares aspect ratios: a mask shaped like the file's stored
pixels gets the image's orientation applied (as if drawn on the raw pixels), one shaped like
the upright picture is taken as is. When both fit (orientations 2-4, square images) the
stored frame wins unless the mask's size equals only the upright size. Shapes are upright
unless ``frame="stored"``. The choice is recorded in :attr:`PreparedMask.steps`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, TypeAlias

from PIL import Image, ImageChops, ImageDraw

from prefect_image_edit.imaging import morphology
from prefect_image_edit.imaging.colour import to_8bit_gray
from prefect_image_edit.imaging.encode import encode_mask, sha256
from prefect_image_edit.imaging.errors import (
    EmptyMaskError,
    FullMaskError,
    MaskMismatchError,
)
from prefect_image_edit.imaging.geometry import (
    Box,
    Frame,
    Size,
    apply_orientation,
    aspect_matches,
    wxh,
)
from prefect_image_edit.imaging.sources import (
    Source,
    decode,
    open_image,
    read_orientation,
    read_source,
)

__all__ = [
    "AlphaMask",
    "BoxMask",
    "MaskFrame",
    "MaskSource",
    "PolygonMask",
    "PreparedMask",
    "frame_of",
    "prepare_mask",
]

MaskFrame: TypeAlias = Literal["auto", "stored", "display"]
_ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")


@dataclass(frozen=True, slots=True)
class AlphaMask:
    """Use an image's alpha channel as the mask: transparent pixels erase."""

    source: Source


@dataclass(frozen=True, slots=True)
class BoxMask:
    """Rectangles ``(left, top, right, bottom)`` in px, right and bottom exclusive."""

    boxes: tuple[tuple[float, float, float, float], ...]


@dataclass(frozen=True, slots=True)
class PolygonMask:
    """Filled polygons, each at least three ``(x, y)`` points in px."""

    polygons: tuple[tuple[tuple[float, float], ...], ...]


@dataclass(frozen=True, slots=True)
class PreparedMask:
    """A mask ready to send: 8-bit L PNG, only 0 and 255, the sent image's size.

    Attributes:
        data: The PNG bytes to send (no ICC profile, no EXIF).
        size: Width and height, px (equal to the prepared image's ``size``).
        sha256: Hex SHA-256 of ``data``.
        coverage: Fraction of pixels that erase (255), 0..1.
        bbox: Bounding box of the erased pixels, ``(left, top, right, bottom)`` px,
            right and bottom exclusive.
        frame: The image frame this mask was made for (orientation, crop, scale).
        steps: What normalising did, in order, for logs and run artifacts.
        source: The mask's name for messages.
        full_data: The same mask in the upright, uncropped, unscaled frame (PNG), when
            ``data`` is cropped or scaled; ``restore_result`` composites through it.
    """

    data: bytes = field(repr=False)
    size: Size
    sha256: str
    coverage: float
    bbox: Box
    frame: Frame
    steps: tuple[str, ...]
    source: str
    full_data: bytes | None = field(default=None, repr=False)
    media_type: str = "image/png"


MaskSource: TypeAlias = (
    Source | AlphaMask | BoxMask | PolygonMask | PreparedMask | Sequence[Sequence[float]]
)


def frame_of(image: object) -> Frame:
    """The :class:`Frame` a mask must match: from a prepared image, image info, or a size."""
    frame = getattr(image, "frame", image)
    if isinstance(frame, Frame):
        return frame
    if (
        isinstance(image, Sequence)
        and len(image) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in image)
    ):
        return Frame.identity((image[0], image[1]))
    raise ValueError(
        "image must be a PreparedImage, an ImageInfo (probe_image), a Frame or a (width, "
        f"height) size in px, got {type(image).__name__}"
    )


def _number(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _as_shapes(obj: Sequence) -> BoxMask | PolygonMask:
    items = list(obj)
    if items and all(
        isinstance(b, Sequence) and len(b) == 4 and all(map(_number, b)) for b in items
    ):
        return BoxMask(tuple(tuple(b) for b in items))
    if items and all(
        isinstance(p, Sequence)
        and all(isinstance(pt, Sequence) and len(pt) == 2 and all(map(_number, pt)) for pt in p)
        for p in items
    ):
        return PolygonMask(tuple(tuple(tuple(pt) for pt in p) for p in items))
    raise ValueError(
        "expected mask shapes as a non-empty list of boxes [(left, top, right, bottom), ...] "
        "or of polygons [[(x, y), (x, y), (x, y), ...], ...], in px"
    )


def _draw_shapes(spec: BoxMask | PolygonMask, size: Size) -> Image.Image:
    canvas = Image.new("L", size, 0)
    draw = ImageDraw.Draw(canvas)
    if isinstance(spec, BoxMask):
        for box in spec.boxes:
            if len(box) != 4 or not all(map(_number, box)) or box[0] >= box[2] or box[1] >= box[3]:
                raise ValueError(
                    "a box must be (left, top, right, bottom) with left < right and "
                    f"top < bottom, got {box!r}"
                )
            # Round outwards: a fractional edge still erases the pixel it touches.
            left, top = math.floor(box[0]), math.floor(box[1])
            right, bottom = math.ceil(box[2]), math.ceil(box[3])
            draw.rectangle((left, top, right - 1, bottom - 1), fill=255)
    else:
        for polygon in spec.polygons:
            if len(polygon) < 3 or not all(
                len(pt) == 2 and all(map(_number, pt)) for pt in polygon
            ):
                raise ValueError(f"a polygon needs at least three (x, y) points, got {polygon!r}")
            draw.polygon([(float(x), float(y)) for x, y in polygon], fill=255, outline=255)
    return canvas


def _luma(im: Image.Image) -> Image.Image:
    """A mask image's erase strength as L: brightness, times alpha where there is alpha."""
    if im.mode in _ALPHA_MODES or "transparency" in im.info:
        rgba = im.convert("RGBA")
        return ImageChops.multiply(rgba.convert("L"), rgba.getchannel("A"))
    if im.mode in ("I", "F") or im.mode.startswith("I;16"):
        return to_8bit_gray(im)
    return im.convert("L")


def _alpha(im: Image.Image, source: str) -> Image.Image:
    if im.mode in _ALPHA_MODES or "transparency" in im.info:
        return im.convert("RGBA").getchannel("A")
    reason = (
        f"AlphaMask needs transparent pixels to erase, but this {im.mode} image has no alpha "
        "channel, so nothing would be erased"
    )
    raise EmptyMaskError(reason, source=source)


def _place(
    mask: Image.Image, frame: Frame, choice: MaskFrame, source: str, steps: list[str]
) -> Image.Image:
    """Resize (nearest) and orient a binary mask from its frame to the upright image."""
    display, stored, orientation = frame.original_size, frame.stored_size, frame.orientation
    if choice == "auto":
        if orientation == 1:
            choice = "display"
        else:
            fits_stored = aspect_matches(mask.size, stored)
            fits_display = aspect_matches(mask.size, display)
            only_display = mask.size == display and mask.size != stored
            choice = "display" if fits_display and (not fits_stored or only_display) else "stored"
            steps.append(
                f"mask frame: {choice} (chosen by aspect ratio; EXIF orientation {orientation})"
            )
    reference = stored if choice == "stored" else display
    if not aspect_matches(mask.size, reference):
        reason = (
            f"mask is {wxh(mask.size)} px but the image is {wxh(display)} px"
            + (f" ({wxh(stored)} as stored)" if stored != display else "")
            + "; the aspect ratios differ, so the mask cannot be lined up with the image"
        )
        raise MaskMismatchError(reason, source=source)
    if mask.size != reference:
        steps.append(f"resized mask {wxh(mask.size)} -> {wxh(reference)} px (nearest)")
        mask = mask.resize(reference, Image.Resampling.NEAREST)
    if choice == "stored" and orientation != 1:
        mask = apply_orientation(mask, orientation)
        steps.append(f"applied the image's EXIF orientation {orientation} to the mask")
    return mask


def check_options(
    *, threshold: object = 128, erode: object = 0, dilate: object = 0, choice: object = "auto"
) -> None:
    """Refuse bad mask options with a ``ValueError`` before anything is decoded."""
    morphology.check_threshold(threshold)
    morphology.check_px(erode, "erode")
    morphology.check_px(dilate, "dilate")
    if choice not in ("auto", "stored", "display"):
        raise ValueError(f"frame must be 'auto', 'stored' or 'display', got {choice!r}")


def upright_mask(
    spec: object,
    frame: Frame,
    *,
    threshold: int,
    invert: bool,
    choice: MaskFrame,
    steps: list[str],
) -> tuple[Image.Image, str]:
    """Any mask source as a 0/255 L mask of ``frame.original_size`` (before erode/dilate)."""
    check_options(threshold=threshold, choice=choice)
    if isinstance(spec, Sequence) and not isinstance(spec, str | bytes | bytearray | memoryview):
        spec = _as_shapes(spec)
    if isinstance(spec, BoxMask | PolygonMask):
        kind = "boxes" if isinstance(spec, BoxMask) else "polygons"
        stored = choice == "stored" and frame.orientation != 1
        canvas = _draw_shapes(spec, frame.stored_size if stored else frame.original_size)
        steps.append(f"drew {kind} in the {'stored' if stored else 'upright'} frame")
        mask = morphology.binarize(canvas, 128, invert=invert)
        return (apply_orientation(mask, frame.orientation) if stored else mask), kind

    alpha = isinstance(spec, AlphaMask)
    if alpha:
        raw = spec.source
    elif isinstance(spec, PreparedMask):
        raw, choice = spec.full_data or spec.data, "display"
    else:
        raw = spec
    data, name = read_source(raw, default_name="mask")
    with open_image(data, name) as im:
        steps.extend(decode(im, name))
        own = read_orientation(im)
        if alpha:
            mask = morphology.binarize(_alpha(im, name), 256 - threshold, invert=not invert)
            steps.append(f"alpha <= {255 - threshold} erases (transparent erases)")
        else:
            mask = morphology.binarize(_luma(im), threshold, invert=invert)
            steps.append(f"binarised at {threshold}" + (", inverted" if invert else ""))
    if own != 1:
        mask = apply_orientation(mask, own)
        steps.append(f"applied the mask's own EXIF orientation {own}")
        choice = "display"
    return _place(mask, frame, choice, name, steps), name


def finish(
    mask: Image.Image, *, erode: int, dilate: int, allow_full: bool, source: str, steps: list[str]
) -> Image.Image:
    """Erode, then dilate (px), then refuse an empty or (unless allowed) full mask."""
    check_options(erode=erode, dilate=dilate)
    if erode:
        mask = morphology.erode(mask, erode)
        steps.append(f"eroded {erode} px")
    if dilate:
        mask = morphology.dilate(mask, dilate)
        steps.append(f"dilated {dilate} px")
    if mask.getbbox() is None:
        reason = (
            "the mask marks nothing to erase after normalising; white (255) erases and black "
            "(0) keeps: pass invert=True if yours is the other way round, or lower the threshold"
        )
        raise EmptyMaskError(reason, source=source)
    if not allow_full and mask.histogram()[255] == mask.size[0] * mask.size[1]:
        reason = "the mask covers the whole image; pass allow_full=True if that is meant"
        raise FullMaskError(reason, source=source)
    return mask


def to_sent(mask: Image.Image, frame: Frame, source: str) -> Image.Image:
    """Crop and scale an upright mask like the image of ``frame`` (scaling keeps thin strokes)."""
    if frame.cropped:
        inside = mask.crop(frame.crop_box)
        if inside.histogram()[255] != mask.histogram()[255]:
            reason = (
                f"the image was cropped to {frame.crop_box} (px) around another mask and this "
                "mask reaches outside it; prepare the image and this mask together (prepare_pair)"
            )
            raise MaskMismatchError(reason, source=source)
        mask = inside
    if frame.scaled:
        mask = morphology.shrink_any(mask, frame.size)
        if mask.getbbox() is None:
            raise EmptyMaskError("the mask vanished when scaled to the size sent", source=source)
    return mask


def package(
    sent: Image.Image, full: Image.Image, frame: Frame, steps: list[str], source: str
) -> PreparedMask:
    """Encode a sent mask (and its upright original when they differ) as a PreparedMask."""
    data = encode_mask(sent)
    width, height = sent.size
    return PreparedMask(
        data=data,
        size=sent.size,
        sha256=sha256(data),
        coverage=sent.histogram()[255] / (width * height),
        bbox=sent.getbbox() or (0, 0, 0, 0),
        frame=frame,
        steps=tuple(steps),
        source=source,
        full_data=encode_mask(full) if sent is not full else None,
    )


def prepare_mask(
    source: MaskSource,
    *,
    image: object,
    threshold: int = 128,
    dilate: int = 0,
    erode: int = 0,
    invert: bool = False,
    allow_full: bool = False,
    frame: MaskFrame = "auto",
) -> PreparedMask:
    """Normalise a mask for an image: binary, upright, cropped and scaled like it.

    Args:
        source: A mask image (bytes, path, file), :class:`AlphaMask`, boxes or polygons
            (lists or :class:`BoxMask`/:class:`PolygonMask`), or a :class:`PreparedMask`.
        image: What the mask goes with: a ``PreparedImage`` (the mask follows its
            orientation, crop and scale), an ``ImageInfo`` from ``probe_image`` (upright,
            whole), or a ``(width, height)`` size in px.
        threshold: Values ``>= threshold`` (1..255) erase.
        dilate: Grow the erased region by this many px of the upright image.
        erode: Shrink it by this many px first (removes specks and fringes).
        invert: Swap erase and keep.
        allow_full: Accept a mask that erases every pixel.
        frame: How to line a mask image up with an EXIF-rotated image (see the module doc).

    Raises:
        EmptyMaskError, FullMaskError, MaskMismatchError: before any paid call.
        UnreadableImageError, UnsupportedImageError, DecompressionBombError: bad mask file.
    """
    check_options(threshold=threshold, erode=erode, dilate=dilate, choice=frame)
    target = frame_of(image)
    steps: list[str] = []
    full, name = upright_mask(
        source, target, threshold=threshold, invert=invert, choice=frame, steps=steps
    )
    full = finish(full, erode=erode, dilate=dilate, allow_full=allow_full, source=name, steps=steps)
    sent = to_sent(full, target, name)
    return package(sent, full, target, steps, name)
