"""prefect-image-edit: paid image-editing APIs as dependable Prefect building blocks.

Layers (data flows down, dependencies point down; see docs/design.md#layers):

- ``vendors``: async httpx wire clients, signing and error classification (no Prefect)
- ``imaging``: Pillow preparation of images and masks (no Prefect)
- ``emulators``: local HTTP stand-ins for the vendors (no Prefect)
- ``blocks``: Prefect Blocks holding each vendor's secrets and the archive store
- ``tasks`` and ``flows``: Prefect tasks and flows

Importing this package stays cheap: the Prefect-facing names below are loaded on first
access, so the pure layers can be imported (and tested) without importing Prefect.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_LAZY_BLOCKS = {
    "AILabToolsCredentials": "prefect_image_edit.blocks",
    "TencentCloudCredentials": "prefect_image_edit.blocks",
    "VolcengineCredentials": "prefect_image_edit.blocks",
    "S3ArchiveStorage": "prefect_image_edit.blocks",
    "LocalArchiveStorage": "prefect_image_edit.blocks",
    "ImageEditState": "prefect_image_edit.blocks",
    "ImageEditPrices": "prefect_image_edit.blocks",
}

__all__ = ["__version__", *_LAZY_BLOCKS]


def __getattr__(name: str) -> Any:
    # `prefect block register -m prefect_image_edit` walks dir() and getattr()s every
    # name, which lands here and imports the block classes on demand.
    module = _LAZY_BLOCKS.get(name)
    if module is None:
        raise AttributeError(f"module 'prefect_image_edit' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY_BLOCKS))
