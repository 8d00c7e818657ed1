"""Masks drawn from shapes: rectangles and polygons in px.

Boxes are Pillow boxes, ``(left, top, right, bottom)`` with right and bottom exclusive, so a
box ``(10, 10, 20, 20)`` erases 100 pixels. Fractional coordinates round outwards: a shape
that touches a pixel erases it, the safe side for removing an object.

Malformed shapes (an inverted or empty box, a polygon of two points) raise
:class:`~prefect_image_edit.errors.InputError` (a ``ValueError``) naming ``boxes`` or
``polygons``, before any paid call.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from PIL import Image, ImageDraw

from prefect_image_edit.errors import InputError
from prefect_image_edit.imaging.geometry import Size

__all__ = ["BoxMask", "PolygonMask", "as_shapes", "draw_shapes"]


@dataclass(frozen=True, slots=True)
class BoxMask:
    """Rectangles ``(left, top, right, bottom)`` in px, right and bottom exclusive."""

    boxes: tuple[tuple[float, float, float, float], ...]


@dataclass(frozen=True, slots=True)
class PolygonMask:
    """Filled polygons, each at least three ``(x, y)`` points in px."""

    polygons: tuple[tuple[tuple[float, float], ...], ...]


def _number(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def as_shapes(obj: Sequence) -> BoxMask | PolygonMask:
    """A list of boxes or of polygons (px) as a :class:`BoxMask` or :class:`PolygonMask`."""
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
    raise InputError(
        "expected mask shapes as a non-empty list of boxes [(left, top, right, bottom), ...] "
        "or of polygons [[(x, y), (x, y), (x, y), ...], ...], in px",
        source="mask shapes",
    )


def draw_shapes(spec: BoxMask | PolygonMask, size: Size) -> Image.Image:
    """Shapes filled with 255 on a 0 canvas of ``size`` px (mode L); edges round outwards."""
    canvas = Image.new("L", size, 0)
    draw = ImageDraw.Draw(canvas)
    if isinstance(spec, BoxMask):
        for box in spec.boxes:
            if len(box) != 4 or not all(map(_number, box)) or box[0] >= box[2] or box[1] >= box[3]:
                raise InputError(
                    "a box must be (left, top, right, bottom) with left < right and "
                    f"top < bottom, got {box!r}",
                    source="boxes",
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
                raise InputError(
                    f"a polygon needs at least three (x, y) points, got {polygon!r}",
                    source="polygons",
                )
            draw.polygon([(float(x), float(y)) for x, y in polygon], fill=255, outline=255)
    return canvas
