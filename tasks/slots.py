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
Handing a slot on happens on the callers' own event loops; all server traffic runs on one
private event loop thread, so the pool works from any thread or event loop.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import logging
import random
import threading
import time
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from uuid import UUID

import httpx

__all__ = ["IDLE_SECONDS", "LEASE_SECONDS", "RESERVED_SECONDS", "SlotPool", "pool_for"]

logger = logging.getLogger(__name__)

LEASE_SECONDS = 60.0
"""The shortest lease Prefect allows: a dead holder's slot returns soonest."""
IDLE_SECONDS = 0.25
"""A slot nobody in this process has used for this long goes back to the server."""
RESERVED_SECONDS = 1.0
"""How long a slot leased ahead (``SlotPool.reserve``) waits free before it counts as idle."""
_MAX_WAIT_SECONDS = 0.5
"""The longest a refused lease request waits before asking again (the server's hint is
capped: its Retry-After grows with the queue and would leave freed slots idle)."""
_BUSY_WAITS = (0.05, 0.1, 0.2, 0.4, 0.8)
"""Waits before the pool's client asks again after HTTP 503 (then Prefect's own retries take
over). A SQLite-backed server answers 503 when two writes collide, which clears in
milliseconds, and Prefect's client waits 2 s before its first retry: measured, a batch's first
lease waited those 2 s with every vendor slot idle."""


class _AskAgainWhenBusy(httpx.AsyncBaseTransport):
    """A transport that sends a request again, soon, while the server answers 503 (busy).

    It sits under Prefect's client, whose own retries (2 s, then 4, 8...) take over once
    :data:`_BUSY_WAITS` are used up (docs/prefect.md#busy-answers-http-503).
    """

    def __init__(self, transport: httpx.AsyncBaseTransport) -> None:
        self._transport = transport

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        for wait in (*_BUSY_WAITS, None):
            response = await self._transport.handle_async_request(request)
            if response.status_code != 503 or wait is None:
                return response
            await response.aclose()
            await asyncio.sleep(wait * (0.5 + random.random() / 2))
        raise AssertionError("unreachable")

    async def aclose(self) -> None:
        await self._transport.aclose()


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

    A finished call hands its slot straight to the caller that has waited longest, on that
    caller's own event loop when it is the same one (a batch's items): no thread hop and no
    request, so the vendor slot is busy again within the loop's next turn. Only lease requests,
    renewals and give-backs run on the private loop.

    Args:
        name: The limit's name (it must exist: see ``tasks.limits.ensure_limit``).
        size: The limit's size: more leases than this are never asked for.
    """

    def __init__(self, name: str, size: int) -> None:
        self.name = name
        self.size = max(1, size)
        self._lock = threading.Lock()  # the state below is shared by every caller's loop
        self._free: list[tuple[UUID, float]] = []  # (lease, free since), newest last
        self._held: set[UUID] = set()
        self._waiters: deque[asyncio.Future[UUID]] = deque()
        # One lease request at a time: concurrent increments of one limit on a SQLite-backed
        # server fail with "database is locked" and the client's retry waited ~2 s (measured).
        self._asking = False
        self._client = None
        self._client_ready: asyncio.Future | None = None
        self._renewer: asyncio.Task | None = None
        self._reaper: asyncio.Task | None = None
        self._returning: set[asyncio.Task] = set()  # idle slots on their way back
        self.requests = 0
        """Lease requests made to the server (acquire, renew, release): for benchmarks."""

    @property
    def held(self) -> int:
        """Slots this process holds, or is still giving back."""
        return len(self._held) + len(self._returning)

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one slot for the ``async with`` block."""
        lease = await self._take()
        try:
            yield
        finally:
            self._give(lease)  # no await: a cancelled caller still hands its slot on

    async def _take(self) -> UUID:
        with self._lock:
            if self._free:
                return self._free.pop()[0]
            waiter: asyncio.Future[UUID] = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            ask = self._should_ask()
        if ask:
            asyncio.run_coroutine_threadsafe(self._ask(), _Loop.get().loop)
        try:
            return await waiter
        except BaseException:
            with self._lock:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                self._give(waiter.result())  # handed a slot as it was cancelled: pass it on
            raise

    def _should_ask(self) -> bool:
        """Whether to start asking the server for a lease (call with the lock held)."""
        if self._asking or not self._waiters or len(self._held) >= self.size:
            return False
        self._asking = True
        return True

    def reserve(self, count: int) -> None:
        """Start leasing up to ``count`` slots now, ahead of the calls that will need them.

        A batch's first wave otherwise leased its slots one call at a time as each item's
        preparation finished, ~12 ms apart. Slots leased ahead wait free for
        :data:`RESERVED_SECONDS` before the idle ones go back. No-op while the pool is asking.
        """
        with self._lock:
            if self._asking or count <= 0:
                return
            self._asking = True
        asyncio.run_coroutine_threadsafe(self._ask(ahead=count), _Loop.get().loop)

    def _give(self, lease: UUID, keep_for: float = 0.0) -> None:
        """Hand ``lease`` to the longest waiting caller, else keep it free. From any thread."""
        try:
            current = asyncio.get_running_loop()
        except RuntimeError:
            current = None
        with self._lock:
            if lease not in self._held:  # lost (its lease expired): the server took it back
                ask = self._should_ask()
                waiter = None
            else:
                ask = False
                waiter = self._next_waiter()
                if waiter is None:
                    self._free.append((lease, time.monotonic() + keep_for))
                elif waiter.get_loop() is current:
                    waiter.set_result(lease)
                    return
        if ask:
            asyncio.run_coroutine_threadsafe(self._ask(), _Loop.get().loop)
        if waiter is not None:
            try:
                waiter.get_loop().call_soon_threadsafe(self._deliver, waiter, lease)
            except RuntimeError:  # that loop is closed: its caller is gone
                self._give(lease)

    def _next_waiter(self) -> asyncio.Future[UUID] | None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                return waiter
        return None

    def _deliver(self, waiter: asyncio.Future[UUID], lease: UUID) -> None:
        """On the waiter's loop: its slot, or the next caller's if it was cancelled meanwhile."""
        if waiter.done():
            self._give(lease)
        else:
            waiter.set_result(lease)

    # -- on the private loop ---------------------------------------------------------------

    async def _api(self):
        if self._client_ready is None:  # one client, even if the renewer asks at the same time
            self._client_ready = asyncio.ensure_future(self._open_client())
        return await asyncio.shield(self._client_ready)

    async def _open_client(self):
        from prefect import get_client

        client = get_client()
        await client.__aenter__()
        http = client._client  # Prefect's httpx client: its transport asks again sooner on 503
        http._transport = _AskAgainWhenBusy(http._transport)
        self._client = client
        return client

    async def _ask(self, ahead: int = 0) -> None:
        """Lease slots from the server while callers wait (or ``ahead`` more are wanted) and
        the limit allows."""
        try:
            while True:
                with self._lock:
                    if (not self._waiters and ahead <= 0) or len(self._held) >= self.size:
                        self._asking = False
                        return
                lease = await self._lease_one()
                if lease is None:  # refused: the limit is busy elsewhere; ask only for callers
                    ahead = 0
                    continue
                with self._lock:
                    self._held.add(lease)
                self._start_background()
                self._give(lease, keep_for=RESERVED_SECONDS if ahead > 0 else 0.0)
                ahead -= 1
        except BaseException as error:
            logger.debug("leasing a slot of %s failed: %s", self.name, error)
            with self._lock:
                self._asking = False
                waiters = list(self._waiters)
                self._waiters.clear()
            for waiter in waiters:  # each would have met the same error asking itself
                with contextlib.suppress(RuntimeError):
                    waiter.get_loop().call_soon_threadsafe(_fail, waiter, error)
            if not isinstance(error, Exception):
                raise

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

    def _start_background(self) -> None:
        if self._renewer is None or self._renewer.done():
            self._renewer = asyncio.get_running_loop().create_task(self._renew_forever())
        if self._reaper is None or self._reaper.done():
            self._reaper = asyncio.get_running_loop().create_task(self._reap_idle())

    async def _renew_forever(self) -> None:
        while self._held:
            await asyncio.sleep(LEASE_SECONDS * 0.5)
            client = await self._api()
            with self._lock:
                leases = list(self._held)
            for lease in leases:
                self.requests += 1
                try:
                    await client.renew_concurrency_lease(lease, lease_duration=LEASE_SECONDS)
                except Exception as error:  # the lease expired: the server took the slot back
                    logger.warning("concurrency lease on %s lost: %s", self.name, error)
                    self._forget(lease)

    def _forget(self, lease: UUID) -> None:
        with self._lock:
            self._held.discard(lease)
            self._free = [(free, since) for free, since in self._free if free != lease]
            ask = self._should_ask()
        if ask:
            asyncio.get_running_loop().create_task(self._ask())

    async def _reap_idle(self) -> None:
        """Give back the slots that have stayed free for a whole idle period."""
        while self._held:
            await asyncio.sleep(IDLE_SECONDS)
            with self._lock:
                cutoff = time.monotonic() - IDLE_SECONDS
                idle = [lease for lease, since in self._free if since <= cutoff]
                if not idle:
                    continue
                self._free = [(lease, since) for lease, since in self._free if since > cutoff]
                self._held.difference_update(idle)
                # A task of its own, which closing waits for: cancelled mid-request, the
                # slots would stay taken on the server until their leases expire (60 s).
                giving = asyncio.get_running_loop().create_task(self._give_back(idle))
                self._returning.add(giving)
                giving.add_done_callback(self._returning.discard)

    async def _give_back(self, leases: list[UUID]) -> None:
        client = await self._api()
        for lease in leases:
            self.requests += 1
            try:
                await client.release_concurrency_slots_with_lease(lease)
            except Exception as error:
                logger.warning("could not release a lease on %s: %s", self.name, error)

    async def _close(self) -> None:
        with self._lock:
            leases = list(self._held)
            self._held.clear()
            self._free.clear()
        for task in (self._renewer, self._reaper):
            if task is not None:
                task.cancel()
        if leases:
            await self._give_back(leases)
        await asyncio.gather(*self._returning)
        if self._client is not None:
            await self._client.__aexit__(None, None, None)
            self._client = self._client_ready = None

    async def connect(self) -> None:
        """Open the pool's API client now, ahead of its first lease request."""
        await _Loop.get().run(self._api())

    async def close(self) -> None:
        """Give every slot back now (tests; the process exiting does it through expiry)."""
        await _Loop.get().run(self._close())


def _fail(waiter: asyncio.Future, error: BaseException) -> None:
    if not waiter.done():
        waiter.set_exception(error)


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
