"""The ledger of paid calls: what was paid for and where its result is, written first.

Prefect's cache records a task's result only when the task returns. Between the vendor's answer
and that moment (downloading, archiving) a crash or a failure would otherwise lose a result that
was paid for, and the retry would pay again. So every paid call is written here the moment it
goes out and the moment it comes back: a re-run finds the task id to poll, the result bytes to
archive, or the URL to download, instead of paying a second time.

One JSON file per content key, written atomically. Writers for one key are serialised by the
same lock that Prefect's SERIALIZABLE cache isolation holds around the task, so the ledger
itself needs no locking. No Prefect imports: the archive sweeper and tests read it directly.

Being replaced by ``prefect_image_edit.state`` (one interface, named transitions, an embedded
and a PostgreSQL backend); the embedded backend keeps this directory layout, so both agree.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prefect_image_edit.atomic import atomic_write
from prefect_image_edit.state.model import CallState, PaidCall

__all__ = ["CallState", "Ledger", "PaidCall"]


def _now() -> datetime:
    return datetime.now(UTC)


class Ledger:
    """A directory of ``PaidCall`` records, plus staged result bytes awaiting archiving.

    Args:
        directory: Where records live; local to the machine that runs the tasks (or shared
            storage mounted by all of them).
    """

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory).expanduser().resolve()
        self.records_dir = self.directory / "calls"
        self.staging_dir = self.directory / "staged"

    @staticmethod
    def _name(key: str) -> str:
        return hashlib.sha256(key.encode("utf-8")).hexdigest()

    def _record_path(self, key: str) -> Path:
        return self.records_dir / f"{self._name(key)}.json"

    def get(self, key: str) -> PaidCall | None:
        try:
            return PaidCall.model_validate_json(self._record_path(key).read_bytes())
        except FileNotFoundError:
            return None

    def save(self, record: PaidCall) -> PaidCall:
        record = record.model_copy(update={"updated_at": _now()})
        atomic_write(
            self._record_path(record.key), record.model_dump_json(indent=1).encode(), durable=True
        )
        return record

    def update(self, key: str, **changes: Any) -> PaidCall:
        record = self.get(key)
        if record is None:
            raise KeyError(key)
        return self.save(record.model_copy(update=changes))

    def begin_attempt(self, record: PaidCall) -> PaidCall:
        """Record a paid request about to go out (before it is sent).

        A record still ``IN_FLIGHT`` here means an earlier process died while its request was
        out: the vendor may have billed it, so it is counted as a possible double charge.
        """
        existing = self.get(record.key)
        base = existing or record
        doubles = base.possible_double_charges
        if existing is not None and existing.state is CallState.IN_FLIGHT:
            doubles += 1
        return self.save(
            base.model_copy(
                update={
                    "state": CallState.IN_FLIGHT,
                    "attempts": base.attempts + 1,
                    "possible_double_charges": doubles,
                    "parameters": record.parameters,
                    "inputs": record.inputs,
                    "error": None,
                }
            )
        )

    def stage(self, key: str, data: bytes, media_type: str) -> Path:
        """Keep result bytes on disk until they are archived; returns the file."""
        path = self.staging_dir / self._name(key)
        atomic_write(path, data, durable=True)
        self.update(key, staged_file=path.name, media_type=media_type)
        return path

    def staged_path(self, record: PaidCall) -> Path | None:
        if not record.staged_file:
            return None
        path = self.staging_dir / record.staged_file
        return path if path.is_file() else None

    def drop_staged(self, record: PaidCall) -> None:
        if record.staged_file:
            (self.staging_dir / record.staged_file).unlink(missing_ok=True)

    def records(self) -> Iterator[PaidCall]:
        if not self.records_dir.is_dir():
            return
        for path in sorted(self.records_dir.glob("*.json")):
            try:
                yield PaidCall.model_validate_json(path.read_bytes())
            except (OSError, ValueError):
                continue  # a record being replaced right now; the next sweep sees it

    def pending(self) -> list[PaidCall]:
        """Records whose result is not durable yet, the soonest to expire first."""
        waiting = [
            r
            for r in self.records()
            if r.state in (CallState.SUBMITTED, CallState.READY, CallState.IN_FLIGHT)
        ]
        far = datetime.max.replace(tzinfo=UTC)
        return sorted(waiting, key=lambda r: (r.expires_at or far, r.created_at))

    def summary(self) -> dict[str, Any]:
        """Counts by state, attempts and possible double charges: what a user was billed for."""
        states: dict[str, int] = {}
        attempts = doubles = 0
        for record in self.records():
            states[record.state.value] = states.get(record.state.value, 0) + 1
            attempts += record.attempts
            doubles += record.possible_double_charges
        return {"states": states, "attempts": attempts, "possible_double_charges": doubles}
