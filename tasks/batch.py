"""Listing a batch's items (a folder, an S3 prefix or a manifest) as a Prefect task."""

from __future__ import annotations

from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from prefect_image_edit.errors import InputError
from prefect_image_edit.flows.batch_items import (
    BatchItem,
    BatchSource,
    items_from_listing,
    items_from_manifest,
)
from prefect_image_edit.tasks.prepare import source_client
from prefect_image_edit.tasks.sources import list_sources, read_source

__all__ = ["load_batch"]


@task(name="load-batch", cache_policy=NO_CACHE)
async def load_batch(source: BatchSource, archive: Any = None) -> list[BatchItem]:
    """List the batch's items; unreadable manifests fail here, bad rows become failed items."""
    client = await source_client(archive)
    if source.manifest:
        text = (await read_source(source.manifest, s3_client=client)).decode("utf-8-sig")
        return items_from_manifest(text, source.manifest, source.mask)
    images = list_sources(source.images, s3_client=client)
    masks = list_sources(source.masks, s3_client=client) if source.masks else []
    if not images:
        raise InputError("no images found", source=source.images)
    return items_from_listing(images, masks, source.mask)
