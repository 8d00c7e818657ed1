"""The ``archive-sweeper`` flow: archive whatever the ledger says is still only at the vendor.

Flows archive results as soon as they exist; this scheduled sweep is the safety net for runs
that crashed, timed out or were cancelled in between. It works oldest expiry first, skips
records a running task holds (their lock is taken), re-queries async tasks that finished after
their flow stopped polling, and emits a Prefect event for anything within the safety margin of
expiry that it could not archive, so an automation can alert someone.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime, timedelta
from typing import Literal

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.events import emit_event
from pydantic import BaseModel

from prefect_image_edit.blocks.credentials import result_origins
from prefect_image_edit.flows.erase import DEFAULT_CONNECTIONS
from prefect_image_edit.flows.models import Connections
from prefect_image_edit.ledger import CallState, Ledger, PaidCall
from prefect_image_edit.tasks.archive import resolve_archive
from prefect_image_edit.tasks.credentials import resolve_credentials
from prefect_image_edit.tasks.erase import archive_recorded
from prefect_image_edit.tasks.policy import LOCKS, retry_delays, should_retry
from prefect_image_edit.tasks.settings import get_settings
from prefect_image_edit.vendors.results import TaskState

__all__ = ["SweepReport", "SweptRecord", "archive_sweeper", "sweep_record"]

EXPIRING_EVENT = "image-edit.result.expiring"


class SweptRecord(BaseModel):
    key: str
    vendor: str
    action: str
    outcome: Literal["archived", "waiting", "busy", "expired", "lost", "failed"]
    expires_at: datetime | None = None
    detail: str | None = None


class SweepReport(BaseModel):
    swept: list[SweptRecord]
    events: int

    def count(self, outcome: str) -> int:
        return sum(r.outcome == outcome for r in self.swept)


def _resource_id(key: str) -> str:
    return "image-edit.call." + hashlib.sha256(key.encode()).hexdigest()[:24]


async def _refresh_submitted(
    ledger: Ledger, record: PaidCall, connections: Connections
) -> PaidCall:
    """Ask the vendor once about an async job whose flow stopped polling (a free call)."""
    block = await resolve_credentials(record.vendor, connections.credentials_for(record.vendor))
    async with block.get_client() as client:
        result = await client.query_async_task(record.task_id)
    if result.state is TaskState.SUCCEEDED and result.image_url:
        return ledger.update(
            record.key,
            state=CallState.READY,
            result_url=result.image_url,
            expires_at=result.expires_at,
        )
    if result.state is TaskState.FAILED:
        return ledger.update(record.key, state=CallState.FAILED, error=result.error_message)
    return record


@task(
    name="sweep-record",
    cache_policy=NO_CACHE,
    retries=3,
    retry_delay_seconds=retry_delays(3),
    retry_condition_fn=should_retry,
)
async def sweep_record(
    key: str, connections: Connections, stale_after_seconds: float
) -> SweptRecord:
    """Archive one pending ledger record if it can be, under the record's lock."""
    ledger = Ledger(get_settings().ledger_dir)
    holder = f"sweeper-{uuid.uuid4()}"
    if not await LOCKS.aacquire_lock(key, holder, acquire_timeout=0):
        record = ledger.get(key)
        return SweptRecord(
            key=key,
            vendor=record.vendor,
            action=record.action,
            outcome="busy",
            expires_at=record.expires_at,
        )
    try:
        record = ledger.get(key)
        summary = {"key": key, "vendor": record.vendor, "action": record.action}
        if record.state is CallState.IN_FLIGHT:
            age = datetime.now(UTC) - record.updated_at
            outcome = "lost" if age > timedelta(seconds=stale_after_seconds) else "waiting"
            return SweptRecord(
                **summary,
                outcome=outcome,
                detail="a synchronous call died in flight: possibly billed, result unknown",
            )
        if record.state is CallState.SUBMITTED:
            record = await _refresh_submitted(ledger, record, connections)
            if record.state is not CallState.READY:
                outcome = "failed" if record.state is CallState.FAILED else "waiting"
                return SweptRecord(**summary, outcome=outcome, detail=record.error)
        storage = await resolve_archive(connections.archive)
        origins: tuple[str, ...] = ()
        if record.vendor != "local":
            block = await resolve_credentials(
                record.vendor, connections.credentials_for(record.vendor)
            )
            origins = result_origins(block)
        try:
            ref = await archive_recorded(
                ledger, record, storage, provider=record.vendor, allowed_origins=origins
            )
        except Exception as error:
            if ledger.get(key).state is CallState.EXPIRED:
                return SweptRecord(
                    **summary, outcome="expired", expires_at=record.expires_at, detail=str(error)
                )
            raise
        return SweptRecord(
            **summary, outcome="archived", expires_at=record.expires_at, detail=ref.uri
        )
    finally:
        LOCKS.release_lock(key, holder)


@flow(name="archive-sweeper", log_prints=False)
async def archive_sweeper(
    safety_margin_minutes: float = 15,
    max_records: int = 500,
    stale_after_minutes: float = 60,
    connections: Connections = DEFAULT_CONNECTIONS,
) -> SweepReport:
    """Archive every recorded result still only at the vendor, soonest expiry first.

    Args:
        safety_margin_minutes: Results expiring within this margin that stay unarchived
            raise an ``image-edit.result.expiring`` Prefect event.
        max_records: The most records to handle in one run.
        stale_after_minutes: A call in flight for longer than this is reported as lost.
        connections: Saved blocks: vendor credentials and the archive storage.
    """
    logger = get_run_logger()
    ledger = Ledger(get_settings().ledger_dir)
    pending = ledger.pending()[:max_records]
    swept: list[SweptRecord] = []
    for record in pending:
        state = await sweep_record(
            record.key, connections, stale_after_minutes * 60, return_state=True
        )
        if state.is_completed():
            swept.append(await state.aresult())
        else:
            error = await state.aresult(raise_on_failure=False)
            swept.append(
                SweptRecord(
                    key=record.key,
                    vendor=record.vendor,
                    action=record.action,
                    outcome="failed",
                    expires_at=record.expires_at,
                    detail=str(error),
                )
            )
    horizon = datetime.now(UTC) + timedelta(minutes=safety_margin_minutes)
    events = 0
    for item in swept:
        if (
            item.outcome != "archived"
            and item.expires_at is not None
            and item.expires_at <= horizon
        ):
            emit_event(
                EXPIRING_EVENT,
                resource={"prefect.resource.id": _resource_id(item.key)},
                payload={
                    "vendor": item.vendor,
                    "action": item.action,
                    "expires_at": item.expires_at.isoformat(),
                    "outcome": item.outcome,
                    "detail": item.detail,
                },
            )
            events += 1
    report = SweepReport(swept=swept, events=events)
    logger.info(
        "swept %s records: %s archived, %s waiting, %s expired, %s lost, %s events",
        len(swept),
        report.count("archived"),
        report.count("waiting"),
        report.count("expired"),
        report.count("lost"),
        events,
    )
    return report
