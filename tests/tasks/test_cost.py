"""Prices, reservations against a cap, and what a paid request's outcome costs (no Prefect)."""

from __future__ import annotations

import asyncio

import pytest

from prefect_image_edit.blocks.prices import ImageEditPrices
from prefect_image_edit.state import PaidCall
from prefect_image_edit.state.embedded import EmbeddedStore
from prefect_image_edit.tasks.cost import (
    BudgetExceeded,
    CallMeter,
    PriceTable,
    RunMeter,
    UnknownPriceError,
    add_costs,
    budget_key,
)
from prefect_image_edit.tasks.paid import pay_once
from prefect_image_edit.vendors.errors import (
    BadResultError,
    ErrorKind,
    RateLimitedError,
    RetryVerdict,
    SeedRejectedError,
    VendorRequestError,
    VendorServerError,
)

pytestmark = pytest.mark.anyio


def _error(cls, verdict, kind=ErrorKind.SERVER):
    return cls("x", vendor="ailabtools", action="RemoveObjectsAdvanced", kind=kind, retry=verdict)


@pytest.fixture
def store(tmp_path):
    return EmbeddedStore(tmp_path / "state")


def test_published_prices_unknown_stays_unknown_and_local_is_free():
    table = PriceTable.defaults()
    assert table.price("ailabtools", "RemoveObjectsAdvanced") == 20
    assert table.price("tencent", "ImageInpaintingRemoval") is None
    assert table.price("volcengine", "i2i_inpainting") is None
    assert table.price("local", "OpenCVInpaint") == 0
    assert table.price("nobody", "x") is None
    assert add_costs([20, 0, 5]) == 25 and add_costs([20, None]) is None


def test_the_block_overrides_action_by_action():
    table = ImageEditPrices(prices={"tencent": {"ImageInpaintingRemoval": 12.5}}).table()
    assert table.price("tencent", "ImageInpaintingRemoval") == 12.5
    assert table.price("ailabtools", "RemoveObjectsAdvanced") == 20  # kept
    assert ImageEditPrices().table().price("tencent", "ImageInpaintingRemoval") is None


# outcome of the request -> billed?
BILLED = [
    ("answered", None, True),
    (
        "rate limited",
        _error(RateLimitedError, RetryVerdict.RESUBMIT, ErrorKind.RATE_LIMITED),
        False,
    ),
    ("5xx before processing", _error(VendorServerError, RetryVerdict.RESUBMIT), False),
    ("refused for good", _error(VendorServerError, RetryVerdict.PERMANENT), False),
    ("seed rejected", _error(SeedRejectedError, RetryVerdict.PERMANENT, ErrorKind.BAD_SEED), False),
    (
        "reset after sending",
        _error(VendorRequestError, RetryVerdict.RETRY_ONCE, ErrorKind.NETWORK),
        True,
    ),
    ("unusable result", _error(BadResultError, RetryVerdict.PERMANENT, ErrorKind.BAD_RESULT), True),
    ("timed out while out", TimeoutError(), True),
]


@pytest.mark.parametrize(("case", "raised", "billed"), BILLED, ids=[r[0] for r in BILLED])
async def test_a_request_costs_its_price_only_when_it_may_have_been_billed(
    store, case, raised, billed
):
    run = RunMeter(PriceTable.defaults(), cap=100, store=store, run_id="r1")
    meter = CallMeter(run, "ailabtools", "RemoveObjectsAdvanced")
    call = PaidCall(key="k", vendor="ailabtools", action="RemoveObjectsAdvanced")

    async def send():
        if raised is not None:
            raise raised
        return "answer"

    if raised is None:
        await pay_once(store, call, send, meter=meter)
    else:
        with pytest.raises(type(raised)):
            await pay_once(store, call, send, meter=meter)
    assert (meter.count, meter.cost) == ((1, 20) if billed else (0, 0))
    assert await store.counter(budget_key("r1")) == (20 if billed else 0)
    spend = run.spend()
    assert spend.total == (20 if billed else 0)
    assert spend.calls == (1 if billed else 0)


async def test_the_cap_refuses_the_call_that_could_pass_it_and_nothing_is_recorded(store):
    run = RunMeter(PriceTable.defaults(), cap=50, store=store, run_id="r2")
    sent = []

    async def send():
        sent.append(1)
        return "answer"

    for i in range(2):
        call = PaidCall(key=f"k{i}", vendor="ailabtools", action="RemoveObjectsAdvanced")
        await pay_once(store, call, send, meter=CallMeter(run, "ailabtools", call.action))
    call = PaidCall(key="k2", vendor="ailabtools", action="RemoveObjectsAdvanced")
    with pytest.raises(BudgetExceeded, match="max_cost 50 reached: 40 spent"):
        await pay_once(store, call, send, meter=CallMeter(run, "ailabtools", call.action))
    assert len(sent) == 2 and await store.get("k2") is None and run.exhausted
    assert run.spend().summary() == "spent 40 credits (2 paid calls; max_cost 50)"


async def test_concurrent_calls_under_one_cap_pay_at_most_the_cap(store):
    # Two meters of the same run (two machines), drawing on the one counter in the state.
    runs = [RunMeter(PriceTable.defaults(), cap=90, store=store, run_id="r3") for _ in range(2)]
    sent = []

    async def one(i: int):
        async def send():
            sent.append(i)
            await asyncio.sleep(0)
            return "answer"

        call = PaidCall(key=f"c{i}", vendor="ailabtools", action="RemoveObjectsAdvanced")
        await pay_once(store, call, send, meter=CallMeter(runs[i % 2], "ailabtools", call.action))

    results = await asyncio.gather(*(one(i) for i in range(10)), return_exceptions=True)
    assert len(sent) == 4  # 4 * 20 = 80 <= 90 < 100
    assert sum(isinstance(r, BudgetExceeded) for r in results) == 6
    assert sum(run.spend().total for run in runs) == 80 == await store.counter(budget_key("r3"))


async def test_an_unknown_price_under_a_cap_is_refused_before_anything_is_sent(store):
    run = RunMeter(PriceTable.defaults(), cap=1000, store=store, run_id="r4")
    with pytest.raises(UnknownPriceError, match="unknown"):
        await run.reserve("tencent", "ImageInpaintingRemoval")
    # without a cap an unknown price is allowed, and reported as unknown
    free = RunMeter(PriceTable.defaults())
    meter = CallMeter(free, "tencent", "ImageInpaintingRemoval")
    await meter.reserve()
    await meter.settle(True)
    assert meter.cost is None and free.spend().total is None
    assert "price unknown for tencent ImageInpaintingRemoval" in free.spend().summary()
