"""Archiving a finished try-on job's result, as a Prefect task that retries freely.

The result URL comes from polling, as a value (``FinishedJob``). The URL lives 24 h; one that
expired meanwhile, or a job handed over without its poll result (a resumed run), is re-queried
at the vendor (a free call) while the vendor still keeps the task. Nothing here is paid.
"""

from __future__ import annotations

from datetime import UTC, datetime

from prefect import task
from prefect.blocks.abstract import CredentialsBlock
from prefect.cache_policies import NO_CACHE

from prefect_image_edit.blocks.archive import ArchiveStorage
from prefect_image_edit.blocks.credentials import result_origins
from prefect_image_edit.errors import ResultExpired
from prefect_image_edit.tasks.archive import find_archived, resolve_archive, store_url
from prefect_image_edit.tasks.credentials import resolve_credentials
from prefect_image_edit.tasks.models import ArchivedRef
from prefect_image_edit.tasks.policy import retry_delays, should_retry
from prefect_image_edit.tasks.try_on.models import VENDOR, FinishedJob, JobFailed, TryOnJob
from prefect_image_edit.tasks.try_on.records import TryOnRecords, records
from prefect_image_edit.vendors.errors import NotFoundError
from prefect_image_edit.vendors.results import TaskState

__all__ = ["archive_try_on_result"]


@task(
    name="archive-try-on-result",
    cache_policy=NO_CACHE,
    retries=5,
    retry_delay_seconds=retry_delays(5),
    retry_condition_fn=should_retry,
)
async def archive_try_on_result(
    job: TryOnJob,
    credentials: str | CredentialsBlock | None = None,
    archive: ArchiveStorage | str | None = None,
    result: FinishedJob | None = None,
) -> ArchivedRef:
    """Archive a finished job's result; re-query the task if its URL expired meanwhile.

    Args:
        job: The submitted job (``submit_try_on_coarse`` or ``submit_try_on_refiner``).
        credentials: AILabTools credentials block or saved block name.
        archive: The archive block (an instance, or a saved block's ``slug/name``).
        result: The job's poll result (``poll_try_on_jobs``); None asks the vendor.

    Raises:
        ResultExpired: the URL expired and the vendor no longer keeps the task.
        JobFailed: the vendor reports the task did not succeed.
    """
    if result is not None and result.task_id != job.task_id:
        raise ValueError(f"the poll result is for task {result.task_id}, not for job {job.task_id}")
    book = records()
    storage = await resolve_archive(archive)
    found = await find_archived(storage, book.get(job.key))
    if found is not None:
        return found
    block = await resolve_credentials(VENDOR, credentials)
    if result is None or result.expired():
        result = await _requery(book, job, block)
    metadata = {
        "vendor": VENDOR,
        "action": job.action,
        "stage": job.stage,
        "task_id": job.task_id,
        "request_id": job.request_id,
        "content_key": job.key,
        "inputs": job.inputs,
        "parameters": job.parameters,
        "submitted_at": job.submitted_at,
        "archived_at": datetime.now(UTC),
    }
    for attempt in range(2):
        try:
            ref = await store_url(
                storage,
                result.result_url,
                vendor=VENDOR,
                allowed_origins=result_origins(block),
                expires_at=result.expires_at,
                metadata={**metadata, "result_expires_at": result.expires_at},
            )
            break
        except ResultExpired:
            if attempt:
                raise
            result = await _requery(book, job, block)  # a fresh URL while the task lives
    book.mark_archived(job.key, ref)
    return ref


async def _requery(book: TryOnRecords, job: TryOnJob, block: CredentialsBlock) -> FinishedJob:
    """Ask the vendor for the task again (free) to get a fresh result URL."""
    async with block.get_client() as client:
        try:
            answer = await client.query_async_task(job.task_id)
        except NotFoundError as error:
            book.mark_expired(job.key, str(error))
            raise ResultExpired(
                f"the {job.stage} result of task {job.task_id} expired and AILabTools no "
                "longer keeps the task"
            ) from error
    if answer.state is not TaskState.SUCCEEDED or not answer.image_url:
        raise JobFailed(f"task {job.task_id} is {answer.state.value}, not succeeded")
    fresh = FinishedJob(
        task_id=job.task_id, result_url=answer.image_url, expires_at=answer.expires_at
    )
    book.record_result(job.key, fresh)
    return fresh
