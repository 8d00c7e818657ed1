"""What the pack needs to know about a vendor, in one record (no Prefect in here).

Every per-vendor table of the pack (credential blocks and their environment variables, input
limits, Prefect concurrency limits, result hosts and URL lifetimes, the erase call and its
mask rule, prices) is derived from one :class:`VendorSpec` per vendor, registered in
:mod:`prefect_image_edit.vendors.registry`. Adding a vendor means writing its client package,
its emulator and its spec; ``docs/adding-a-vendor.md`` is the checklist.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prefect_image_edit.imaging.limits import Limits
    from prefect_image_edit.vendors.results import EraseResult

__all__ = ["EraseAction", "VendorSpec"]

EraseParameters = Callable[[Any, int], dict[str, Any]]
"""``(settings, seed) -> parameters``: what the vendor receives, canonical (cache keys)."""
EraseCall = Callable[[Any, bytes, bytes, Mapping[str, Any]], Awaitable["EraseResult"]]
"""``(client, image, mask, parameters) -> EraseResult``: the one paid request."""


@dataclass(frozen=True)
class EraseAction:
    """How a vendor erases: its action name, input limits target, parameters and call.

    Attributes:
        action: The action named in cache keys, the ledger and prices.
        target: The ``imaging`` limits target inputs are prepared for.
        parameters: The canonical parameters for a seed.
        call: Sends the request with a client from the vendor's credentials block.
        dilates_mask: Whether the vendor grows the mask itself (``dilate_size``). When it does
            not, the pack grows the mask by the same amount before sending it, so every
            provider erases the same region.
        seeded: Whether the vendor takes a seed (variants and re-seeding need one).
    """

    action: str
    target: str
    parameters: EraseParameters
    call: EraseCall
    dilates_mask: bool = True
    seeded: bool = True


@dataclass(frozen=True)
class VendorSpec:
    """One vendor, described once.

    Attributes:
        name: The provider name users type (``tencent``), also the ledger's vendor.
        title: The vendor's name for people.
        block: The credentials block class, or its import path ``module:Class`` (resolved
            lazily, so this module and the vendor's package stay free of Prefect).
        env: Block field -> environment variable read when no block is named.
        required: Block fields without which no request can be signed.
        limit_name: The Prefect global concurrency limit for one account.
        concurrency: The limit's size when the pack creates it.
        result_hosts: Origins result URLs come from (``https://*.example.com``).
        result_ttl_seconds: How long a result URL lives when the URL does not say.
        task_retention_seconds: How long an async task stays queryable (None: no async).
        limits: Input limits, one row per target this vendor's actions use.
        erase: The erase action, if the vendor erases.
        prices: Action -> cost per paid call in the price table's unit (AILabTools credits);
            ``None`` means unknown (account-specific), never free.
        emulator_credentials: Emulator handle -> block fields, so the demo and the tests can
            point a block at the vendor's emulator.
    """

    name: str
    title: str
    block: str | type
    env: Mapping[str, str]
    required: tuple[str, ...]
    limit_name: str
    concurrency: int
    result_hosts: tuple[str, ...]
    result_ttl_seconds: int
    limits: tuple[Limits, ...] = ()
    erase: EraseAction | None = None
    prices: Mapping[str, float | None] = field(default_factory=dict)
    task_retention_seconds: int | None = None
    emulator_credentials: Callable[[Any], dict[str, Any]] | None = None

    def block_type(self) -> type:
        """The credentials block class (imports it on first use)."""
        if isinstance(self.block, type):
            return self.block
        from importlib import import_module

        module, _, attribute = self.block.partition(":")
        return getattr(import_module(module), attribute)

    def price(self, action: str) -> float | None:
        """The cost of one paid ``action`` call, or None when unknown."""
        return self.prices.get(action)
