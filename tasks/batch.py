"""Listing a batch's items (a folder, an S3 prefix or a manifest) as a Prefect task."""

from __future__ import annotations

from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from prefect_image_edit.tasks.batch_items import BatchItem, BatchSource, load_items
from prefect_image_edit.tasks.prepare import source_client

__all__ = ["load_batch"]


@task(name="load-batch", cache_policy=NO_CACHE)
async def load_batch(source: BatchSource, archive: Any = None) -> list[BatchItem]:
    """List the batch's items; unreadable manifests fail here, bad rows become failed items."""
    client = await source_client(archive, source.locations())
    return await load_items(source, s3_client=client)
