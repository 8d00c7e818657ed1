"""Decode any source into an upright, 8-bit sRGB RGB image, with its alpha kept aside.

The one place that chains the steps every image goes through, in this order: read the
source, open it (format allow-list, decompression-bomb guard), decode frame 0, apply the EXIF
orientation, convert the mode and colour profile to sRGB, flatten transparency. Preparation
and restoration both start here, so a result is pasted onto exactly the pixels that were
prepared.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from PIL import Image

from prefect_image_edit.imaging.colour import RGB, parse_color, to_srgb8
from prefect_image_edit.imaging.errors import UnsupportedImageError
from prefect_image_edit.imaging.geometry import apply_orientation
from prefect_image_edit.imaging.sources import (
    Animation,
    ImageInfo,
    Source,
    decode,
    info_of,
    open_image,
    pillow_errors,
    read_source,
)

__all__ = ["WHITE", "Loaded", "load_image"]

WHITE: RGB = (255, 255, 255)


@dataclass(slots=True)
class Loaded:
    """A decoded source, upright, 8-bit sRGB RGB, with its alpha kept aside.

    ``prepare_image`` and ``prepare_pair`` take ``image`` over (it becomes ``None``) so that
    the photo can be freed while it is scaled: a ``Loaded`` is made for one use.
    """

    image: Image.Image | None
    alpha: Image.Image | None
    info: ImageInfo
    data: bytes = field(repr=False)
    notes: tuple[str, ...]
    profile: str | None


def load_image(
    source: Source,
    *,
    background: object = WHITE,
    animation: Animation = "refuse",
    name: str = "<bytes>",
) -> Loaded:
    """Read, decode, EXIF-orient and convert a source to 8-bit sRGB RGB (a new image).

    Args:
        source: Bytes, a path or a binary file object.
        background: Colour transparent pixels are flattened onto (see ``parse_color``).
        animation: ``"refuse"`` or ``"first"`` (use frame 0) for animations.
        name: The name errors use when ``source`` is raw bytes.
    """
    bg = parse_color(background)
    data, label = read_source(source, default_name=name)
    im = open_image(data, label)
    try:
        info = info_of(im, data, label)
        notes = decode(im, label, animation=animation)
        with pillow_errors(label, UnsupportedImageError):
            upright = apply_orientation(im, info.orientation)
            if upright is not im:
                notes.append(f"applied EXIF orientation {info.orientation}")
                im.close()  # free the stored-frame pixels before converting colours
            converted = to_srgb8(upright, source=label, background=bg)
    except BaseException:
        im.close()
        raise
    return Loaded(
        converted.image,
        converted.alpha,
        info,
        data,
        tuple(notes + converted.notes),
        converted.profile,
    )
