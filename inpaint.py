"""Object removal on this machine: the ``local`` erase provider (OpenCV, from the ``local`` extra).

No keys, no network, no cost: the embedded default of the pack, and the fill the emulators use
to give real answers. OpenCV's Telea inpainting fills the masked region from its surroundings;
pixels outside the (dilated) mask are the input's own.
"""

from __future__ import annotations

from PIL import Image, ImageFilter, ImageOps, ImageStat

try:  # The `local` extra installs OpenCV (and numpy with it).
    import cv2
    import numpy as np
except ImportError:  # pragma: no cover - exercised only without the extra
    cv2 = None
    np = None

__all__ = ["HAVE_OPENCV", "dilate", "inpaint"]

HAVE_OPENCV = cv2 is not None


def dilate(mask: Image.Image, radius: int) -> Image.Image:
    """Grow a 0/255 ``L`` mask by ``radius`` px (the vendors' ``dilate_size``)."""
    if radius <= 0:
        return mask
    if cv2 is not None:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
        return Image.fromarray(cv2.dilate(np.asarray(mask, dtype=np.uint8), kernel))
    # A box blur spreads every white pixel exactly `radius` px; anything touched becomes white.
    return mask.filter(ImageFilter.BoxBlur(radius)).point(lambda v: 255 if v > 0 else 0)


def _fill_without_opencv(image: Image.Image, mask: Image.Image) -> Image.Image:
    """Fill the mask with the colour of its surroundings, then diffuse the edge inwards."""
    ring = ImageOps.invert(mask).point(lambda v: 255 if v else 0)
    ring = Image.composite(dilate(mask, 4), Image.new("L", mask.size, 0), ring)
    source = ring if ring.getbbox() else ImageOps.invert(mask)
    mean = (
        tuple(int(c) for c in ImageStat.Stat(image, mask=source).mean[:3])
        if source.getbbox()
        else (128, 128, 128)
    )
    filled = Image.composite(Image.new("RGB", image.size, mean), image, mask)
    radius = max(2, min(image.size) // 40)
    for _ in range(8):
        filled = Image.composite(filled.filter(ImageFilter.GaussianBlur(radius)), image, mask)
    return filled


def inpaint(image: Image.Image, mask: Image.Image, dilate_size: int = 0) -> Image.Image:
    """Erase the white region of ``mask`` (grown by ``dilate_size`` px) from an RGB image.

    Uses OpenCV when installed, else a Pillow-only diffusion fill (good enough for the
    emulators; the ``local`` provider insists on OpenCV). Returns a new RGB image.
    """
    region = dilate(mask, dilate_size)
    if region.getbbox() is None:
        return image.copy()
    if cv2 is not None:
        bgr = cv2.cvtColor(np.asarray(image, dtype=np.uint8), cv2.COLOR_RGB2BGR)
        radius = max(3, min(image.size) // 50)
        out = cv2.inpaint(bgr, np.asarray(region, dtype=np.uint8), radius, cv2.INPAINT_TELEA)
        filled = Image.fromarray(cv2.cvtColor(out, cv2.COLOR_BGR2RGB))
    else:
        filled = _fill_without_opencv(image, region)
    return Image.composite(filled, image, region)
