"""The erase flow end to end: every provider, caching, fallbacks, variants, bad input."""

from __future__ import annotations

import asyncio

import pytest
from PIL import Image

from prefect_image_edit.emulators import FaultKind
from prefect_image_edit.errors import InputError
from prefect_image_edit.flows.erase import erase
from prefect_image_edit.flows.models import OutputOptions
from prefect_image_edit.tasks.models import EraseSettings, MaskOptions
from prefect_image_edit.tasks.sources import split_s3_uri
from prefect_image_edit.vendors.errors import ModerationError

PAID = ("ailabtools", "tencent", "volcengine")


def _head(s3, uri: str) -> dict:
    bucket, key = split_s3_uri(uri)
    return s3.head_object(Bucket=bucket, Key=key)


@pytest.mark.parametrize("provider", ["local", *PAID])
def test_erase_end_to_end_archives_with_metadata_and_pays_once(
    provider, emu, connections, make_scene, s3, tmp_path
):
    image, mask = make_scene()
    out = tmp_path / "out.png"
    outcome = asyncio.run(
        erase(
            str(image),
            MaskOptions(mask=str(mask)),
            provider,
            output=OutputOptions(path=str(out)),
            connections=connections,
        )
    )
    variant = outcome.variants[0]
    assert outcome.provider == provider
    with Image.open(out) as edited, Image.open(image) as original:
        assert edited.size == original.size
        # the red object is gone: its centre is no longer red
        red, green, blue = edited.convert("RGB").getpixel((133, 100))
        assert red < 180 or green > 80 or blue > 80
        # far from the mask the original pixels are kept
        assert edited.convert("RGB").getpixel((5, 5)) == original.convert("RGB").getpixel((5, 5))

    raw = _head(s3, variant.erased.archived.uri)
    assert raw["Metadata"]["vendor"] == provider
    assert raw["Metadata"]["content-key"] == variant.erased.key
    assert raw["Metadata"]["input-image-sha256"]
    assert raw["Metadata"]["sha256"] == variant.erased.archived.sha256
    assert raw["ContentLength"] == variant.erased.archived.size
    final = _head(s3, variant.final.archived.uri)
    assert final["ContentType"] == "image/png"
    assert final["Metadata"]["vendor-result"] == variant.erased.archived.uri
    if provider != "local":
        assert raw["Metadata"]["request-id"] == variant.erased.request_id
        assert emu.counters.billable(provider) == 1

    again = asyncio.run(
        erase(str(image), MaskOptions(mask=str(mask)), provider, connections=connections)
    )
    hit = again.variants[0].erased
    assert hit.cached and not variant.erased.cached
    assert (hit.key, hit.archived, hit.request_id) == (
        variant.erased.key,
        variant.erased.archived,
        variant.erased.request_id,
    )
    for vendor in PAID:
        assert emu.counters.billable(vendor) == (1 if vendor == provider else 0)


def test_bad_input_fails_before_any_request(emu, connections, tmp_path):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 truncated")
    mask = MaskOptions(boxes=[(1, 1, 10, 10)])
    with pytest.raises(InputError, match=r"broken\.jpg"):
        asyncio.run(erase(str(broken), mask, "tencent", connections=connections))
    with pytest.raises(InputError, match="file not found"):
        asyncio.run(erase(str(tmp_path / "missing.png"), mask, "tencent", connections=connections))
    assert emu.counters.requests("tencent") == 0


def test_empty_mask_is_refused_before_any_request(emu, connections, make_scene, tmp_path):
    image, _ = make_scene()
    blank = tmp_path / "blank.png"
    Image.new("L", (320, 240), 0).save(blank)
    with pytest.raises(InputError, match=r"blank\.png"):
        asyncio.run(
            erase(str(image), MaskOptions(mask=str(blank)), "volcengine", connections=connections)
        )
    assert emu.counters.requests("volcengine") == 0


def test_outage_falls_back_to_the_next_provider(emu, connections, make_scene):
    image, mask = make_scene()
    emu.inject("tencent", FaultKind.GATEWAY_ERROR, times=None)
    outcome = asyncio.run(
        erase(
            str(image),
            MaskOptions(mask=str(mask)),
            "tencent",
            fallback=["volcengine"],
            connections=connections,
        )
    )
    assert outcome.provider == "volcengine"
    assert [s.provider for s in outcome.skipped] == ["tencent"]
    assert emu.counters.billable("tencent") == 0
    assert emu.counters.billable("volcengine") == 1


def test_moderation_never_falls_back(emu, connections, make_scene):
    image, mask = make_scene()
    emu.inject("tencent", FaultKind.MODERATION)
    with pytest.raises(ModerationError):
        asyncio.run(
            erase(
                str(image),
                MaskOptions(mask=str(mask)),
                "tencent",
                fallback=["volcengine"],
                connections=connections,
            )
        )
    assert emu.counters.requests("tencent", "ImageInpaintingRemoval") == 1
    assert emu.counters.requests("volcengine") == 0


def test_variants_run_with_consecutive_seeds(emu, connections, make_scene, tmp_path):
    image, mask = make_scene()
    outcome = asyncio.run(
        erase(
            str(image),
            MaskOptions(mask=str(mask)),
            "volcengine",
            variants=3,
            settings=EraseSettings(seed=10),
            output=OutputOptions(path=str(tmp_path / "v.png")),
            connections=connections,
        )
    )
    assert sorted(v.seed for v in outcome.variants) == [10, 11, 12]
    assert emu.counters.billable("volcengine") == 3
    assert sorted(p.name for p in tmp_path.glob("v-seed*.png")) == [
        "v-seed10.png",
        "v-seed11.png",
        "v-seed12.png",
    ]


def test_two_concurrent_runs_of_the_same_input_are_billed_once(emu, connections, make_scene):
    image, mask = make_scene()
    emu.settings.tencent.latency = 0.5

    async def both():
        return await asyncio.gather(
            erase(str(image), MaskOptions(mask=str(mask)), "tencent", connections=connections),
            erase(str(image), MaskOptions(mask=str(mask)), "tencent", connections=connections),
        )

    first, second = asyncio.run(both())
    assert first.variants[0].erased.archived == second.variants[0].erased.archived
    assert emu.counters.billable("tencent") == 1


def test_mapping_back_from_the_staged_recipe_equals_preparing_again(emu, connections, make_scene):
    from prefect import flow

    from prefect_image_edit.tasks.erase import erase_image
    from prefect_image_edit.tasks.finish import finish_erase
    from prefect_image_edit.tasks.prepare import prepare_inputs

    image, mask = make_scene(size=(400, 300))
    options = MaskOptions(mask=str(mask))

    @flow
    async def both_ways():
        inputs = await prepare_inputs(str(image), options, "local")
        erased = await erase_image(inputs, "local")
        with_recipe = await finish_erase(str(image), options, inputs, erased)
        without = await finish_erase(
            str(image), options, inputs.model_copy(update={"recipe": None}), erased
        )
        return inputs, with_recipe, without

    inputs, with_recipe, without = asyncio.run(both_ways())
    assert inputs.recipe is not None and inputs.recipe.size < 20_000  # no pixels inside
    assert with_recipe.archived.sha256 == without.archived.sha256
