"""Per-vendor Prefect global concurrency limits (and optional rate limits), created on demand.

docs/design.md#concurrency-limits:
one global concurrency limit per vendor account, named ``image-edit:<vendor>``,
created with the vendor's default when missing. A Prefect server enforces them, so they hold
across processes and machines that share it. ``strict=True`` everywhere: without it a missing
limit silently means no limit (docs/prefect.md#missing-limits-and-strict-mode).
The slot is held only around the HTTP
call, never around polling sleeps or retry back-off.

Change a limit with ``prefect gcl update image-edit:volcengine-cv --limit 5``; the pack only
creates limits that do not exist.

Slots are leased from the server per process, not per call (``tasks.slots.SlotPool``): a
finished call hands its slot to the next caller with no request, leases are renewed in the
background and given back once idle (``tasks.slots.IDLE_SECONDS``); a batch leases its first
wave's slots ahead, while its items are prepared. Each slot a call holds is one the
server counts, so the limit holds across processes and machines as before.
"""

from __future__ import annotations

import asyncio
import math
import threading
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager

from prefect import get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
from prefect.concurrency.asyncio import rate_limit
from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound

from prefect_image_edit.tasks.slots import SlotPool, pool_for
from prefect_image_edit.vendors import registry

__all__ = [
    "ensure_limit",
    "limit_name",
    "reserve_vendor_slots",
    "vendor_limits",
    "vendor_slot",
    "warm_vendor_slots",
]


def vendor_limits() -> dict[str, tuple[str, int]]:
    """Vendor -> (limit name, default size), from the vendor registry."""
    return {spec.name: (spec.limit_name, spec.concurrency) for spec in registry.specs()}


_known_limits: dict[tuple[str, str], int] = {}
_ensure_lock = threading.Lock()
_GATE_POLL_SECONDS = 0.01


async def _acquire(lock: threading.Semaphore | threading.Lock) -> None:
    """Take a thread-level lock from async code without blocking the event loop."""
    while not lock.acquire(blocking=False):
        await asyncio.sleep(_GATE_POLL_SECONDS)


def limit_name(vendor: str) -> str:
    return registry.get(vendor).limit_name


def _api_url() -> str:
    from prefect.settings import PREFECT_API_URL

    return str(PREFECT_API_URL.value() or "ephemeral")


async def ensure_limit(name: str, limit: int, slot_decay_per_second: float = 0.0) -> int:
    """Create the limit if it does not exist (an existing one is left as the user set it).

    Returns:
        The limit's size as the server has it.
    """
    marker = (_api_url(), name)
    if marker in _known_limits:
        return _known_limits[marker]
    await _acquire(_ensure_lock)  # concurrent first calls would all try to create it
    try:
        if marker not in _known_limits:
            _known_limits[marker] = await _read_or_create(name, limit, slot_decay_per_second)
    finally:
        _ensure_lock.release()
    return _known_limits[marker]


async def _read_or_create(name: str, limit: int, slot_decay_per_second: float) -> int:
    async with get_client() as client:
        try:
            existing = await client.read_global_concurrency_limit_by_name(name)
            limit = existing.limit
        except ObjectNotFound:
            try:
                await client.create_global_concurrency_limit(
                    GlobalConcurrencyLimitCreate(
                        name=name,
                        limit=limit,
                        active=True,
                        slot_decay_per_second=slot_decay_per_second,
                    )
                )
            except ObjectAlreadyExists:
                limit = (await client.read_global_concurrency_limit_by_name(name)).limit
    return limit


async def warm_vendor_slots(vendors: Iterable[str]) -> None:
    """Create the vendors' limits and connect their slot pools before the first paid call.

    A batch does it while it lists and prepares its items, so its first calls pay for neither
    round trip (~40 ms measured). No slot is taken.
    """
    for vendor in dict.fromkeys(vendors):
        await (await _pool(vendor)).connect()


async def reserve_vendor_slots(vendor: str, count: int) -> None:
    """Start leasing ``count`` of the vendor's slots for calls about to be made (a batch's
    first wave), so they go out together instead of one lease request apart."""
    (await _pool(vendor)).reserve(count)


async def _pool(vendor: str) -> SlotPool:
    spec = registry.get(vendor)
    size = await ensure_limit(spec.limit_name, spec.concurrency)
    return pool_for(_api_url(), spec.limit_name, size)


@asynccontextmanager
async def vendor_slot(
    vendor: str, *, requests_per_second: float | None = None
) -> AsyncIterator[None]:
    """Hold one of the vendor's concurrency slots (and take a rate-limit token if asked)."""
    name = registry.get(vendor).limit_name
    pool = await _pool(vendor)
    if requests_per_second:
        rate_name = f"{name}-rate"
        await ensure_limit(
            rate_name,
            max(1, math.ceil(requests_per_second)),
            slot_decay_per_second=requests_per_second,
        )
        await rate_limit(rate_name, strict=True)
    async with pool.slot():
        yield
