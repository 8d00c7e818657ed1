"""The record of a paid call and the named transitions between its states (pure, no I/O).

Every change to a record goes through one transition of ``TRANSITIONS``: the table says from
which states it is legal, and the functions below compute the new record. Backends only add
atomicity and storage, so both apply exactly the same rules::

    (none) ──begin──> IN_FLIGHT ──mark_submitted──> SUBMITTED ──record_answer──> READY
     FAILED ─begin─┘    │  ^  record_ambiguous_failure (stays; the resend counts)    │
                        │  └──begin (resend: a possible double charge)               │
                        └──record_answer──> READY ──mark_archived──> ARCHIVED <──────┘
    IN_FLIGHT, SUBMITTED ──mark_failed──> FAILED
    READY, SUBMITTED, ARCHIVED ──mark_expired──> EXPIRED
    READY, SUBMITTED, ARCHIVED, EXPIRED, FAILED ──record_repayment(reason)──> IN_FLIGHT

Paying again for an input that was already paid for is never a plain ``begin``: it is
``record_repayment`` with its reason, so every such charge is counted (issue 9).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

from prefect_image_edit.state.errors import IllegalTransition

__all__ = [
    "PENDING_STATES",
    "TRANSITIONS",
    "CallState",
    "PaidCall",
    "Repayment",
    "RepaymentReason",
    "Step",
    "apply",
    "check",
]


def _now() -> datetime:
    return datetime.now(UTC)


class CallState(StrEnum):
    IN_FLIGHT = "in_flight"
    """A paid request is out and no answer was recorded; found at start-up it means a crash."""
    SUBMITTED = "submitted"
    """An async job was accepted; ``task_id`` is what was paid for."""
    READY = "ready"
    """The result exists (staged bytes and/or a URL) but is not archived yet."""
    ARCHIVED = "archived"
    """A durable copy exists at ``archived_uri``."""
    FAILED = "failed"
    """The vendor refused the job permanently; nothing more will be sent."""
    EXPIRED = "expired"
    """The result expired before it was archived and the vendor no longer has it."""


PENDING_STATES = (CallState.IN_FLIGHT, CallState.SUBMITTED, CallState.READY)
"""States whose result is not durable yet: what the sweeper looks at."""


class RepaymentReason(StrEnum):
    """Why an input that was already paid for is paid for again."""

    EXPIRED = "expired"
    """The result expired before it was archived, and no bytes were staged."""
    ARCHIVE_MISSING = "archive_missing"
    """The archived object is gone or changed (another archive, a lifecycle rule, a deletion)."""
    POISONED = "poisoned"
    """The result that was paid for is unusable (not an image, wrong size, wrong hash)."""
    LOST = "lost"
    """A submitted job the vendor no longer knows, or a result nothing kept."""


class Repayment(BaseModel):
    """One re-payment of an input already paid for, kept on its record."""

    reason: RepaymentReason
    previous_state: CallState = Field(description="The state the record was in before.")
    detail: str | None = None
    at: datetime = Field(default_factory=_now)


class PaidCall(BaseModel):
    """Everything needed to trace a charge and to finish the work it paid for."""

    key: str = Field(description="The content key (the same as the Prefect cache key).")
    vendor: str
    action: str
    inputs: dict[str, str] = Field(default_factory=dict, description="Input name -> sha256.")
    parameters: dict[str, Any] = Field(default_factory=dict)
    state: CallState = CallState.IN_FLIGHT
    attempts: int = Field(default=0, description="Paid requests sent for this key.")
    ambiguous_failures: int = Field(
        default=0, description="Failures after the vendor may have accepted the job."
    )
    possible_double_charges: int = Field(
        default=0,
        description="Requests that may have been billed without their answer being seen "
        "(a crash mid-call, or an ambiguous failure that was retried).",
    )
    repayments: list[Repayment] = Field(
        default_factory=list, description="Charges for an input already paid for, with reasons."
    )
    request_ids: list[str] = Field(default_factory=list)
    task_id: str | None = None
    result_url: str | None = None
    expires_at: datetime | None = None
    staged_file: str | None = Field(
        default=None, description="The embedded backend's file of staged bytes (legacy Ledger)."
    )
    staged_size: int | None = Field(default=None, description="Bytes staged, if any.")
    media_type: str | None = None
    archived_uri: str | None = None
    archived_key: str | None = None
    archived_sha256: str | None = None
    error: str | None = None
    poisoned: bool = Field(
        default=False,
        description="The last answer was paid for but unusable (not an image, empty): paying "
        "again is a re-payment.",
    )
    created_at: datetime = Field(default_factory=_now)
    updated_at: datetime = Field(default_factory=_now)


_S = CallState
TRANSITIONS: dict[str, frozenset[CallState | None]] = {
    "begin": frozenset({None, _S.IN_FLIGHT, _S.FAILED}),
    "record_repayment": frozenset({_S.READY, _S.SUBMITTED, _S.ARCHIVED, _S.EXPIRED, _S.FAILED}),
    "mark_submitted": frozenset({_S.IN_FLIGHT}),
    "record_answer": frozenset({_S.IN_FLIGHT, _S.SUBMITTED, _S.READY, _S.ARCHIVED}),
    "record_ambiguous_failure": frozenset({_S.IN_FLIGHT}),
    "mark_archived": frozenset({_S.READY, _S.ARCHIVED}),
    "mark_failed": frozenset({_S.IN_FLIGHT, _S.SUBMITTED, _S.FAILED}),
    "mark_expired": frozenset({_S.READY, _S.SUBMITTED, _S.ARCHIVED, _S.EXPIRED}),
}
"""Transition name -> the states it may start from (None: no record yet).

Self-loops are the same fact recorded again (a refreshed URL, a re-archived object, a retried
task marking what is already marked), so retries of the caller stay harmless.
"""


@dataclass(frozen=True)
class Step:
    """A transition's outcome: the new record and what happens to the staged bytes."""

    record: PaidCall
    stage: bytes | None = None
    """New staged bytes to store with the record (replacing any)."""
    drop_staged: bool = False
    """Delete the staged bytes (archived, or about to be paid for again)."""


def check(transition: str, key: str, current: PaidCall | None) -> None:
    """Raise ``IllegalTransition`` unless ``transition`` is legal from ``current``'s state."""
    state = None if current is None else current.state
    if state not in TRANSITIONS[transition]:
        raise IllegalTransition(transition, key, state)


def apply(transition: str, key: str, current: PaidCall | None, **args: Any) -> Step:
    """Check and compute one named transition; ``args`` are the transition's own arguments."""
    check(transition, key, current)
    step = _RULES[transition](current, **args)
    return Step(step.record.model_copy(update={"updated_at": _now()}), step.stage, step.drop_staged)


def _with_id(ids: list[str], new: str | None) -> list[str]:
    return [*ids, new] if new and new not in ids else list(ids)


def _begin(current: PaidCall | None, *, call: PaidCall) -> Step:
    base = current or call
    doubles = base.possible_double_charges
    if current is not None and current.state is CallState.IN_FLIGHT:
        doubles += 1  # the previous request's answer was never seen: it may have been billed
    return Step(
        base.model_copy(
            update={
                "state": CallState.IN_FLIGHT,
                "attempts": base.attempts + 1,
                "possible_double_charges": doubles,
                "vendor": call.vendor,
                "action": call.action,
                "parameters": call.parameters,
                "inputs": call.inputs,
                "error": None,
            }
        )
    )


def _record_repayment(
    current: PaidCall, *, call: PaidCall, reason: RepaymentReason, detail: str | None = None
) -> Step:
    repayment = Repayment(
        reason=RepaymentReason(reason), previous_state=current.state, detail=detail
    )
    record = current.model_copy(
        update={
            "state": CallState.IN_FLIGHT,
            "attempts": current.attempts + 1,
            "repayments": [*current.repayments, repayment],
            "vendor": call.vendor,
            "action": call.action,
            "parameters": call.parameters,
            "inputs": call.inputs,
            "task_id": None,
            "result_url": None,
            "expires_at": None,
            "staged_file": None,
            "staged_size": None,
            "archived_uri": None,
            "archived_key": None,
            "archived_sha256": None,
            "error": None,
            "poisoned": False,
        }
    )
    return Step(record, drop_staged=True)


def _mark_submitted(current: PaidCall, *, task_id: str, request_id: str | None = None) -> Step:
    return Step(
        current.model_copy(
            update={
                "state": CallState.SUBMITTED,
                "task_id": task_id,
                "request_ids": _with_id(current.request_ids, request_id),
                "error": None,
            }
        )
    )


def _record_answer(
    current: PaidCall,
    *,
    data: bytes | None = None,
    media_type: str | None = None,
    result_url: str | None = None,
    expires_at: datetime | None = None,
    request_id: str | None = None,
) -> Step:
    update: dict[str, Any] = {
        "state": CallState.READY,
        "request_ids": _with_id(current.request_ids, request_id),
        "result_url": result_url,
        "expires_at": expires_at,
        "error": None,
    }
    if data is not None:
        update.update(staged_size=len(data), media_type=media_type or "image/png")
    return Step(current.model_copy(update=update), stage=data)


def _record_ambiguous_failure(
    current: PaidCall, *, error: str, request_id: str | None = None
) -> Step:
    return Step(
        current.model_copy(
            update={
                "ambiguous_failures": current.ambiguous_failures + 1,
                "error": error,
                "request_ids": _with_id(current.request_ids, request_id),
            }
        )
    )


def _mark_archived(current: PaidCall, *, uri: str, object_key: str, sha256: str) -> Step:
    record = current.model_copy(
        update={
            "state": CallState.ARCHIVED,
            "archived_uri": uri,
            "archived_key": object_key,
            "archived_sha256": sha256,
            "staged_file": None,
            "staged_size": None,
            "error": None,
        }
    )
    return Step(record, drop_staged=True)


def _mark_failed(
    current: PaidCall, *, error: str, request_id: str | None = None, poisoned: bool = False
) -> Step:
    return Step(
        current.model_copy(
            update={
                "state": CallState.FAILED,
                "error": error,
                "request_ids": _with_id(current.request_ids, request_id),
                "poisoned": poisoned,
            }
        )
    )


def _mark_expired(current: PaidCall, *, error: str) -> Step:
    return Step(current.model_copy(update={"state": CallState.EXPIRED, "error": error}))


_RULES = {
    "begin": _begin,
    "record_repayment": _record_repayment,
    "mark_submitted": _mark_submitted,
    "record_answer": _record_answer,
    "record_ambiguous_failure": _record_ambiguous_failure,
    "mark_archived": _mark_archived,
    "mark_failed": _mark_failed,
    "mark_expired": _mark_expired,
}
assert _RULES.keys() == TRANSITIONS.keys()
