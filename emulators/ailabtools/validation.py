"""What each AILabTools action accepts: multipart fields, file limits and parameter ranges.

The checks run in the order a client meets them: required fields (MISSING_PARAMETERS), file
parts without a filename or content type (the documented, misleading 502 "File type not
supported"), parameters (ERROR_INVALID_PARAMETER), then each file's size, format and
resolution, and the mask rules.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.datastructures import FormData, UploadFile
from starlette.formparsers import MultiPartException
from starlette.requests import Request

from prefect_image_edit.emulators import images
from prefect_image_edit.emulators.ailabtools.errors import AILabError

__all__ = ["ACTIONS", "ActionSpec", "FileRule", "read_form", "validate"]


@dataclass(frozen=True)
class FileRule:
    """Limits of an action's image files; sides must be strictly between the bounds."""

    formats: frozenset[str]
    min_side: int
    max_side: int
    max_bytes: int = 5 * images.MB


REMOVE_RULE = FileRule(frozenset({"JPEG", "MPO", "PNG"}), 64, 4096)
TRY_ON_RULE = FileRule(frozenset({"JPEG", "MPO", "PNG", "BMP"}), 150, 4096)


def _int(low: int | None = None, allowed: tuple[int, ...] = ()) -> Callable[[str], Any]:
    def parse(raw: str) -> int:
        value = int(raw.strip())
        if (low is not None and value < low) or (allowed and value not in allowed):
            raise ValueError
        return value

    return parse


def _int_range(low: int, high: int) -> Callable[[str], Any]:
    def parse(raw: str) -> int:
        value = int(raw.strip())  # "7.5" raises ValueError
        if not low <= value <= high:
            raise ValueError
        return value

    return parse


def _float(low: float, high: float) -> Callable[[str], Any]:
    def parse(raw: str) -> float:
        value = float(raw.strip())
        if not low <= value <= high:
            raise ValueError
        return value

    return parse


def _choice(*choices: str) -> Callable[[str], Any]:
    def parse(raw: str) -> str:
        if raw not in choices:
            raise ValueError
        return raw

    return parse


def _bool(raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered not in ("true", "false", "1", "0"):
        raise ValueError
    return lowered in ("true", "1")


_REMOVE_PARAMS = {
    "steps": (_int(low=1), "an integer >= 1"),
    "strength": (_float(0.1, 1.0), "a number in [0.1, 1.0]"),
    # The OpenAPI spec types scale as an integer: "7" is accepted, "7.5" (and "7.0") are not.
    "scale": (_int_range(1, 20), "an integer in [1, 20]"),
    "seed": (_int(low=-1), "an integer >= -1"),
    "dilate_size": (_int(low=1), "an integer >= 1"),
    "quality": (_choice("H", "M", "L"), "H, M or L"),
}
_PRO_PARAMS = {
    "task_type": (_choice("async"), "async"),
    "resolution": (_int(allowed=(-1, 1024, 1280)), "-1, 1024 or 1280"),
    "restore_face": (_bool, "true or false"),
}
_REFINER_PARAMS = {
    "task_type": (_choice("async"), "async"),
    "gender": (_choice("woman", "man"), "woman or man"),
}


@dataclass(frozen=True)
class ActionSpec:
    """One API: its path, price, required parts and rules."""

    name: str
    path: str
    cost: int
    files: tuple[str, ...]
    fields: tuple[str, ...] = ()
    optional_files: tuple[str, ...] = ()
    params: dict[str, tuple[Callable[[str], Any], str]] = field(default_factory=dict)
    rule: FileRule = REMOVE_RULE
    mask: str | None = None
    is_async: bool = False


ACTIONS: dict[str, ActionSpec] = {
    spec.name: spec
    for spec in (
        ActionSpec(
            "remove-objects-advanced",
            "/api/image/editing/remove-objects-advanced",
            cost=20,
            files=("image", "mask"),
            params=_REMOVE_PARAMS,
            mask="mask",
        ),
        ActionSpec(
            "try-on-clothes-pro",
            "/api/portrait/editing/try-on-clothes-pro",
            cost=30,
            files=("person_image", "top_garment"),
            fields=("task_type",),
            optional_files=("bottom_garment",),
            params=_PRO_PARAMS,
            rule=TRY_ON_RULE,
            is_async=True,
        ),
        ActionSpec(
            "try-on-clothes-premium",
            "/api/portrait/editing/try-on-clothes-premium",
            cost=50,
            files=("person_image", "top_garment"),
            fields=("task_type",),
            optional_files=("bottom_garment",),
            params=_PRO_PARAMS,
            rule=TRY_ON_RULE,
            is_async=True,
        ),
        ActionSpec(
            "try-on-clothes-refiner",
            "/api/portrait/enhance/try-on-clothes-refiner",
            cost=25,
            files=("person_image", "top_garment", "coarse_image"),
            fields=("task_type", "gender"),
            optional_files=("bottom_garment",),
            params=_REFINER_PARAMS,
            rule=TRY_ON_RULE,
            is_async=True,
        ),
    )
}


async def read_form(request: Request) -> FormData:
    """Parse the body as a form; a malformed multipart body is ERROR_PARAMETERS."""
    try:
        return await request.form(max_files=50, max_fields=200, max_part_size=64 * images.MB)
    except MultiPartException as exc:
        raise AILabError("ERROR_PARAMETERS", f"Invalid multipart body: {exc}") from None


def _present(value: Any) -> bool:
    return value is not None and value != ""


def _decode(name: str, data: bytes, rule: FileRule) -> images.Decoded:
    if len(data) > rule.max_bytes:
        raise AILabError("FILE_SIZE_EXCEEDS_LIMIT", f"{name}: the file is larger than 5 MB.")
    try:
        decoded = images.decode(data)
    except images.TooLarge:
        raise AILabError(
            "FILE_RESOLUTION_EXCEEDS_LIMITS", f"{name}: resolution too high."
        ) from None
    if decoded is None or decoded.format not in rule.formats:
        got = decoded.format if decoded is not None else "unknown"
        raise AILabError("UNSUPPORTED_FILE_TYPES", f"{name}: unsupported file type {got}.")
    return decoded


def _check_resolution(name: str, decoded: images.Decoded, rule: FileRule) -> None:
    if decoded.width >= rule.max_side or decoded.height >= rule.max_side:
        raise AILabError(
            "FILE_RESOLUTION_EXCEEDS_LIMITS",
            f"{name}: {decoded.width}x{decoded.height} px is not smaller than "
            f"{rule.max_side}x{rule.max_side}.",
        )
    if decoded.width <= rule.min_side or decoded.height <= rule.min_side:
        raise AILabError(
            "ERROR_LOW_RESOLUTION",
            f"{name}: {decoded.width}x{decoded.height} px is not larger than "
            f"{rule.min_side}x{rule.min_side}.",
        )


async def validate(
    spec: ActionSpec, form: FormData
) -> tuple[dict[str, Any], dict[str, images.Decoded], dict[str, bytes]]:
    """Check a form against an action; returns (parameters, decoded files, raw file bytes).

    Raises:
        AILabError: the first rule broken, with the vendor's code and status.
    """
    missing = [n for n in (*spec.files, *spec.fields) if not _present(form.get(n))]
    if missing:
        raise AILabError("MISSING_PARAMETERS", f"Missing parameters: {', '.join(missing)}.")
    uploads: dict[str, UploadFile] = {}
    for name in (*spec.files, *spec.optional_files):
        value = form.get(name)
        if not _present(value):
            continue
        if not isinstance(value, UploadFile) or not value.filename or not value.content_type:
            raise AILabError("AI_SERVICE_INTERNAL_ERROR", "File type not supported")
        uploads[name] = value
    params: dict[str, Any] = {}
    for name, (parse, expected) in spec.params.items():
        raw = form.get(name)
        if not _present(raw):
            continue
        try:
            if not isinstance(raw, str):
                raise ValueError
            params[name] = parse(raw)
        except ValueError:
            raise AILabError("ERROR_INVALID_PARAMETER", f"{name} must be {expected}.") from None
    raw_files = {name: await upload.read() for name, upload in uploads.items()}
    decoded: dict[str, images.Decoded] = {}
    for name, data in raw_files.items():
        if name == spec.mask:
            continue
        decoded[name] = _decode(name, data, spec.rule)
        _check_resolution(name, decoded[name], spec.rule)
    if spec.mask is not None:
        mask = _decode(spec.mask, raw_files[spec.mask], FileRule(frozenset({"PNG"}), 0, 1 << 30))
        problem = images.mask_problem(mask)
        if problem is not None:
            raise AILabError("ERROR_INVALID_FILE", f"{spec.mask}: {problem}.")
        image = decoded[spec.files[0]]
        if mask.image.size != image.image.size:
            raise AILabError(
                "ERROR_MASK_IMAGE_RESOLUTION_MISMATCH",
                f"mask is {mask.width}x{mask.height} px, image is {image.width}x{image.height} px.",
            )
        decoded[spec.mask] = mask
    return params, decoded, raw_files
