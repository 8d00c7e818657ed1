"""Erase providers: ``local`` plus every registered vendor that erases.

Everything here is derived from the vendor registry (``vendors/registry.py``): the action named
in cache keys, the limits target inputs are prepared for, the canonical parameters and the call
itself. The ``local`` provider runs OpenCV on this machine (the embedded default: no keys, no
cost).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import anyio.to_thread
from PIL import Image

from prefect_image_edit.errors import InputError
from prefect_image_edit.tasks.models import EraseSettings, Provider
from prefect_image_edit.vendors import registry
from prefect_image_edit.vendors.results import EraseResult

__all__ = ["ProviderSpec", "call_provider", "provider", "vendor_parameters"]


@dataclass(frozen=True)
class ProviderSpec:
    name: str
    vendor: str
    action: str
    """The action named in cache keys and the ledger."""
    target: str
    """The ``imaging`` limits target inputs are prepared for."""
    paid: bool
    dilates_mask: bool = True
    """Whether the provider grows the mask itself; if not, the pack does before sending."""
    seeded: bool = True


LOCAL = ProviderSpec("local", "local", "OpenCVInpaint", "local", paid=False)


def provider(name: Provider) -> ProviderSpec:
    """The spec of provider ``name`` (``local`` or a registered vendor that erases)."""
    if name == "local":
        return LOCAL
    try:
        spec = registry.get(name)
    except KeyError as error:
        raise InputError(str(error.args[0]), source="provider") from None
    if spec.erase is None:
        raise InputError(f"{spec.title} does not erase", source="provider")
    return ProviderSpec(
        name,
        spec.name,
        spec.erase.action,
        spec.erase.target,
        paid=True,
        dilates_mask=spec.erase.dilates_mask,
        seeded=spec.erase.seeded,
    )


def vendor_parameters(name: Provider, settings: EraseSettings, seed: int) -> dict[str, Any]:
    """The parameters a provider actually receives, canonical, for cache keys and metadata."""
    if name == "local":
        return {"dilate_size": settings.dilate_size}
    return registry.get(name).erase.parameters(settings, seed)


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
    name: Provider,
    client: Any,
    image: bytes,
    mask: bytes,
    settings: EraseSettings,
    seed: int,
) -> EraseResult:
    """Make the one (possibly paid) call of provider ``name``; ``client`` is None for ``local``."""
    params = vendor_parameters(name, settings, seed)
    if name == "local":
        data = await anyio.to_thread.run_sync(_local_inpaint, image, mask, settings.dilate_size)
        return EraseResult(vendor="local", action=LOCAL.action, image_bytes=data, parameters=params)
    return await registry.get(name).erase.call(client, image, mask, params)
