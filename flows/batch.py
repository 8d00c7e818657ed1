"""The ``batch-erase`` flow: many images, one bad one never stops the rest.

Items run concurrently (bounded); each is the same chain as the ``erase`` flow (prepare, erase
with fallbacks, map back, archive). Vendor concurrency limits still hold across items, flows and
processes because the erase task takes the vendor's Prefect limit around each call. Progress
and a summary table are published as artifacts, a results manifest (JSONL) is archived, and the
flow's final state says how many items failed.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, Literal

from prefect import flow, get_run_logger
from prefect.artifacts import (
    acreate_markdown_artifact,
    acreate_progress_artifact,
    acreate_table_artifact,
    aupdate_progress_artifact,
)
from prefect.context import get_run_context
from prefect.states import Completed, Failed
from pydantic import BaseModel, Field

from prefect_image_edit.flows.erase import (
    DEFAULT_CONNECTIONS,
    DEFAULT_SETTINGS,
    erase_item,
    resolve_blocks,
)
from prefect_image_edit.flows.models import Connections, OutputOptions
from prefect_image_edit.tasks.archive import resolve_archive, store_bytes
from prefect_image_edit.tasks.batch import load_batch
from prefect_image_edit.tasks.batch_items import (
    BatchItem,
    BatchSource,
)
from prefect_image_edit.tasks.models import EraseSettings, Provider, ResizePolicy

__all__ = ["BatchRow", "BatchSummary", "batch_erase"]


class BatchRow(BaseModel):
    """One item's outcome, as it appears in the summary table and the results manifest."""

    item: str
    status: Literal["done", "failed"]
    provider: str | None = None
    archived: str | None = Field(default=None, description="Edited image URI.")
    vendor_result: str | None = Field(default=None, description="Raw vendor result URI.")
    request_id: str | None = None
    attempts: int = 0
    possible_double_charges: int = 0
    error: str | None = None
    error_type: str | None = None


class BatchSummary(BaseModel):
    total: int
    succeeded: int
    failed: int
    manifest_uri: str | None = None
    rows: list[BatchRow]


async def _run_item(
    item: BatchItem,
    chain: list[Provider],
    settings: EraseSettings,
    policy: ResizePolicy,
    output: OutputOptions,
    connections: Connections,
) -> BatchRow:
    if item.error:
        return BatchRow(item=item.image, status="failed", error=item.error, error_type="InputError")
    try:
        item_chain = list(dict.fromkeys([item.provider, *chain])) if item.provider else chain
        outcome = await erase_item(
            item.image,
            item.mask,
            item_chain,
            settings=item.erase_settings(settings),
            policy=policy,
            output=output,
            connections=connections,
        )
    except Exception as error:  # per-item isolation: record, never stop the batch
        return BatchRow(
            item=item.image, status="failed", error=str(error), error_type=type(error).__name__
        )
    variant = outcome.variants[0]
    return BatchRow(
        item=item.image,
        status="done",
        provider=outcome.provider,
        archived=variant.final.archived.uri,
        vendor_result=variant.erased.archived.uri,
        request_id=variant.erased.request_id,
        attempts=variant.erased.attempts,
        possible_double_charges=variant.erased.possible_double_charges,
    )


@flow(name="batch-erase", log_prints=False)
async def batch_erase(
    source: BatchSource,
    provider: Provider = "local",
    fallback: list[Provider] | None = None,
    settings: EraseSettings = DEFAULT_SETTINGS,
    policy: ResizePolicy = "downscale",
    output_format: Literal["PNG", "JPEG", "WEBP"] = "PNG",
    max_concurrency: int = 4,
    connections: Connections = DEFAULT_CONNECTIONS,
):
    """Erase objects from many images; one bad image never stops the batch.

    Args:
        source: Where the images (and masks) come from: a folder, an s3:// prefix or a
            CSV/JSONL manifest.
        provider: The provider to use first (a manifest row may name its own).
        fallback: Providers to try next on outages, rate exhaustion, no credits or 201304.
        settings: Vendor parameters for every item (manifest rows may override them).
        policy: When an image breaks a provider limit: fail, downscale or crop_around_mask.
        output_format: File format of the edited images.
        max_concurrency: Items in progress at once (vendor limits apply on top).
        connections: Saved blocks: vendor credentials and the archive storage.
    """
    logger = get_run_logger()
    chain = list(dict.fromkeys([provider, *(fallback or [])]))
    await resolve_blocks(connections, chain)
    items = await load_batch(source, connections.archive)
    output = OutputOptions(format=output_format)
    progress = await acreate_progress_artifact(
        0.0, key="batch-erase-progress", description=f"{len(items)} items"
    )
    gate = asyncio.Semaphore(max(1, max_concurrency))
    rows: list[BatchRow | None] = [None] * len(items)
    finished = 0

    async def run(index: int, item: BatchItem) -> None:
        nonlocal finished
        async with gate:
            rows[index] = await _run_item(item, chain, settings, policy, output, connections)
        finished += 1
        await aupdate_progress_artifact(progress, 100.0 * finished / len(items))

    await asyncio.gather(*(run(i, item) for i, item in enumerate(items)))
    done_rows = [row for row in rows if row is not None]
    summary = BatchSummary(
        total=len(done_rows),
        succeeded=sum(r.status == "done" for r in done_rows),
        failed=sum(r.status == "failed" for r in done_rows),
        rows=done_rows,
    )
    summary.manifest_uri = await _archive_manifest(summary, connections.archive)
    await _publish_summary(summary)
    message = f"{summary.succeeded} of {summary.total} items erased, {summary.failed} failed"
    logger.info("%s; results manifest at %s", message, summary.manifest_uri)
    if summary.failed:
        return Failed(message=message + "; see the batch-erase-summary artifact", data=summary)
    return Completed(message=message, data=summary)


async def _archive_manifest(summary: BatchSummary, archive: Any) -> str:
    storage = await resolve_archive(archive)
    run_id = str(get_run_context().flow_run.id)
    lines = [
        json.dumps({"flow_run_id": run_id, **row.model_dump()}, sort_keys=True)
        for row in summary.rows
    ]
    ref = await store_bytes(
        storage,
        ("\n".join(lines) + "\n").encode(),
        vendor="manifests",
        media_type="application/jsonl",
        metadata={"flow_run_id": run_id, "items": summary.total, "failed": summary.failed},
    )
    return ref.uri


async def _publish_summary(summary: BatchSummary) -> None:
    await acreate_table_artifact(
        [
            {
                "item": r.item,
                "status": r.status,
                "provider": r.provider or "",
                "archived": r.archived or "",
                "request id": r.request_id or "",
                "error": r.error or "",
            }
            for r in summary.rows
        ],
        key="batch-erase-summary",
        description=f"{summary.succeeded} done, {summary.failed} failed",
    )
    await acreate_markdown_artifact(
        markdown=f"Results manifest: `{summary.manifest_uri}`\n",
        key="batch-erase-manifest",
        description="Where the JSONL results manifest was archived",
    )
