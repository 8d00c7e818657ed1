"""Erase providers: which vendor, action and input limits each one means, and how to call it.

The table is data so the flows, the cache keys and the tests agree on one definition. The
``local`` provider runs OpenCV on this machine (the embedded default: no keys, no cost).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import anyio.to_thread
from PIL import Image

from prefect_image_edit.errors import InputError
from prefect_image_edit.tasks.models import EraseSettings, Provider
from prefect_image_edit.vendors.results import EraseResult

__all__ = ["PROVIDERS", "ProviderSpec", "call_provider", "vendor_parameters"]


@dataclass(frozen=True)
class ProviderSpec:
    name: str
    vendor: str
    action: str
    """The action named in cache keys and the ledger."""
    target: str
    """The ``imaging`` limits target inputs are prepared for."""
    paid: bool


PROVIDERS: dict[str, ProviderSpec] = {
    "local": ProviderSpec("local", "local", "OpenCVInpaint", "local", paid=False),
    "ailabtools": ProviderSpec(
        "ailabtools", "ailabtools", "RemoveObjectsAdvanced", "ailabtools-remove-objects", True
    ),
    "tencent": ProviderSpec("tencent", "tencent", "ImageInpaintingRemoval", "tencent", True),
    # CVProcess and Img2ImgInpainting both run req_key=i2i_inpainting; the key names the model.
    "volcengine": ProviderSpec("volcengine", "volcengine", "i2i_inpainting", "volcengine", True),
}


def vendor_parameters(provider: Provider, settings: EraseSettings, seed: int) -> dict[str, Any]:
    """The parameters a provider actually receives, canonical, for cache keys and metadata."""
    if provider == "tencent":
        return {"logo_add": 1 if settings.visible_mark else 0, "rsp_img_type": "url"}
    if provider == "local":
        return {"dilate_size": settings.dilate_size}
    return {
        "steps": settings.steps,
        "strength": settings.strength,
        "scale": settings.scale,
        "seed": seed,
        "dilate_size": settings.dilate_size,
        "quality": settings.quality,
    }


def _local_inpaint(image: bytes, mask: bytes, dilate_size: int) -> bytes:
    from prefect_image_edit.inpaint import HAVE_OPENCV, inpaint

    if not HAVE_OPENCV:
        raise InputError(
            "the local provider needs OpenCV: pip install 'prefect-image-edit[local]'",
            source="provider",
        )
    with Image.open(io.BytesIO(image)) as im, Image.open(io.BytesIO(mask)) as m:
        out = inpaint(im.convert("RGB"), m.convert("L"), dilate_size)
    buffer = io.BytesIO()
    out.save(buffer, format="PNG")
    return buffer.getvalue()


async def call_provider(
    provider: Provider,
    client: Any,
    image: bytes,
    mask: bytes,
    settings: EraseSettings,
    seed: int,
) -> EraseResult:
    """Make the one (possibly paid) call of ``provider``; ``client`` is None for ``local``."""
    params = vendor_parameters(provider, settings, seed)
    if provider == "local":
        data = await anyio.to_thread.run_sync(_local_inpaint, image, mask, settings.dilate_size)
        return EraseResult(
            vendor="local", action="OpenCVInpaint", image_bytes=data, parameters=params
        )
    if provider == "ailabtools":
        return await client.remove_objects_advanced(image, mask, **params)
    if provider == "tencent":
        return await client.image_inpainting_removal(
            image=image, mask=mask, rsp_img_type="url", logo_add=params["logo_add"]
        )
    if provider == "volcengine":
        return await client.i2i_inpainting(image=image, mask=mask, return_url=True, **params)
    raise InputError(f"unknown provider {provider!r}", source="provider")
