"""Prefect tasks: one per step, each usable on its own inside your flows.

Retries, caching, locks and concurrency limits live here and only here (DESIGN.md).

- ``prepare_inputs``: image and mask made exactly what a provider accepts.
- ``erase_image`` (any provider) and ``erase_with_ailabtools``, ``erase_with_tencent``,
  ``erase_with_volcengine``: the paid call, cached on content, archived.
- ``prepare_try_on``, ``submit_try_on_coarse``, ``submit_try_on_refiner``,
  ``poll_try_on_jobs``, ``archive_try_on_result``: virtual try-on (person and garments
  prepared once), one polling loop for many jobs.
- ``archive_result``: any result (bytes or URL) into the archive storage.
"""

from prefect_image_edit.tasks.archive import archive_result
from prefect_image_edit.tasks.erase import (
    erase_image,
    erase_with_ailabtools,
    erase_with_tencent,
    erase_with_volcengine,
)
from prefect_image_edit.tasks.models import (
    ArchivedRef,
    ErasedImage,
    EraseSettings,
    FinalImage,
    MaskOptions,
    PreparedInputs,
)
from prefect_image_edit.tasks.prepare import prepare_inputs
from prefect_image_edit.tasks.try_on import (
    FinishedJob,
    PreparedOutfit,
    TryOnJob,
    archive_try_on_result,
    poll_try_on_jobs,
    prepare_try_on,
    submit_try_on_coarse,
    submit_try_on_refiner,
)

__all__ = [
    "ArchivedRef",
    "EraseSettings",
    "ErasedImage",
    "FinalImage",
    "FinishedJob",
    "MaskOptions",
    "PreparedInputs",
    "PreparedOutfit",
    "TryOnJob",
    "archive_result",
    "archive_try_on_result",
    "erase_image",
    "erase_with_ailabtools",
    "erase_with_tencent",
    "erase_with_volcengine",
    "poll_try_on_jobs",
    "prepare_inputs",
    "prepare_try_on",
    "submit_try_on_coarse",
    "submit_try_on_refiner",
]
