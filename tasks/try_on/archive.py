"""Archiving a finished try-on job's result, as a Prefect task that retries freely.

The result is archived from the bytes staged in the pack's state when the job succeeded
(``poll_try_on_jobs``). Only if nothing is staged (the download failed then, or a resumed run
handed the job over without polling it) is the result fetched now: from the poll's URL, or,
once that URL expired, from a fresh one the vendor gives for the task (a free query) while it
still keeps the task. Fetched bytes are checked and staged before they are archived. Nothing
here is paid.
"""

from __future__ import annotations

from datetime import UTC, datetime

from prefect import task
from prefect.blocks.abstract import CredentialsBlock
from prefect.cache_policies import NO_CACHE

from prefect_image_edit.blocks.archive import ArchiveStorage
from prefect_image_edit.blocks.credentials import result_origins
from prefect_image_edit.errors import ResultExpired
from prefect_image_edit.tasks.archive import find_archived, resolve_archive, store_bytes
from prefect_image_edit.tasks.credentials import resolve_credentials
from prefect_image_edit.tasks.models import ArchivedRef
from prefect_image_edit.tasks.policy import retry_delays, should_retry
from prefect_image_edit.tasks.try_on.fetch import fetch_result
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
    """Archive a finished job's result from its staged bytes (fetched now if none are staged).

    Args:
        job: The submitted job (``submit_try_on_coarse`` or ``submit_try_on_refiner``).
        credentials: AILabTools credentials block or saved block name.
        archive: The archive block (an instance, or a saved block's ``slug/name``).
        result: The job's poll result (``poll_try_on_jobs``); None asks the vendor if nothing
            is staged.

    Raises:
        ResultExpired: nothing is staged, the URL expired and the vendor no longer keeps the
            task (the record says so too).
        JobFailed: the vendor reports the task did not succeed.
        BadResultError: the result is not a usable image (a vendor fault; never archived).
    """
    if result is not None and result.task_id != job.task_id:
        raise ValueError(f"the poll result is for task {result.task_id}, not for job {job.task_id}")
    book = records()
    storage = await resolve_archive(archive)
    found = await find_archived(storage, await book.get(job.key))
    if found is not None:
        return found
    data = await book.staged(job.key)
    media_type = None
    if data is None:
        data, media_type = await _fetch(book, job, credentials, result)
    record = await book.get(job.key)
    media_type = media_type or (record.media_type if record else None) or "image/jpeg"
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
    if record is not None and record.expires_at is not None:
        metadata["result_expires_at"] = record.expires_at
    ref = await store_bytes(storage, data, vendor=VENDOR, media_type=media_type, metadata=metadata)
    await book.mark_archived(job.key, ref)
    return ref


async def _fetch(
    book: TryOnRecords,
    job: TryOnJob,
    credentials: str | CredentialsBlock | None,
    result: FinishedJob | None,
) -> tuple[bytes, str]:
    """Download, check and stage the result (re-querying the task once its URL expired)."""
    block = await resolve_credentials(VENDOR, credentials)
    origins = result_origins(block)
    if result is None or result.result_url is None or result.expired():
        result = await _requery(book, job, block)
    for attempt in range(2):
        try:
            data, media_type = await fetch_result(
                result.result_url,
                allowed_origins=origins,
                expires_at=result.expires_at,
                action=job.action,
                request_id=job.request_id,
            )
            break
        except ResultExpired:
            if attempt:
                raise
            result = await _requery(book, job, block)  # a fresh URL while the task lives
    await book.record_result(
        job.key,
        data=data,
        media_type=media_type,
        result_url=result.result_url,
        expires_at=result.expires_at,
    )
    return data, media_type


async def _requery(book: TryOnRecords, job: TryOnJob, block: CredentialsBlock) -> FinishedJob:
    """Ask the vendor for the task again (free) to get a fresh result URL."""
    async with block.get_client() as client:
        try:
            answer = await client.query_async_task(job.task_id)
        except NotFoundError as error:
            await book.mark_expired(job.key, str(error))
            raise ResultExpired(
                f"the {job.stage} result of task {job.task_id} expired and AILabTools no "
                "longer keeps the task"
            ) from error
    if answer.state is not TaskState.SUCCEEDED or not answer.image_url:
        raise JobFailed(f"task {job.task_id} is {answer.state.value}, not succeeded")
    return FinishedJob(
        task_id=job.task_id, result_url=answer.image_url, expires_at=answer.expires_at
    )
