"""Account pools: several credentials blocks of one vendor, used as one, more capacity.

Tencent runs one job at a time per account; a team with three accounts can run three. A pool
names several saved credentials blocks of the same vendor (``Connections.pools``). Each account
has its own Prefect global concurrency limit, ``image-edit:<vendor limit>:<block>`` (created
with the vendor's default size, so one for Tencent), which holds across processes and
machines; within a process a paid call goes to the least busy account that has a free slot.
An account that answers "no credits" or "in arrears" is dropped from the pool for the rest of
the run (a warning and an ``image-edit.account.dropped`` event) and the call goes to another.

The cache key never names the account: the content is what was paid for, whichever account
paid.
"""

from __future__ import annotations

import asyncio
import math
import threading
from collections import OrderedDict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from prefect_image_edit.vendors import registry
from prefect_image_edit.vendors.errors import ErrorKind, QuotaError, RetryVerdict

__all__ = [
    "DROPPED_EVENT",
    "AccountPool",
    "NoAccountLeft",
    "account_limit_name",
    "run_pool",
]

DROPPED_EVENT = "image-edit.account.dropped"

_MAX_RUNS = 32
_pools: OrderedDict[tuple[str | None, str, tuple[str, ...]], AccountPool] = OrderedDict()
_lock = threading.Lock()


def account_limit_name(vendor: str, block: str) -> str:
    """The concurrency limit of one account: ``image-edit:tencent-aiart:<block>``."""
    return f"{registry.get(vendor).limit_name}:{block}"


class NoAccountLeft(QuotaError):
    """Every account of a pool was dropped (no credits, arrears) during this run: a "no
    credits" answer of the whole pool, so a provider chain falls back as for one account."""

    def __init__(self, message: str, *, vendor: str) -> None:
        super().__init__(
            message,
            vendor=vendor,
            action="account-pool",
            code="NoAccountLeft",
            kind=ErrorKind.NO_CREDITS,
            retry=RetryVerdict.PERMANENT,
        )


class AccountPool:
    """The accounts of one vendor for one run: free slots, least busy first, dropped ones out.

    Args:
        vendor: The vendor every block belongs to.
        blocks: Saved credentials block names, in order of preference.
    """

    def __init__(self, vendor: str, blocks: list[str]) -> None:
        if not blocks:
            raise ValueError("an account pool needs at least one credentials block")
        self.vendor = vendor
        self.blocks = list(dict.fromkeys(blocks))
        self.live = list(self.blocks)
        self.dropped: dict[str, str] = {}
        self.busy = dict.fromkeys(self.blocks, 0)
        self.sizes: dict[str, int] = {}
        self.calls = dict.fromkeys(self.blocks, 0)
        self._cond: asyncio.Condition | None = None

    def _condition(self) -> asyncio.Condition:
        if self._cond is None:
            self._cond = asyncio.Condition()
        return self._cond

    async def _sizes(self) -> None:
        from prefect_image_edit.tasks.limits import ensure_limit

        default = registry.get(self.vendor).concurrency
        for block in self.blocks:
            if block not in self.sizes:
                self.sizes[block] = await ensure_limit(
                    account_limit_name(self.vendor, block), default
                )

    def _free(self) -> list[str]:
        return [b for b in self.live if self.busy[b] < self.sizes.get(b, 1)]

    @asynccontextmanager
    async def slot(self, requests_per_second: float | None = None) -> AsyncIterator[str]:
        """Hold a slot of the least busy live account with one free; yields the block name.

        Raises:
            NoAccountLeft: every account was dropped.
        """
        from prefect.concurrency.asyncio import rate_limit

        from prefect_image_edit.tasks.limits import _api_url, ensure_limit
        from prefect_image_edit.tasks.slots import pool_for

        await self._sizes()
        if requests_per_second:
            rate_name = f"{registry.get(self.vendor).limit_name}-rate"
            await ensure_limit(
                rate_name,
                max(1, math.ceil(requests_per_second)),
                slot_decay_per_second=requests_per_second,
            )
            await rate_limit(rate_name, strict=True)
        cond = self._condition()
        async with cond:
            await cond.wait_for(lambda: not self.live or bool(self._free()))
            if not self.live:
                raise NoAccountLeft(self._no_account_message(), vendor=self.vendor)
            # the least busy, then the least used so far: work spreads over the accounts
            block = min(self._free(), key=lambda b: (self.busy[b], self.calls[b]))
            self.busy[block] += 1
            self.calls[block] += 1
        try:
            name = account_limit_name(self.vendor, block)
            async with pool_for(_api_url(), name, self.sizes[block]).slot():
                yield block
        finally:
            async with cond:
                self.busy[block] -= 1
                cond.notify_all()

    def _no_account_message(self) -> str:
        reasons = "; ".join(f"{block}: {why}" for block, why in self.dropped.items())
        return f"every {self.vendor} account of the pool was dropped for this run ({reasons})"

    async def drop(self, block: str, reason: str) -> bool:
        """Take ``block`` out of the pool for the run; False if it was out already."""
        cond = self._condition()
        async with cond:
            if block not in self.live:
                return False
            self.live.remove(block)
            self.dropped[block] = reason
            cond.notify_all()
        _announce_drop(self.vendor, block, reason, len(self.live))
        return True


def _announce_drop(vendor: str, block: str, reason: str, left: int) -> None:
    from prefect.events import emit_event

    from prefect_image_edit.tasks.block_cache import _flow_run_id

    try:
        from prefect import get_run_logger

        get_run_logger().warning(
            "%s account %s dropped from the pool for this run (%s); %s left",
            vendor,
            block,
            reason,
            left,
        )
    except Exception:  # outside a run: no run logger
        pass
    emit_event(
        DROPPED_EVENT,
        resource={
            "prefect.resource.id": f"image-edit.account.{vendor}.{block}",
            "prefect.resource.name": f"{vendor} {block}",
        },
        related=[
            {
                "prefect.resource.id": f"image-edit.run.{_flow_run_id()}",
                "prefect.resource.role": "flow-run",
            }
        ],
        payload={"vendor": vendor, "block": block, "reason": reason, "accounts_left": left},
    )


def run_pool(vendor: str, blocks: list[str]) -> AccountPool:
    """The pool of these blocks for the current flow run (dropped accounts stay dropped)."""
    from prefect_image_edit.tasks.block_cache import _flow_run_id

    key = (_flow_run_id(), vendor, tuple(blocks))
    with _lock:
        pool = _pools.get(key)
        if pool is None:
            pool = _pools[key] = AccountPool(vendor, blocks)
            while len(_pools) > _MAX_RUNS * 4:
                _pools.popitem(last=False)
        return pool
