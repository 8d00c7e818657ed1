"""Volcengine visual (service ``cv``): ``i2i_inpainting`` over HMAC-SHA256
(docs/vendors/volcengine-visual.md)."""

from prefect_image_edit.vendors.volcengine.auth import VolcengineAuth
from prefect_image_edit.vendors.volcengine.client import (
    IMAGE_FORMATS,
    MASK_FORMATS,
    VolcengineAction,
    VolcengineVisualClient,
)
from prefect_image_edit.vendors.volcengine.errors import VOLCENGINE_ERRORS
from prefect_image_edit.vendors.volcengine.models import (
    GatewayError,
    I2IInpaintingData,
    I2IInpaintingRequest,
    LogoInfo,
    ServiceEnvelope,
)

__all__ = [
    "IMAGE_FORMATS",
    "MASK_FORMATS",
    "VOLCENGINE_ERRORS",
    "GatewayError",
    "I2IInpaintingData",
    "I2IInpaintingRequest",
    "LogoInfo",
    "ServiceEnvelope",
    "VolcengineAction",
    "VolcengineAuth",
    "VolcengineVisualClient",
]
