"""The ``archive-sweeper`` flow: archive whatever the ledger says is still only at the vendor.

Flows archive results as soon as they exist; this scheduled sweep is the safety net for runs
that crashed, timed out or were cancelled in between. It works oldest expiry first, skips
records a running task holds (their lock is taken), re-queries async tasks that finished after
their flow stopped polling, and emits a Prefect event for anything within the safety margin of
expiry that it could not archive, so an automation can alert someone.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

from prefect import flow, get_run_logger
from prefect.events import emit_event
from pydantic import BaseModel

from prefect_image_edit.flows.erase import DEFAULT_CONNECTIONS
from prefect_image_edit.flows.models import Connections
from prefect_image_edit.state import resolve_state
from prefect_image_edit.tasks.sweep import SweptRecord, sweep_record

__all__ = ["SweepReport", "SweptRecord", "archive_sweeper", "sweep_record"]

EXPIRING_EVENT = "image-edit.result.expiring"


class SweepReport(BaseModel):
    swept: list[SweptRecord]
    events: int

    def count(self, outcome: str) -> int:
        return sum(r.outcome == outcome for r in self.swept)


def _resource_id(key: str) -> str:
    return "image-edit.call." + hashlib.sha256(key.encode()).hexdigest()[:24]


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
    pending = await resolve_state().pending(limit=max_records)
    swept: list[SweptRecord] = []
    for record in pending:
        state = await sweep_record(
            record.key,
            connections.credentials_for(record.vendor),
            connections.archive,
            stale_after_minutes * 60,
            return_state=True,
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
