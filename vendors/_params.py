"""Parameter models shared by the clients, and the one way to validate them.

Validation happens before any request leaves the machine, so a wrong value costs nothing. The
models are strict (``True`` is no step count, ``"30"`` is no integer) because these values go
into the cache key: the same job must always produce the same canonical parameters.
"""

from __future__ import annotations

from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_serializer

from prefect_image_edit.vendors.errors import InvalidParameterError

__all__ = [
    "InpaintingParams",
    "StrictModel",
    "canonical_number",
    "validated",
]

M = TypeVar("M", bound=BaseModel)


class StrictModel(BaseModel):
    """Frozen, strict, no unknown fields, no NaN or infinity."""

    model_config = ConfigDict(frozen=True, strict=True, extra="forbid", allow_inf_nan=False)


def canonical_number(value: float) -> int | float:
    """``7.0`` becomes ``7``: one spelling per value for cache keys and vendors' integer parsers.

    AILabTools' openapi types ``scale`` as an integer and Volcengine's examples send ``7``.
    """
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


class InpaintingParams(StrictModel):
    """The diffusion inpainting knobs AILabTools Remove Objects Advanced and Volcengine
    ``i2i_inpainting`` share (same names, ranges and defaults;
    docs/vendors/volcengine-visual.md#request-fields and
    docs/vendors/ailabtools.md#remove-objects-advanced)."""

    steps: int = Field(default=30, ge=1, description="Sampling steps; more is slower.")
    strength: float = Field(
        default=0.8, ge=0.1, le=1.0, description="Smaller stays closer to the original."
    )
    scale: float = Field(default=7.0, ge=1.0, le=20.0, description="Guidance scale.")
    seed: int = Field(default=0, ge=-1, description="Random seed; -1 lets the vendor pick.")
    dilate_size: int = Field(default=15, ge=1, description="Mask dilation radius, px.")
    quality: Literal["H", "M", "L"] = Field(default="M", description="H best, L fastest.")

    @field_serializer("strength", "scale")
    def _canonical(self, value: float) -> int | float:
        return canonical_number(value)


def _describe(error: dict[str, Any]) -> tuple[str, str]:
    field = ".".join(str(part) for part in error.get("loc", ())) or "parameters"
    reason = str(error.get("msg", "invalid value"))
    ctx = error.get("ctx") or {}
    if error.get("type") == "literal_error" and "expected" in ctx:
        reason = f"must be one of {ctx['expected']}"
    given = error.get("input")
    if isinstance(given, bool | int | float) or (isinstance(given, str) and len(given) <= 40):
        reason = f"{reason} (got {given!r})"
    return field, reason


def validated(model: type[M], **values: Any) -> M:
    """Build ``model`` from ``values`` or raise :class:`InvalidParameterError` naming the field.

    Only the first problem is reported: one clear message beats a list nobody reads.
    """
    try:
        return model(**values)
    except ValidationError as exc:
        field, reason = _describe(exc.errors()[0])
        # Not chained: pydantic's text repeats every input, and an input may be Base64 data.
        raise InvalidParameterError(reason, field=field) from None
