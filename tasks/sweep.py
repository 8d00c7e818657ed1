"""Sweeping one pending record of the shared state into the archive (the sweeper's task).

Flows archive results as soon as they exist; this is the safety net for runs that crashed,
timed out or were cancelled in between. It works under the record's per-input lock (a busy
record is skipped, a running task holds it), archives staged bytes first, re-queries async
jobs whose flow stopped polling (a free call), and says what it found.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal

from prefect import task
from prefect.cache_policies import NO_CACHE
from pydantic import BaseModel

from prefect_image_edit.blocks.credentials import result_origins
from prefect_image_edit.state import CallState, LockBusy, PaidCall, StateStore, resolve_state
from prefect_image_edit.tasks.archive import resolve_archive
from prefect_image_edit.tasks.credentials import resolve_credentials
from prefect_image_edit.tasks.erase import _result_in_hand, archive_recorded
from prefect_image_edit.tasks.policy import retry_delays, should_retry
from prefect_image_edit.vendors.results import TaskState

__all__ = ["SweptRecord", "sweep_record"]


class SweptRecord(BaseModel):
    key: str
    vendor: str
    action: str
    outcome: Literal["archived", "waiting", "busy", "expired", "lost", "failed"]
    expires_at: datetime | None = None
    detail: str | None = None


async def _refresh_submitted(
    store: StateStore, record: PaidCall, credentials: str | None
) -> PaidCall:
    """Ask the vendor once about an async job whose flow stopped polling (a free call)."""
    block = await resolve_credentials(record.vendor, credentials)
    async with block.get_client() as client:
        result = await client.query_async_task(record.task_id)
    if result.state is TaskState.SUCCEEDED and result.image_url:
        return await store.record_answer(
            record.key, result_url=result.image_url, expires_at=result.expires_at
        )
    if result.state is TaskState.FAILED:
        return await store.mark_failed(record.key, result.error_message or "the job failed")
    return record


@task(
    name="sweep-record",
    cache_policy=NO_CACHE,
    retries=3,
    retry_delay_seconds=retry_delays(3),
    retry_condition_fn=should_retry,
)
async def sweep_record(
    key: str,
    credentials: str | None = None,
    archive: str | None = None,
    stale_after_seconds: float = 3600,
) -> SweptRecord:
    """Archive one pending record if it can be, under the record's lock."""
    store = resolve_state()
    try:
        async with store.lock(key, timeout=0):
            return await _sweep(store, key, credentials, archive, stale_after_seconds)
    except LockBusy:
        record = await store.get(key)
        return SweptRecord(
            key=key,
            vendor=record.vendor,
            action=record.action,
            outcome="busy",
            expires_at=record.expires_at,
        )


async def _sweep(
    store: StateStore,
    key: str,
    credentials: str | None,
    archive: str | None,
    stale_after_seconds: float,
) -> SweptRecord:
    record = await store.get(key)
    summary = {"key": key, "vendor": record.vendor, "action": record.action}
    if record.state is CallState.SUBMITTED:
        record = await _refresh_submitted(store, record, credentials)
        if record.state is not CallState.READY:
            outcome = "failed" if record.state is CallState.FAILED else "waiting"
            return SweptRecord(**summary, outcome=outcome, detail=record.error)
    origins: tuple[str, ...] = ()
    if record.vendor != "local" and record.result_url:
        origins = result_origins(await resolve_credentials(record.vendor, credentials))
    data, _ = await _result_in_hand(store, record, allowed_origins=origins)
    if data is None:
        latest = await store.get(key)
        if latest.state is CallState.EXPIRED:
            return SweptRecord(
                **summary, outcome="expired", expires_at=record.expires_at, detail=latest.error
            )
        if latest.state is CallState.IN_FLIGHT:
            age = datetime.now(UTC) - latest.updated_at
            lost = age > timedelta(seconds=stale_after_seconds)
            return SweptRecord(
                **summary,
                outcome="lost" if lost else "waiting",
                detail="a synchronous call died in flight: possibly billed, result unknown",
            )
        return SweptRecord(**summary, outcome="failed", detail=latest.error)
    storage = await resolve_archive(archive)
    record = await store.get(key)
    _, ref = await archive_recorded(store, record, data, storage, provider=record.vendor)
    return SweptRecord(**summary, outcome="archived", expires_at=record.expires_at, detail=ref.uri)
