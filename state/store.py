"""``StateStore``: the one interface to the ledger of paid calls and the per-input locks.

Tasks, flows and the sweeper use only this. A backend implements four primitives
(``_transition``, ``get``, ``staged``, ``pending``) plus ``lock`` and ``close``; the named
transitions are written once here on top of ``_transition``, which must read the record,
apply ``state.model.apply`` and write the result (record and staged bytes together)
atomically, so two processes can never both move one record out of the same state.

The lock is the per-input lock: exclusive across processes (and machines, for PostgreSQL),
freed when its holder dies, and not re-entrant (a second ``lock(key)`` in the same task waits
for the first). Inside a Prefect task with SERIALIZABLE isolation the engine already holds it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Any

from prefect_image_edit.state.model import PaidCall, RepaymentReason

__all__ = ["COUNTER_EPSILON", "StateStore"]

COUNTER_EPSILON = 1e-9
"""Tolerance of the cap check: prices like 0.1 add up to 0.30000000000000004."""


class StateStore(ABC):
    """The ledger of paid calls (with staged result bytes) and the per-input locks.

    Every transition returns the record as written, and raises ``IllegalTransition`` (nothing
    written) when the record's state forbids it, or ``StateUnavailableError`` when the backend
    cannot be reached.
    """

    url: str
    """Where the state lives, with any password masked (safe to log)."""

    # -- reads -------------------------------------------------------------------------------

    @abstractmethod
    async def get(self, key: str) -> PaidCall | None:
        """The record of ``key``, or None if nothing was ever paid for it."""

    @abstractmethod
    async def staged(self, key: str) -> bytes | None:
        """The result bytes staged for ``key`` (kept until archived), or None."""

    @abstractmethod
    async def pending(self, limit: int | None = None) -> list[PaidCall]:
        """Records not archived, failed or expired yet, the soonest to expire first."""

    # -- finished items ----------------------------------------------------------------------

    @abstractmethod
    async def recall(self, keys: list[str]) -> dict[str, dict[str, Any]]:
        """What was remembered for each of ``keys`` (missing keys are absent): one round trip.

        A small memo of finished work (a batch item's source and options -> where its results
        were archived), so a re-run can skip what is done with one lookup per batch.
        """

    @abstractmethod
    async def remember(self, key: str, value: dict[str, Any]) -> None:
        """Store ``value`` (JSON) under ``key``, replacing what was there."""

    # -- counters ----------------------------------------------------------------------------

    async def add_to_counter(
        self, key: str, amount: float, *, cap: float | None = None
    ) -> float | None:
        """Atomically add ``amount`` to the counter ``key`` (missing: 0), unless the new total
        would exceed ``cap``; returns the new total, or None (nothing added) when it would.

        A run's budget lives here, so every machine of one run draws on the same figure: a
        reservation is an add with the cap, a release an add of the negative amount.
        """
        raise NotImplementedError(f"{type(self).__name__} keeps no counters")

    async def counter(self, key: str) -> float:
        """The counter ``key``'s total (0 if it was never added to)."""
        raise NotImplementedError(f"{type(self).__name__} keeps no counters")

    # -- the per-input lock ------------------------------------------------------------------

    @abstractmethod
    def lock(self, key: str, *, timeout: float | None = None) -> AbstractAsyncContextManager[None]:
        """Hold the per-input lock of ``key`` for the ``async with`` block.

        Args:
            key: The content key.
            timeout: Seconds to wait for it (0: only if free now; None: as long as it takes).

        Raises:
            LockBusy: not acquired within ``timeout``.
        """

    @abstractmethod
    async def close(self) -> None:
        """Free connections held for the current event loop (locks held are released)."""

    # -- named transitions (see state.model.TRANSITIONS) -------------------------------------

    @abstractmethod
    async def _transition(self, key: str, transition: str, **args: Any) -> PaidCall:
        """Atomically: read ``key``, ``model.apply(transition, ...)``, write record and bytes."""

    async def begin(self, call: PaidCall) -> PaidCall:
        """A paid request is about to go out for ``call.key`` (new record or a resend).

        A resend while the previous attempt is still IN_FLIGHT and unanswered counts as a
        possible double charge. An input already paid for needs ``record_repayment``.
        """
        return await self._transition(call.key, "begin", call=call)

    async def record_repayment(
        self, call: PaidCall, reason: RepaymentReason | str, detail: str | None = None
    ) -> PaidCall:
        """Pay again for an input already paid for: counted with ``reason``; IN_FLIGHT.

        Drops the old result's references and staged bytes, as they are what is replaced.
        """
        return await self._transition(
            call.key, "record_repayment", call=call, reason=RepaymentReason(reason), detail=detail
        )

    async def mark_submitted(
        self, key: str, task_id: str, *, request_id: str | None = None
    ) -> PaidCall:
        """An async job was accepted: persist its task id before anything else can fail."""
        return await self._transition(key, "mark_submitted", task_id=task_id, request_id=request_id)

    async def record_answer(
        self,
        key: str,
        *,
        data: bytes | None = None,
        media_type: str | None = None,
        result_url: str | None = None,
        expires_at: datetime | None = None,
        request_id: str | None = None,
    ) -> PaidCall:
        """The result exists: READY, with its URL and the staged bytes in the same step.

        ``data=None`` keeps bytes staged earlier (a refreshed URL of the same result).
        """
        return await self._transition(
            key,
            "record_answer",
            data=data,
            media_type=media_type,
            result_url=result_url,
            expires_at=expires_at,
            request_id=request_id,
        )

    async def record_ambiguous_failure(
        self, key: str, error: str, *, request_id: str | None = None
    ) -> PaidCall:
        """The request failed after the vendor may have accepted it; stays IN_FLIGHT."""
        return await self._transition(
            key, "record_ambiguous_failure", error=error, request_id=request_id
        )

    async def mark_archived(self, key: str, *, uri: str, object_key: str, sha256: str) -> PaidCall:
        """A durable copy exists; the staged bytes are dropped."""
        return await self._transition(
            key, "mark_archived", uri=uri, object_key=object_key, sha256=sha256
        )

    async def mark_failed(
        self, key: str, error: str, *, request_id: str | None = None, poisoned: bool = False
    ) -> PaidCall:
        """The job failed: the vendor refused it, or (``poisoned``) answered with a paid but
        unusable result, so paying again for it is a re-payment."""
        return await self._transition(
            key, "mark_failed", error=error, request_id=request_id, poisoned=poisoned
        )

    async def mark_expired(self, key: str, error: str) -> PaidCall:
        """The result expired unarchived and the vendor no longer has it."""
        return await self._transition(key, "mark_expired", error=error)

    async def __aenter__(self) -> StateStore:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
