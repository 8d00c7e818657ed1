"""Finishing an erase: the provider's result mapped back onto the original, then archived.

Runs after the paid task. It reads the vendor's result from the bytes the paid task staged on
this machine (falling back to the archive only on another machine), and the original from its
source, so nothing the run already holds is downloaded again.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio.to_thread
from prefect import task
from prefect.cache_policies import NO_CACHE

from prefect_image_edit.imaging import restore_result
from prefect_image_edit.imaging.encode import matching_format
from prefect_image_edit.tasks.archive import read_archived, resolve_archive, store_bytes
from prefect_image_edit.tasks.models import (
    ErasedImage,
    FinalImage,
    MaskOptions,
    OutputOptions,
    PreparedInputs,
)
from prefect_image_edit.tasks.policy import retry_delays, should_retry
from prefect_image_edit.tasks.prepare import (
    load_pair,
    load_recipe,
    read_staged,
    source_client,
    stage_bytes,
)
from prefect_image_edit.tasks.sources import read_source

__all__ = ["finish_erase", "output_path"]

_MEDIA_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}


def output_path(path: str | None, seed: int | None, variants: int) -> Path | None:
    if not path:
        return None
    target = Path(path).expanduser()
    if variants > 1:
        target = target.with_name(f"{target.stem}-seed{seed}{target.suffix}")
    return target


@task(
    name="finish-erase",
    cache_policy=NO_CACHE,
    retries=3,
    retry_delay_seconds=retry_delays(3),
    retry_condition_fn=should_retry,
)
async def finish_erase(
    image: str,
    mask: MaskOptions,
    inputs: PreparedInputs,
    erased: ErasedImage,
    dilate_size: int = 15,
    output: OutputOptions | None = None,
    variants: int = 1,
    archive: Any = None,
) -> FinalImage:
    """Map a provider's result back onto the original image and archive the edited image.

    Outside the (vendor-dilated) mask every pixel is the original's; the size, orientation
    and transparency are the original's. The edited image is archived under ``edited/``.
    """
    output = output or OutputOptions()
    storage = await resolve_archive(archive)
    s3_client = await source_client(archive, [image, mask.mask])
    recipe = load_recipe(inputs.recipe)
    if recipe is not None:  # the usual case: decode the source once, in restore_result
        original = read_staged(inputs.original) if inputs.original is not None else None
        if original is None:
            original = await read_source(image, s3_client=s3_client)
        prepared, prepared_mask = recipe
    else:  # staged on another machine, or cleaned up: prepare again (deterministic)
        prepared, prepared_mask = await load_pair(
            image, mask, target=inputs.target, policy=inputs.policy, s3_client=s3_client
        )
        original = None
    result = read_staged(erased.result) if erased.result is not None else None
    if result is None:  # on another machine, or swept: read what was archived
        result = await read_archived(storage, erased.archived)

    fmt = (
        matching_format(original or prepared.original, alpha=prepared.alpha_kept)
        if output.format == "auto"
        else output.format
    )

    def _restore() -> bytes:
        return restore_result(
            result,
            prepared,
            mask=prepared_mask,
            dilate=dilate_size,
            output_format=fmt,
            quality=output.quality,
            original=original,
        )

    data = await anyio.to_thread.run_sync(_restore)
    ref = await store_bytes(
        storage,
        data,
        vendor="edited",
        media_type=_MEDIA_TYPES[fmt],
        metadata={
            "source": image,
            "provider": erased.provider,
            "vendor_result": erased.archived.uri,
            "content_key": erased.key,
            "seed": erased.seed,
        },
    )
    written = output_path(output.path, erased.seed, variants)
    if written is not None:
        written.parent.mkdir(parents=True, exist_ok=True)
        await anyio.to_thread.run_sync(written.write_bytes, data)
    return FinalImage(
        archived=ref,
        written_to=str(written) if written else None,
        size=prepared.original_size,
        staged=await anyio.to_thread.run_sync(stage_bytes, data, ref.sha256, ref.media_type),
    )
