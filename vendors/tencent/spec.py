"""Tencent Cloud aiart, described once for the registry (see ``vendors/spec.py``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from prefect_image_edit.imaging.limits import MB, MIN_SIDE, Limits
from prefect_image_edit.vendors.spec import EraseAction, VendorSpec

__all__ = ["SPEC"]


def _parameters(settings: Any, seed: int) -> dict[str, Any]:
    # Base64, not a 1 h COS URL: the result's bytes arrive with the answer and are staged at
    # once, so an archive outage after payment never leaves a result behind an expiring link.
    return {"logo_add": 1 if settings.visible_mark else 0, "rsp_img_type": "base64"}


async def _erase(client: Any, image: bytes, mask: bytes, parameters: Mapping[str, Any]) -> Any:
    return await client.image_inpainting_removal(
        image=image,
        mask=mask,
        rsp_img_type=parameters["rsp_img_type"],
        logo_add=parameters["logo_add"],
    )


def _emulator_credentials(handle: Any) -> dict[str, Any]:
    return {
        "secret_id": handle.secret_id,
        "secret_key": handle.secret_key,
        "region": handle.region,
        "endpoint_url": handle.base_url,
    }


SPEC = VendorSpec(
    name="tencent",
    title="Tencent Cloud aiart",
    block="prefect_image_edit.blocks.credentials:TencentCloudCredentials",
    env={
        "secret_id": "TENCENTCLOUD_SECRET_ID",
        "secret_key": "TENCENTCLOUD_SECRET_KEY",
        "token": "TENCENTCLOUD_SESSION_TOKEN",
        "region": "TENCENTCLOUD_REGION",
        "endpoint_url": "TENCENTCLOUD_AIART_ENDPOINT_URL",
    },
    required=("secret_id", "secret_key"),
    # One concurrent job per account by default.
    limit_name="image-edit:tencent-aiart",
    concurrency=1,
    result_hosts=("https://*.myqcloud.com",),
    result_ttl_seconds=3600,
    limits=(
        # "单边分辨率小于5000", "Base64 字符串后小于 6MB"; no documented minimum: the pack's floor.
        Limits(
            "tencent",
            frozenset({"JPEG", "PNG", "BMP", "TIFF", "WEBP"}),
            min_side=MIN_SIDE,
            max_side=4999,
            max_base64_chars=6 * MB - 1,
        ),
    ),
    erase=EraseAction(
        action="ImageInpaintingRemoval",
        target="tencent",
        parameters=_parameters,
        call=_erase,
        dilates_mask=False,
        seeded=False,
    ),
    # Account-specific: unknown until a team sets it.
    prices={"ImageInpaintingRemoval": None},
    emulator_credentials=_emulator_credentials,
)
