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
result is cropped and scaled like the image it goes with (a sent pixel erases if any pixel it
covers does, so thin strokes survive a downscale) and written as an 8-bit L PNG with no ICC
profile and no EXIF.

*Which frame is a mask image in?* A mask with its own EXIF orientation is turned upright by
it. Otherwise ``frame="auto"`` compares aspect ratios: a mask shaped like the file's stored
pixels gets the image's orientation applied (as if drawn on the raw pixels), one shaped like
the upright picture is taken as is. When both fit (orientations 2-4, square images) the
stored frame wins unless the mask's size equals only the upright size. Shapes are upright
unless ``frame="stored"``. The choice is recorded in :attr:`PreparedMask.steps`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, NamedTuple, TypeAlias

from PIL import Image, ImageChops

from prefect_image_edit.imaging import morphology
from prefect_image_edit.imaging.colour import to_8bit_gray
from prefect_image_edit.imaging.encode import encode_mask, sha256
from prefect_image_edit.imaging.errors import (
    EmptyMaskError,
    FullMaskError,
    ImageTooLargeError,
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
from prefect_image_edit.imaging.limits import get_limits
from prefect_image_edit.imaging.shapes import BoxMask, PolygonMask, as_shapes, draw_shapes
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
        original_bbox: The bounding box in the upright, uncropped frame of the image, px.
        original_data: When ``data`` is cropped or scaled: the upright mask inside
            ``original_bbox`` as PNG (everything outside is 0), so that
            :meth:`upright` and ``restore_result`` are exact whatever was sent.
    """

    data: bytes = field(repr=False)
    size: Size
    sha256: str
    coverage: float
    bbox: Box
    frame: Frame
    steps: tuple[str, ...]
    source: str
    original_bbox: Box
    original_data: bytes | None = field(default=None, repr=False)
    media_type: str = "image/png"

    def upright(self) -> Image.Image:
        """This mask over its image's whole upright frame: a new L image, 0/255, px.

        Exact for masks made here. A sent-frame mask stripped of ``original_data`` is scaled
        back with nearest-neighbour, so its edges are as coarse as one sent pixel.
        """
        frame = self.frame
        if not (frame.cropped or frame.scaled):
            return decode_mask(self.data, self.source)
        canvas = Image.new("L", frame.original_size, 0)
        if self.original_data is not None:
            canvas.paste(decode_mask(self.original_data, self.source), self.original_bbox[:2])
        else:
            sent = decode_mask(self.data, self.source)
            canvas.paste(sent.resize(frame.crop_size, Image.Resampling.NEAREST), frame.crop_box[:2])
        return canvas


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


def _luma(im: Image.Image) -> Image.Image:
    """A mask image's erase strength as L: brightness, times alpha where there is alpha."""
    if im.mode in _ALPHA_MODES or "transparency" in im.info:
        rgba = im.convert("RGBA")
        return ImageChops.multiply(rgba.convert("L"), rgba.getchannel("A"))
    if im.mode in ("L", "I", "F") or im.mode.startswith("I;16"):
        return to_8bit_gray(im)  # L comes back as is: no copy of a 16 MP mask
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
        spec = as_shapes(spec)
    if isinstance(spec, PreparedMask):
        mask = spec.upright()
        steps.append(f"reused a prepared mask ({wxh(mask.size)} px upright)")
        if invert:
            mask = ImageChops.invert(mask)
        return _place(mask, frame, "display", spec.source, steps), spec.source
    if isinstance(spec, BoxMask | PolygonMask):
        kind = "boxes" if isinstance(spec, BoxMask) else "polygons"
        stored = choice == "stored" and frame.orientation != 1
        canvas = draw_shapes(spec, frame.stored_size if stored else frame.original_size)
        steps.append(f"drew {kind} in the {'stored' if stored else 'upright'} frame")
        mask = ImageChops.invert(canvas) if invert else canvas
        return (apply_orientation(mask, frame.orientation) if stored else mask), kind

    alpha = isinstance(spec, AlphaMask)
    data, name = read_source(spec.source if alpha else spec, default_name="mask")
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


class Census(NamedTuple):
    """Where a 0/255 mask erases: its bounding box (px) and how many pixels (255)."""

    bbox: Box | None
    count: int


def census(mask: Image.Image) -> Census:
    """Count a mask's 255 pixels inside its bounding box (cheap for small masks)."""
    bbox = mask.getbbox()
    return Census(bbox, 0 if bbox is None else mask.crop(bbox).histogram()[255])


def decode_mask(data: bytes, source: str) -> Image.Image:
    """A mask PNG made here (or any mask image) back as a 0/255 L image."""
    with open_image(data, source) as im:
        decode(im, source)
        return morphology.binarize(_luma(im), 128)


def finish(
    mask: Image.Image, *, erode: int, dilate: int, allow_full: bool, source: str, steps: list[str]
) -> tuple[Image.Image, Census]:
    """Erode, then dilate (px), then refuse an empty or (unless allowed) full mask."""
    check_options(erode=erode, dilate=dilate)
    if erode:
        mask = morphology.erode(mask, erode)
        steps.append(f"eroded {erode} px")
    if dilate:
        mask = morphology.dilate(mask, dilate)
        steps.append(f"dilated {dilate} px")
    counted = census(mask)
    if counted.bbox is None:
        reason = (
            "the mask marks nothing to erase after normalising; white (255) erases and black "
            "(0) keeps: pass invert=True if yours is the other way round, or lower the threshold"
        )
        raise EmptyMaskError(reason, source=source)
    if not allow_full and counted.count == mask.size[0] * mask.size[1]:
        reason = "the mask covers the whole image; pass allow_full=True if that is meant"
        raise FullMaskError(reason, source=source)
    return mask, counted


def to_sent(
    mask: Image.Image, counted: Census, frame: Frame, source: str
) -> tuple[Image.Image, Census]:
    """Crop and scale an upright mask like the image of ``frame`` (scaling keeps thin strokes)."""
    if frame.cropped:
        (left, top, right, bottom), (x0, y0, x1, y1) = frame.crop_box, counted.bbox
        if x0 < left or y0 < top or x1 > right or y1 > bottom:
            reason = (
                f"the image was cropped to {frame.crop_box} (px) around another mask and this "
                "mask reaches outside it; prepare the image and this mask together (prepare_pair)"
            )
            raise MaskMismatchError(reason, source=source)
        mask = mask.crop(frame.crop_box)
        counted = Census((x0 - left, y0 - top, x1 - left, y1 - top), counted.count)
    if frame.scaled:
        mask = morphology.shrink_any(mask, frame.size)
        counted = census(mask)
        if counted.bbox is None:
            raise EmptyMaskError("the mask vanished when scaled to the size sent", source=source)
    return mask, counted


def package(
    full: Image.Image, counted: Census, frame: Frame, steps: list[str], source: str
) -> PreparedMask:
    """Frame an upright mask like the image of ``frame`` and encode it as a PreparedMask."""
    sent, sent_counted = to_sent(full, counted, frame, source)
    data = encode_mask(sent)
    width, height = sent.size
    return PreparedMask(
        data=data,
        size=sent.size,
        sha256=sha256(data),
        coverage=sent_counted.count / (width * height),
        bbox=sent_counted.bbox or (0, 0, 0, 0),
        frame=frame,
        steps=tuple(steps),
        source=source,
        original_bbox=counted.bbox or (0, 0, 0, 0),
        original_data=None if sent is full else encode_mask(full.crop(counted.bbox)),
    )


def check_sendable(mask: PreparedMask, target: str) -> PreparedMask:
    """``mask`` if its PNG meets ``target``'s byte and Base64 caps (masks share the image's)."""
    violations = get_limits(target).check_bytes(len(mask.data))
    if violations:
        reason = f"the mask PNG is {len(mask.data)} bytes, over {target}'s cap"
        raise ImageTooLargeError(reason, violations=violations, source=mask.source)
    return mask


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
    full, counted = finish(
        full, erode=erode, dilate=dilate, allow_full=allow_full, source=name, steps=steps
    )
    prepared = package(full, counted, target, steps, name)
    sent_for = getattr(image, "target", None)  # a PreparedImage knows its target
    return prepared if sent_for is None else check_sendable(prepared, sent_for)
