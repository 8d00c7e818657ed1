"""Map a vendor's result back onto the original: size, crop, untouched pixels, alpha.

The result covers what was sent (a crop box of the upright image, perhaps scaled). It is
resized to the crop box and pasted onto a fresh decode of the original **through the mask**,
so every pixel outside the mask (dilated by ``dilate`` px, if asked) is exactly the
original's: vendors re-encode, shift colours slightly and soften what they do not erase, and
a downscaled round trip blurs everything. Without a mask (try-on) the whole sent region is
replaced. The original's alpha channel is put back, for formats that carry one.

"The original" is the source as :func:`~prefect_image_edit.imaging.load.load_image`
sees it: upright, 8-bit sRGB, transparency flattened onto the background used for preparing.
"""

from __future__ import annotations

from PIL import Image

from prefect_image_edit.errors import InputError
from prefect_image_edit.imaging import morphology
from prefect_image_edit.imaging.encode import encode, normalize_format, normalize_quality
from prefect_image_edit.imaging.errors import MaskMismatchError, UnsupportedImageError
from prefect_image_edit.imaging.geometry import Frame, aspect_matches, wxh
from prefect_image_edit.imaging.load import load_image
from prefect_image_edit.imaging.masks import PreparedMask
from prefect_image_edit.imaging.prepare import PreparedImage
from prefect_image_edit.imaging.sources import Source

__all__ = ["restore_result"]


def _paste_mask(mask: PreparedMask, frame: Frame, dilate: int) -> Image.Image:
    """The mask to paste through: upright, dilated, cut to the crop box (L, 0/255)."""
    full = mask.upright()
    if full.size != frame.original_size:
        reason = (
            f"the mask is for a {wxh(full.size)} px image, the original is "
            f"{wxh(frame.original_size)} px; pass the mask prepared with this image"
        )
        raise MaskMismatchError(reason, source=mask.source)
    return morphology.dilate(full, dilate).crop(frame.crop_box)


def restore_result(
    result: Source,
    prepared: PreparedImage,
    *,
    mask: PreparedMask | None = None,
    dilate: int = 0,
    output_format: str = "PNG",
    quality: int = 95,
    original: Source | None = None,
) -> bytes:
    """Map a vendor's result onto the original image and encode it.

    Args:
        result: The vendor's image (bytes, path or file), of the size sent or another size
            with the same aspect ratio.
        prepared: The prepared image the result was made from.
        mask: The mask sent with it. Pixels outside it stay exactly the original's. Without
            one (try-on) the whole sent region comes from the result.
        dilate: Also take the result this many px around the mask (px of the original),
            to cover a vendor's own mask dilation; 0 keeps every unmasked pixel.
        output_format: ``PNG``, ``JPEG`` (``JPG``) or ``WEBP``. JPEG drops the alpha channel
            (transparent areas show the preparation's background colour).
        quality: JPEG or WebP quality, 1..100 (WebP 100 is lossless); ignored for PNG.
        original: The source again, if ``prepared.original`` was dropped to save memory.

    Returns:
        The encoded image, the original's upright size, with no metadata.

    Raises:
        UnreadableImageError, UnsupportedImageError: the result is not a usable image, or its
            aspect ratio differs from what was sent.
        MaskMismatchError: ``mask`` belongs to another image.
        InputError: ``original`` is not the file ``prepared`` was made from.
    """
    fmt = normalize_format(output_format)
    quality = normalize_quality(quality)
    morphology.check_px(dilate, "dilate")
    frame = prepared.frame
    background = prepared.background
    returned = load_image(result, background=background, animation="first", name="result").image
    if not aspect_matches(returned.size, frame.size):
        reason = (
            f"the result is {wxh(returned.size)} px but "
            f"{wxh(frame.size)} px was sent; the aspect ratios differ"
        )
        raise UnsupportedImageError(reason, source="result")
    if returned.size != frame.crop_size:
        returned = returned.resize(frame.crop_size, Image.Resampling.LANCZOS)

    base = load_image(
        prepared.original if original is None else original,
        background=background,
        animation=prepared.animation,
        name=prepared.source,
    )
    if base.info.sha256 != prepared.source_sha256:
        raise InputError("is not the file this image was prepared from", source=base.info.source)
    canvas = base.image
    through = None if mask is None else _paste_mask(mask, frame, dilate)
    canvas.paste(returned, frame.crop_box[:2], through)
    if base.alpha is not None and fmt != "JPEG":
        canvas.putalpha(base.alpha)
    # Results are encoded once per item on the flow's machine: zlib level 1 is about 3x faster
    # than the default for lossless PNG (level 6 was half of a batch's CPU).
    return encode(canvas, fmt, quality, png_level=1)
