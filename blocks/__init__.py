"""Prefect Blocks: each vendor's credentials, the archive storage and the shared state.

This module is the ``prefect.collections`` entry point, so a Prefect server registers these
block types on start, and ``prefect block register -m prefect_image_edit.blocks`` (or
``-m prefect_image_edit``) registers them on demand.
"""

from prefect_image_edit.blocks.archive import (
    ArchiveStorage,
    LocalArchiveStorage,
    S3ArchiveStorage,
)
from prefect_image_edit.blocks.credentials import (
    AILabToolsCredentials,
    TencentCloudCredentials,
    VolcengineCredentials,
)
from prefect_image_edit.blocks.prices import ImageEditPrices
from prefect_image_edit.blocks.state import ImageEditState

__all__ = [
    "AILabToolsCredentials",
    "ArchiveStorage",
    "ImageEditPrices",
    "ImageEditState",
    "LocalArchiveStorage",
    "S3ArchiveStorage",
    "TencentCloudCredentials",
    "VolcengineCredentials",
]
