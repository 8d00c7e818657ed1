"""Polling many try-on jobs from one loop (``prefect_image_edit.polling``), as a Prefect task.

Polls are free, so they take no vendor concurrency slot and a queued job never uses up a
retry budget. What a finished job produced (result URL, expiry, task id) is returned as a
value for archiving; each job's end is also noted in the ledger, for the archive sweeper.
"""

from __future__ import annotations

from prefect import task
from prefect.blocks.abstract import CredentialsBlock
from prefect.cache_policies import NO_CACHE

from prefect_image_edit.polling import JobPoller, PollTarget, deadline_for
from prefect_image_edit.tasks.credentials import resolve_credentials
from prefect_image_edit.tasks.settings import get_settings
from prefect_image_edit.tasks.try_on.models import VENDOR, FinishedJob, JobFailed, TryOnJob
from prefect_image_edit.tasks.try_on.records import records
from prefect_image_edit.vendors.results import TaskResult, TaskState

__all__ = ["poll_try_on_jobs"]


@task(name="poll-try-on-jobs", cache_policy=NO_CACHE)
async def poll_try_on_jobs(
    jobs: list[TryOnJob],
    credentials: str | CredentialsBlock | None = None,
    timeout_seconds: float | None = 3600,
    interval_seconds: float | None = None,
) -> list[FinishedJob]:
    """Poll every job from one loop until each succeeds, fails or passes its deadline.

    The deadline is ``timeout_seconds`` after submission, never past the vendor's 24 h
    retention.

    Returns:
        One ``FinishedJob`` per job, in the order of ``jobs``: hand it to
        ``archive_try_on_result``.

    Raises:
        JobFailed: a job failed at the vendor (after every job has finished).
        PollTimeout, VendorError: a job could not be polled to the end.
    """
    book = records()
    keys = {job.task_id: job.key for job in jobs}

    def on_update(task_id: str, result: TaskResult) -> None:
        book.record_poll(keys[task_id], result)

    block = await resolve_credentials(VENDOR, credentials)
    interval = interval_seconds or get_settings().poll_interval_seconds
    async with block.get_client() as client:
        poller = JobPoller(
            client.query_async_task,
            interval=interval,
            # 1,000 jobs every 5 s is 200 queries/s: enough in flight for a distant vendor.
            max_concurrent_queries=min(64, max(16, len(jobs) // 8)),
            on_update=on_update,
        )
        outcomes = await poller.run(
            PollTarget(job.task_id, deadline_for(job.submitted_at, timeout=timeout_seconds))
            for job in jobs
        )
    finished = []
    for job in jobs:
        outcome = outcomes[job.task_id]
        if outcome.error is not None:
            raise outcome.error
        result = outcome.result
        if result.state is TaskState.FAILED:
            raise JobFailed(
                f"{job.stage} job {job.task_id} failed at the vendor: "
                f"{result.error_code or ''} {result.error_message or ''}".strip()
            )
        finished.append(
            FinishedJob(
                task_id=job.task_id, result_url=result.image_url, expires_at=result.expires_at
            )
        )
    return finished
