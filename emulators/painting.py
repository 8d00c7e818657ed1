"""Producing real result images: erase (inpaint), try-on composites and visible AI marks.

The emulators return real edits so that tests can check what the pack does with them: the masked
region of an erase is actually repainted from its surroundings and every pixel outside the
(dilated) mask is the input's own. OpenCV's inpainting is used when it imports (the ``local``
extra); otherwise a Pillow-only diffusion fill. Try-on results are a deterministic composite of
the person and the garments, so the same inputs always give the same bytes.
"""

from __future__ import annotations

import hashlib

from PIL import Image, ImageDraw, ImageFilter, ImageFont, ImageOps, ImageStat

try:  # Optional at runtime: the `local` extra installs OpenCV (and numpy with it).
    import cv2
    import numpy as np
except ImportError:  # pragma: no cover - exercised only without the extra
    cv2 = None
    np = None

__all__ = ["HAVE_OPENCV", "add_mark", "dilate", "inpaint", "refine_try_on", "try_on"]

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

    Returns a new RGB image; pixels outside the dilated mask are exactly the input's.
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


def _fit(
    garment: Image.Image, box: tuple[int, int, int, int]
) -> tuple[Image.Image, tuple[int, int]]:
    width, height = max(1, box[2] - box[0]), max(1, box[3] - box[1])
    fitted = ImageOps.contain(garment.convert("RGB"), (width, height))
    offset = (box[0] + (width - fitted.width) // 2, box[1] + (height - fitted.height) // 2)
    return fitted, offset


def _blend_in(base: Image.Image, garment: Image.Image, box: tuple[int, int, int, int]) -> None:
    fitted, offset = _fit(garment, box)
    region = base.crop((*offset, offset[0] + fitted.width, offset[1] + fitted.height))
    base.paste(Image.blend(region, fitted, 0.85), offset)


def try_on(
    person: Image.Image,
    top: Image.Image,
    bottom: Image.Image | None = None,
    size: tuple[int, int] | None = None,
) -> Image.Image:
    """A deterministic "dressed" image: the garments blended over the person's torso and legs.

    ``size`` (width, height in px) crops and scales the result like the Pro API's ``resolution``.
    """
    base = person.convert("RGB")
    if size is not None:
        base = ImageOps.fit(base, size)
    width, height = base.size
    _blend_in(base, top, (width // 4, height // 5, width * 3 // 4, height * 11 // 20))
    if bottom is not None:
        _blend_in(base, bottom, (width // 4, height * 11 // 20, width * 3 // 4, height * 9 // 10))
    return base


def refine_try_on(
    person: Image.Image, coarse: Image.Image, top: Image.Image, bottom: Image.Image | None
) -> Image.Image:
    """The refiner's answer: the coarse result at the person's size, sharpened, garments re-laid."""
    base = coarse.convert("RGB").resize(person.size)
    base = base.filter(ImageFilter.UnsharpMask(radius=2, percent=80, threshold=2))
    width, height = base.size
    _blend_in(base, top, (width * 3 // 10, height // 4, width * 7 // 10, height // 2))
    if bottom is not None:
        _blend_in(
            base, bottom, (width * 3 // 10, height * 11 // 20, width * 7 // 10, height * 17 // 20)
        )
    return base


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # Pillow built without FreeType
        return ImageFont.load_default()


def add_mark(
    image: Image.Image,
    *,
    text: str = "AI-generated",
    logo: Image.Image | None = None,
    rect: tuple[int, int, int, int] | None = None,
    corner: int = 0,
    opacity: float = 0.85,
) -> Image.Image:
    """Stamp a visible "AI generated" mark, as the vendors do unless told not to.

    Args:
        image: The result image (RGB).
        text: Mark text when no ``logo`` is given.
        logo: A custom logo image (Tencent ``LogoParam``), scaled into ``rect``.
        rect: (x, y, width, height) in px for the logo; default bottom right.
        corner: 0 bottom right, 1 bottom left, 2 top left, 3 top right (Volcengine ``position``).
        opacity: 0..1 opacity of the mark's backdrop.
    """
    out = image.convert("RGB")
    width, height = out.size
    if logo is not None:
        if rect is None:
            side = max(8, min(width, height) // 6)
            rect = (width - side - 4, height - side - 4, side, side)
        x, y, w, h = rect
        out.paste(logo.convert("RGB").resize((max(1, w), max(1, h))), (x, y))
        return out
    font = _font(max(8, height // 16))
    left, top_, right, bottom = ImageDraw.Draw(out).textbbox((0, 0), text, font=font)
    pad = max(2, height // 80)
    box_w, box_h = right - left + 2 * pad, bottom - top_ + 2 * pad
    x = width - box_w - pad if corner in (0, 3) else pad
    y = height - box_h - pad if corner in (0, 1) else pad
    overlay = Image.new("RGBA", out.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    draw.rectangle((x, y, x + box_w, y + box_h), fill=(0, 0, 0, int(255 * opacity)))
    draw.text((x + pad - left, y + pad - top_), text, font=font, fill=(255, 255, 255, 255))
    return Image.alpha_composite(out.convert("RGBA"), overlay).convert("RGB")


def fingerprint(*images: bytes) -> str:
    """A short content hash, for deterministic ids and seeds derived from inputs."""
    digest = hashlib.sha256()
    for data in images:
        digest.update(hashlib.sha256(data).digest())
    return digest.hexdigest()[:16]
