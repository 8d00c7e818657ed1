"""What each target accepts, as data, and the checks that name the limit an input breaks.

Every bound in :data:`LIMITS` is **inclusive** and stated in the unit of its field (px for
sides, bytes for files, characters for Base64 text). The vendors' words translate as:

==============================  ==========================================  ==================
target                          vendor's words                              inclusive bounds
==============================  ==========================================  ==================
``ailabtools-remove-objects``   "larger than 64x64px, smaller than          sides 65..4095 px,
                                4096x4096px", "no more than 5 MB"           <= 5,000,000 B
``ailabtools-try-on``           "larger than 150x150px, smaller than        sides 151..4095 px,
                                4096x4096px", "no more than 5 MB"           <= 5,000,000 B
``tencent``                     "单边分辨率小于5000" (each side < 5000),    sides 64..4999 px,
                                "Base64 字符串后小于 6MB" (< 6 MB)          Base64 <= 5,999,999
``volcengine``                  "最小 64x64，最大 4096x4096", "最大 5 MB"   sides 64..4096 px,
                                                                            <= 5,000,000 B
``local``                       (the pack's own OpenCV inpainting)          sides 64..8192 px
==============================  ==========================================  ==================

Choices where the vendors are vague, each the stricter reading:

- "64x64" style bounds apply to *each side* (a 5000x100 image breaks "smaller than 4096x4096").
- "MB" is read as 10^6 bytes (not 2^20): 5 MB = 5,000,000 bytes, 6 MB = 6,000,000 characters.
- Tencent's Base64 length is ``4 * ceil(n / 3)`` characters for ``n`` bytes (padded, no line
  breaks), so its cap of 5,999,999 characters allows at most 4,499,997 bytes.
- Tencent documents no minimum side; the pack's floor of 64 px (:data:`MIN_SIDE`) applies,
  as it does to ``local``. Nothing under 64 px is sent anywhere.
- Masks share the image's byte and Base64 caps (AILabTools and Volcengine state none; the
  mask is a 1-bit-like PNG far under them in practice).

Sent images are always re-encoded as JPEG or PNG, which every target accepts; ``formats``
lists what the vendor accepts, for :func:`preflight` of a raw file.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, MutableMapping
from dataclasses import dataclass

from prefect_image_edit.imaging.errors import LimitViolation
from prefect_image_edit.imaging.sources import ImageInfo, Source, probe_image

__all__ = [
    "LIMITS",
    "LOCAL",
    "MB",
    "MIN_SIDE",
    "Limits",
    "Preflight",
    "base64_length",
    "get_limits",
    "preflight",
]

#: The pack's floor, px: no image with a side under this is sent to any target.
MIN_SIDE = 64


def base64_length(nbytes: int) -> int:
    """Characters in the padded Base64 text of ``nbytes`` bytes: ``4 * ceil(nbytes / 3)``."""
    return 4 * ((nbytes + 2) // 3)


@dataclass(frozen=True, slots=True)
class Limits:
    """One target's limits. Every bound is inclusive.

    Attributes:
        target: The target's name (the key in :data:`LIMITS`).
        formats: Pillow format names the vendor accepts for the image.
        min_side: Smallest allowed width and height, px.
        max_side: Largest allowed width and height, px.
        max_bytes: Largest file, bytes; ``None`` for no cap.
        max_base64_chars: Largest Base64 text, characters; ``None`` for no cap.
        takes_mask: Whether the action takes a mask (try-on does not).
    """

    target: str
    formats: frozenset[str]
    min_side: int
    max_side: int
    max_bytes: int | None = None
    max_base64_chars: int | None = None
    takes_mask: bool = True

    @property
    def byte_budget(self) -> int | None:
        """The largest file (bytes) that meets both the byte and the Base64 caps."""
        budgets = [b for b in (self.max_bytes, self._bytes_for_base64()) if b is not None]
        return min(budgets) if budgets else None

    def _bytes_for_base64(self) -> int | None:
        if self.max_base64_chars is None:
            return None
        return (self.max_base64_chars // 4) * 3

    def check_size(self, size: tuple[int, int]) -> tuple[LimitViolation, ...]:
        """The side limits ``size`` (px) breaks, smallest side first."""
        found = []
        for side in size:
            if side < self.min_side:
                found.append(LimitViolation(self.target, "min_side", side, self.min_side, "px"))
            elif side > self.max_side:
                found.append(LimitViolation(self.target, "max_side", side, self.max_side, "px"))
        return tuple(found)

    def check_bytes(self, nbytes: int) -> tuple[LimitViolation, ...]:
        """The byte and Base64 limits a file of ``nbytes`` bytes breaks."""
        found = []
        if self.max_bytes is not None and nbytes > self.max_bytes:
            found.append(LimitViolation(self.target, "max_bytes", nbytes, self.max_bytes, "bytes"))
        chars = base64_length(nbytes)
        if self.max_base64_chars is not None and chars > self.max_base64_chars:
            found.append(
                LimitViolation(
                    self.target, "max_base64_chars", chars, self.max_base64_chars, "characters"
                )
            )
        return tuple(found)

    def check_format(self, fmt: str) -> tuple[LimitViolation, ...]:
        """A violation if Pillow format ``fmt`` is not accepted (MPO counts as JPEG)."""
        name = "JPEG" if fmt == "MPO" else fmt
        if name in self.formats:
            return ()
        accepted = ", ".join(sorted(self.formats))
        return (LimitViolation(self.target, "formats", fmt, accepted, "format"),)

    def check(
        self, size: tuple[int, int], nbytes: int, fmt: str | None = None
    ) -> tuple[LimitViolation, ...]:
        """Every limit an encoded image of ``size`` px, ``nbytes`` bytes and ``fmt`` breaks."""
        found = self.check_size(size) + self.check_bytes(nbytes)
        return found + (self.check_format(fmt) if fmt is not None else ())


MB = 1_000_000
"""The vendors' "MB", read as 10^6 bytes (the stricter reading)."""

#: The pack's own OpenCV inpainting (the ``local`` provider); vendors' rows are in their specs.
LOCAL = Limits("local", frozenset({"JPEG", "PNG"}), min_side=MIN_SIDE, max_side=8192)


class _Targets(MutableMapping[str, Limits]):
    """Every target's limits, keyed by target name: ``local`` and each registered vendor's rows.

    Read from the vendor registry on every access, so a vendor registered at run time is known.
    Rows may be set or deleted here too (tests patch tiny targets in); those changes sit on
    top of the registry's rows.
    """

    def __init__(self) -> None:
        self._set: dict[str, Limits] = {}
        self._deleted: set[str] = set()

    def _rows(self) -> dict[str, Limits]:
        from prefect_image_edit.vendors import registry

        rows = {LOCAL.target: LOCAL}
        for spec in registry.specs():
            rows.update((row.target, row) for row in spec.limits)
        rows.update(self._set)
        return {name: row for name, row in rows.items() if name not in self._deleted}

    def __getitem__(self, target: str) -> Limits:
        return self._rows()[target]

    def __setitem__(self, target: str, limits: Limits) -> None:
        self._deleted.discard(target)
        self._set[target] = limits

    def __delitem__(self, target: str) -> None:
        if target not in self._rows():
            raise KeyError(target)
        self._set.pop(target, None)
        self._deleted.add(target)

    def __iter__(self) -> Iterator[str]:
        return iter(self._rows())

    def __len__(self) -> int:
        return len(self._rows())

    def copy(self) -> dict[str, Limits]:
        return self._rows()


#: Every target's limits, keyed by the names the tasks layer uses.
LIMITS: Mapping[str, Limits] = _Targets()


def get_limits(target: str) -> Limits:
    """The :class:`Limits` of ``target``; ``ValueError`` listing the known targets otherwise."""
    try:
        return LIMITS[target]
    except (KeyError, TypeError):
        known = ", ".join(sorted(LIMITS))
        raise ValueError(f"unknown target {target!r}; expected one of: {known}") from None


@dataclass(frozen=True, slots=True)
class Preflight:
    """A raw file held against a target's limits, before anything is decoded.

    Attributes:
        info: The file's header facts.
        violations: Every limit the file *as it is* breaks. Side limits matter after
            preparation too; format and byte limits usually do not, because
            :func:`~prefect_image_edit.imaging.prepare.prepare_image` re-encodes.
    """

    info: ImageInfo
    violations: tuple[LimitViolation, ...]

    @property
    def ok(self) -> bool:
        return not self.violations


def preflight(source: Source, target: str) -> Preflight:
    """Say exactly which of ``target``'s limits a raw file breaks, reading only its header.

    Sides are checked upright (after EXIF orientation). Unreadable files raise the same
    typed errors as :func:`~prefect_image_edit.imaging.sources.probe_image`.
    """
    limits = get_limits(target)
    info = probe_image(source)
    violations = limits.check(info.size, info.nbytes, info.format)
    return Preflight(info=info, violations=violations)
