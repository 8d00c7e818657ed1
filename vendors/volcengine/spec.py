"""Volcengine visual (cv), described once for the registry (see ``vendors/spec.py``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from prefect_image_edit.imaging.limits import MB, MIN_SIDE, Limits
from prefect_image_edit.vendors.spec import EraseAction, VendorSpec

__all__ = ["SPEC"]


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
    # Base64 answer: the bytes are staged the moment they arrive (no 24 h link to chase).
    return await client.i2i_inpainting(image=image, mask=mask, return_url=False, **parameters)


def _emulator_credentials(handle: Any) -> dict[str, Any]:
    return {
        "access_key_id": handle.access_key_id,
        "secret_access_key": handle.secret_access_key,
        "region": handle.region,
        "endpoint_url": handle.base_url,
    }


SPEC = VendorSpec(
    name="volcengine",
    title="Volcengine visual",
    block="prefect_image_edit.blocks.credentials:VolcengineCredentials",
    env={
        "access_key_id": "VOLC_ACCESSKEY",
        "secret_access_key": "VOLC_SECRETKEY",
        "session_token": "VOLC_SESSION_TOKEN",
        "region": "VOLC_REGION",
        "endpoint_url": "VOLC_VISUAL_ENDPOINT_URL",
    },
    required=("access_key_id", "secret_access_key"),
    limit_name="image-edit:volcengine-cv",
    concurrency=2,
    result_hosts=("https://*.byteimg.com",),
    result_ttl_seconds=86400,
    limits=(
        # "最小 64x64，最大 4096x4096", "最大 5 MB".
        Limits(
            "volcengine",
            frozenset({"JPEG", "PNG"}),
            min_side=MIN_SIDE,
            max_side=4096,
            max_bytes=5 * MB,
        ),
    ),
    erase=EraseAction(
        # CVProcess and Img2ImgInpainting both run req_key=i2i_inpainting; the key names it.
        action="i2i_inpainting",
        target="volcengine",
        parameters=_parameters,
        call=_erase,
    ),
    prices={"i2i_inpainting": None},
    emulator_credentials=_emulator_credentials,
)
