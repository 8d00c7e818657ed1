"""Block pickers: Connections fields are typed blocks (the UI's picker), names still work, and
what Prefect stores as a flow run's parameters holds block references, never a secret."""

from __future__ import annotations

import asyncio
import json

import pytest
from prefect import get_client

from prefect_image_edit.blocks import LocalArchiveStorage
from prefect_image_edit.flows.erase import erase
from prefect_image_edit.flows.models import Connections
from prefect_image_edit.tasks.models import MaskOptions
from prefect_image_edit.vendors import registry

SECRET = "sekrit-value-that-must-never-be-stored"


def test_the_form_offers_a_block_picker_per_vendor_and_for_the_archive():
    schema = erase.parameters.model_dump()
    definitions = schema["definitions"]
    fields = definitions["Connections"]["properties"]
    for spec in registry.specs():
        [ref] = [v["$ref"] for v in fields[spec.name]["anyOf"] if "$ref" in v]
        slug = definitions[ref.rsplit("/", 1)[-1]]["block_type_slug"]
        assert slug == spec.block_type().get_block_type_slug()
    archive_slugs = {
        definitions[v["$ref"].rsplit("/", 1)[-1]]["block_type_slug"]
        for v in fields["archive"]["anyOf"]
        if "$ref" in v
    }
    assert archive_slugs == {"image-edit-local-archive", "image-edit-s3-archive"}


def test_names_and_instances_both_validate_and_archive_names_are_checked_early():
    by_name = Connections(tencent="prod", archive="image-edit-s3-archive/prod")
    assert by_name.tencent == "prod"
    assert by_name.model_dump(mode="json")["archive"] == "image-edit-s3-archive/prod"
    with pytest.raises(ValueError, match="TYPE-SLUG/NAME"):
        Connections(archive="prod")
    block = registry.get("tencent").block_type()(secret_id="AKID", secret_key=SECRET)
    dumped = json.dumps(Connections(tencent=block).model_dump(mode="json"))
    assert SECRET not in dumped  # an unsaved block is written with its secrets masked


@pytest.mark.usefixtures("prefect_api")
def test_a_flow_runs_stored_parameters_hold_block_references_not_secrets(tmp_path):
    from PIL import Image, ImageDraw

    image = tmp_path / "p.png"
    picture = Image.new("RGB", (160, 120), (20, 120, 40))
    ImageDraw.Draw(picture).ellipse((60, 40, 100, 80), fill=(220, 20, 20))
    picture.save(image)

    async def main():
        spec = registry.get("tencent")
        credentials = spec.block_type()(secret_id="AKID", secret_key=SECRET)
        await credentials.asave("params-test", overwrite=True)
        archive = LocalArchiveStorage(base_path=str(tmp_path / "archive"))
        await archive.asave("params-test", overwrite=True)
        state = await erase(
            str(image),
            MaskOptions(boxes=[(56, 36, 104, 84)]),
            "local",
            connections=Connections(tencent=credentials, archive=archive),
            return_state=True,
        )
        async with get_client() as client:
            run = await client.read_flow_run(state.state_details.flow_run_id)
        return state, run.parameters

    state, parameters = asyncio.run(main())
    assert state.is_completed(), state
    stored = json.dumps(parameters)
    assert SECRET not in stored
    assert parameters["connections"]["tencent"] == {
        "$ref": {
            "block_document_id": parameters["connections"]["tencent"]["$ref"]["block_document_id"]
        }
    }
    assert "$ref" in parameters["connections"]["archive"]
