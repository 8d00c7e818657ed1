"""Geometry shared by images and masks: EXIF orientation, crop boxes, sizes that fit.

Three frames matter, all in px:

- *stored*: the pixel grid as stored in the file, before EXIF orientation;
- *original* (upright): after EXIF orientation, the picture as users see it. Everything a
  user gets back (:func:`~prefect_image_edit.imaging.restore.restore_result`) is in this frame;
- *sent*: what goes to the vendor: a crop box of the original frame, possibly scaled.

A :class:`Frame` records the chain stored → original → crop → sent; it is what is needed to
map a mask onto what is sent and a result back onto the original. Boxes are Pillow boxes,
``(left, top, right, bottom)`` with right and bottom exclusive.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import TypeAlias

from PIL import Image

__all__ = [
    "Box",
    "Frame",
    "Size",
    "apply_orientation",
    "aspect_matches",
    "crop_around",
    "fit_within",
    "oriented_size",
    "resize_passes",
    "scale_size",
    "wxh",
]

Size: TypeAlias = tuple[int, int]
Box: TypeAlias = tuple[int, int, int, int]

# EXIF orientation -> the transpose that makes the picture upright (as ImageOps.exif_transpose).
_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}

# Two sizes have "the same aspect ratio" when they differ by at most this fraction, or by
# at most one pixel after scaling (so 10x7 matches 1000x666, and rounding never fails).
_ASPECT_TOLERANCE = 0.01


def wxh(size: Size) -> str:
    """``"4096x3072"``: a size for messages."""
    return f"{size[0]}x{size[1]}"


def oriented_size(size: Size, orientation: int) -> Size:
    """The size after applying an EXIF orientation (1..8): sides swap for 5, 6, 7 and 8."""
    return (size[1], size[0]) if orientation in (5, 6, 7, 8) else size


def apply_orientation(im: Image.Image, orientation: int) -> Image.Image:
    """Transpose ``im`` from the stored frame to the upright one, like ``exif_transpose``.

    Returns a new image, except for orientation 1 (or an unknown value), where ``im``
    itself comes back: copying a 50 MB photo to change nothing is the cost this avoids.
    Callers that hand the result out must copy it themselves.
    """
    method = _TRANSPOSE.get(orientation)
    return im if method is None else im.transpose(method)


@dataclass(frozen=True, slots=True)
class Frame:
    """How a sent image relates to the file it came from.

    Attributes:
        stored_size: Size as stored in the file, before EXIF orientation (px).
        orientation: The EXIF orientation applied (1..8; 1 means none).
        crop_box: The region of the upright image that was sent, in upright px.
        size: The size sent, in px; differs from the crop box's size when scaled.
    """

    stored_size: Size
    orientation: int
    crop_box: Box
    size: Size

    @classmethod
    def identity(cls, stored_size: Size, orientation: int = 1) -> Frame:
        """The frame of an image sent whole and unscaled."""
        w, h = oriented_size(stored_size, orientation)
        return cls(stored_size, orientation, (0, 0, w, h), (w, h))

    @property
    def original_size(self) -> Size:
        """The upright size (px): what users see and what results are mapped back to."""
        return oriented_size(self.stored_size, self.orientation)

    @property
    def crop_size(self) -> Size:
        left, top, right, bottom = self.crop_box
        return (right - left, bottom - top)

    @property
    def cropped(self) -> bool:
        return self.crop_box != (0, 0, *self.original_size)

    @property
    def scaled(self) -> bool:
        return self.size != self.crop_size

    @property
    def scale(self) -> tuple[float, float]:
        """Sent px per original px, horizontally and vertically (1.0 when not scaled)."""
        cw, ch = self.crop_size
        return (self.size[0] / cw, self.size[1] / ch)

    def with_crop(self, box: Box) -> Frame:
        """This frame cropped to ``box`` (upright px), unscaled."""
        return replace(self, crop_box=box, size=(box[2] - box[0], box[3] - box[1]))

    def with_size(self, size: Size) -> Frame:
        """This frame with the crop scaled to ``size`` (px)."""
        return replace(self, size=size)


def aspect_matches(a: Size, b: Size) -> bool:
    """Whether sizes ``a`` and ``b`` (px) have the same aspect ratio, within rounding."""
    (aw, ah), (bw, bh) = a, b
    if min(aw, ah, bw, bh) <= 0:
        return False
    if abs((aw * bh) / (ah * bw) - 1.0) <= _ASPECT_TOLERANCE:
        return True
    # One pixel of rounding on the smaller image, in either direction.
    small_w, small_h, big_w, big_h = (aw, ah, bw, bh) if aw * ah <= bw * bh else (bw, bh, aw, ah)
    return (
        abs(small_h - small_w * big_h / big_w) <= 1 or abs(small_w - small_h * big_w / big_h) <= 1
    )


def fit_within(size: Size, max_side: int) -> Size:
    """The largest size with ``size``'s aspect ratio whose sides are both ``<= max_side`` px.

    The limiting side becomes exactly ``max_side``; the other is rounded to the nearest px
    (never past ``max_side``, never under 1). A size that already fits is returned unchanged.
    """
    w, h = size
    if w <= max_side and h <= max_side:
        return size
    if w >= h:
        return (max_side, max(1, min(max_side, round(h * max_side / w))))
    return (max(1, min(max_side, round(w * max_side / h))), max_side)


def scale_size(size: Size, factor: float) -> Size:
    """``size`` scaled by ``factor`` (< 1 to shrink), rounded down, at least 1 px a side."""
    return (max(1, math.floor(size[0] * factor)), max(1, math.floor(size[1] * factor)))


def crop_around(bbox: Box, image_size: Size, *, margin: int, min_side: int) -> Box:
    """A crop box holding ``bbox`` plus ``margin`` px of context on each side.

    The box is clipped to the image and, where that leaves a side under ``min_side`` px,
    widened (evenly where possible) up to ``min_side`` or the image's own side.

    Args:
        bbox: The region that must be inside the crop (the mask's bounding box), px.
        image_size: The upright image size, px.
        margin: Context to add on every side, px.
        min_side: The smallest side the target accepts, px.
    """
    left, top, right, bottom = bbox
    width, height = image_size
    left, right = _span(left - margin, right + margin, width, min_side)
    top, bottom = _span(top - margin, bottom + margin, height, min_side)
    return (left, top, right, bottom)


def _span(start: int, end: int, limit: int, min_length: int) -> tuple[int, int]:
    start, end = max(0, start), min(limit, end)
    short = min(min_length, limit) - (end - start)
    if short > 0:
        start -= short // 2
        end += short - short // 2
        if start < 0:
            start, end = 0, end - start
        if end > limit:
            start, end = start - (end - limit), limit
    return start, end


def resize_passes(size: Size, box: Box, out: Size) -> list[tuple[Size, Box]]:
    """Split ``resize(out, box=box)`` of an image of ``size`` into one pass per axis.

    Pillow resamples horizontally into a temporary image, then vertically, holding the
    source, the temporary and the result at once: three photos. Two calls, horizontal
    (all rows, so the vertical pass still sees the rows around the box) then vertical, give
    the same pixels while the caller can drop the source in between. Passes that would
    change nothing are left out.

    Returns:
        ``(size, box)`` arguments for successive ``Image.resize`` calls (px).
    """
    (w, h), (left, top, right, bottom) = size, box
    passes: list[tuple[Size, Box]] = []
    if (left, right) != (0, w) or out[0] != w:
        passes.append(((out[0], h), (left, 0, right, h)))
    if (top, bottom) != (0, h) or out[1] != h:
        passes.append((out, (0, top, out[0], bottom)))
    return passes
