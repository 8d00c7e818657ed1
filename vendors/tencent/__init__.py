"""Tencent Cloud aiart: ``ImageInpaintingRemoval`` over TC3-HMAC-SHA256
(docs/vendors/tencent-aiart.md)."""

from prefect_image_edit.vendors.tencent.auth import TC3Auth
from prefect_image_edit.vendors.tencent.client import INPAINTING_FORMATS, TencentAiartClient
from prefect_image_edit.vendors.tencent.errors import TENCENT_ERRORS
from prefect_image_edit.vendors.tencent.models import (
    ImageInpaintingRemovalRequest,
    ImageInpaintingRemovalResponse,
    LogoParam,
    LogoRect,
    TencentError,
)

__all__ = [
    "INPAINTING_FORMATS",
    "TENCENT_ERRORS",
    "ImageInpaintingRemovalRequest",
    "ImageInpaintingRemovalResponse",
    "LogoParam",
    "LogoRect",
    "TC3Auth",
    "TencentAiartClient",
    "TencentError",
]
