"""Request parameters and response envelopes of the AILabTools APIs the pack uses.

Requests are multipart: images are file parts, the parameters below are text parts, rendered by
:func:`form_fields` (booleans as ``true``/``false``, integral floats without ``.0``). Responses
share one public envelope (docs/vendors/ailabtools.md#response-envelope); the task fields are
normalised in ``tasks.py``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from prefect_image_edit.vendors._params import InpaintingParams, StrictModel, canonical_number

__all__ = [
    "AILabEnvelope",
    "ErrorDetail",
    "RemoveObjectsParams",
    "TryOnProParams",
    "TryOnRefinerParams",
    "form_fields",
]


class RemoveObjectsParams(InpaintingParams):
    """Remove Objects Advanced: the shared inpainting knobs
    (docs/vendors/ailabtools.md#remove-objects-advanced).

    ``scale`` must be a whole number here: AILabTools' OpenAPI spec types it as an integer
    (``7`` or ``7.0`` is sent as ``7``; ``7.5`` is refused before anything is sent).
    """

    @field_validator("scale")
    @classmethod
    def _whole_scale(cls, value: float) -> float:
        if not float(value).is_integer():
            raise ValueError("must be a whole number for AILabTools (its API takes an integer)")
        return value


class TryOnProParams(StrictModel):
    """Try on Clothes Pro. ``resolution=-1`` and ``restore_face=True`` when it feeds the Refiner."""

    task_type: Literal["async"] = "async"
    resolution: Literal[-1, 1024, 1280] = Field(
        default=-1, description="-1 original size, 1024 is 576x1024, 1280 is 720x1280."
    )
    restore_face: bool = Field(default=True, description="Keep the person's face.")


class TryOnRefinerParams(StrictModel):
    """Try on Clothes Refiner."""

    task_type: Literal["async"] = "async"
    gender: Literal["woman", "man"] = Field(description="Gender of the person image.")


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(canonical_number(value)) if isinstance(value, float) else str(value)


def form_fields(params: BaseModel) -> dict[str, str]:
    """The multipart text parts for ``params``: ``true``/``false``, ``7`` not ``7.0``."""
    return {name: _text(value) for name, value in params.model_dump().items()}


class ErrorDetail(BaseModel):
    """``error_detail``: ``code`` is the precise error name, ``message`` the detail."""

    model_config = ConfigDict(extra="ignore")

    status_code: int | None = None
    code: str | None = None
    code_message: str | None = None
    message: str | None = None


class AILabEnvelope(BaseModel):
    """The public fields every answer carries, success or not."""

    model_config = ConfigDict(extra="ignore")

    request_id: str | None = None
    log_id: str | None = None
    error_code: int | str | None = None
    error_code_str: str | None = None
    error_msg: str | None = None
    error_detail: ErrorDetail | None = None

    @property
    def trace_id(self) -> str | None:
        """The request id, else the log id: whatever support can look up."""
        return self.request_id or self.log_id or None

    @property
    def failed(self) -> bool:
        """``error_code`` non-zero (it equals the HTTP status on errors, 0 on success)."""
        code = self.error_code
        if code is None or code == "":
            return False
        try:
            return int(code) != 0
        except (TypeError, ValueError):
            return True

    @property
    def code(self) -> str | None:
        """``error_detail.code``, else the older ``error_code_str``."""
        detail = self.error_detail.code if self.error_detail else None
        return detail or self.error_code_str or None

    @property
    def message(self) -> str | None:
        """``error_detail.message``, else ``error_msg``, else the code's description."""
        detail = self.error_detail
        return (
            (detail.message if detail else None)
            or self.error_msg
            or (detail.code_message if detail else None)
            or None
        )
