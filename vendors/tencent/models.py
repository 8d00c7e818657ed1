"""Request and response models of aiart ``ImageInpaintingRemoval`` (Version 2022-12-29).

Field names on the wire are Tencent's (``InputImage``, ``LogoAdd``...); Python code uses snake
case. Serialising drops ``None`` fields and keeps the SDK's field order, so the body is byte for
byte what the official SDK sends (docs/vendors/tencent-aiart.md#request-fields, KAT vector A).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from prefect_image_edit.vendors._params import StrictModel

__all__ = [
    "ImageInpaintingRemovalRequest",
    "ImageInpaintingRemovalResponse",
    "LogoParam",
    "LogoRect",
    "TencentError",
]


class _WireModel(StrictModel):
    """Strict, populated by snake-case names or Tencent's names, serialised by Tencent's."""

    model_config = ConfigDict(
        frozen=True,
        strict=True,
        extra="forbid",
        allow_inf_nan=False,
        populate_by_name=True,
        serialize_by_alias=True,
    )

    def wire(self) -> dict[str, Any]:
        """The dict the SDK would send: Tencent's names, ``None`` fields dropped."""
        return self.model_dump(by_alias=True, exclude_none=True)


class LogoRect(_WireModel):
    """Where a custom mark goes, in px from the top-left corner."""

    x: int = Field(alias="X", ge=0, description="Left edge, px.")
    y: int = Field(alias="Y", ge=0, description="Top edge, px.")
    width: int = Field(alias="Width", ge=1, description="Width, px.")
    height: int = Field(alias="Height", ge=1, description="Height, px.")


class LogoParam(_WireModel):
    """A custom mark instead of the vendor's "图片由 AI 生成" text (only used with LogoAdd=1)."""

    logo_url: str | None = Field(default=None, alias="LogoUrl", description="Mark image URL.")
    logo_image: str | None = Field(
        default=None, alias="LogoImage", repr=False, description="Mark image as Base64."
    )
    logo_rect: LogoRect | None = Field(default=None, alias="LogoRect", description="Placement.")

    def canonical(self) -> dict[str, Any]:
        """The wire dict with the Base64 mark replaced by its digest: loggable, cacheable."""
        data = self.wire()
        if self.logo_image is not None:
            data["LogoImage"] = "sha256:" + hashlib.sha256(self.logo_image.encode()).hexdigest()
        return data


class ImageInpaintingRemovalRequest(_WireModel):
    """The request body. Exactly one of image/URL per input; Base64 fields stay out of repr."""

    input_image: str | None = Field(default=None, alias="InputImage", repr=False)
    input_url: str | None = Field(default=None, alias="InputUrl")
    mask: str | None = Field(default=None, alias="Mask", repr=False)
    mask_url: str | None = Field(default=None, alias="MaskUrl")
    rsp_img_type: Literal["url", "base64"] = Field(default="url", alias="RspImgType")
    logo_add: Literal[0, 1] = Field(default=0, alias="LogoAdd")
    logo_param: LogoParam | None = Field(default=None, alias="LogoParam")

    def body(self) -> bytes:
        """``json.dumps`` with default separators, as the SDK signs and sends it."""
        return json.dumps(self.wire()).encode("utf-8")

    def canonical(self) -> dict[str, Any]:
        """The parameters sent, without image data (Base64 fields dropped, mark digested)."""
        data = self.wire()
        data.pop("InputImage", None)
        data.pop("Mask", None)
        if self.logo_param is not None:
            data["LogoParam"] = self.logo_param.canonical()
        return data


class TencentError(BaseModel):
    """``Response.Error``."""

    model_config = ConfigDict(extra="ignore")

    code: str | None = Field(default=None, validation_alias=AliasChoices("Code", "code"))
    message: str | None = Field(default=None, validation_alias=AliasChoices("Message", "message"))

    @classmethod
    def parse(cls, value: Any) -> TencentError:
        """Lenient: an ``Error`` in a shape nobody documented is still an error, codeless."""
        try:
            return cls.model_validate(value)
        except ValueError:
            return cls()


class ImageInpaintingRemovalResponse(BaseModel):
    """``Response`` of a successful call. ``ResultImage`` is Base64 or a URL per RspImgType."""

    model_config = ConfigDict(extra="ignore")

    result_image: str = Field(alias="ResultImage", repr=False)
    request_id: str | None = Field(default=None, alias="RequestId")
