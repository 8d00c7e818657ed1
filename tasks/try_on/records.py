"""Try-on's crash record: every ledger read and write the try-on tasks make, in one place.

Prefect's cache records a submit only when the task returns. The vendor's task id is what was
paid for, so it is written to the ledger the moment the submit answers, before anything else:
a run that died in between finds it here and polls that job instead of paying again. The
ledger also tells the archive sweeper what is still only at the vendor.

Values flow between the tasks as values (``TryOnJob``, ``FinishedJob``); this record is only
the safety net. Keeping its calls here keeps them few and easy to move to another state store.
No Prefect here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from prefect_image_edit.ledger import CallState, Ledger, PaidCall
from prefect_image_edit.tasks.models import ArchivedRef
from prefect_image_edit.tasks.paid import pay
from prefect_image_edit.tasks.settings import get_settings
from prefect_image_edit.tasks.try_on.models import VENDOR, FinishedJob
from prefect_image_edit.vendors.results import TaskResult, TaskState, TaskSubmission

__all__ = ["TryOnRecords", "records"]

_OPEN = (CallState.SUBMITTED, CallState.READY)
"""States a poll may still move on (never back from archived, expired or failed)."""


class TryOnRecords:
    """The ledger, seen as the life of a try-on job: paid, finished, archived or expired.

    Args:
        ledger: Where the records live.
    """

    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger

    def get(self, key: str) -> PaidCall | None:
        return self._ledger.get(key)

    def paid_job(self, key: str) -> PaidCall | None:
        """The job already paid for with this content, if any (to resume, not pay again)."""
        record = self._ledger.get(key)
        if record is not None and record.task_id and record.state is not CallState.FAILED:
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
    ) -> PaidCall:
        """Send one paid submit under the money rules and persist its task id at once.

        Raises:
            VendorError: from ``send()`` (see ``tasks.paid.pay``).
        """
        record = PaidCall(
            key=key,
            vendor=VENDOR,
            action=action,
            inputs=dict(inputs),
            parameters=dict(parameters),
        )
        submission = await pay(self._ledger, record, send)
        # Persist the task id before anything else can fail: it is what was paid for.
        sent = self._ledger.get(key)
        request_ids = sent.request_ids if sent is not None else []
        if submission.request_id and submission.request_id not in request_ids:
            request_ids = [*request_ids, submission.request_id]
        return self._ledger.update(
            key, state=CallState.SUBMITTED, task_id=submission.task_id, request_ids=request_ids
        )

    def record_poll(self, key: str, result: TaskResult) -> None:
        """Note a job's end (succeeded with a URL, or failed) for the sweeper; ignore the rest."""
        if not result.state.terminal:
            return
        record = self._ledger.get(key)
        if record is None or record.state not in _OPEN:
            return  # archived or closed meanwhile (e.g. by a concurrent run): keep that
        if result.state is TaskState.SUCCEEDED and result.image_url:
            self._ledger.update(
                key,
                state=CallState.READY,
                result_url=result.image_url,
                expires_at=result.expires_at,
            )
        elif result.state is TaskState.FAILED:
            message = f"{result.error_code or 'failed'}: {result.error_message or ''}".strip(": ")
            self._ledger.update(key, state=CallState.FAILED, error=message)

    def record_result(self, key: str, result: FinishedJob) -> None:
        """A fresh result URL from a re-query (the one polling found had expired)."""
        self._ledger.update(
            key, state=CallState.READY, result_url=result.result_url, expires_at=result.expires_at
        )

    def mark_archived(self, key: str, ref: ArchivedRef) -> None:
        self._ledger.update(
            key,
            state=CallState.ARCHIVED,
            archived_uri=ref.uri,
            archived_key=ref.key,
            archived_sha256=ref.sha256,
        )

    def mark_expired(self, key: str, error: str) -> None:
        """The result is gone at the vendor before it was archived."""
        self._ledger.update(key, state=CallState.EXPIRED, error=error)


def records() -> TryOnRecords:
    """The try-on records in the configured ledger (``PREFECT_IMAGE_EDIT_HOME``)."""
    return TryOnRecords(Ledger(get_settings().ledger_dir))
