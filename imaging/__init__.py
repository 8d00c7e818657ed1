"""Pillow-only preparation of images and masks for each vendor, and mapping results back.

No Prefect, no httpx: pure functions, new objects out, inputs untouched. Units: px for
sizes and boxes (``(left, top, right, bottom)``, right and bottom exclusive), bytes for
files, characters for Base64 text.

Typical use::

    from prefect_image_edit.imaging import prepare_pair, restore_result

    image, mask = prepare_pair("photo.jpg", "mask.png", target="volcengine", policy="downscale")
    # send image.data (image.media_type) and mask.data; keep image and mask
    png = restore_result(vendor_bytes, image, mask=mask, output_format="PNG")

- Images: any source (bytes, path, file) is decoded with Pillow's decompression-bomb guard
  on, turned upright by its EXIF orientation, converted to 8-bit sRGB (ICC profiles are
  converted, not dropped), flattened onto a background with the alpha kept for the result,
  then brought within the target's limits (:data:`~.limits.LIMITS`) by a declared policy.
- Masks: **white (255) erases, black (0) keeps**. From an :class:`AlphaMask`, **transparent
  erases** (the opposite of tools that treat the opaque area as the selection; use
  ``invert=True`` for those). Masks are binarised, resized nearest-neighbour, oriented and
  cropped like their image, and written as 8-bit L PNG with no ICC profile or EXIF.
- Bad input raises a typed :class:`~prefect_image_edit.errors.InputError` naming the file and
  the reason, before any paid call (tree in :mod:`.errors`).
"""

from prefect_image_edit.imaging.errors import (
    DecompressionBombError,
    EmptyMaskError,
    FullMaskError,
    ImageTooLargeError,
    ImageTooSmallError,
    LimitError,
    LimitViolation,
    MaskError,
    MaskMismatchError,
    UnreadableImageError,
    UnsupportedImageError,
)
from prefect_image_edit.imaging.geometry import Frame
from prefect_image_edit.imaging.limits import (
    LIMITS,
    Limits,
    Preflight,
    base64_length,
    get_limits,
    preflight,
)
from prefect_image_edit.imaging.load import Loaded, load_image
from prefect_image_edit.imaging.masks import (
    AlphaMask,
    BoxMask,
    PolygonMask,
    PreparedMask,
    prepare_mask,
)
from prefect_image_edit.imaging.prepare import PreparedImage, prepare_image, prepare_pair
from prefect_image_edit.imaging.restore import restore_result
from prefect_image_edit.imaging.sources import ImageInfo, probe_image

__all__ = [
    "LIMITS",
    "AlphaMask",
    "BoxMask",
    "DecompressionBombError",
    "EmptyMaskError",
    "Frame",
    "FullMaskError",
    "ImageInfo",
    "ImageTooLargeError",
    "ImageTooSmallError",
    "LimitError",
    "LimitViolation",
    "Limits",
    "Loaded",
    "MaskError",
    "MaskMismatchError",
    "PolygonMask",
    "Preflight",
    "PreparedImage",
    "PreparedMask",
    "UnreadableImageError",
    "UnsupportedImageError",
    "base64_length",
    "get_limits",
    "load_image",
    "preflight",
    "prepare_image",
    "prepare_mask",
    "prepare_pair",
    "probe_image",
    "restore_result",
]
