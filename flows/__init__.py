"""Prefect flows: erase, batch-erase, try-on and the archive sweeper.

``batch_erase`` and ``archive_sweeper`` load on first use (PEP 562): the ``erase`` command
imports only the flow it runs.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

# Flows named like their module are bound here eagerly: importing the submodule would otherwise
# leave the package attribute pointing at the module, not the flow.
from prefect_image_edit.flows.erase import erase as erase
from prefect_image_edit.flows.try_on import try_on as try_on

_EXPORTS = {
    "BatchSource": "prefect_image_edit.tasks.batch_items",
    "Connections": "prefect_image_edit.flows.models",
    "OutputOptions": "prefect_image_edit.flows.models",
    "archive_sweeper": "prefect_image_edit.flows.sweeper",
    "batch_erase": "prefect_image_edit.flows.batch",
}

__all__ = sorted([*_EXPORTS, "erase", "try_on"])


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(_EXPORTS[name]), name)
