"""Try-on's crash record: every state read and transition the try-on tasks make, in one place.

The record lives in the pack's shared state (``prefect_image_edit.state``, resolved when used:
the embedded files by default, PostgreSQL with ``PREFECT_IMAGE_EDIT_STATE_URL``), so machines
that share one state resume each other's jobs instead of paying again. Every change is one of
the state's named transitions:

- ``begin`` (or ``record_repayment`` with its reason, for an input already paid for), only
  once the vendor's slot is held; then ``mark_submitted`` with the task id the moment the
  submit answers, before anything else: it is what was paid for.
- ``record_answer`` with the result bytes, downloaded and checked the moment a job succeeds,
  so a paid result never lives only behind an expiring URL; ``mark_failed`` for a failed job.
- ``mark_archived`` once the archive holds the staged bytes; ``mark_expired`` when the vendor
  no longer keeps a result nobody archived.

Values flow between the tasks as values (``TryOnJob``, ``FinishedJob``); this record is the
safety net, and the figures the outcome reports (attempts, possible double charges,
re-payments). No Prefect here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from prefect_image_edit.state import (
    CallState,
    PaidCall,
    RepaymentReason,
    StateStore,
    resolve_state,
)
from prefect_image_edit.tasks.models import ArchivedRef
from prefect_image_edit.tasks.paid import Meter, pay_once
from prefect_image_edit.tasks.try_on.models import VENDOR
from prefect_image_edit.vendors.results import TaskResult, TaskState, TaskSubmission

__all__ = ["RESUMABLE", "Charges", "TryOnRecords", "records"]


RESUMABLE = (CallState.SUBMITTED, CallState.READY, CallState.ARCHIVED)
"""States of a job that was paid for and still has a result (at the vendor or archived)."""

_OPEN = (CallState.IN_FLIGHT, CallState.SUBMITTED, CallState.READY)
"""States a poll answer may still move on (never back from archived, expired or failed)."""

Slot = Callable[[], AbstractAsyncContextManager[Any]]


@dataclass(frozen=True)
class Charges:
    """What the records say a set of jobs cost: requests sent and what may be extra."""

    attempts: int = 0
    possible_double_charges: int = 0
    repayments: int = 0


def _repayment_reason(current: PaidCall) -> RepaymentReason:
    """Why an input already paid for must be paid again, from its record."""
    if current.state is CallState.EXPIRED:
        # mark_expired keeps the archive reference: an archived object that went missing
        if current.archived_key:
            return RepaymentReason.ARCHIVE_MISSING
        return RepaymentReason.EXPIRED
    return RepaymentReason.LOST  # paid for, but no task id was ever kept


class TryOnRecords:
    """The state store, seen as the life of a try-on job: paid, finished, archived or expired.

    Args:
        store: Where the records live (``resolve_state()``).
    """

    def __init__(self, store: StateStore) -> None:
        self.store = store

    async def get(self, key: str) -> PaidCall | None:
        return await self.store.get(key)

    async def staged(self, key: str) -> bytes | None:
        """The result bytes staged for ``key`` (downloaded when the job succeeded), if any."""
        return await self.store.staged(key)

    async def paid_job(self, key: str) -> PaidCall | None:
        """The job already paid for with this content, if it can be resumed (not paid again)."""
        record = await self.store.get(key)
        if record is not None and record.task_id and record.state in RESUMABLE:
            return record
        return None

    async def pay_submit(
        self,
        key: str,
        *,
        action: str,
        inputs: Mapping[str, str],
        parameters: Mapping[str, Any],
        send: Callable[[], Awaitable[TaskSubmission]],
        slot: Slot | None = None,
        meter: Meter | None = None,
    ) -> PaidCall:
        """Send one paid submit under the money rules and persist its task id at once.

        The record is marked in flight only once ``slot()`` (the vendor's concurrency slot) is
        held, so a call waiting for its slot is never counted as a possible double charge. An
        input already paid for (its result expired or lost) is paid again only through
        ``record_repayment``, with the reason.

        Raises:
            VendorError: from ``send()``; a second ambiguous failure is re-raised as permanent.
        """
        call = PaidCall(
            key=key,
            vendor=VENDOR,
            action=action,
            inputs=dict(inputs),
            parameters=dict(parameters),
        )
        current = await self.store.get(key)
        reason = None
        if current is not None and current.state not in (CallState.IN_FLIGHT, CallState.FAILED):
            reason = _repayment_reason(current)
        marked: list[PaidCall] = []

        async def persist(submission: TaskSubmission) -> None:
            # The task id is what was paid for: written before the slot is even released.
            marked.append(
                await self.store.mark_submitted(
                    key, submission.task_id, request_id=submission.request_id
                )
            )

        await pay_once(
            self.store,
            call,
            send,
            slot=slot() if slot is not None else None,
            repayment=reason,
            detail=current.error if reason is not None else None,
            persist=persist,
            meter=meter,
        )
        return marked[0]

    async def record_poll(self, key: str, result: TaskResult) -> PaidCall | None:
        """Note a failed job's end; succeeded jobs are recorded with their bytes
        (``record_result``). Returns the record, or None if nothing was written."""
        if result.state is not TaskState.FAILED:
            return None
        record = await self.store.get(key)
        if record is None or record.state not in (CallState.IN_FLIGHT, CallState.SUBMITTED):
            return None  # archived, closed or answered meanwhile (e.g. by a concurrent run)
        if record.task_id != result.task_id:
            return None  # a job this input was paid for before (the record moved on)
        message = f"{result.error_code or 'failed'}: {result.error_message or ''}".strip(": ")
        return await self.store.mark_failed(key, message, request_id=result.request_id)

    async def needs_result(self, key: str, task_id: str) -> bool:
        """Whether the succeeded job ``task_id``'s result still has to be fetched and staged
        (not if it is staged or archived already, or the record holds another job now)."""
        record = await self.store.get(key)
        if record is None or record.task_id != task_id:
            return False
        staged = record.state is CallState.READY and record.staged_size is not None
        return record.state in _OPEN and not staged

    async def record_result(
        self,
        key: str,
        *,
        data: bytes | None,
        media_type: str | None,
        result_url: str | None,
        expires_at: datetime | None,
        request_id: str | None = None,
    ) -> PaidCall:
        """The job's result: staged bytes (checked already) and the URL they came from."""
        return await self.store.record_answer(
            key,
            data=data,
            media_type=media_type,
            result_url=result_url,
            expires_at=expires_at,
            request_id=request_id,
        )

    async def mark_archived(self, key: str, ref: ArchivedRef) -> PaidCall:
        return await self.store.mark_archived(
            key, uri=ref.uri, object_key=ref.key, sha256=ref.sha256
        )

    async def mark_expired(self, key: str, error: str) -> PaidCall | None:
        """The result is gone at the vendor and nobody has a copy for this archive."""
        record = await self.store.get(key)
        if record is None or record.state in (CallState.FAILED, CallState.IN_FLIGHT):
            return None
        return await self.store.mark_expired(key, error)

    async def charges(self, keys: Iterable[str]) -> Charges:
        """Attempts, possible double charges and re-payments recorded for ``keys``."""
        found = [await self.store.get(key) for key in dict.fromkeys(keys)]
        calls = [record for record in found if record is not None]
        return Charges(
            attempts=sum(record.attempts for record in calls),
            possible_double_charges=sum(record.possible_double_charges for record in calls),
            repayments=sum(len(record.repayments) for record in calls),
        )


def records(url: str | None = None) -> TryOnRecords:
    """The try-on records in the pack's state (``url``, ``PREFECT_IMAGE_EDIT_STATE_URL`` or the
    embedded default), resolved now, at call time."""
    return TryOnRecords(resolve_state(url))
