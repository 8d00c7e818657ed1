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
from typing import Literal, TypeAlias

from PIL import Image

from prefect_image_edit.imaging import masks as _masks
from prefect_image_edit.imaging.colour import RGB, parse_color, to_srgb8
from prefect_image_edit.imaging.encode import (
    MEDIA_TYPES,
    encode,
    normalize_format,
    normalize_quality,
    sha256,
)
from prefect_image_edit.imaging.errors import (
    ImageTooLargeError,
    ImageTooSmallError,
    MaskMismatchError,
)
from prefect_image_edit.imaging.geometry import (
    Box,
    Frame,
    Size,
    apply_orientation,
    crop_around,
    fit_within,
    scale_size,
    wxh,
)
from prefect_image_edit.imaging.limits import Limits, get_limits
from prefect_image_edit.imaging.masks import MaskFrame, MaskSource, PreparedMask
from prefect_image_edit.imaging.sources import (
    Animation,
    ImageInfo,
    Source,
    decode,
    info_of,
    open_image,
    read_source,
)

__all__ = ["Loaded", "Policy", "PreparedImage", "load_image", "prepare_image", "prepare_pair"]

Policy: TypeAlias = Literal["fail", "downscale", "crop_around_mask"]
_POLICIES = ("fail", "downscale", "crop_around_mask")
_LOSSLESS_SOURCES = {"PNG", "BMP", "TIFF", "GIF"}
_MAX_ATTEMPTS = 8  # encodes spent shrinking to a byte cap before giving up
_WHITE: RGB = (255, 255, 255)


@dataclass(frozen=True, slots=True)
class Loaded:
    """A decoded source, upright, 8-bit sRGB RGB, with its alpha kept aside."""

    image: Image.Image
    alpha: Image.Image | None
    info: ImageInfo
    data: bytes = field(repr=False)
    notes: tuple[str, ...]
    profile: str | None


def load_image(
    source: Source,
    *,
    background: object = _WHITE,
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
        original: The source file's bytes, decoded again by ``restore_result``.
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


@dataclass(frozen=True, slots=True)
class _Options:
    """Validated preparation options shared by prepare_image and prepare_pair."""

    limits: Limits
    policy: Policy
    fmt: str  # "AUTO", "JPEG" or "PNG"
    qualities: tuple[int, ...]  # JPEG qualities to try, best first, ending at min_quality
    margin: int
    background: RGB
    animation: Animation


def _options(
    target: str,
    policy: object,
    fmt: object,
    quality: object,
    min_quality: object,
    margin: object,
    background: object,
    animation: object,
) -> _Options:
    limits = get_limits(target)
    if policy not in _POLICIES:
        raise ValueError(f"policy must be one of {', '.join(_POLICIES)}, got {policy!r}")
    if animation not in ("refuse", "first"):
        raise ValueError(f"animation must be 'refuse' or 'first', got {animation!r}")
    if not isinstance(margin, int) or isinstance(margin, bool) or margin < 0:
        raise ValueError(f"margin must be an int >= 0 (px), got {margin!r}")
    best = normalize_quality(quality)
    worst = min(best, normalize_quality(min_quality, "min_quality"))
    return _Options(
        limits=limits,
        policy=policy,  # type: ignore[arg-type]
        fmt="AUTO" if fmt == "auto" else normalize_format(fmt, ("JPEG", "PNG")),
        qualities=(*range(best, worst, -5), worst),
        margin=margin,
        background=parse_color(background),
        animation=animation,  # type: ignore[arg-type]
    )


def _too_small(size: Size, limits: Limits, source: str) -> None:
    small = tuple(v for v in limits.check_size(size) if v.limit == "min_side")
    if small:
        reason = (
            f"{wxh(size)} px is under {limits.target}'s minimum side of {limits.min_side} px; "
            "nothing is upscaled, send a larger image"
        )
        raise ImageTooSmallError(reason, violations=small, source=source)


def _shrink(frame: Frame, size: Size, why: str, limits: Limits, source: str) -> Frame:
    """``frame`` scaled to ``size``, unless that leaves a side under the minimum."""
    if min(size) < limits.min_side:
        reason = (
            f"no size fits {limits.target}: shrinking {wxh(frame.size)} px to meet {why} "
            f"leaves {wxh(size)} px, under min_side {limits.min_side} px"
        )
        raise ImageTooLargeError(reason, violations=limits.check_size(size), source=source)
    return frame.with_size(size)


def _apply_policy(frame: Frame, opts: _Options, bbox: Box | None, source: str) -> Frame:
    """Crop around ``bbox`` (policy crop_around_mask) and/or fit the side limits."""
    limits = opts.limits
    if opts.policy == "crop_around_mask" and bbox is not None and not frame.cropped:
        box = crop_around(bbox, frame.original_size, margin=opts.margin, min_side=limits.min_side)
        frame = frame.with_crop(box)
    fitted = fit_within(frame.size, limits.max_side)
    if fitted != frame.size:
        frame = _shrink(frame, fitted, f"max_side {limits.max_side} px", limits, source)
    return frame


def _render(image: Image.Image, frame: Frame) -> Image.Image:
    if frame.scaled:  # crop and scale in one resample, without a cropped copy
        return image.resize(
            frame.size, Image.Resampling.LANCZOS, box=frame.crop_box, reducing_gap=3.0
        )
    return image.crop(frame.crop_box) if frame.cropped else image


def _encode_within(
    im: Image.Image, fmt: str, qualities: tuple[int, ...], budget: int | None
) -> tuple[bytes, str, int | None]:
    """Encode at the first quality that fits ``budget`` (the last one tried if none does).

    PNG comes back as is when it fits; otherwise the JPEG qualities are tried.
    """
    if fmt == "PNG":
        data = encode(im, "PNG")
        if budget is None or len(data) <= budget:
            return data, "PNG", None
    for quality in qualities:
        data = encode(im, "JPEG", quality)
        if budget is None or len(data) <= budget:
            break
    return data, "JPEG", quality


def _describe(frame: Frame, opts: _Options) -> list[str]:
    notes = []
    if frame.cropped:
        notes.append(f"cropped to {frame.crop_box} around the mask (margin {opts.margin} px)")
    if frame.scaled:
        notes.append(f"downscaled {wxh(frame.crop_size)} -> {wxh(frame.size)} px")
    return notes


def _prepare(loaded: Loaded, opts: _Options, bbox: Box | None) -> PreparedImage:
    info, limits, source = loaded.info, opts.limits, loaded.info.source
    frame = Frame.identity(info.frame.stored_size, info.orientation)
    _too_small(frame.size, limits, source)
    if limits.check_size(frame.size):
        if opts.policy == "fail":
            reason = (
                f"{wxh(frame.size)} px is over {limits.target}'s maximum side of "
                f"{limits.max_side} px; pass policy='downscale' or 'crop_around_mask'"
            )
            raise ImageTooLargeError(
                reason, violations=limits.check_size(frame.size), source=source
            )
        frame = _apply_policy(frame, opts, bbox, source)
    budget, fmt, qualities = limits.byte_budget, opts.fmt, opts.qualities
    if fmt == "AUTO":
        w, h = frame.size
        fits = budget is None or w * h * 3 <= 4 * budget  # else PNG is hopeless; skip trying
        fmt = "PNG" if info.format in _LOSSLESS_SOURCES and fits else "JPEG"
    for _ in range(_MAX_ATTEMPTS):
        data, used_fmt, quality = _encode_within(
            _render(loaded.image, frame), fmt, qualities, budget
        )
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
            frame = _apply_policy(frame, opts, bbox, source)
        else:
            factor = min(0.95, 0.95 * (budget / len(data)) ** 0.5)
            why = f"the byte cap of {budget} bytes"
            frame = _shrink(frame, scale_size(frame.size, factor), why, limits, source)
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
    background: object = _WHITE,
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
    opts = _options(target, policy, format, quality, min_quality, margin, background, animation)
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
    return _prepare(loaded, opts, None if mask is None else mask.bbox)


def prepare_pair(
    image_source: Source,
    mask_source: MaskSource,
    *,
    target: str,
    policy: Policy = "fail",
    background: object = _WHITE,
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
    opts = _options(target, policy, format, quality, min_quality, margin, background, animation)
    if not opts.limits.takes_mask:
        raise ValueError(f"target {target!r} takes no mask; use prepare_image")
    _masks.check_options(threshold=threshold, erode=erode, dilate=dilate, choice=frame)
    loaded = load_image(image_source, background=opts.background, animation=animation)
    base = Frame.identity(loaded.info.frame.stored_size, loaded.info.orientation)
    steps: list[str] = []
    full, name = _masks.upright_mask(
        mask_source, base, threshold=threshold, invert=invert, choice=frame, steps=steps
    )
    full = _masks.finish(
        full, erode=erode, dilate=dilate, allow_full=allow_full, source=name, steps=steps
    )
    image = _prepare(loaded, opts, full.getbbox())
    sent = _masks.to_sent(full, image.frame, name)
    return image, _masks.package(sent, full, image.frame, steps, name)
