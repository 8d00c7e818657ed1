"""Polling many try-on jobs from one loop (``prefect_image_edit.polling``), as a Prefect task.

Polls are free, so they take no vendor concurrency slot and a queued job never uses up a
retry budget. The moment a job succeeds its result is downloaded, checked
(``fetch.fetch_result``) and staged as bytes in the pack's state (``record_answer``), while the
other jobs are still being polled: a paid result never lives only behind an expiring URL. A
result that is not an image is a vendor fault (``BadResultError``) and is never staged. A
failed job is recorded failed. What each job produced is returned as a value for archiving.

Jobs whose record already holds their result (staged or archived by an earlier run, on this
machine or another sharing the state) are not polled again.
"""

from __future__ import annotations

import asyncio

from prefect import get_run_logger, task
from prefect.blocks.abstract import CredentialsBlock
from prefect.cache_policies import NO_CACHE

from prefect_image_edit.archive.download import DownloadError, DownloadRefused
from prefect_image_edit.blocks.credentials import result_origins
from prefect_image_edit.errors import ResultExpired
from prefect_image_edit.polling import JobPoller, PollTarget, deadline_for
from prefect_image_edit.state import CallState, PaidCall
from prefect_image_edit.tasks.credentials import resolve_credentials
from prefect_image_edit.tasks.settings import get_settings
from prefect_image_edit.tasks.try_on.fetch import fetch_result
from prefect_image_edit.tasks.try_on.models import VENDOR, FinishedJob, JobFailed, TryOnJob
from prefect_image_edit.tasks.try_on.records import TryOnRecords, records
from prefect_image_edit.vendors.errors import NotFoundError
from prefect_image_edit.vendors.results import TaskResult, TaskState

__all__ = ["MAX_CONCURRENT_DOWNLOADS", "poll_try_on_jobs"]

MAX_CONCURRENT_DOWNLOADS = 8
"""Results downloaded at once while polling goes on."""


def _held(job: TryOnJob, record: PaidCall | None) -> FinishedJob | None:
    """The job's result if its record already holds it (staged or archived), else None."""
    if record is None or record.task_id != job.task_id:
        return None
    staged = record.state is CallState.READY and record.staged_size is not None
    if record.state is CallState.ARCHIVED or staged:
        return FinishedJob(
            task_id=job.task_id,
            result_url=record.result_url,
            expires_at=record.expires_at,
            staged=True,
        )
    if record.state is CallState.EXPIRED:
        raise ResultExpired(
            f"the {job.stage} result of task {job.task_id} expired before it was archived "
            f"({record.error or 'the vendor no longer keeps it'}); a submit that is not cached "
            "(a job is cached only as long as the vendor keeps tasks) pays again, counted"
        )
    return None


class _Stager:
    """Downloads, checks and stages each succeeded job's result as soon as its poll says so."""

    def __init__(self, book: TryOnRecords, jobs: dict[str, TryOnJob], origins: tuple[str, ...]):
        self.book = book
        self.jobs = jobs
        self.origins = origins
        self.pending: dict[str, asyncio.Future[bool]] = {}
        self._gate = asyncio.Semaphore(MAX_CONCURRENT_DOWNLOADS)

    def on_update(self, task_id: str, result: TaskResult) -> None:
        """The poller's callback (sync, in the loop): start settling a job that ended."""
        if result.state.terminal and task_id not in self.pending:
            self.pending[task_id] = asyncio.ensure_future(self._settle(self.jobs[task_id], result))

    async def _settle(self, job: TryOnJob, result: TaskResult) -> bool:
        """Record the job's end; True if its result bytes are staged (or archived) now."""
        if result.state is TaskState.FAILED:
            await self.book.record_poll(job.key, result)
            return False
        if not result.image_url:
            return False
        if not await self.book.needs_result(job.key, job.task_id):
            # staged or archived meanwhile (a concurrent run), or the record moved on
            record = await self.book.get(job.key)
            return (
                record is not None
                and record.task_id == job.task_id
                and (record.state is CallState.ARCHIVED or record.staged_size is not None)
            )
        async with self._gate:
            try:
                data, media_type = await fetch_result(
                    result.image_url,
                    allowed_origins=self.origins,
                    expires_at=result.expires_at,
                    action=job.action,
                    request_id=result.request_id,
                )
            except (DownloadError, ResultExpired) as error:
                if isinstance(error, DownloadRefused):
                    raise
                # Not fatal: the archive step downloads again (or re-queries the task).
                get_run_logger().warning(
                    "could not stage the %s result of task %s yet: %s",
                    job.stage,
                    job.task_id,
                    error,
                )
                data = media_type = None
        await self.book.record_result(
            job.key,
            data=data,
            media_type=media_type,
            result_url=result.image_url,
            expires_at=result.expires_at,
            request_id=result.request_id,
        )
        return data is not None

    async def finish(self) -> dict[str, BaseException | bool]:
        """Wait for every download started; each job's outcome or error."""
        tasks = list(self.pending.values())
        done = await asyncio.gather(*tasks, return_exceptions=True)
        return dict(zip(self.pending, done, strict=True))

    async def cancel(self) -> None:
        for future in self.pending.values():
            future.cancel()
        await asyncio.gather(*self.pending.values(), return_exceptions=True)


async def _vendor_dropped(book: TryOnRecords, job: TryOnJob, error: NotFoundError) -> ResultExpired:
    """The vendor no longer knows a job nobody archived (past its retention, or dropped):
    the record is marked expired, so paying for the input again is a counted re-payment."""
    await book.mark_expired(job.key, f"AILabTools no longer keeps task {job.task_id}")
    expired = ResultExpired(
        f"the {job.stage} job {job.task_id} is no longer known to AILabTools and its result "
        "was never archived; submitting again pays once more, counted as a re-payment"
    )
    expired.__cause__ = error
    return expired


@task(name="poll-try-on-jobs", cache_policy=NO_CACHE)
async def poll_try_on_jobs(
    jobs: list[TryOnJob],
    credentials: str | CredentialsBlock | None = None,
    timeout_seconds: float | None = 3600,
    interval_seconds: float | None = None,
) -> list[FinishedJob]:
    """Poll every job from one loop until each succeeds, fails or passes its deadline, and
    stage each result's bytes the moment its job succeeds.

    The deadline is ``timeout_seconds`` after submission, never past the vendor's 24 h
    retention.

    Returns:
        One ``FinishedJob`` per job, in the order of ``jobs``: hand it to
        ``archive_try_on_result``.

    Raises:
        JobFailed: a job failed at the vendor (after every job has finished).
        BadResultError: a job's result is not a usable image (a vendor fault; not staged).
        ResultExpired: a job's result expired unarchived (in an earlier run, or the vendor
            no longer knows the task): its record is expired.
        PollTimeout, VendorError: a job could not be polled to the end.
    """
    book = records()
    held = {job.task_id: _held(job, await book.get(job.key)) for job in jobs}
    to_poll = [job for job in jobs if held[job.task_id] is None]
    block = await resolve_credentials(VENDOR, credentials)
    stager = _Stager(book, {job.task_id: job for job in to_poll}, result_origins(block))
    interval = interval_seconds or get_settings().poll_interval_seconds
    outcomes = {}
    if to_poll:
        async with block.get_client() as client:
            poller = JobPoller(
                client.query_async_task,
                interval=interval,
                # 1,000 jobs every 5 s is 200 queries/s: enough in flight for a distant vendor.
                max_concurrent_queries=min(64, max(16, len(to_poll) // 8)),
                on_update=stager.on_update,
            )
            try:
                outcomes = await poller.run(
                    PollTarget(job.task_id, deadline_for(job.submitted_at, timeout=timeout_seconds))
                    for job in to_poll
                )
            except BaseException:
                await stager.cancel()
                raise
    staged = await stager.finish()
    finished = []
    for job in jobs:
        known = held[job.task_id]
        if known is not None:
            finished.append(known)
            continue
        outcome = outcomes[job.task_id]
        if isinstance(outcome.error, NotFoundError):
            raise await _vendor_dropped(book, job, outcome.error)
        if outcome.error is not None:
            raise outcome.error
        result = outcome.result
        settled = staged.get(job.task_id, False)
        if isinstance(settled, BaseException):
            raise settled
        if result.state is TaskState.FAILED:
            raise JobFailed(
                f"{job.stage} job {job.task_id} failed at the vendor: "
                f"{result.error_code or ''} {result.error_message or ''}".strip()
            )
        finished.append(
            FinishedJob(
                task_id=job.task_id,
                result_url=result.image_url,
                expires_at=result.expires_at,
                staged=settled,
            )
        )
    return finished
