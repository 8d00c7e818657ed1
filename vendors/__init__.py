"""Async httpx wire clients for the paid image-editing APIs; no Prefect in here.

One client per vendor, each a thin typed layer: pydantic request and response models, one
method per API action, explicit timeouts, one pooled connection set per client object, an
injectable transport for tests, and errors classified by one table per vendor (see
:mod:`.errors` for the exception tree and the retry verdicts).

    async with TencentAiartClient(secret_id, secret_key) as client:
        result = await client.image_inpainting_removal(image=path, mask=mask_path)
"""

from prefect_image_edit.vendors._constants import DEFAULT_TIMEOUT, USER_AGENT
from prefect_image_edit.vendors.ailabtools import AILabToolsClient
from prefect_image_edit.vendors.errors import (
    AuthError,
    BadResultError,
    ClientInputError,
    ErrorKind,
    ErrorRule,
    InvalidImageError,
    InvalidParameterError,
    ModerationError,
    NotFoundError,
    QuotaError,
    RateLimitedError,
    RetryVerdict,
    SeedRejectedError,
    VendorAPIError,
    VendorError,
    VendorInputError,
    VendorRequestError,
    VendorServerError,
)
from prefect_image_edit.vendors.files import ImageFormat, ImageInput, LoadedImage, load_image
from prefect_image_edit.vendors.results import (
    EraseResult,
    TaskResult,
    TaskState,
    TaskSubmission,
    validate_result_image,
)
from prefect_image_edit.vendors.tencent import LogoParam, LogoRect, TencentAiartClient
from prefect_image_edit.vendors.volcengine import LogoInfo, VolcengineVisualClient

__all__ = [
    "DEFAULT_TIMEOUT",
    "USER_AGENT",
    "AILabToolsClient",
    "AuthError",
    "BadResultError",
    "ClientInputError",
    "EraseResult",
    "ErrorKind",
    "ErrorRule",
    "ImageFormat",
    "ImageInput",
    "InvalidImageError",
    "InvalidParameterError",
    "LoadedImage",
    "LogoInfo",
    "LogoParam",
    "LogoRect",
    "ModerationError",
    "NotFoundError",
    "QuotaError",
    "RateLimitedError",
    "RetryVerdict",
    "SeedRejectedError",
    "TaskResult",
    "TaskState",
    "TaskSubmission",
    "TencentAiartClient",
    "VendorAPIError",
    "VendorError",
    "VendorInputError",
    "VendorRequestError",
    "VendorServerError",
    "VolcengineVisualClient",
    "load_image",
    "validate_result_image",
]
