"""Dry runs: what a run would cost and what would fail, found without paying for anything.

Each item is prepared exactly as a real run prepares it (imaging preflight, mask checks, the
vendor's limits), its content keys are looked up in the shared state and the archive (a cache
hit costs 0), and the prices come from the run's table; no paid request is made. The budget a
real run would keep (``max_cost``) is applied to the predicted calls in the order the run
would make them, so the items it would refuse are reported with ``BudgetExceeded``.

What a dry run cannot see: what the vendor itself would answer (an outage, a moderation
refusal, a rejected seed). It reports the first provider of the chain.
"""

from __future__ import annotations

from typing import Literal

import anyio.to_thread
from pydantic import BaseModel, Field

from prefect_image_edit.tasks.cost import (
    BudgetExceeded,
    PriceTable,
    UnknownPriceError,
    add_costs,
    format_cost,
)

__all__ = [
    "DryRunReport",
    "DryRunRow",
    "apply_cap",
    "check_archive_reachable",
    "error_row",
    "predict_erase",
]

PROBE_KEY = "image-edit-dry-run-probe"


class DryRunRow(BaseModel):
    """One item as a real run would meet it."""

    item: str = Field(description="The input image reference.")
    provider: str | None = Field(default=None, description="The provider that would be used.")
    vendor: str | None = None
    action: str | None = None
    calls: int = Field(default=0, description="Paid calls the item would make.")
    price: float | None = Field(default=0.0, description="Price of one of those calls.")
    cached: bool = Field(default=False, description="Every result is already paid for.")
    cost: float | None = Field(
        default=0.0, description="What the item would cost (0 when cached; None: unknown)."
    )
    error: str | None = Field(default=None, description="The error a real run would hit.")
    error_type: str | None = None

    @property
    def status(self) -> Literal["error", "cached", "would pay", "free"]:
        if self.error:
            return "error"
        if self.cached:
            return "cached"
        return "would pay" if self.calls else "free"


class DryRunReport(BaseModel):
    """Every item of a dry run, and the totals a real run would reach."""

    rows: list[DryRunRow]
    unit: str = "credits"
    max_cost: float | None = None

    @property
    def cost(self) -> float | None:
        return add_costs(row.cost for row in self.rows)

    @property
    def calls(self) -> int:
        return sum(row.calls for row in self.rows if not row.error)

    @property
    def errors(self) -> int:
        return sum(row.error is not None for row in self.rows)

    @property
    def cached(self) -> int:
        return sum(row.cached for row in self.rows)

    def summary(self) -> str:
        return (
            f"dry run of {len(self.rows)} items: would cost {format_cost(self.cost, self.unit)} "
            f"({self.calls} paid calls), {self.cached} cached, {self.errors} would fail"
        )

    def table(self) -> list[dict[str, str]]:
        """Rows for a table artifact, with a totals row last."""
        rows = [
            {
                "item": row.item,
                "provider": row.provider or "",
                "status": row.status,
                "paid calls": str(row.calls),
                "cost": format_cost(row.cost, self.unit),
                "error": f"{row.error_type}: {row.error}" if row.error else "",
            }
            for row in self.rows
        ]
        rows.append(
            {
                "item": "TOTAL",
                "provider": "",
                "status": f"{self.errors} errors, {self.cached} cached",
                "paid calls": str(self.calls),
                "cost": format_cost(self.cost, self.unit),
                "error": "" if self.max_cost is None else f"max_cost {self.max_cost:g}",
            }
        )
        return rows


def error_row(item: str, error: BaseException | str, provider: str | None = None) -> DryRunRow:
    """The row of an item a real run would fail, typed like the real run's failure."""
    error_type = "InputError" if isinstance(error, str) else type(error).__name__
    return DryRunRow(item=item, provider=provider, error=str(error), error_type=error_type)


async def predict_erase(
    image: str,
    mask,
    chain: list[str],
    seeds: list[int],
    settings,
    policy: str,
    archive,
    store,
    prices: PriceTable,
) -> DryRunRow:
    """Prepare one image for the first provider of ``chain`` and look its results up."""
    from prefect_image_edit.tasks.archive import find_archived, resolve_archive
    from prefect_image_edit.tasks.erase import erase_key
    from prefect_image_edit.tasks.item import mask_for_provider
    from prefect_image_edit.tasks.prepare import prepare_inputs
    from prefect_image_edit.tasks.providers import provider as provider_spec

    provider = chain[0]
    try:
        spec = provider_spec(provider)
        inputs = await prepare_inputs.fn(
            image, mask_for_provider(mask, provider, settings), provider, policy, archive
        )
        storage = await resolve_archive(archive)
        uncached = 0
        for seed in seeds:
            key = erase_key(inputs, provider, settings.model_copy(update={"seed": seed}))
            record = await store.get(key)
            if await find_archived(storage, record) is None and not await _in_hand(store, record):
                uncached += 1
    except Exception as error:
        return error_row(image, error, provider)
    calls = uncached if spec.paid else 0
    price = prices.price(spec.vendor, spec.action) if spec.paid else 0.0
    return DryRunRow(
        item=image,
        provider=provider,
        vendor=spec.vendor,
        action=spec.action,
        calls=calls,
        price=price,
        cached=uncached == 0,
        cost=0.0 if calls == 0 else (None if price is None else price * calls),
    )


async def _in_hand(store, record) -> bool:
    """Whether a real run would archive a result already paid for instead of paying: answered
    (READY), or staged by a process that died before recording the answer."""
    from prefect_image_edit.state import CallState

    if record is None:
        return False
    if record.state is CallState.READY:
        return True
    return record.state is CallState.IN_FLIGHT and await store.staged(record.key) is not None


def apply_cap(rows: list[DryRunRow], cap: float | None) -> list[DryRunRow]:
    """The rows as a run with ``max_cost`` would end them: calls past the cap refused.

    Calls are reserved in row order; once one is refused the run starts no further paid call
    (as ``RunMeter`` does). An unknown price under a cap is refused outright.
    """
    if cap is None:
        return rows
    spent, exhausted, out = 0.0, False, []
    for row in rows:
        if row.error or row.calls == 0:
            out.append(row)
            continue
        if row.price is None:
            error = UnknownPriceError(
                f"the price of {row.vendor} {row.action} is unknown, so max_cost {cap:g} "
                "cannot be kept",
                source="max_cost",
            )
            update = {"error": str(error), "error_type": type(error).__name__}
            out.append(row.model_copy(update=update))
            continue
        allowed = 0
        while not exhausted and allowed < row.calls and spent + row.price <= cap + 1e-9:
            spent += row.price
            allowed += 1
        if allowed < row.calls:
            exhausted = True
            error = BudgetExceeded(
                cap=cap, reserved=spent, price=row.price, vendor=row.vendor, action=row.action
            )
            row = row.model_copy(
                update={
                    "error": str(error),
                    "error_type": type(error).__name__,
                    "cost": row.price * allowed,
                    "calls": allowed,
                }
            )
        out.append(row)
    return out


async def check_archive_reachable(storage) -> None:
    """One HEAD against the archive, as a real run's first upload would meet it.

    Raises:
        ArchiveDown: the archive does not answer.
    """
    from prefect_image_edit.archive.health import ArchiveDown

    store = storage.get_store()
    try:
        await anyio.to_thread.run_sync(store.head, PROBE_KEY)
    except Exception as error:
        raise ArchiveDown(
            f"the archive {store.location} is not answering ({type(error).__name__}): a real "
            "run would pay and then fail to archive"
        ) from error
