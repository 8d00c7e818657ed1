"""What a run may spend and what it did spend: the price table, the budget and the spend figures.

No Prefect here (``tasks/run_cost.py`` ties a :class:`RunMeter` to a flow run).

- :class:`PriceTable`: vendor -> action -> cost per call, in one unit (AILabTools credits by
  default, as the vendor specs publish them). Tencent and Volcengine prices are account
  specific: unknown (None) until a team sets them, and reported as unknown, never as 0. The
  pack's ``local`` provider is free.
- :class:`RunMeter`: one run's money. Before a paid request goes out its price is *reserved*;
  with a cap (``max_cost``) the reservation is an atomic add to a counter in the shared state,
  keyed by the run, refused when it would pass the cap, so the cap holds for the run as a whole
  on any number of machines. After the request the reservation is *settled*: kept when the
  vendor may have billed (an answer, an ambiguous failure, a paid but unusable result),
  released when it certainly did not (a refusal, a job it never accepted).
- :class:`CallMeter`: the same, for one paid step, so its result can say what it cost.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from prefect_image_edit.errors import ImageEditError, InputError

__all__ = [
    "BudgetExceeded",
    "CallMeter",
    "PriceTable",
    "RunMeter",
    "RunSpend",
    "SpendLine",
    "UnknownPriceError",
    "add_costs",
    "budget_key",
    "default_prices",
    "format_cost",
]

LOCAL_VENDOR = "local"


def default_prices() -> dict[str, dict[str, float | None]]:
    """Every registered vendor's published prices (``VendorSpec.prices``), None = unknown."""
    from prefect_image_edit.vendors import registry

    return {spec.name: dict(spec.prices) for spec in registry.specs()}


class PriceTable(BaseModel):
    """Vendor -> action -> cost per paid call; a missing or None price is unknown, not free."""

    model_config = ConfigDict(frozen=True)

    prices: dict[str, dict[str, float | None]] = Field(default_factory=dict)
    unit: str = Field(default="credits", description="The unit every price is given in.")

    @classmethod
    def defaults(cls) -> PriceTable:
        return cls(prices=default_prices())

    def with_overrides(self, overrides: Mapping[str, Mapping[str, float | None]]) -> PriceTable:
        """This table with ``overrides`` laid over it, action by action."""
        merged = {vendor: dict(actions) for vendor, actions in self.prices.items()}
        for vendor, actions in overrides.items():
            merged.setdefault(vendor, {}).update(actions)
        return self.model_copy(update={"prices": merged})

    def price(self, vendor: str, action: str) -> float | None:
        """The cost of one ``action`` call at ``vendor`` (``local``: 0; unknown: None)."""
        if vendor == LOCAL_VENDOR:
            return 0.0
        return self.prices.get(vendor, {}).get(action)


def add_costs(costs: Iterable[float | None]) -> float | None:
    """The sum, or None when any part is unknown."""
    total = 0.0
    for cost in costs:
        if cost is None:
            return None
        total += cost
    return total


def format_cost(cost: float | None, unit: str = "credits") -> str:
    """``40 credits``, ``2.5 credits``, or ``unknown``."""
    if cost is None:
        return "unknown"
    return f"{cost:g} {unit}"


def budget_key(run_id: str) -> str:
    """The shared-state counter holding a run's reservations."""
    return f"image-edit/budget/{run_id}"


class BudgetExceeded(ImageEditError):
    """The next paid call could take the run past its ``max_cost``: it was not made.

    Re-run with a higher ``max_cost``: what was paid for is found in the state, not paid again.
    """

    def __init__(
        self, *, cap: float, reserved: float, price: float, vendor: str, action: str
    ) -> None:
        self.cap, self.reserved, self.price = cap, reserved, price
        self.vendor, self.action = vendor, action
        super().__init__(
            f"max_cost {cap:g} reached: {reserved:g} spent or reserved, the next {vendor} "
            f"{action} call costs {price:g}; not started (re-run with a higher max_cost to "
            "continue without paying again)"
        )


class UnknownPriceError(InputError):
    """A cap is set but the price of a call is unknown, so the cap could not be kept."""


class SpendLine(BaseModel):
    """Billed calls of one vendor action in one run."""

    vendor: str
    action: str
    count: int = Field(description="Calls the vendor may have billed.")
    cost: float | None = Field(description="Their cost in the price table's unit (None: unknown).")


class RunSpend(BaseModel):
    """What one run spent, by vendor and action."""

    lines: list[SpendLine] = Field(default_factory=list)
    unit: str = "credits"
    max_cost: float | None = None

    @property
    def total(self) -> float | None:
        return add_costs(line.cost for line in self.lines)

    @property
    def calls(self) -> int:
        return sum(line.count for line in self.lines)

    def summary(self) -> str:
        """``spent 60 credits (3 paid calls)``, with unknown prices and the cap named."""
        text = f"spent {format_cost(self.total, self.unit)} ({self.calls} paid calls"
        unknown = [f"{line.vendor} {line.action}" for line in self.lines if line.cost is None]
        if unknown:
            text += f"; price unknown for {', '.join(unknown)}"
        if self.max_cost is not None:
            text += f"; max_cost {self.max_cost:g}"
        return text + ")"


class RunMeter:
    """One run's prices, optional cap, reservations and the calls this process saw billed.

    Args:
        prices: The run's price table.
        cap: ``max_cost``: the run never reserves past it (None: no cap).
        store: The shared state holding the run's reservations (needed with a cap).
        run_id: The run the reservations belong to.
    """

    def __init__(
        self,
        prices: PriceTable,
        *,
        cap: float | None = None,
        store: Any = None,
        run_id: str | None = None,
    ) -> None:
        if cap is not None and (store is None or run_id is None):
            raise ValueError("a capped meter needs the shared state and the run id")
        self.prices, self.cap, self.store, self.run_id = prices, cap, store, run_id
        self.exhausted = False
        """Set once a reservation was refused: the run starts no new paid work."""
        self._billed: dict[tuple[str, str], list[float | None]] = {}
        self._by_key: dict[str, list[float | None]] = {}
        self._lock = asyncio.Lock()

    def price(self, vendor: str, action: str) -> float | None:
        return self.prices.price(vendor, action)

    async def reserve(self, vendor: str, action: str) -> float | None:
        """Reserve one call's price before it is paid; returns the price (None: unknown).

        Raises:
            BudgetExceeded: the call could take the run past its cap (nothing reserved).
            UnknownPriceError: a cap is set and the price is unknown.
        """
        price = self.price(vendor, action)
        if self.cap is None or vendor == LOCAL_VENDOR:
            return price
        if price is None:
            raise UnknownPriceError(
                f"the price of {vendor} {action} is unknown, so max_cost {self.cap:g} cannot "
                "be kept: set it in an ImageEditPrices block (connections.prices), or run "
                "without max_cost",
                source="max_cost",
            )
        if self.exhausted:
            raise await self._exceeded(price, vendor, action)
        total = await self.store.add_to_counter(budget_key(self.run_id), price, cap=self.cap)
        if total is None:
            self.exhausted = True
            raise await self._exceeded(price, vendor, action)
        return price

    async def refusal(self, vendor: str, action: str) -> BudgetExceeded:
        """The error for work not started because the cap was reached."""
        price = self.price(vendor, action)
        return await self._exceeded(price or 0.0, vendor, action)

    async def _exceeded(self, price: float, vendor: str, action: str) -> BudgetExceeded:
        reserved = await self.store.counter(budget_key(self.run_id))
        return BudgetExceeded(
            cap=self.cap, reserved=reserved, price=price, vendor=vendor, action=action
        )

    async def settle(
        self, vendor: str, action: str, price: float | None, billed: bool, key: str | None = None
    ) -> None:
        """After the request: keep the reservation as spent, or release it (not billed).

        ``key``: the content key paid for, so every billed attempt of one input in this run
        adds up on its result (``cost_for``), retries of the step included.
        """
        if billed:
            async with self._lock:
                self._billed.setdefault((vendor, action), []).append(price)
                if key is not None:
                    self._by_key.setdefault(key, []).append(price)
        elif self.cap is not None and price and vendor != LOCAL_VENDOR:
            await asyncio.shield(self.store.add_to_counter(budget_key(self.run_id), -price))

    def cost_for(self, key: str) -> float | None:
        """What this run's billed requests for content ``key`` cost (0 if none)."""
        return add_costs(self._by_key.get(key, []))

    def spend(self) -> RunSpend:
        """The calls this process saw billed in this run, by vendor and action."""
        lines = [
            SpendLine(vendor=vendor, action=action, count=len(costs), cost=add_costs(costs))
            for (vendor, action), costs in sorted(self._billed.items())
            if vendor != LOCAL_VENDOR
        ]
        return RunSpend(lines=lines, unit=self.prices.unit, max_cost=self.cap)


class CallMeter:
    """The meter of one paid step: what it reserved and billed, for its result's ``cost``.

    ``pay_once`` calls :meth:`reserve` once the vendor's slot is held and :meth:`settle` with
    whether the vendor may have billed the request.
    """

    def __init__(self, run: RunMeter, vendor: str, action: str, key: str | None = None) -> None:
        self.run, self.vendor, self.action, self.key = run, vendor, action, key
        self.count = 0
        self._costs: list[float | None] = []
        self._price: float | None = None

    async def reserve(self) -> None:
        self._price = await self.run.reserve(self.vendor, self.action)

    async def settle(self, billed: bool) -> None:
        await self.run.settle(self.vendor, self.action, self._price, billed, self.key)
        if billed:
            self.count += 1
            self._costs.append(self._price)

    @property
    def cost(self) -> float | None:
        """What this step's billed requests cost (0 when none was billed; None: unknown)."""
        return add_costs(self._costs)
