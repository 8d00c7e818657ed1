"""Request and response models of Volcengine visual ``i2i_inpainting`` (Version 2022-08-31).

Field names are the vendor's (already snake case). The body keeps the order of the official
doc's example, so a URL request serialises byte for byte like KAT vector V1
(docs/vendors/volcengine-visual.md#request-fields).
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_serializer

from prefect_image_edit.vendors._constants import VOLCENGINE_INPAINTING_REQ_KEY
from prefect_image_edit.vendors._params import InpaintingParams, StrictModel, canonical_number

__all__ = [
    "GatewayError",
    "I2IInpaintingData",
    "I2IInpaintingRequest",
    "LogoInfo",
    "ServiceEnvelope",
    "parse_gateway_error",
    "parse_service_envelope",
]


class LogoInfo(StrictModel):
    """The vendor's visible mark. Off unless ``add_logo`` is true."""

    add_logo: bool = Field(default=False, description="Add the mark.")
    position: Literal[0, 1, 2, 3] = Field(
        default=0, description="0 bottom right, 1 bottom left, 2 top left, 3 top right."
    )
    language: Literal[0, 1] = Field(default=0, description="0 Chinese, 1 English.")
    opacity: float = Field(default=0.3, ge=0.0, le=1.0, description="1 is fully opaque.")
    logo_text_content: str = Field(default="", description="Custom mark text.")

    @field_serializer("opacity")
    def _canonical(self, value: float) -> int | float:
        return canonical_number(value)


class I2IInpaintingRequest(InpaintingParams):
    """The request body: the shared inpainting knobs plus the inputs and output mode."""

    req_key: Literal["i2i_inpainting"] = VOLCENGINE_INPAINTING_REQ_KEY
    binary_data_base64: tuple[str, str] | None = Field(
        default=None, repr=False, description="[image, mask] as Base64."
    )
    image_urls: tuple[str, str] | None = Field(default=None, description="[image, mask] URLs.")
    return_url: bool = Field(default=True, description="Also return a URL valid 24 h.")
    logo_info: LogoInfo | None = None

    def wire(self) -> dict[str, Any]:
        """The JSON object sent, in the doc's field order, ``None`` fields dropped."""
        data = self.model_dump(mode="json", exclude_none=True)
        order = (
            "req_key",
            "binary_data_base64",
            "image_urls",
            "return_url",
            "steps",
            "strength",
            "scale",
            "seed",
            "dilate_size",
            "quality",
            "logo_info",
        )
        return {key: data[key] for key in order if key in data}

    def body(self) -> bytes:
        """``json.dumps`` with default separators, as the official SDK sends it."""
        return json.dumps(self.wire()).encode("utf-8")

    def canonical(self) -> dict[str, Any]:
        """The parameters sent, without image data."""
        data = self.wire()
        data.pop("binary_data_base64", None)
        return data


class I2IInpaintingData(BaseModel):
    """``data`` of a successful answer: Base64 images, URLs, or both."""

    model_config = ConfigDict(extra="ignore")

    binary_data_base64: list[str] | None = Field(default=None, repr=False)
    image_urls: list[str] | None = None


class GatewayError(BaseModel):
    """``ResponseMetadata.Error`` from the TOP gateway, with its ``RequestId``."""

    model_config = ConfigDict(frozen=True)

    code: str | None = None
    code_n: int | None = None
    message: str | None = None
    request_id: str | None = None


class ServiceEnvelope(BaseModel):
    """The service layer's public fields: ``code`` 10000 is success."""

    model_config = ConfigDict(frozen=True)

    code: int | None = None
    message: str | None = None
    request_id: str | None = None


def _text(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def _number(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def parse_gateway_error(payload: dict[str, Any]) -> GatewayError | None:
    """The gateway error in ``payload``, or ``None``. Garbled fields become ``None``, so an
    envelope that says "error" in a shape nobody documented still counts as one."""
    meta = payload.get("ResponseMetadata")
    error = meta.get("Error") if isinstance(meta, dict) else None
    if not error:
        return None
    fields = error if isinstance(error, dict) else {}
    return GatewayError(
        code=_text(fields.get("Code")),
        code_n=_number(fields.get("CodeN")),
        message=_text(fields.get("Message")),
        request_id=_text(meta.get("RequestId")),
    )


def parse_service_envelope(payload: dict[str, Any]) -> ServiceEnvelope:
    """``code``, ``message`` and ``request_id``, tolerating strings for numbers."""
    meta = payload.get("ResponseMetadata")
    request_id = payload.get("request_id") or (
        meta.get("RequestId") if isinstance(meta, dict) else None
    )
    return ServiceEnvelope(
        code=_number(payload.get("code")),
        message=_text(payload.get("message")),
        request_id=_text(request_id),
    )
