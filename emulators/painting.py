"""Producing real result images: erase (inpaint), try-on composites and visible AI marks.

The emulators return real edits so that tests can check what the pack does with them: the masked
region of an erase is actually repainted from its surroundings and every pixel outside the
(dilated) mask is the input's own. The fill is the pack's own ``local`` provider
(``prefect_image_edit.inpaint``: OpenCV when it imports, else a Pillow-only diffusion fill), run
on the mask's neighbourhood at reduced resolution (``inpaint``): a real vendor's compute runs
on the vendor's machines, while an emulator's runs on the client's, so a full-resolution fill
(140-230 ms of CPU per 640x480 call) would make the emulator, not the client, what a benchmark
on a small machine measures.
Try-on results are a deterministic composite of the person and the garments, so the same inputs
always give the same bytes.
"""

from __future__ import annotations

from PIL import Image, ImageDraw, ImageFilter, ImageFont, ImageOps

from prefect_image_edit.inpaint import HAVE_OPENCV, dilate
from prefect_image_edit.inpaint import inpaint as full_inpaint

__all__ = ["HAVE_OPENCV", "add_mark", "dilate", "inpaint", "refine_try_on", "try_on"]


FILL_SCALE = 4
"""The fill is computed at 1/FILL_SCALE of the image's resolution."""


def inpaint(image: Image.Image, mask: Image.Image, dilate_size: int = 0) -> Image.Image:
    """Erase the white region of ``mask`` (grown by ``dilate_size`` px), as a vendor would.

    The fill is computed on the region around the mask, scaled down ``FILL_SCALE`` times, and
    scaled back up into the masked pixels; every pixel outside the grown mask is the input's
    own, exactly as with ``prefect_image_edit.inpaint.inpaint``.
    """
    region = dilate(mask, dilate_size)
    box = region.getbbox()
    if box is None:
        return image.copy()
    width, height = image.size
    margin = 8 * FILL_SCALE
    crop = (
        max(0, box[0] - margin),
        max(0, box[1] - margin),
        min(width, box[2] + margin),
        min(height, box[3] + margin),
    )
    small = (
        max(1, (crop[2] - crop[0]) // FILL_SCALE),
        max(1, (crop[3] - crop[1]) // FILL_SCALE),
    )
    patch = image.crop(crop).resize(small, Image.Resampling.BILINEAR)
    hole = region.crop(crop).resize(small, Image.Resampling.BOX).point(lambda v: 255 if v else 0)
    filled = full_inpaint(patch, hole).resize(
        (crop[2] - crop[0], crop[3] - crop[1]), Image.Resampling.BILINEAR
    )
    out = image.copy()
    out.paste(filled, crop[:2], region.crop(crop))
    return out


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
