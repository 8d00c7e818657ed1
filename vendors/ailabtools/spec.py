"""AILabTools, described once for the registry (see ``vendors/spec.py``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from prefect_image_edit.imaging.limits import MB, Limits
from prefect_image_edit.vendors.spec import EraseAction, VendorSpec

__all__ = ["SPEC", "TRY_ON_PRO_ACTION", "TRY_ON_REFINER_ACTION"]

TRY_ON_PRO_ACTION = "TryOnClothesPro"
TRY_ON_REFINER_ACTION = "TryOnClothesRefiner"


def _parameters(settings: Any, seed: int) -> dict[str, Any]:
    return {
        "steps": settings.steps,
        "strength": settings.strength,
        "scale": settings.scale,
        "seed": seed,
        "dilate_size": settings.dilate_size,
        "quality": settings.quality,
    }


async def _erase(client: Any, image: bytes, mask: bytes, parameters: Mapping[str, Any]) -> Any:
    return await client.remove_objects_advanced(image, mask, **parameters)


def _emulator_credentials(handle: Any) -> dict[str, Any]:
    return {"api_key": handle.api_key, "endpoint_url": handle.base_url}


SPEC = VendorSpec(
    name="ailabtools",
    title="AILabTools",
    block="prefect_image_edit.blocks.credentials:AILabToolsCredentials",
    env={"api_key": "AILABTOOLS_API_KEY", "endpoint_url": "AILABTOOLS_ENDPOINT_URL"},
    required=("api_key",),
    limit_name="image-edit:ailabtools",
    concurrency=4,
    result_hosts=("https://*.aliyuncs.com",),
    result_ttl_seconds=86400,
    task_retention_seconds=86400,
    limits=(
        # "larger than 64x64px, smaller than 4096x4096px", "no more than 5 MB".
        Limits(
            "ailabtools-remove-objects",
            frozenset({"JPEG", "PNG"}),
            min_side=65,
            max_side=4095,
            max_bytes=5 * MB,
        ),
        # "larger than 150x150px, smaller than 4096x4096px", "no more than 5 MB".
        Limits(
            "ailabtools-try-on",
            frozenset({"JPEG", "PNG", "BMP"}),
            min_side=151,
            max_side=4095,
            max_bytes=5 * MB,
            takes_mask=False,
        ),
    ),
    erase=EraseAction(
        action="RemoveObjectsAdvanced",
        target="ailabtools-remove-objects",
        parameters=_parameters,
        call=_erase,
    ),
    # Credits per call, as AILabTools publishes them.
    prices={"RemoveObjectsAdvanced": 20, TRY_ON_PRO_ACTION: 30, TRY_ON_REFINER_ACTION: 25},
    emulator_credentials=_emulator_credentials,
)
