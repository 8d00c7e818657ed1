"""Virtual try-on on AILabTools, built the way erase is: prepare once, pay once, pass values.

One module per job:

- ``prepare``: ``prepare_try_on`` reads the person and garments (paths or ``s3://``), prepares
  them once for the try-on limits and stages them; it returns small references.
- ``submit``: ``submit_try_on_coarse`` (Try on Clothes Pro) and ``submit_try_on_refiner``, both
  paid, cached on the prepared bytes' sha256, under the cache policy's one lock.
- ``poll``: ``poll_try_on_jobs`` polls many jobs from one loop, stages each result's bytes the
  moment its job succeeds, and returns what each produced.
- ``archive``: ``archive_try_on_result`` archives a finished job's staged result.
- ``records``: the crash record in the pack's state (``prefect_image_edit.state``), read
  and written only there.
- ``fetch``: downloading and checking a result's bytes (allow-listed, capped, deadlined).
- ``models``: the values passed between them (no Prefect).
"""

from prefect_image_edit.tasks.try_on.archive import archive_try_on_result
from prefect_image_edit.tasks.try_on.models import (
    COARSE_PARAMETERS,
    VENDOR,
    FinishedJob,
    Gender,
    JobFailed,
    PreparedOutfit,
    TryOnJob,
)
from prefect_image_edit.tasks.try_on.poll import poll_try_on_jobs
from prefect_image_edit.tasks.try_on.prepare import prepare_try_on
from prefect_image_edit.tasks.try_on.submit import (
    coarse_key,
    refiner_key,
    submit_try_on_coarse,
    submit_try_on_refiner,
)

__all__ = [
    "COARSE_PARAMETERS",
    "VENDOR",
    "FinishedJob",
    "Gender",
    "JobFailed",
    "PreparedOutfit",
    "TryOnJob",
    "archive_try_on_result",
    "coarse_key",
    "poll_try_on_jobs",
    "prepare_try_on",
    "refiner_key",
    "submit_try_on_coarse",
    "submit_try_on_refiner",
]
