"""Issue 11 end to end: what a run costs, dry runs that predict the real run, budget caps.

Against the real emulators (their billing counters are the truth), a real SeaweedFS archive
and a real Prefect API.
"""

from __future__ import annotations

import asyncio

from prefect_image_edit.blocks.prices import ImageEditPrices
from prefect_image_edit.flows.batch import batch_erase
from prefect_image_edit.flows.erase import erase
from prefect_image_edit.tasks.batch_items import BatchSource
from prefect_image_edit.tasks.dry_run import DryRunReport
from prefect_image_edit.tasks.models import EraseSettings, MaskOptions

PRICE = 20  # AILabTools Remove Objects Advanced, credits per call


def _run(flow, *args, **kwargs):
    state = asyncio.run(flow(*args, return_state=True, **kwargs))
    return state, asyncio.run(state.aresult(raise_on_failure=False))


def _folder(make_scene, tmp_path, count, *, broken: int = 0):
    images, masks = tmp_path / "images", tmp_path / "masks"
    images.mkdir()
    masks.mkdir()
    for i in range(count):
        image, mask = make_scene(f"item-{i:02d}")
        image.rename(images / image.name)
        mask.rename(masks / f"item-{i:02d}.png")
    for i in range(broken):
        (images / f"zz-broken-{i}.jpg").write_bytes(b"not an image")
        (masks / f"zz-broken-{i}.png").write_bytes(b"not a mask")
    return BatchSource(images=str(images), masks=str(masks))


def test_variants_local_and_cache_hits_each_say_what_they_cost(emu, connections, make_scene):
    image, mask = make_scene()
    settings = EraseSettings(seed=11)
    state, outcome = _run(
        erase,
        str(image),
        MaskOptions(mask=str(mask)),
        "ailabtools",
        variants=3,
        settings=settings,
        connections=connections,
    )
    assert state.is_completed(), state.message
    assert emu.counters.billable("ailabtools") == 3
    assert [v.cost for v in outcome.variants] == [PRICE] * 3
    assert outcome.cost == 3 * PRICE
    assert "spent 60 credits (3 paid calls)" in state.message

    state, again = _run(
        erase,
        str(image),
        MaskOptions(mask=str(mask)),
        "ailabtools",
        variants=3,
        settings=settings,
        connections=connections,
    )
    assert emu.counters.billable("ailabtools") == 3
    assert all(v.erased.cached and v.cost == 0 for v in again.variants)
    assert "spent 0 credits (0 paid calls)" in state.message

    state, local = _run(
        erase, str(image), MaskOptions(mask=str(mask)), "local", connections=connections
    )
    erased = local.variants[0].erased
    assert (erased.cost, erased.paid) == (0, False)


def test_unknown_prices_are_unknown_until_a_price_block_sets_them(emu, connections, make_scene):
    image, mask = make_scene()
    state, outcome = _run(
        erase, str(image), MaskOptions(mask=str(mask)), "tencent", connections=connections
    )
    assert outcome.cost is None and "spent unknown" in state.message
    # under a cap an unknown price refuses to pay
    image2, mask2 = make_scene("other")
    state, _ = _run(
        erase,
        str(image2),
        MaskOptions(mask=str(mask2)),
        "tencent",
        connections=connections,
        max_cost=100,
    )
    assert state.is_failed() and "unknown" in state.message
    assert emu.counters.billable("tencent") == 1
    ImageEditPrices(prices={"tencent": {"ImageInpaintingRemoval": 7.5}}).save(
        "team", overwrite=True
    )
    priced = connections.model_copy(update={"prices": "team"})
    state, outcome = _run(
        erase,
        str(image2),
        MaskOptions(mask=str(mask2)),
        "tencent",
        connections=priced,
        max_cost=100,
    )
    assert state.is_completed(), state.message
    assert outcome.cost == 7.5 and "spent 7.5 credits" in state.message


def test_a_dry_run_pays_nothing_and_predicts_the_real_run(emu, connections, make_scene, tmp_path):
    source = _folder(make_scene, tmp_path, 5, broken=1)
    # one item done before: the dry run must see it as cached
    first = sorted((tmp_path / "images").glob("item-*.jpg"))[0]
    _run(
        erase,
        str(first),
        MaskOptions(mask=str(tmp_path / "masks" / "item-00.png")),
        "ailabtools",
        connections=connections,
    )
    assert emu.counters.billable("ailabtools") == 1

    state, report = _run(
        batch_erase, source, provider="ailabtools", connections=connections, dry_run=True
    )
    assert state.is_completed(), state.message
    assert isinstance(report, DryRunReport)
    assert emu.counters.billable("ailabtools") == 1  # the dry run paid for nothing
    assert (report.calls, report.cost, report.cached, report.errors) == (4, 4 * PRICE, 1, 1)

    state, summary = _run(batch_erase, source, provider="ailabtools", connections=connections)
    assert emu.counters.billable("ailabtools") == 1 + report.calls
    assert summary.spend.total == report.cost
    assert {r.item: r.error_type for r in summary.rows} == {
        r.item: r.error_type for r in report.rows
    }
    assert {r.item: r.cost for r in summary.rows if r.status == "done"} == {
        r.item: r.cost for r in report.rows if not r.error
    }


def test_a_budget_cap_stops_paying_and_a_rerun_with_a_higher_cap_finishes(
    emu, connections, make_scene, tmp_path
):
    source = _folder(make_scene, tmp_path, 6)
    cap = 2.5 * PRICE

    state, predicted = _run(
        batch_erase,
        source,
        provider="ailabtools",
        connections=connections,
        dry_run=True,
        max_cost=cap,
    )
    assert predicted.cost == 2 * PRICE and predicted.errors == 4
    assert {r.error_type for r in predicted.rows if r.error} == {"BudgetExceeded"}
    assert emu.counters.billable("ailabtools") == 0

    state, summary = _run(
        batch_erase, source, provider="ailabtools", connections=connections, max_cost=cap
    )
    assert state.is_failed()
    assert "4 not started: max_cost 50 reached" in state.message
    assert "spent 40 credits" in state.message
    billed = emu.counters.billable("ailabtools")
    assert billed * PRICE <= cap
    assert summary.spend.total == billed * PRICE == predicted.cost
    assert summary.not_started == 4 == predicted.errors
    assert {r.error_type for r in summary.rows if r.status == "failed"} == {"BudgetExceeded"}

    state, summary = _run(
        batch_erase, source, provider="ailabtools", connections=connections, max_cost=10 * PRICE
    )
    assert state.is_completed(), state.message
    assert emu.counters.billable("ailabtools") == 6  # the unique inputs, each paid once
    assert summary.spend.total == 4 * PRICE
    assert sum(r.cached for r in summary.rows) == 2


def test_try_on_costs_its_two_jobs_predicts_them_and_keeps_a_cap(
    emu, connections, make_scene, tmp_path
):
    from PIL import Image

    from prefect_image_edit.flows.try_on import try_on
    from prefect_image_edit.tasks.cost import PriceTable

    prices = PriceTable.defaults()
    pro = prices.price("ailabtools", "TryOnClothesPro")
    refiner = prices.price("ailabtools", "TryOnClothesRefiner")
    person, _ = make_scene("person", size=(300, 600))
    top = tmp_path / "top.png"
    Image.new("RGB", (300, 300), (200, 40, 20)).save(top)
    args = (str(person), str(top), "woman")

    state, report = _run(try_on, *args, connections=connections, dry_run=True)
    assert emu.counters.billable("ailabtools") == 0
    assert (report.calls, report.cost) == (2, pro + refiner)

    state, _ = _run(try_on, *args, connections=connections, max_cost=pro + refiner - 1)
    assert state.is_failed() and "max_cost" in state.message
    assert emu.counters.billable("ailabtools") == 1  # the coarse job only

    state, report = _run(try_on, *args, connections=connections, dry_run=True)
    assert (report.calls, report.cost) == (1, refiner)  # the coarse job is paid for already

    state, outcome = _run(try_on, *args, connections=connections, max_cost=refiner)
    assert state.is_completed(), state.message
    assert outcome.cost == refiner
    assert emu.counters.billable("ailabtools") == 2
    state, report = _run(try_on, *args, connections=connections, dry_run=True)
    assert (report.calls, report.cost, report.cached) == (0, 0, 2)


def test_spend_is_emitted_once_per_run_per_vendor_action(emu, connections, make_scene, monkeypatch):
    import prefect.events

    emitted = []
    real = prefect.events.emit_event

    def recording(event, resource, **kwargs):
        if event == "image-edit.spend":
            emitted.append((resource, kwargs["payload"]))
        return real(event, resource=resource, **kwargs)

    monkeypatch.setattr(prefect.events, "emit_event", recording)
    image, mask = make_scene()
    state, _ = _run(
        erase,
        str(image),
        MaskOptions(mask=str(mask)),
        "ailabtools",
        variants=2,
        connections=connections,
    )
    run_id = state.state_details.flow_run_id
    assert emitted == [
        (
            {
                "prefect.resource.id": f"image-edit.run.{run_id}",
                "prefect.resource.name": "ailabtools RemoveObjectsAdvanced",
            },
            {
                "vendor": "ailabtools",
                "action": "RemoveObjectsAdvanced",
                "count": 2,
                "cost": 2 * PRICE,
                "unit": "credits",
            },
        )
    ]


def test_a_resent_request_after_an_ambiguous_failure_costs_both_attempts(
    emu, connections, make_scene
):
    from prefect_image_edit.emulators import FaultKind

    image, mask = make_scene()
    emu.inject("ailabtools", FaultKind.RESET_AFTER_PROCESSING, times=1)
    state, outcome = _run(
        erase, str(image), MaskOptions(mask=str(mask)), "ailabtools", connections=connections
    )
    assert state.is_completed(), state.message
    assert emu.counters.billable("ailabtools") == 2
    erased = outcome.variants[0].erased
    assert erased.possible_double_charges == 1
    assert erased.cost == 2 * PRICE == outcome.cost
    assert "spent 40 credits (2 paid calls)" in state.message
