"""Virtual try-on on AILabTools: submit (Pro, then Refiner), poll many jobs in one loop, archive.

Both submits are paid and asynchronous. The task id is written to the ledger the moment the
submit returns, before anything else, so a crashed flow resumes polling that job instead of
paying for a new one; the submit tasks are also cached on content. Polling is free and runs
every jobs' polls from one loop (``prefect_image_edit.polling``). Archiving downloads the
result URL (valid 24 h); an expired URL is re-queried while the vendor still keeps the task.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime
from typing import Any, Literal

import anyio.to_thread
from prefect import get_run_logger, task
from prefect.blocks.abstract import CredentialsBlock
from prefect.cache_policies import NO_CACHE
from pydantic import BaseModel, ConfigDict, Field

from prefect_image_edit.blocks.credentials import result_origins
from prefect_image_edit.errors import ImageEditError, ResultExpired
from prefect_image_edit.imaging import prepare_image
from prefect_image_edit.ledger import CallState, Ledger, PaidCall
from prefect_image_edit.polling import JobPoller, PollTarget, deadline_for
from prefect_image_edit.tasks.archive import (
    find_archived,
    read_archived,
    resolve_archive,
    store_url,
)
from prefect_image_edit.tasks.credentials import resolve_credentials
from prefect_image_edit.tasks.limits import vendor_slot
from prefect_image_edit.tasks.models import ArchivedRef
from prefect_image_edit.tasks.paid import pay
from prefect_image_edit.tasks.policy import (
    LOCKS,
    content_key,
    paid_call_cache_policy,
    retry_delays,
    should_retry,
)
from prefect_image_edit.tasks.prepare import source_client
from prefect_image_edit.tasks.settings import get_settings
from prefect_image_edit.tasks.sources import local_path, read_source
from prefect_image_edit.vendors.results import TaskResult, TaskState

__all__ = [
    "JobFailed",
    "TryOnJob",
    "archive_try_on_result",
    "poll_try_on_jobs",
    "submit_try_on_coarse",
    "submit_try_on_refiner",
]

VENDOR = "ailabtools"
TARGET = "ailabtools-try-on"
Gender = Literal["woman", "man"]
# The Pro/Premium docs: a coarse result meant for the Refiner needs these two settings.
COARSE_PARAMETERS = {"resolution": -1, "restore_face": True}


class JobFailed(ImageEditError):
    """The vendor ran the job and reports it failed."""


class TryOnJob(BaseModel):
    """A submitted (paid) async job: what polling, archiving and the ledger need."""

    model_config = ConfigDict(frozen=True)

    key: str = Field(description="Content key: the Prefect cache key and the ledger key.")
    stage: Literal["coarse", "refined"]
    action: str
    task_id: str = Field(description="The vendor's task id (what was paid for).")
    submitted_at: datetime
    request_id: str | None = None


async def _prepare_outfit(
    person_image: str, top_garment: str, bottom_garment: str | None, archive: Any
) -> tuple[dict[str, bytes], dict[str, str]]:
    """Prepared bytes and their sha256 for the person and garments given."""
    client = await source_client(archive)
    images, hashes = {}, {}
    for name, ref in (("person", person_image), ("top", top_garment), ("bottom", bottom_garment)):
        if ref:
            images[name], hashes[name] = await _prepared(ref, client)
    return images, hashes


async def _prepared(ref: str, s3_client: Any) -> tuple[bytes, str]:
    """Read and prepare one try-on image (upright, sRGB, within the vendor's limits)."""
    data = await read_source(ref, s3_client=s3_client)

    def _run():
        import io

        buffer = io.BytesIO(data)
        buffer.name = ref
        return prepare_image(buffer, target=TARGET, policy="downscale")

    prepared = await anyio.to_thread.run_sync(_run)
    return prepared.data, prepared.sha256


def _key_of(stage: str, action: str, hashes: dict[str, str], params: dict[str, Any]) -> str:
    return content_key(f"try-on-{stage}", VENDOR, action, hashes, params)


async def _submit(
    *,
    stage: Literal["coarse", "refined"],
    action: str,
    images: dict[str, bytes],
    hashes: dict[str, str],
    params: dict[str, Any],
    send_with: Any,
    credentials: str | CredentialsBlock | None,
    requests_per_second: float | None,
) -> TryOnJob:
    key = _key_of(stage, action, hashes, params)
    holder = f"submit-{uuid.uuid4()}"
    # Prefect's cache lock is keyed on the source files; this one on the prepared bytes, so
    # concurrent runs that reach the same paid job through different files still pay once.
    await LOCKS.aacquire_lock(key, holder)
    try:
        return await _submit_locked(
            key=key,
            stage=stage,
            action=action,
            images=images,
            hashes=hashes,
            params=params,
            send_with=send_with,
            credentials=credentials,
            requests_per_second=requests_per_second,
        )
    finally:
        LOCKS.release_lock(key, holder)


async def _submit_locked(
    *,
    key: str,
    stage: Literal["coarse", "refined"],
    action: str,
    images: dict[str, bytes],
    hashes: dict[str, str],
    params: dict[str, Any],
    send_with: Any,
    credentials: str | CredentialsBlock | None,
    requests_per_second: float | None,
) -> TryOnJob:
    ledger = Ledger(get_settings().ledger_dir)
    known = ledger.get(key)
    if known is not None and known.task_id and known.state is not CallState.FAILED:
        get_run_logger().info("resuming %s job %s (already paid for)", stage, known.task_id)
        return TryOnJob(
            key=key,
            stage=stage,
            action=action,
            task_id=known.task_id,
            submitted_at=known.created_at,
            request_id=known.request_ids[-1] if known.request_ids else None,
        )
    block = await resolve_credentials(VENDOR, credentials)
    record = PaidCall(key=key, vendor=VENDOR, action=action, inputs=hashes, parameters=params)
    async with block.get_client() as client:

        async def send():
            async with vendor_slot(VENDOR, requests_per_second=requests_per_second):
                return await send_with(client, images)

        submission = await pay(ledger, record, send)
    # Persist the task id before anything else can fail: it is what was paid for.
    saved = ledger.update(
        key,
        state=CallState.SUBMITTED,
        task_id=submission.task_id,
        request_ids=[*ledger.get(key).request_ids, *filter(None, [submission.request_id])],
    )
    get_run_logger().info("%s job %s submitted", stage, submission.task_id)
    return TryOnJob(
        key=key,
        stage=stage,
        action=action,
        task_id=submission.task_id,
        submitted_at=saved.updated_at,
        request_id=submission.request_id,
    )


_SUBMIT_OPTIONS: dict[str, Any] = {
    "persist_result": True,
    "retries": 4,
    "retry_delay_seconds": retry_delays(4),
    "retry_jitter_factor": 0.5,
    "retry_condition_fn": should_retry,
    "timeout_seconds": 600,
}


def _file_digest(ref: str | None) -> str | None:
    """sha256 of a local source file; None when it cannot be read here (e.g. s3://)."""
    if not ref:
        return ""
    if ref.startswith("s3://"):
        return None

    try:
        return hashlib.sha256(local_path(ref).read_bytes()).hexdigest()
    except OSError:
        return None


def _sources_key(stage: str):
    """Cache on the content of the source files: a run with the same files pays nothing.

    Sources that cannot be hashed here (s3://) disable the Prefect cache for the call; the
    ledger inside the task, keyed on the prepared bytes, still resumes the paid job instead of
    submitting it again.
    """

    def key(context: Any, parameters: dict[str, Any]) -> str | None:
        parts: dict[str, str] = {}
        for name in ("person_image", "top_garment", "bottom_garment"):
            digest = _file_digest(parameters.get(name))
            if digest is None:
                return None
            parts[name] = digest
        coarse = parameters.get("coarse")
        if coarse is not None:
            parts["coarse"] = coarse.sha256
        params = {"gender": parameters.get("gender")} if stage == "refined" else COARSE_PARAMETERS
        return content_key(f"try-on-{stage}-sources", VENDOR, stage, parts, params)

    return key


@task(
    name="submit-try-on-coarse",
    cache_policy=paid_call_cache_policy(_sources_key("coarse")),
    **_SUBMIT_OPTIONS,
)
async def submit_try_on_coarse(
    person_image: str,
    top_garment: str,
    bottom_garment: str | None = None,
    credentials: str | CredentialsBlock | None = None,
    archive: Any = None,
    requests_per_second: float | None = None,
) -> TryOnJob:
    """Submit Try on Clothes Pro (the coarse result: resolution -1, restore_face on).

    Args:
        person_image: Path or s3:// URI of a full-body front photo of the person.
        top_garment: Path or s3:// URI of the top garment, laid flat.
        bottom_garment: Optional bottom garment (leave empty for a dress).
        credentials: AILabTools credentials block or saved block name; None reads the
            environment.
        archive: Archive block (its S3 client reads s3:// sources).
        requests_per_second: Optional AILabTools rate limit, shared through Prefect.
    """
    images, hashes = await _prepare_outfit(person_image, top_garment, bottom_garment, archive)

    async def send_with(vendor_client, data):
        return await vendor_client.submit_try_on_pro(
            data["person"], data["top"], bottom_garment=data.get("bottom"), **COARSE_PARAMETERS
        )

    return await _submit(
        stage="coarse",
        action="TryOnClothesPro",
        images=images,
        hashes=hashes,
        params=COARSE_PARAMETERS,
        send_with=send_with,
        credentials=credentials,
        requests_per_second=requests_per_second,
    )


@task(
    name="submit-try-on-refiner",
    cache_policy=paid_call_cache_policy(_sources_key("refined")),
    **_SUBMIT_OPTIONS,
)
async def submit_try_on_refiner(
    person_image: str,
    top_garment: str,
    coarse: ArchivedRef,
    gender: Gender,
    bottom_garment: str | None = None,
    credentials: str | CredentialsBlock | None = None,
    archive: Any = None,
    requests_per_second: float | None = None,
) -> TryOnJob:
    """Submit Try on Clothes Refiner with the archived coarse result.

    Args:
        person_image: The same person image as the coarse submit.
        top_garment: The same top garment.
        coarse: The archived coarse result (``archive_try_on_result`` of the coarse job).
        gender: ``woman`` or ``man``.
        bottom_garment: The same bottom garment, if any.
        credentials: AILabTools credentials block or saved block name.
        archive: The archive holding ``coarse``.
        requests_per_second: Optional AILabTools rate limit.
    """
    storage = await resolve_archive(archive)
    images, hashes = await _prepare_outfit(person_image, top_garment, bottom_garment, archive)
    images["coarse"], hashes["coarse"] = await read_archived(storage, coarse), coarse.sha256

    async def send_with(vendor_client, data):
        return await vendor_client.submit_try_on_refiner(
            data["person"],
            data["top"],
            data["coarse"],
            gender=gender,
            bottom_garment=data.get("bottom"),
        )

    return await _submit(
        stage="refined",
        action="TryOnClothesRefiner",
        images=images,
        hashes=hashes,
        params={"gender": gender},
        send_with=send_with,
        credentials=credentials,
        requests_per_second=requests_per_second,
    )


def _record_poll(ledger: Ledger, keys: dict[str, str], task_id: str, result: TaskResult) -> None:
    """Persist each poll's news, so a crash after success does not lose the result URL."""
    key = keys[task_id]
    if result.state is TaskState.SUCCEEDED and result.image_url:
        ledger.update(
            key, state=CallState.READY, result_url=result.image_url, expires_at=result.expires_at
        )
    elif result.state is TaskState.FAILED:
        ledger.update(
            key,
            state=CallState.FAILED,
            error=f"{result.error_code or 'failed'}: {result.error_message or ''}".strip(": "),
        )


@task(name="poll-try-on-jobs", cache_policy=NO_CACHE)
async def poll_try_on_jobs(
    jobs: list[TryOnJob],
    credentials: str | CredentialsBlock | None = None,
    timeout_seconds: float | None = 3600,
    interval_seconds: float | None = None,
) -> list[TaskResult]:
    """Poll every job from one loop until each succeeds, fails or passes its deadline.

    Polls are free, so they are not limited by the vendor's concurrency limit and a queued
    job never uses up a retry budget. The deadline is ``timeout_seconds`` after submission,
    never past the vendor's 24 h retention.

    Raises:
        JobFailed: a job failed at the vendor (after every job has finished).
        PollTimeout, VendorError: a job could not be polled to the end.
    """
    ledger = Ledger(get_settings().ledger_dir)
    keys = {job.task_id: job.key for job in jobs}
    block = await resolve_credentials(VENDOR, credentials)
    interval = interval_seconds or get_settings().poll_interval_seconds
    async with block.get_client() as client:
        poller = JobPoller(
            client.query_async_task,
            interval=interval,
            # 1,000 jobs every 5 s is 200 queries/s: enough in flight for a distant vendor.
            max_concurrent_queries=min(64, max(16, len(jobs) // 8)),
            on_update=lambda task_id, result: _record_poll(ledger, keys, task_id, result),
        )
        outcomes = await poller.run(
            PollTarget(job.task_id, deadline_for(job.submitted_at, timeout=timeout_seconds))
            for job in jobs
        )
    results = []
    for job in jobs:
        outcome = outcomes[job.task_id]
        if outcome.error is not None:
            raise outcome.error
        if outcome.result.state is TaskState.FAILED:
            raise JobFailed(
                f"{job.stage} job {job.task_id} failed at the vendor: "
                f"{outcome.result.error_code or ''} {outcome.result.error_message or ''}".strip()
            )
        results.append(outcome.result)
    return results


@task(
    name="archive-try-on-result",
    cache_policy=NO_CACHE,
    retries=5,
    retry_delay_seconds=retry_delays(5),
    retry_jitter_factor=0.5,
    retry_condition_fn=should_retry,
)
async def archive_try_on_result(
    job: TryOnJob,
    credentials: str | CredentialsBlock | None = None,
    archive: Any = None,
) -> ArchivedRef:
    """Archive a finished job's result; re-query the task if its URL expired meanwhile.

    Raises:
        ResultExpired: the URL expired and the vendor no longer keeps the task.
    """
    ledger = Ledger(get_settings().ledger_dir)
    storage = await resolve_archive(archive)
    record = ledger.get(job.key)
    found = await find_archived(storage, record)
    if found is not None:
        return found
    block = await resolve_credentials(VENDOR, credentials)
    if record is None or not record.result_url or _expired(record):
        record = await _requery(ledger, job, block)
    metadata = {
        "vendor": VENDOR,
        "action": job.action,
        "stage": job.stage,
        "task_id": job.task_id,
        "request_id": job.request_id,
        "content_key": job.key,
        "inputs": record.inputs,
        "parameters": record.parameters,
        "submitted_at": job.submitted_at,
        "result_expires_at": record.expires_at,
        "archived_at": datetime.now(UTC),
    }
    for attempt in range(2):
        try:
            ref = await store_url(
                storage,
                record.result_url,
                vendor=VENDOR,
                allowed_origins=result_origins(block),
                expires_at=record.expires_at,
                metadata=metadata,
            )
            break
        except ResultExpired:
            if attempt:
                raise
            record = await _requery(ledger, job, block)  # a fresh URL while the task lives
    ledger.update(
        job.key,
        state=CallState.ARCHIVED,
        archived_uri=ref.uri,
        archived_key=ref.key,
        archived_sha256=ref.sha256,
    )
    return ref


def _expired(record: PaidCall) -> bool:
    return record.expires_at is not None and datetime.now(UTC) >= record.expires_at


async def _requery(ledger: Ledger, job: TryOnJob, block: CredentialsBlock) -> PaidCall:
    """Ask the vendor for the task again (free) to get a fresh result URL."""
    from prefect_image_edit.vendors.errors import NotFoundError

    async with block.get_client() as client:
        try:
            result = await client.query_async_task(job.task_id)
        except NotFoundError as error:
            ledger.update(job.key, state=CallState.EXPIRED, error=str(error))
            raise ResultExpired(
                f"the {job.stage} result of task {job.task_id} expired and AILabTools no "
                "longer keeps the task"
            ) from error
    if result.state is not TaskState.SUCCEEDED or not result.image_url:
        raise JobFailed(f"task {job.task_id} is {result.state.value}, not succeeded")
    return ledger.update(
        job.key, state=CallState.READY, result_url=result.image_url, expires_at=result.expires_at
    )
