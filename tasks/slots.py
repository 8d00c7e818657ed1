"""Vendor concurrency slots leased from the Prefect server per process, not per call.

A Prefect global concurrency limit is what holds a vendor's limit across processes and
machines, but taking a slot for every call cost three API round trips (increment with a lease,
renew, decrement, plus a new client each time), and a refused attempt (HTTP 423) made every
caller queued behind it wait (docs/prefect.md#slot-waits-and-retry-after). Measured, that was
the largest single cost of a batch.

A :class:`SlotPool` instead leases slots from the server one at a time as its callers need
them, keeps them while calls keep coming (a finished call hands its slot to the next one, with
no request at all), renews the leases in the background, and gives them back once they have
been idle for :data:`IDLE_SECONDS`, and all of them when the process exits (a worker runs each
flow run in a process of its own: the next one must not wait for an expiry). Every slot a call
holds is a slot the server counts, so the limit holds across processes exactly as before; only
a process that is killed loses its leases by expiry (60 s, then the server's clean-up loop).
All server traffic runs on one private event loop thread, so the pool works from any thread or
event loop.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import random
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from uuid import UUID

import httpx

__all__ = ["IDLE_SECONDS", "LEASE_SECONDS", "SlotPool", "pool_for"]

logger = logging.getLogger(__name__)

LEASE_SECONDS = 60.0
"""The shortest lease Prefect allows: a dead holder's slot returns soonest."""
IDLE_SECONDS = 0.25
"""A slot nobody in this process has used for this long goes back to the server."""
_MAX_WAIT_SECONDS = 0.5
"""The longest a refused lease request waits before asking again (the server's hint is
capped: its Retry-After grows with the queue and would leave freed slots idle)."""


class _Loop:
    """One private event loop thread for all pools of the process."""

    _instance: _Loop | None = None
    _lock = threading.Lock()

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        thread = threading.Thread(
            target=self.loop.run_forever, name="image-edit-slots", daemon=True
        )
        thread.start()

    @classmethod
    def get(cls) -> _Loop:
        with cls._lock:
            if cls._instance is None:
                cls._instance = _Loop()
            return cls._instance

    async def run(self, coro):
        """Run ``coro`` on the private loop and await it from any loop."""
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self.loop))


class SlotPool:
    """Slots of one Prefect global concurrency limit, shared by every caller in this process.

    Args:
        name: The limit's name (it must exist: see ``tasks.limits.ensure_limit``).
        size: The limit's size: more leases than this are never asked for.
    """

    def __init__(self, name: str, size: int) -> None:
        self.name = name
        self.size = max(1, size)
        self._free: list[UUID] = []
        self._held: set[UUID] = set()
        self._waiting = 0
        # One lease request at a time: concurrent increments of one limit on a SQLite-backed
        # server fail with "database is locked" and the client's retry waited ~2 s (measured).
        self._asking = False
        self._changed: asyncio.Condition | None = None
        self._client = None
        self._client_ready: asyncio.Future | None = None
        self._renewer: asyncio.Task | None = None
        self._reaper: asyncio.Task | None = None
        self.requests = 0
        """Lease requests made to the server (acquire, renew, release): for benchmarks."""

    @property
    def held(self) -> int:
        return len(self._held)

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one slot for the ``async with`` block."""
        loop = _Loop.get()
        lease = await loop.run(self._acquire())
        try:
            yield
        finally:
            # Shielded: a cancelled caller must still hand its slot back.
            await asyncio.shield(loop.run(self._release(lease)))

    # -- on the private loop ---------------------------------------------------------------

    def _condition(self) -> asyncio.Condition:
        if self._changed is None:
            self._changed = asyncio.Condition()
        return self._changed

    async def _api(self):
        if self._client_ready is None:  # one client, even if the renewer asks at the same time
            self._client_ready = asyncio.ensure_future(self._open_client())
        return await asyncio.shield(self._client_ready)

    async def _open_client(self):
        from prefect import get_client

        client = get_client()
        await client.__aenter__()
        self._client = client
        return client

    async def _acquire(self) -> UUID:
        changed = self._condition()
        async with changed:
            self._waiting += 1
            try:
                while True:
                    if self._free:
                        return self._free.pop()
                    if len(self._held) < self.size and not self._asking:
                        self._asking = True
                        changed.release()
                        try:
                            lease = await self._lease_one()
                        finally:
                            await changed.acquire()
                            self._asking = False
                        if lease is not None:
                            self._held.add(lease)
                            self._start_background()
                            changed.notify_all()
                            return lease
                        changed.notify_all()
                        continue
                    await changed.wait()
            finally:
                self._waiting -= 1

    async def _lease_one(self) -> UUID | None:
        """Ask the server for one slot; None after a refusal (and a short wait)."""
        from prefect.client.schemas.responses import ConcurrencyLimitWithLeaseResponse
        from prefect.concurrency._asyncio import ConcurrencySlotAcquisitionError

        client = await self._api()
        self.requests += 1
        try:
            response = await client.increment_concurrency_slots_with_lease(
                names=[self.name], slots=1, mode="concurrency", lease_duration=LEASE_SECONDS
            )
        except httpx.HTTPStatusError as error:
            if error.response.status_code != 423:
                raise
            hint = float(error.response.headers.get("Retry-After") or _MAX_WAIT_SECONDS)
            await asyncio.sleep(min(hint, _MAX_WAIT_SECONDS) * (0.5 + random.random() / 2))
            return None
        granted = ConcurrencyLimitWithLeaseResponse.model_validate(response.json())
        if not granted.limits:
            raise ConcurrencySlotAcquisitionError(
                f"Concurrency limit {self.name!r} must be created before acquiring slots"
            )
        return granted.lease_id

    async def _release(self, lease: UUID) -> None:
        changed = self._condition()
        async with changed:
            self._free.append(lease)
            changed.notify_all()

    def _start_background(self) -> None:
        if self._renewer is None or self._renewer.done():
            self._renewer = asyncio.get_running_loop().create_task(self._renew_forever())
        if self._reaper is None or self._reaper.done():
            self._reaper = asyncio.get_running_loop().create_task(self._reap_idle())

    async def _renew_forever(self) -> None:
        while self._held:
            await asyncio.sleep(LEASE_SECONDS * 0.5)
            client = await self._api()
            for lease in list(self._held):
                self.requests += 1
                try:
                    await client.renew_concurrency_lease(lease, lease_duration=LEASE_SECONDS)
                except Exception as error:  # the lease expired: the server took the slot back
                    logger.warning("concurrency lease on %s lost: %s", self.name, error)
                    await self._forget(lease)

    async def _forget(self, lease: UUID) -> None:
        async with self._condition():
            self._held.discard(lease)
            if lease in self._free:
                self._free.remove(lease)

    async def _reap_idle(self) -> None:
        """Give back slots nobody waited for during a whole idle period."""
        changed = self._condition()
        while self._held:
            await asyncio.sleep(IDLE_SECONDS)
            async with changed:
                if self._waiting or not self._free:
                    continue
                idle = list(self._free)
                self._free.clear()
                self._held.difference_update(idle)
            await self._give_back(idle)

    async def _give_back(self, leases: list[UUID]) -> None:
        client = await self._api()
        for lease in leases:
            self.requests += 1
            try:
                await client.release_concurrency_slots_with_lease(lease)
            except Exception as error:
                logger.warning("could not release a lease on %s: %s", self.name, error)

    async def _close(self) -> None:
        async with self._condition():
            leases = list(self._held)
            self._held.clear()
            self._free.clear()
        if leases:
            await self._give_back(leases)
        for task in (self._renewer, self._reaper):
            if task is not None:
                task.cancel()
        if self._client is not None:
            await self._client.__aexit__(None, None, None)
            self._client = self._client_ready = None

    async def close(self) -> None:
        """Give every slot back now (tests; the process exiting does it through expiry)."""
        await _Loop.get().run(self._close())


_pools: dict[tuple[str, str], SlotPool] = {}
_pools_lock = threading.Lock()


def pool_for(api_url: str, name: str, size: int) -> SlotPool:
    """The process's pool for limit ``name`` on the server at ``api_url``."""
    with _pools_lock:
        if not _pools:
            atexit.register(_give_everything_back)
        pool = _pools.get((api_url, name))
        if pool is None or pool.size != max(1, size):
            pool = _pools[(api_url, name)] = SlotPool(name, size)
        return pool


def _give_everything_back(timeout: float = 10.0) -> None:
    """At exit: release every lease this process holds, so no slot waits for its expiry."""
    loop = _Loop.get()
    for pool in list(_pools.values()):
        if not pool.held:
            continue
        future = asyncio.run_coroutine_threadsafe(pool._close(), loop.loop)
        try:
            future.result(timeout)
        except Exception as error:  # the server is gone too: the leases will expire
            logger.warning("could not give back the slots of %s at exit: %s", pool.name, error)
