"""AILabTools: Remove Objects Advanced and Try on Clothes Pro/Refiner
(docs/vendors/ailabtools.md)."""

from prefect_image_edit.vendors.ailabtools.auth import ApiKeyAuth
from prefect_image_edit.vendors.ailabtools.client import (
    MASK_FORMATS,
    REMOVE_FORMATS,
    TRY_ON_FORMATS,
    AILabToolsClient,
)
from prefect_image_edit.vendors.ailabtools.errors import AILABTOOLS_ERRORS
from prefect_image_edit.vendors.ailabtools.models import (
    AILabEnvelope,
    ErrorDetail,
    RemoveObjectsParams,
    TryOnProParams,
    TryOnRefinerParams,
)

__all__ = [
    "AILABTOOLS_ERRORS",
    "MASK_FORMATS",
    "REMOVE_FORMATS",
    "TRY_ON_FORMATS",
    "AILabEnvelope",
    "AILabToolsClient",
    "ApiKeyAuth",
    "ErrorDetail",
    "RemoveObjectsParams",
    "TryOnProParams",
    "TryOnRefinerParams",
]
