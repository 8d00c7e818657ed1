"""Prefect tasks: one per step, each usable on its own inside your flows.

Retries, caching, locks and concurrency limits live here and only here (docs/design.md#layers).

- ``prepare_inputs``: image and mask made exactly what a provider accepts.
- ``erase_image`` (any provider) and ``erase_with_ailabtools``, ``erase_with_tencent``,
  ``erase_with_volcengine``: the paid call, cached on content, archived.
- ``prepare_try_on``, ``submit_try_on_coarse``, ``submit_try_on_refiner``,
  ``poll_try_on_jobs``, ``archive_try_on_result``: virtual try-on (person and garments
  prepared once), one polling loop for many jobs.
- ``archive_result``: any result (bytes or URL) into the archive storage.
"""

from importlib import import_module
from typing import Any

# Names -> the module that defines them. Imported on first use, so that the Prefect-free
# models (``prefect_image_edit.tasks.models``) load without importing Prefect (2.6 s).
_EXPORTS = {
    "archive_result": "archive",
    "erase_image": "erase",
    "erase_with_ailabtools": "erase",
    "erase_with_tencent": "erase",
    "erase_with_volcengine": "erase",
    "ArchivedRef": "models",
    "ErasedImage": "models",
    "EraseSettings": "models",
    "FinalImage": "models",
    "MaskOptions": "models",
    "PreparedInputs": "models",
    "prepare_inputs": "prepare",
    "FinishedJob": "try_on",
    "PreparedOutfit": "try_on",
    "TryOnJob": "try_on",
    "archive_try_on_result": "try_on",
    "poll_try_on_jobs": "try_on",
    "prepare_try_on": "try_on",
    "submit_try_on_coarse": "try_on",
    "submit_try_on_refiner": "try_on",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{module}"), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
