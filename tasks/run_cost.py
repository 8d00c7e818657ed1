"""A flow run's money, at the Prefect edge: its price table, its cap, its spend event.

Flows call :func:`start_run` first (the price block is loaded once per run, like every other
block, see ``tasks/block_cache.py``); the paid steps of the run find the same
:class:`~prefect_image_edit.tasks.cost.RunMeter` with :func:`run_meter` by the flow run id;
flows end with :func:`finish_run`, which emits one ``image-edit.spend`` event per vendor
action. A task used in a flow of your own (no ``start_run``) gets a meter with the published
prices and no cap, so its results still say what they cost.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from prefect import get_run_logger

from prefect_image_edit.state import resolve_state
from prefect_image_edit.tasks.block_cache import _flow_run_id, load_once
from prefect_image_edit.tasks.cost import PriceTable, RunMeter, RunSpend

__all__ = [
    "SPEND_EVENT",
    "check_prices",
    "emit_spend",
    "finish_run",
    "resolve_prices",
    "run_meter",
    "start_run",
]

SPEND_EVENT = "image-edit.spend"

_MAX_RUNS = 32
_meters: OrderedDict[str, RunMeter] = OrderedDict()
_lock = threading.Lock()


async def resolve_prices(block: str | None) -> PriceTable:
    """The price table of an ``ImageEditPrices`` block by name (None: the published prices)."""
    if block is None:
        return PriceTable.defaults()

    async def load() -> PriceTable:
        from prefect_image_edit.blocks.prices import ImageEditPrices

        saved = await ImageEditPrices.aload(block)
        return saved.table()

    return await load_once(f"image-edit-prices/{block}", load)


async def start_run(prices: str | None = None, max_cost: float | None = None) -> RunMeter:
    """The current flow run's meter: its price table (block ``prices``) and cap ``max_cost``."""
    if max_cost is not None and max_cost < 0:
        raise ValueError(f"max_cost must be 0 or more, got {max_cost}")
    table = await resolve_prices(prices)
    run = _flow_run_id()
    meter = RunMeter(
        table,
        cap=max_cost,
        store=resolve_state() if max_cost is not None else None,
        run_id=run or "no-run",
    )
    if run is not None:
        with _lock:
            _meters[run] = meter
            _meters.move_to_end(run)
            while len(_meters) > _MAX_RUNS:
                _meters.popitem(last=False)
    return meter


def check_prices(meter: RunMeter, chain: list[str]) -> None:
    """Under a cap, refuse up front a chain with a paid provider whose price is unknown.

    Raises:
        UnknownPriceError: before anything is prepared or paid.
    """
    from prefect_image_edit.tasks.cost import UnknownPriceError
    from prefect_image_edit.tasks.providers import provider as provider_spec

    if meter.cap is None:
        return
    for name in chain:
        spec = provider_spec(name)
        if spec.paid and meter.price(spec.vendor, spec.action) is None:
            raise UnknownPriceError(
                f"the price of {spec.vendor} {spec.action} is unknown, so max_cost "
                f"{meter.cap:g} cannot be kept: set it in an ImageEditPrices block "
                "(connections.prices), or run without max_cost",
                source="max_cost",
            )


def run_meter() -> RunMeter:
    """The meter of the current flow run (published prices and no cap if none was started)."""
    run = _flow_run_id()
    with _lock:
        found = _meters.get(run) if run is not None else None
        if found is None:
            found = RunMeter(PriceTable.defaults())
            if run is not None:
                _meters[run] = found
        return found


def emit_spend(spend: RunSpend, run_id: str | None) -> int:
    """One ``image-edit.spend`` event per vendor action billed in the run; returns how many."""
    from prefect.events import emit_event

    emitted = 0
    for line in spend.lines:
        event = emit_event(
            SPEND_EVENT,
            resource={
                "prefect.resource.id": f"image-edit.run.{run_id}",
                "prefect.resource.name": f"{line.vendor} {line.action}",
            },
            payload={
                "vendor": line.vendor,
                "action": line.action,
                "count": line.count,
                "cost": line.cost,
                "unit": spend.unit,
            },
        )
        emitted += event is not None
    return emitted


async def finish_run(meter: RunMeter) -> RunSpend:
    """The run's spend, logged and emitted as events (once per run per vendor action)."""
    spend = meter.spend()
    get_run_logger().info("%s", spend.summary())
    emit_spend(spend, _flow_run_id())
    return spend
