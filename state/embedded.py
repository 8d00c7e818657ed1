"""The embedded backend: one directory of JSON records and staged files, plus flock locks.

Zero set-up and one machine (the kernel's ``flock`` does not reach other machines). The layout
is the one ``ledger.Ledger`` and ``tasks.locking.FlockLockManager`` use, so both see the same
records and locks:

- ``<directory>/calls/<sha256(key)>.json``  the record, replaced atomically
- ``<directory>/staged/<sha256(key)>``      staged result bytes, until archived
- ``<directory>/mutex/<sha256(key)>``       a short flock held around each transition
- ``<locks_dir>/<sha256(key)>.lock``        the per-input lock (freed when its process dies)

Staged bytes are written before the record that points at them, so a crash in between leaves
bytes that ``staged(key)`` still returns (the record stays IN_FLIGHT): a paid result is never
only in a dead process.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import json
import os
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prefect_image_edit.atomic import atomic_write
from prefect_image_edit.state import model
from prefect_image_edit.state.errors import LockBusy
from prefect_image_edit.state.flock import FlockLockManager
from prefect_image_edit.state.model import PENDING_STATES, PaidCall
from prefect_image_edit.state.store import COUNTER_EPSILON, StateStore

__all__ = ["EmbeddedStore"]


def _name(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


class EmbeddedStore(StateStore):
    """State in a local directory.

    Args:
        directory: Where records and staged bytes live (the pack's ledger directory).
        locks_dir: Where per-input lock files live; default ``<directory>/locks``.
    """

    def __init__(
        self, directory: str | os.PathLike[str], locks_dir: str | os.PathLike[str] | None = None
    ) -> None:
        self.directory = Path(directory).expanduser().resolve()
        self.locks_dir = Path(locks_dir or self.directory / "locks").expanduser().resolve()
        self.url = self.directory.as_uri()
        self._locks = FlockLockManager(self.locks_dir)

    def _record_path(self, key: str) -> Path:
        return self.directory / "calls" / f"{_name(key)}.json"

    def _staged_path(self, key: str) -> Path:
        return self.directory / "staged" / _name(key)

    # -- reads -------------------------------------------------------------------------------

    def _read(self, key: str) -> PaidCall | None:
        try:
            return PaidCall.model_validate_json(self._record_path(key).read_bytes())
        except FileNotFoundError:
            return None

    async def get(self, key: str) -> PaidCall | None:
        return await asyncio.to_thread(self._read, key)

    async def staged(self, key: str) -> bytes | None:
        try:
            return await asyncio.to_thread(self._staged_path(key).read_bytes)
        except FileNotFoundError:
            return None

    def _memo_path(self, key: str) -> Path:
        return self.directory / "memo" / f"{_name(key)}.json"

    def _recall(self, keys: list[str]) -> dict[str, dict[str, Any]]:
        found = {}
        for key in keys:
            try:
                found[key] = json.loads(self._memo_path(key).read_bytes())
            except (FileNotFoundError, ValueError):
                continue
        return found

    async def recall(self, keys: list[str]) -> dict[str, dict[str, Any]]:
        return await asyncio.to_thread(self._recall, keys)

    async def remember(self, key: str, value: dict[str, Any]) -> None:
        data = json.dumps(value, sort_keys=True, default=str).encode()
        await asyncio.to_thread(atomic_write, self._memo_path(key), data)

    def _counter_path(self, key: str) -> Path:
        return self.directory / "counters" / f"{_name(key)}.json"

    def _read_counter(self, key: str) -> float:
        try:
            return float(json.loads(self._counter_path(key).read_bytes())["total"])
        except (FileNotFoundError, ValueError, KeyError):
            return 0.0

    def _add_to_counter(self, key: str, amount: float, cap: float | None) -> float | None:
        with self._mutex("counter/" + key):
            total = self._read_counter(key) + amount
            if cap is not None and amount > 0 and total > cap + COUNTER_EPSILON:
                return None
            data = json.dumps({"key": key, "total": total}).encode()
            atomic_write(self._counter_path(key), data, durable=True)
            return total

    async def add_to_counter(
        self, key: str, amount: float, *, cap: float | None = None
    ) -> float | None:
        return await asyncio.to_thread(self._add_to_counter, key, amount, cap)

    async def counter(self, key: str) -> float:
        return await asyncio.to_thread(self._read_counter, key)

    def _pending(self, limit: int | None) -> list[PaidCall]:
        records = []
        for path in (self.directory / "calls").glob("*.json"):
            try:
                record = PaidCall.model_validate_json(path.read_bytes())
            except (OSError, ValueError):
                continue  # replaced right now; the next sweep sees it
            if record.state in PENDING_STATES:
                records.append(record)
        far = datetime.max.replace(tzinfo=UTC)
        records.sort(key=lambda r: (r.expires_at or far, r.created_at))
        return records[:limit] if limit is not None else records

    async def pending(self, limit: int | None = None) -> list[PaidCall]:
        return await asyncio.to_thread(self._pending, limit)

    # -- transitions -------------------------------------------------------------------------

    def _transition_sync(self, key: str, transition: str, args: dict[str, Any]) -> PaidCall:
        with self._mutex(key):
            step = model.apply(transition, key, self._read(key), **args)
            record = step.record
            staged = self._staged_path(key)
            if step.stage is not None:
                atomic_write(staged, step.stage, durable=True)
                record = record.model_copy(update={"staged_file": staged.name})
            record_bytes = record.model_dump_json(indent=1).encode()
            atomic_write(self._record_path(key), record_bytes, durable=True)
            if step.drop_staged:
                staged.unlink(missing_ok=True)
            return record

    async def _transition(self, key: str, transition: str, **args: Any) -> PaidCall:
        return await asyncio.to_thread(self._transition_sync, key, transition, args)

    @contextlib.contextmanager
    def _mutex(self, key: str):
        """Serialise read-modify-write of one record across threads and processes."""
        path = self.directory / "mutex" / _name(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing the last descriptor releases the flock

    # -- the per-input lock ------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def lock(self, key: str, *, timeout: float | None = None) -> AsyncIterator[None]:
        holder = f"state-{uuid.uuid4()}"
        if not await self._locks.aacquire_lock(key, holder, acquire_timeout=timeout):
            raise LockBusy(key, timeout)
        try:
            yield
        finally:
            self._locks.release_lock(key, holder)

    async def close(self) -> None:
        """Nothing to free: every file is closed after each use."""
