"""Policies for inputs that break a limit, as geometry: which frame to send.

A :class:`~prefect_image_edit.imaging.geometry.Frame` says which region of the upright image
is sent and at what size. The policy picks it from the side limits first
(:func:`initial_frame`); preparation may narrow it further to meet a byte cap. Nothing here
touches pixels except through the steps :func:`render_steps` returns.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, TypeAlias

from prefect_image_edit.imaging.colour import RGB, parse_color
from prefect_image_edit.imaging.encode import normalize_format, normalize_quality
from prefect_image_edit.imaging.errors import ImageTooLargeError, ImageTooSmallError
from prefect_image_edit.imaging.geometry import (
    Box,
    Frame,
    Size,
    crop_around,
    fit_within,
    resize_passes,
    wxh,
)
from prefect_image_edit.imaging.limits import Limits, get_limits
from prefect_image_edit.imaging.sources import Animation, ImageInfo

__all__ = [
    "POLICIES",
    "Options",
    "Policy",
    "apply_policy",
    "initial_frame",
    "options",
    "render_steps",
    "shrink",
    "too_small",
]

Policy: TypeAlias = Literal["fail", "downscale", "crop_around_mask"]
POLICIES = ("fail", "downscale", "crop_around_mask")


@dataclass(frozen=True, slots=True)
class Options:
    """Validated preparation options shared by prepare_image and prepare_pair."""

    limits: Limits
    policy: Policy
    fmt: str  # "AUTO", "JPEG" or "PNG"
    qualities: tuple[int, ...]  # JPEG qualities to try, best first, ending at min_quality
    margin: int
    background: RGB
    animation: Animation


def options(
    target: str,
    policy: object,
    fmt: object,
    quality: object,
    min_quality: object,
    margin: object,
    background: object,
    animation: object,
) -> Options:
    limits = get_limits(target)
    if policy not in POLICIES:
        raise ValueError(f"policy must be one of {', '.join(POLICIES)}, got {policy!r}")
    if animation not in ("refuse", "first"):
        raise ValueError(f"animation must be 'refuse' or 'first', got {animation!r}")
    if not isinstance(margin, int) or isinstance(margin, bool) or margin < 0:
        raise ValueError(f"margin must be an int >= 0 (px), got {margin!r}")
    best = normalize_quality(quality)
    worst = min(best, normalize_quality(min_quality, "min_quality"))
    return Options(
        limits=limits,
        policy=policy,  # type: ignore[arg-type]
        fmt="AUTO" if fmt == "auto" else normalize_format(fmt, ("JPEG", "PNG")),
        qualities=(*range(best, worst, -5), worst),
        margin=margin,
        background=parse_color(background),
        animation=animation,  # type: ignore[arg-type]
    )


def too_small(size: Size, limits: Limits, source: str) -> None:
    small = tuple(v for v in limits.check_size(size) if v.limit == "min_side")
    if small:
        reason = (
            f"{wxh(size)} px is under {limits.target}'s minimum side of {limits.min_side} px; "
            "nothing is upscaled, send a larger image"
        )
        raise ImageTooSmallError(reason, violations=small, source=source)


def shrink(frame: Frame, size: Size, why: str, limits: Limits, source: str) -> Frame:
    """``frame`` scaled to ``size``, unless that leaves a side under the minimum."""
    if min(size) < limits.min_side:
        reason = (
            f"no size fits {limits.target}: shrinking {wxh(frame.size)} px to meet {why} "
            f"leaves {wxh(size)} px, under min_side {limits.min_side} px"
        )
        raise ImageTooLargeError(reason, violations=limits.check_size(size), source=source)
    return frame.with_size(size)


def apply_policy(frame: Frame, opts: Options, bbox: Box | None, source: str) -> Frame:
    """Crop around ``bbox`` (policy crop_around_mask) and/or fit the side limits."""
    limits = opts.limits
    if opts.policy == "crop_around_mask" and bbox is not None and not frame.cropped:
        box = crop_around(bbox, frame.original_size, margin=opts.margin, min_side=limits.min_side)
        frame = frame.with_crop(box)
    fitted = fit_within(frame.size, limits.max_side)
    if fitted != frame.size:
        frame = shrink(frame, fitted, f"max_side {limits.max_side} px", limits, source)
    return frame


def render_steps(at: Frame, frame: Frame, size: Size) -> list[tuple[Size | None, tuple]]:
    """Steps taking an image of frame ``at`` (``size`` px) to ``frame``.

    Each step is ``(None, box)`` for ``crop(box)`` or ``(size, box)`` for a LANCZOS
    ``resize``. The caller applies them as ``current = current.resize(...)`` holding no other
    reference, so each step's input is freed once its output exists: two photos at most,
    where one ``resize`` call would hold three (source, Pillow's temporary, result).
    """
    if frame == at:
        return []
    # Frames only ever narrow (a crop inside the current crop, or a smaller size), so the
    # new crop box maps into the current pixels.
    (sx, sy), (ax, ay) = at.scale, at.crop_box[:2]
    left, top, right, bottom = frame.crop_box
    if not at.scaled and frame.size == frame.crop_size:
        return [(None, (left - ax, top - ay, right - ax, bottom - ay))]
    box = ((left - ax) * sx, (top - ay) * sy, (right - ax) * sx, (bottom - ay) * sy)
    return list(resize_passes(size, box, frame.size))


def initial_frame(info: ImageInfo, opts: Options, bbox: Box | None) -> Frame:
    """The frame to send before any encoding: the side limits, met by the policy."""
    limits, source = opts.limits, info.source
    frame = Frame.identity(info.frame.stored_size, info.orientation)
    too_small(frame.size, limits, source)
    if not limits.check_size(frame.size):
        return frame
    if opts.policy == "fail":
        reason = (
            f"{wxh(frame.size)} px is over {limits.target}'s maximum side of "
            f"{limits.max_side} px; pass policy='downscale' or 'crop_around_mask'"
        )
        raise ImageTooLargeError(reason, violations=limits.check_size(frame.size), source=source)
    return apply_policy(frame, opts, bbox, source)
