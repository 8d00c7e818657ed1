"""Prepare an image (and its mask) so that a target accepts it, and record how.

Flow, in the upright frame throughout::

    source --read, decode, EXIF-orient, sRGB 8-bit, flatten alpha--> upright RGB
    mask   --binarise, resize (nearest), orient, erode/dilate, check--> upright mask
    policy (needs the mask's bounding box for crop_around_mask) --> Frame (crop, size)
    image and mask --crop and scale by the Frame, encode--> PreparedImage, PreparedMask

:func:`prepare_pair` runs it all with one decode. Alone, :func:`prepare_image` takes an
upright mask (``prepare_mask(spec, image=probe_image(source))``) to choose a crop, and
``prepare_mask(spec, image=prepared)`` then frames the mask like the prepared image.

Policies, applied only when an input breaks a limit:

- ``fail``: raise :class:`~prefect_image_edit.imaging.errors.ImageTooLargeError`.
- ``downscale``: the largest size with the same aspect ratio that fits the side limits,
  then smaller still if the encoded bytes must shrink to fit the byte cap.
- ``crop_around_mask``: send the mask's bounding box plus ``margin`` px of context (widened
  to the minimum side), scaled down only if the crop itself is still too large.

Under every policy a JPEG may be re-encoded at lower quality, down to ``min_quality``, to
meet a byte cap; the quality used is recorded. Images under a minimum side always fail:
nothing is upscaled.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from PIL import Image

from prefect_image_edit.imaging import masks as _masks
from prefect_image_edit.imaging.colour import RGB
from prefect_image_edit.imaging.encode import MEDIA_TYPES, encode_within, sha256
from prefect_image_edit.imaging.errors import ImageTooLargeError, MaskMismatchError
from prefect_image_edit.imaging.geometry import Box, Frame, Size, scale_size, wxh
from prefect_image_edit.imaging.load import WHITE, Loaded, load_image
from prefect_image_edit.imaging.masks import MaskFrame, MaskSource, PreparedMask
from prefect_image_edit.imaging.policy import (
    Options,
    Policy,
    apply_policy,
    initial_frame,
    options,
    render_steps,
    shrink,
)
from prefect_image_edit.imaging.sources import Animation, Source

__all__ = ["Policy", "PreparedImage", "prepare_image", "prepare_pair"]

_LOSSLESS_SOURCES = {"PNG", "BMP", "TIFF", "GIF"}
_MAX_ATTEMPTS = 8  # encodes spent shrinking to a byte cap before giving up
_LANCZOS = Image.Resampling.LANCZOS


@dataclass(frozen=True, slots=True)
class PreparedImage:
    """An image a target accepts, with what was done to it and how to map results back.

    Attributes:
        data: The bytes to send (JPEG or PNG, no metadata).
        media_type: ``image/jpeg`` or ``image/png``.
        format: ``JPEG`` or ``PNG``.
        size: Width and height sent, px.
        sha256: Hex SHA-256 of ``data`` (the content key for caching paid calls).
        target: The target whose limits ``data`` meets.
        policy: The policy asked for.
        frame: Stored size, EXIF orientation, crop box and sent size: the geometry to map back.
        quality: JPEG quality used, or ``None`` for PNG.
        alpha_kept: Whether the source had transparency, flattened here and restored later.
        profile: The ICC profile converted to sRGB (its description), or ``None``.
        steps: Everything done, in order, in words, for logs and run artifacts.
        source: The input's name for messages.
        source_sha256: Hex SHA-256 of the source file.
        background: The colour transparency was flattened onto.
        animation: The frame choice used, so results map back onto the same frame.
        original: The source file's bytes, decoded again by ``restore_result``. To pass a
            prepared image between processes cheaply, drop the bytes with
            ``dataclasses.replace(prepared, data=b"", original=b"")`` and give the source
            to ``restore_result(..., original=...)``; its SHA-256 is checked.
    """

    data: bytes = field(repr=False)
    media_type: str
    format: str
    size: Size
    sha256: str
    target: str
    policy: Policy
    frame: Frame
    quality: int | None
    alpha_kept: bool
    profile: str | None
    steps: tuple[str, ...]
    source: str
    source_sha256: str
    background: RGB
    animation: Animation
    original: bytes = field(repr=False)

    @property
    def original_size(self) -> Size:
        """The upright size of the source, px: what ``restore_result`` returns."""
        return self.frame.original_size

    @property
    def orientation_applied(self) -> bool:
        return self.frame.orientation != 1

    @property
    def crop_box(self) -> Box:
        """The region of the upright source that was sent, px (the whole image if uncropped)."""
        return self.frame.crop_box

    @property
    def outcome(self) -> str:
        """``as_is``, ``downscaled``, ``cropped`` or ``cropped_and_downscaled``."""
        cropped, scaled = self.frame.cropped, self.frame.scaled
        if cropped:
            return "cropped_and_downscaled" if scaled else "cropped"
        return "downscaled" if scaled else "as_is"


def _describe(frame: Frame, opts: Options) -> list[str]:
    notes = []
    if frame.cropped:
        notes.append(f"cropped to {frame.crop_box} around the mask (margin {opts.margin} px)")
    if frame.scaled:
        notes.append(f"downscaled {wxh(frame.crop_size)} -> {wxh(frame.size)} px")
    return notes


def _prepare(loaded: Loaded, opts: Options, bbox: Box | None, frame: Frame) -> PreparedImage:
    """Render ``loaded`` to ``frame`` and encode it within the byte cap (shrinking if allowed)."""
    info, limits, source = loaded.info, opts.limits, loaded.info.source
    budget, fmt, qualities = limits.byte_budget, opts.fmt, opts.qualities
    if fmt == "AUTO":
        w, h = frame.size
        fits = budget is None or w * h * 3 <= 4 * budget  # else PNG is hopeless; skip trying
        fmt = "PNG" if info.format in _LOSSLESS_SOURCES and fits else "JPEG"
    current, loaded.image = loaded.image, None  # ours now: freed once scaled
    at = Frame.identity(info.frame.stored_size, info.orientation)
    for _ in range(_MAX_ATTEMPTS):
        for size, box in render_steps(at, frame, current.size):
            current = current.crop(box) if size is None else current.resize(size, _LANCZOS, box=box)
        at = frame
        data, used_fmt, quality = encode_within(current, fmt, qualities, budget)
        if budget is None or len(data) <= budget:
            break
        if opts.policy == "fail":
            reason = (
                f"{len(data)} bytes even at JPEG quality {quality}, over {limits.target}'s cap "
                f"of {budget} bytes; pass policy='downscale' or a lower min_quality"
            )
            raise ImageTooLargeError(
                reason, violations=limits.check_bytes(len(data)), source=source
            )
        fmt, qualities = "JPEG", qualities[-1:]
        if opts.policy == "crop_around_mask" and bbox is not None and not frame.cropped:
            frame = apply_policy(frame, opts, bbox, source)
        else:
            factor = min(0.95, 0.95 * (budget / len(data)) ** 0.5)
            why = f"the byte cap of {budget} bytes"
            frame = shrink(frame, scale_size(frame.size, factor), why, limits, source)
    else:
        reason = f"no encoding fits {budget} bytes after {_MAX_ATTEMPTS} tries"
        raise ImageTooLargeError(reason, violations=limits.check_bytes(len(data)), source=source)
    left = limits.check(frame.size, len(data), used_fmt)
    if left:  # the policies above rule this out; reaching it is a bug, never a paid call
        raise ImageTooLargeError(
            "prepared image still breaks the limits", violations=left, source=source
        )
    steps = [*loaded.notes, *_describe(frame, opts)]
    if used_fmt == "JPEG" and quality != opts.qualities[0]:
        steps.append(f"JPEG quality {quality} (from {opts.qualities[0]}) to fit {budget} bytes")
    steps.append(f"encoded {used_fmt} {wxh(frame.size)} px, {len(data)} bytes for {limits.target}")
    return PreparedImage(
        data=data,
        media_type=MEDIA_TYPES[used_fmt],
        format=used_fmt,
        size=frame.size,
        sha256=sha256(data),
        target=limits.target,
        policy=opts.policy,
        frame=frame,
        quality=quality if used_fmt == "JPEG" else None,
        alpha_kept=loaded.alpha is not None,
        profile=loaded.profile,
        steps=tuple(steps),
        source=source,
        source_sha256=info.sha256,
        background=opts.background,
        animation=opts.animation,
        original=loaded.data,
    )


def prepare_image(
    source: Source,
    *,
    target: str,
    policy: Policy = "fail",
    mask: PreparedMask | None = None,
    background: object = WHITE,
    format: str = "auto",
    quality: int = 95,
    min_quality: int = 80,
    margin: int = 64,
    animation: Animation = "refuse",
) -> PreparedImage:
    """Prepare an image for ``target``: upright, 8-bit sRGB, within every limit.

    Args:
        source: Bytes, a path or a binary file object.
        target: A key of :data:`~prefect_image_edit.imaging.limits.LIMITS`.
        policy: What to do when a limit is broken: ``fail``, ``downscale``,
            ``crop_around_mask`` (needs ``mask``).
        mask: An upright, whole-image mask (``prepare_mask(..., image=probe_image(source))``)
            whose bounding box chooses the crop; then frame the mask to send with
            ``prepare_mask(mask, image=<this result>)``, or use :func:`prepare_pair`.
        background: Colour transparency is flattened onto, ``(r, g, b)`` or a name.
        format: ``auto`` (PNG for lossless sources that can fit, else JPEG), ``JPEG`` or ``PNG``.
        quality: JPEG quality to start at (1..100).
        min_quality: Lowest JPEG quality used to meet a byte cap before shrinking or failing.
        margin: Context around the mask's bounding box for ``crop_around_mask``, px.
        animation: ``refuse`` or ``first`` (use frame 0) for animated or multi-page files.

    Raises:
        UnreadableImageError, UnsupportedImageError, DecompressionBombError: bad file.
        ImageTooSmallError, ImageTooLargeError: a limit the policy cannot or may not fix.
        MaskMismatchError: ``mask`` is not an upright whole-image mask of this size.
    """
    opts = options(target, policy, format, quality, min_quality, margin, background, animation)
    if policy == "crop_around_mask" and mask is None:
        raise ValueError("policy 'crop_around_mask' needs mask=, or use prepare_pair")
    loaded = load_image(source, background=opts.background, animation=animation)
    if mask is not None and (
        mask.frame.cropped or mask.frame.scaled or mask.size != loaded.image.size
    ):
        reason = (
            f"the mask is {wxh(mask.size)} px for another frame; crop_around_mask needs "
            f"the whole upright image's mask, {wxh(loaded.image.size)} px"
        )
        raise MaskMismatchError(reason, source=mask.source)
    bbox = None if mask is None else mask.bbox
    return _prepare(loaded, opts, bbox, initial_frame(loaded.info, opts, bbox))


def prepare_pair(
    image_source: Source,
    mask_source: MaskSource,
    *,
    target: str,
    policy: Policy = "fail",
    background: object = WHITE,
    format: str = "auto",
    quality: int = 95,
    min_quality: int = 80,
    margin: int = 64,
    animation: Animation = "refuse",
    threshold: int = 128,
    dilate: int = 0,
    erode: int = 0,
    invert: bool = False,
    allow_full: bool = False,
    frame: MaskFrame = "auto",
) -> tuple[PreparedImage, PreparedMask]:
    """Prepare an image and its mask together: one decode, one policy, one frame for both.

    The mask is normalised in the upright image's frame first, so ``crop_around_mask`` can
    use its bounding box; then both are cropped and scaled alike. Arguments are those of
    :func:`prepare_image` and :func:`~prefect_image_edit.imaging.masks.prepare_mask`.
    """
    opts = options(target, policy, format, quality, min_quality, margin, background, animation)
    if not opts.limits.takes_mask:
        raise ValueError(f"target {target!r} takes no mask; use prepare_image")
    _masks.check_options(threshold=threshold, erode=erode, dilate=dilate, choice=frame)
    loaded = load_image(image_source, background=opts.background, animation=animation)
    base = Frame.identity(loaded.info.frame.stored_size, loaded.info.orientation)
    steps: list[str] = []
    full, name = _masks.upright_mask(
        mask_source, base, threshold=threshold, invert=invert, choice=frame, steps=steps
    )
    full, counted = _masks.finish(
        full, erode=erode, dilate=dilate, allow_full=allow_full, source=name, steps=steps
    )
    # Frame and encode the mask first, then let it go: the photo's resize needs the room.
    planned = initial_frame(loaded.info, opts, counted.bbox)
    mask = _masks.package(full, counted, planned, steps, name)
    del full
    image = _prepare(loaded, opts, counted.bbox, planned)
    if image.frame != planned:  # the byte cap cropped or shrank it further
        mask = _masks.package(mask.upright(), counted, image.frame, steps, name)
    return image, _masks.check_sendable(mask, opts.limits.target)
