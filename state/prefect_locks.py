"""A Prefect ``LockManager`` on the state's per-input locks, correct under async tasks.

Prefect's SERIALIZABLE cache isolation takes the lock with ``acquire_lock`` or
``aacquire_lock`` and, even in async tasks, releases it with the sync ``release_lock``, from
whatever thread and event loop the task runs on. A lock backed by an asyncio connection cannot
be used from a loop other than the one that created it (prefect-redis' manager never releases
its lock after an async task for this reason; docs/prefect.md#isolation-and-locks).

So this manager owns one private event loop on a background thread: every lock is taken,
probed and released there, and both the sync and the async methods only submit work to it
(``asyncio.run_coroutine_threadsafe``). No connection ever meets a foreign loop, and a sync
release from inside a running loop just waits for the private loop to do it.

The store is resolved on each acquisition (``resolve_state(url)``), so a manager built at import
follows ``PREFECT_IMAGE_EDIT_STATE_URL`` set later; a held lock is released on the store that
granted it. ``hold_timeout`` is accepted and ignored: a lock dies with its holder's process (or
connection), which is the case a hold timeout exists for.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Coroutine
from contextlib import AbstractAsyncContextManager
from typing import Any, TypeVar

from prefect_image_edit.state.errors import LockBusy
from prefect_image_edit.state.resolve import resolve_state

__all__ = ["StateLockManager"]

T = TypeVar("T")


class StateLockManager:
    """Prefect lock manager over ``StateStore.lock`` (embedded flock or PostgreSQL advisory).

    Args:
        url: The state URL; None resolves ``PREFECT_IMAGE_EDIT_STATE_URL`` or the embedded
            default at each acquisition.

    Example:
        ```python
        from prefect.cache_policies import INPUTS
        from prefect_image_edit.state.prefect_locks import StateLockManager

        policy = INPUTS.configure(isolation_level="SERIALIZABLE", lock_manager=StateLockManager())
        ```
    """

    def __init__(self, url: str | None = None) -> None:
        self._url = url
        self._held: dict[str, tuple[str, AbstractAsyncContextManager[None]]] = {}
        self._mutex = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    # -- the private loop --------------------------------------------------------------------

    def _submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        with self._mutex:
            if self._loop is None or self._thread is None or not self._thread.is_alive():
                self._loop = asyncio.new_event_loop()
                self._thread = threading.Thread(
                    target=self._loop.run_forever, name="image-edit-locks", daemon=True
                )
                self._thread.start()
            loop = self._loop
        if threading.current_thread() is self._thread:
            coro.close()
            raise RuntimeError("StateLockManager methods cannot be called from its own loop")
        return asyncio.run_coroutine_threadsafe(coro, loop)

    def _wait(self, coro: Coroutine[Any, Any, T]) -> T:
        return self._submit(coro).result()

    async def _await(self, coro: Coroutine[Any, Any, T]) -> T:
        return await asyncio.wrap_future(self._submit(coro))

    # -- work done on the private loop -------------------------------------------------------

    async def _acquire(self, key: str, holder: str, timeout: float | None) -> bool:
        with self._mutex:
            current = self._held.get(key)
            if current is not None and current[0] == holder:
                return True
        lock = resolve_state(self._url).lock(key, timeout=timeout)
        try:
            await lock.__aenter__()
        except LockBusy:
            return False
        with self._mutex:
            self._held[key] = (holder, lock)
        return True

    async def _probe(self, key: str, timeout: float | None) -> bool:
        """True if ``key`` was free (or became free within ``timeout``); holds it only briefly."""
        try:
            async with resolve_state(self._url).lock(key, timeout=timeout):
                return True
        except LockBusy:
            return False

    def _take(self, key: str, holder: str) -> AbstractAsyncContextManager[None]:
        with self._mutex:
            current = self._held.get(key)
            if current is None or current[0] != holder:
                raise ValueError(f"Cannot release lock for {key!r}: it is not held by {holder!r}")
            del self._held[key]
            return current[1]

    # -- Prefect's LockManager protocol ------------------------------------------------------

    def acquire_lock(
        self,
        key: str,
        holder: str,
        acquire_timeout: float | None = None,
        hold_timeout: float | None = None,
    ) -> bool:
        """Block until ``holder`` holds ``key``; False after ``acquire_timeout`` seconds."""
        return self._wait(self._acquire(key, holder, acquire_timeout))

    async def aacquire_lock(
        self,
        key: str,
        holder: str,
        acquire_timeout: float | None = None,
        hold_timeout: float | None = None,
    ) -> bool:
        future = self._submit(self._acquire(key, holder, acquire_timeout))
        try:
            return await asyncio.wrap_future(future)
        except asyncio.CancelledError:
            # Cancelled while the private loop was granting it: give it back, or it leaks.
            granted = future.done() and not future.cancelled() and future.exception() is None
            if granted and future.result() and self.is_lock_holder(key, holder):
                self.release_lock(key, holder)
            raise

    def release_lock(self, key: str, holder: str) -> None:
        """Release ``holder``'s lock on ``key``; safe to call from inside any event loop."""
        lock = self._take(key, holder)
        self._wait(lock.__aexit__(None, None, None))

    async def arelease_lock(self, key: str, holder: str) -> None:
        lock = self._take(key, holder)
        await self._await(lock.__aexit__(None, None, None))

    def is_locked(self, key: str) -> bool:
        with self._mutex:
            if key in self._held:
                return True
        return not self._wait(self._probe(key, 0))

    def is_lock_holder(self, key: str, holder: str) -> bool:
        with self._mutex:
            current = self._held.get(key)
            return current is not None and current[0] == holder

    def wait_for_lock(self, key: str, timeout: float | None = None) -> bool:
        """Block until ``key`` is free; False if still held after ``timeout`` seconds."""
        return self._wait(self._probe(key, timeout))

    async def await_for_lock(self, key: str, timeout: float | None = None) -> bool:
        return await self._await(self._probe(key, timeout))

    def close(self) -> None:
        """Release every lock still held and stop the private loop."""
        with self._mutex:
            held, self._held = list(self._held.values()), {}
            loop, thread, self._loop, self._thread = self._loop, self._thread, None, None
        if loop is None or thread is None:
            return
        for _, lock in held:
            asyncio.run_coroutine_threadsafe(lock.__aexit__(None, None, None), loop).result()
        store = resolve_state(self._url)
        asyncio.run_coroutine_threadsafe(store.close(), loop).result()
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
