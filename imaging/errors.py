"""Errors for images and masks that cannot be sent: raised before any paid call.

Exception tree::

    InputError (prefect_image_edit.errors; also a ValueError)  reason, source
    ├── UnreadableImageError      empty, truncated, corrupt, not an image, file missing
    ├── UnsupportedImageError     readable, but not usable as is: animated without a frame
    │                             choice, a mode or colour profile that cannot become sRGB
    ├── DecompressionBombError    more pixels than Pillow's decompression-bomb guard allows
    ├── LimitError                breaks a target's limit, and the policy cannot (or may not)
    │   │                         fix it; ``violations`` names each limit, value and bound
    │   ├── ImageTooSmallError    a side under the target's minimum (no policy upscales)
    │   └── ImageTooLargeError    over a side or byte limit under ``policy="fail"``, or too
    │                             large for any size the policy may choose
    └── MaskError                 a mask that would waste a paid call
        ├── EmptyMaskError        nothing to erase
        ├── FullMaskError         everything to erase (allowed with ``allow_full=True``)
        └── MaskMismatchError     aspect ratio or frame differs from the image's

Every error names the input (``source``: a path, a file object's name, ``<bytes>`` or a
field such as ``mask``) and says why, in words a user can act on. Pillow's own exceptions
are always caught and re-raised ``from`` these, so callers never see a traceback from
inside Pillow and can still read the original one.
"""

from __future__ import annotations

from dataclasses import dataclass

from prefect_image_edit.errors import InputError

__all__ = [
    "DecompressionBombError",
    "EmptyMaskError",
    "FullMaskError",
    "ImageTooLargeError",
    "ImageTooSmallError",
    "LimitError",
    "LimitViolation",
    "MaskError",
    "MaskMismatchError",
    "UnreadableImageError",
    "UnsupportedImageError",
]


class UnreadableImageError(InputError):
    """The bytes are not a decodable image: empty, truncated, corrupt, or another file type."""


class UnsupportedImageError(InputError):
    """A readable image that cannot be made into 8-bit sRGB as asked (animation, odd mode)."""


class DecompressionBombError(InputError):
    """The image declares more pixels than ``PIL.Image.MAX_IMAGE_PIXELS`` allows twice over.

    Pillow's guard stays on: the pack never raises the limit by itself. Raise
    ``PIL.Image.MAX_IMAGE_PIXELS`` in your own code if you trust the file.
    """


@dataclass(frozen=True, slots=True)
class LimitViolation:
    """One limit an input breaks.

    Attributes:
        target: The target name, a key of ``imaging.limits.LIMITS``.
        limit: The limit's field name in :class:`~prefect_image_edit.imaging.limits.Limits`
            (``min_side``, ``max_side``, ``max_bytes``, ``max_base64_chars``, ``formats``).
        value: What the input has (px, bytes, characters, or a format name).
        bound: What the target allows (inclusive bound, or the accepted formats).
        unit: ``px``, ``bytes``, ``characters`` or ``format``.
    """

    target: str
    limit: str
    value: int | str
    bound: int | str
    unit: str

    def describe(self) -> str:
        """One sentence, e.g. ``width 5000 px is over max_side 4095 px``."""
        if self.unit == "format":
            return f"format {self.value} is not accepted (accepted: {self.bound})"
        relation = "under" if self.limit.startswith("min") else "over"
        return f"{self.value} {self.unit} is {relation} {self.limit} {self.bound} {self.unit}"


class LimitError(InputError):
    """The input breaks one or more of the target's limits.

    Args:
        reason: What is wrong and what would fix it.
        violations: Every limit broken, in the order checked.
        source: The input's name.
    """

    def __init__(
        self,
        reason: str,
        *,
        violations: tuple[LimitViolation, ...] = (),
        source: str | None = None,
    ) -> None:
        self.violations = violations
        super().__init__(reason, source=source)

    @property
    def limits(self) -> tuple[str, ...]:
        """The names of the limits broken, e.g. ``("max_side",)``."""
        return tuple(v.limit for v in self.violations)


class ImageTooSmallError(LimitError):
    """A side is under the target's minimum; no policy upscales, so nothing can fix it here."""


class ImageTooLargeError(LimitError):
    """Over a side, byte or Base64 limit, and the policy is ``fail`` or nothing fits."""


class MaskError(InputError):
    """A mask that cannot be sent, or would only waste a paid call."""


class EmptyMaskError(MaskError):
    """The mask marks nothing to erase (no pixel at 255 after normalising)."""


class FullMaskError(MaskError):
    """The mask marks every pixel; pass ``allow_full=True`` if that is really meant."""


class MaskMismatchError(MaskError):
    """The mask's aspect ratio (or frame) does not match the image's."""
