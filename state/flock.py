"""A crash-safe, cross-process lock manager for Prefect's SERIALIZABLE cache isolation.

Why not Prefect's own managers: ``MemoryLockManager`` only excludes runs in one process, and
``FileSystemLockManager`` writes lock files that outlive a crashed holder (the engine passes no
hold timeout, so every later run with that key waits forever; docs/prefect.md#isolation-and-locks).

This manager uses ``fcntl.flock`` on one file per key. The kernel releases a flock when its
holder's process dies, so a killed flow never leaves a stale lock, and locks exclude threads
and coroutines of one process as well as other processes on the machine (each acquisition opens
its own file description). Lock files are never deleted: deleting a lock file while another
process waits on it would let two holders in.

It implements Prefect's ``LockManager`` protocol structurally, without importing Prefect.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

__all__ = ["FlockLockManager"]

_POLL_SECONDS = 0.05


class FlockLockManager:
    """Locks keyed by string, held as ``flock`` on ``<directory>/<sha256(key)>.lock``.

    Args:
        directory: Where lock files live; must be on a local filesystem shared by the
            processes that should exclude each other. A callable is resolved on each use, so a
            manager built at import time follows later changes of the settings.
    """

    def __init__(
        self, directory: str | os.PathLike[str] | Callable[[], str | os.PathLike[str]]
    ) -> None:
        self._directory = directory
        self._held: dict[str, tuple[str, int]] = {}
        self._mutex = threading.Lock()

    @property
    def directory(self) -> Path:
        where = self._directory() if callable(self._directory) else self._directory
        return Path(where).expanduser().resolve()

    def _path(self, key: str) -> Path:
        digest = hashlib.sha256(key.encode("utf-8")).hexdigest()
        return self.directory / f"{digest}.lock"

    def _try_lock(self, key: str) -> int | None:
        """Open the key's file and take the lock without blocking; the fd, or None if busy."""
        self.directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(self._path(key), os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        except BaseException:
            os.close(fd)
            raise
        return fd

    def _claim(self, key: str, holder: str) -> bool | None:
        """True if ``holder`` now holds ``key``; None if someone else does."""
        with self._mutex:
            current = self._held.get(key)
            if current is not None:
                return True if current[0] == holder else None
            fd = self._try_lock(key)
            if fd is None:
                return None
            self._held[key] = (holder, fd)
            return True

    def acquire_lock(
        self,
        key: str,
        holder: str,
        acquire_timeout: float | None = None,
        hold_timeout: float | None = None,
    ) -> bool:
        """Block until ``holder`` holds ``key`` or ``acquire_timeout`` seconds pass.

        ``hold_timeout`` is accepted for the protocol and ignored: the kernel releases the lock
        when the holding process ends, which is the case a hold timeout exists for.
        """
        deadline = None if acquire_timeout is None else time.monotonic() + acquire_timeout
        while True:
            if self._claim(key, holder):
                return True
            if deadline is not None and time.monotonic() >= deadline:
                return False
            time.sleep(_POLL_SECONDS)

    async def aacquire_lock(
        self,
        key: str,
        holder: str,
        acquire_timeout: float | None = None,
        hold_timeout: float | None = None,
    ) -> bool:
        deadline = None if acquire_timeout is None else time.monotonic() + acquire_timeout
        while True:
            if self._claim(key, holder):
                return True
            if deadline is not None and time.monotonic() >= deadline:
                return False
            await asyncio.sleep(_POLL_SECONDS)

    def release_lock(self, key: str, holder: str) -> None:
        with self._mutex:
            current = self._held.get(key)
            if current is None or current[0] != holder:
                raise ValueError(f"Cannot release lock for {key!r}: it is not held by {holder!r}")
            del self._held[key]
            _, fd = current
            with contextlib.suppress(OSError):
                fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def is_locked(self, key: str) -> bool:
        with self._mutex:
            if key in self._held:
                return True
            fd = self._try_lock(key)
            if fd is None:
                return True
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
            return False

    def is_lock_holder(self, key: str, holder: str) -> bool:
        with self._mutex:
            current = self._held.get(key)
            return current is not None and current[0] == holder

    def wait_for_lock(self, key: str, timeout: float | None = None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.is_locked(key):
            if deadline is not None and time.monotonic() >= deadline:
                return False
            time.sleep(_POLL_SECONDS)
        return True

    async def await_for_lock(self, key: str, timeout: float | None = None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.is_locked(key):
            if deadline is not None and time.monotonic() >= deadline:
                return False
            await asyncio.sleep(_POLL_SECONDS)
        return True
