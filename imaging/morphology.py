"""Binary mask operations in pure Pillow: threshold, dilate, erode, shrink.

Masks here are mode L with only 0 (keep) and 255 (erase). Dilation and erosion use a square
structuring element of side ``2 * px + 1``: a pixel is within ``px`` of another when both
its x and y distances are at most ``px`` (Chebyshev distance). A square grows masks a little
more at the corners than a disc, which is the safe side for erasing.

Pillow's ``MaxFilter`` costs ``(2 * px + 1) ** 2`` operations per pixel. Here each axis is
a running maximum built by doubling (``ImageChops.lighter`` of shifted copies), about
``4 * log2(px)`` passes per axis, and only over the mask's bounding box plus
``px``: a mask covering a small object in a 16 MP photo costs almost nothing.

Outside the image counts as *keep* for dilation and as *erase* for erosion, so a mask that
touches the border keeps touching it after erosion.
"""

from __future__ import annotations

from PIL import Image, ImageChops

__all__ = ["binarize", "check_px", "check_threshold", "dilate", "erode", "shrink_any"]


def binarize(im: Image.Image, threshold: int = 128, *, invert: bool = False) -> Image.Image:
    """An L image as 0/255: values ``>= threshold`` become 255 (or 0 with ``invert``).

    Args:
        im: Mode L.
        threshold: 1..255; 128 by default, so anti-aliased edges split evenly.
        invert: Swap the result (what was 255 becomes 0).
    """
    check_threshold(threshold)
    low, high = (255, 0) if invert else (0, 255)
    return im.point([low] * threshold + [high] * (256 - threshold))


def check_threshold(threshold: object) -> int:
    """``threshold`` if it is an int in 1..255; ``ValueError`` otherwise."""
    if not isinstance(threshold, int) or isinstance(threshold, bool) or not 1 <= threshold <= 255:
        raise ValueError(f"threshold must be an int in 1..255, got {threshold!r}")
    return threshold


def check_px(px: object, name: str) -> int:
    """``px`` if it is an int >= 0 (a distance in px); ``ValueError`` naming ``name`` otherwise."""
    if not isinstance(px, int) or isinstance(px, bool) or px < 0:
        raise ValueError(f"{name} must be an int >= 0 (px), got {px!r}")
    return px


def _shift(im: Image.Image, offset: int, axis: int) -> Image.Image:
    # Content moves by +offset along the axis; uncovered pixels are 0 (crop past the edge).
    w, h = im.size
    if axis == 0:
        return im.crop((-offset, 0, w - offset, h))
    return im.crop((0, -offset, w, h - offset))


def _running_max(im: Image.Image, length: int, step: int, axis: int) -> Image.Image:
    """Max over ``length`` px from each pixel: forward ``[x, x+length)`` for ``step=-1``,
    backward ``(x-length, x]`` for ``step=1``, outside the image counting as 0.

    Windows double (1, 2, 4, ...) up to the largest power of two ``p <= length``; two
    windows of ``p`` overlapping by ``2p - length`` then cover ``length`` exactly. Every
    window read starts inside the image or lies wholly outside it (all 0), so cropping
    shifted copies at the edge loses nothing.
    """
    window, span = im, 1
    while span * 2 <= length:
        window = ImageChops.lighter(window, _shift(window, step * span, axis))
        span *= 2
    if span == length:
        return window
    return ImageChops.lighter(window, _shift(window, step * (length - span), axis))


def _max_1d(im: Image.Image, radius: int, axis: int) -> Image.Image:
    """Running maximum over ``[x - radius, x + radius]`` along one axis."""
    forward = _running_max(im, radius + 1, -1, axis)
    backward = _running_max(im, radius + 1, 1, axis)
    return ImageChops.lighter(forward, backward)


def _square_max(im: Image.Image, radius: int) -> Image.Image:
    return _max_1d(_max_1d(im, radius, 0), radius, 1)


def dilate(mask: Image.Image, px: int) -> Image.Image:
    """Grow the 255 region of a 0/255 L mask by ``px`` pixels in every direction (new image)."""
    px = check_px(px, "dilate")
    bbox = mask.getbbox()
    if px == 0 or bbox is None:
        return mask.copy()
    w, h = mask.size
    left, top = max(0, bbox[0] - px), max(0, bbox[1] - px)
    right, bottom = min(w, bbox[2] + px), min(h, bbox[3] + px)
    region = _square_max(mask.crop((left, top, right, bottom)), px)
    out = Image.new("L", mask.size, 0)
    out.paste(region, (left, top))
    return out


def erode(mask: Image.Image, px: int) -> Image.Image:
    """Shrink the 255 region of a 0/255 L mask by ``px`` pixels from every side (new image)."""
    px = check_px(px, "erode")
    bbox = mask.getbbox()
    if px == 0 or bbox is None:
        return mask.copy()
    w, h = mask.size
    # Erosion only turns 255 into 0, so only the bounding box can change; its neighbourhood
    # of ``px`` is enough context. Pixels beyond the crop read as 255 (the erase side) after
    # inversion, which is right at the image border and never reaches the bounding box
    # from an inner edge of the crop.
    left, top = max(0, bbox[0] - px), max(0, bbox[1] - px)
    right, bottom = min(w, bbox[2] + px), min(h, bbox[3] + px)
    inverse = ImageChops.invert(mask.crop((left, top, right, bottom)))
    region = ImageChops.invert(_square_max(inverse, px))
    out = Image.new("L", mask.size, 0)
    inner = (bbox[0] - left, bbox[1] - top, bbox[2] - left, bbox[3] - top)
    out.paste(region.crop(inner), bbox[:2])
    return out


def shrink_any(mask: Image.Image, size: tuple[int, int]) -> Image.Image:
    """Downscale a 0/255 mask to ``size`` px so that a sent pixel erases if any source one did.

    Box-averaging then keeping every non-zero value means thin strokes survive a downscale
    (nearest-neighbour would drop a 1 px line at 2x). A source pixel whose share of a sent
    pixel rounds to zero still marks the neighbouring sent pixel that holds most of it.
    """
    if mask.size == size:
        return mask.copy()
    averaged = mask.resize(size, Image.Resampling.BOX)
    return averaged.point([0] + [255] * 255)
