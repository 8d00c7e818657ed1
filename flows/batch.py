"""The ``batch-erase`` flow: many images, one bad one never stops the rest.

Items run concurrently (bounded), each as one ``erase-item`` task run named after its file (the
same chain as the ``erase`` flow: prepare, erase with fallbacks, map back, archive); a failed
item is a failed task run. Items a previous run finished (remembered in the shared state, and
still in the archive) are reported without running anything. Vendor concurrency limits hold
across items, flows and processes because every paid call holds one of the vendor's Prefect
slots. Progress (in steps) and a summary table are published as artifacts, the summary before
anything that could fail on storage; a results manifest (JSONL) is archived, and the flow's
final state says how many items failed.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any, Literal

import anyio
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
    credentials_by_provider,
    resolve_blocks,
)
from prefect_image_edit.flows.models import BatchConcurrency, Connections, OutputOptions
from prefect_image_edit.state import resolve_state
from prefect_image_edit.tasks.archive import resolve_archive, store_bytes
from prefect_image_edit.tasks.batch import load_batch
from prefect_image_edit.tasks.batch_items import BatchItem, BatchSource
from prefect_image_edit.tasks.erase import ARCHIVE_DEADLINE_SECONDS
from prefect_image_edit.tasks.item import erase_item
from prefect_image_edit.tasks.memo import item_key, recall_finished, remember_finished
from prefect_image_edit.tasks.models import EraseOutcome, EraseSettings, Provider, ResizePolicy
from prefect_image_edit.tasks.prepare import source_client

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
    cached: bool = Field(default=False, description="Found done; nothing was paid or redone.")
    error: str | None = None
    error_type: str | None = None


class BatchSummary(BaseModel):
    total: int
    succeeded: int
    failed: int
    manifest_uri: str | None = None
    rows: list[BatchRow]


class _Progress:
    """The progress artifact, updated in steps (every 5 % or 2 s), not once per item."""

    def __init__(self, artifact_id: Any, total: int) -> None:
        self.artifact_id, self.total, self.done = artifact_id, max(1, total), 0
        self._shown, self._at = 0.0, time.monotonic()

    async def advance(self, count: int = 1) -> None:
        self.done += count
        percent = 100.0 * self.done / self.total
        now = time.monotonic()
        if percent >= 100 or percent - self._shown >= 5 or now - self._at >= 2:
            self._shown, self._at = percent, now
            await aupdate_progress_artifact(self.artifact_id, percent)


def _row_of(item: BatchItem, outcome: EraseOutcome) -> BatchRow:
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
        cached=variant.erased.cached,
    )


def _row_of_finished(item: BatchItem, finished: dict[str, Any]) -> BatchRow:
    return BatchRow(
        item=item.image,
        status="done",
        provider=finished["provider"],
        archived=finished["final_uri"],
        vendor_result=finished["vendor_result"],
        request_id=finished["request_id"],
        attempts=finished["attempts"],
        possible_double_charges=finished["possible_double_charges"],
        cached=True,
    )


def _failed_row(item: BatchItem, error: BaseException | str) -> BatchRow:
    error_type = "InputError" if isinstance(error, str) else type(error).__name__
    return BatchRow(item=item.image, status="failed", error=str(error), error_type=error_type)


async def _memo_keys(
    items: list[BatchItem],
    chain: list[Provider],
    settings: EraseSettings,
    policy: str,
    output: OutputOptions,
    storage: Any,
    s3_client: Any,
) -> dict[int, str]:
    """Each runnable item's memo key; an item whose inputs cannot be read gets none."""
    gate = asyncio.Semaphore(16)

    async def key(item: BatchItem) -> str | None:
        async with gate:
            try:
                return await item_key(
                    item,
                    _chain_for(item, chain),
                    settings,
                    policy,
                    output,
                    storage.get_store().location,
                    s3_client=s3_client,
                )
            except Exception:  # unreadable: the item's own run says why
                return None

    runnable = [(i, item) for i, item in enumerate(items) if not item.error]
    keys = await asyncio.gather(*(key(item) for _, item in runnable))
    return {i: k for (i, _), k in zip(runnable, keys, strict=True) if k is not None}


def _chain_for(item: BatchItem, chain: list[Provider]) -> list[Provider]:
    return list(dict.fromkeys([item.provider, *chain])) if item.provider else chain


@flow(name="batch-erase", log_prints=False)
async def batch_erase(
    source: BatchSource,
    provider: Provider = "local",
    fallback: list[Provider] | None = None,
    settings: EraseSettings = DEFAULT_SETTINGS,
    policy: ResizePolicy = "downscale",
    output_format: Literal["PNG", "JPEG", "WEBP"] = "PNG",
    max_concurrency: BatchConcurrency = 8,
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
    storage = await resolve_archive(connections.archive)
    s3_client = await source_client(connections.archive)
    items = await load_batch(source, connections.archive)
    output = OutputOptions(format=output_format)
    artifact = await acreate_progress_artifact(
        0.0, key="batch-erase-progress", description=f"{len(items)} items"
    )
    progress = _Progress(artifact, len(items))
    store = resolve_state()
    rows: list[BatchRow | None] = [None] * len(items)

    # Rows that need no work: refused items, and items finished by an earlier run.
    for index, item in enumerate(items):
        if item.error:
            rows[index] = _failed_row(item, item.error)
    keys = await _memo_keys(items, chain, settings, policy, output, storage, s3_client)
    for index, finished in (await recall_finished(store, storage, keys)).items():
        rows[index] = _row_of_finished(items[index], finished)
    await progress.advance(sum(row is not None for row in rows))
    todo = [i for i, row in enumerate(rows) if row is None]
    if len(todo) < len(items):
        logger.info("%s of %s items already done or refused", len(items) - len(todo), len(items))

    gate = asyncio.Semaphore(max(1, max_concurrency))
    credentials = credentials_by_provider(connections, chain)

    async def run(index: int) -> None:
        item = items[index]
        item_chain = _chain_for(item, chain)
        async with gate:
            state = await erase_item(
                item.image,
                item.mask,
                item_chain,
                settings=item.erase_settings(settings),
                policy=policy,
                output=output,
                credentials={**credentials, **credentials_by_provider(connections, item_chain)},
                archive=connections.archive,
                requests_per_second=connections.requests_per_second,
                return_state=True,
            )
        if state.is_completed():
            outcome = await state.aresult()
            rows[index] = _row_of(item, outcome)
            if index in keys:
                await remember_finished(store, keys[index], outcome)
        else:
            rows[index] = _failed_row(item, await state.aresult(raise_on_failure=False))
        await progress.advance()

    await asyncio.gather(*(run(i) for i in todo))
    done_rows = [row for row in rows if row is not None]
    summary = BatchSummary(
        total=len(done_rows),
        succeeded=sum(r.status == "done" for r in done_rows),
        failed=sum(r.status == "failed" for r in done_rows),
        rows=done_rows,
    )
    # The summary first: if the archive is down, the user still sees which items were paid.
    await _publish_summary(summary)
    try:
        with anyio.fail_after(ARCHIVE_DEADLINE_SECONDS):  # a frozen store cannot hang the run
            summary.manifest_uri = await _archive_manifest(summary, storage)
    except Exception as error:  # the items' results are archived or staged; say so, go on
        logger.warning("the results manifest could not be archived: %s", error)
    else:
        await acreate_markdown_artifact(
            markdown=f"Results manifest: `{summary.manifest_uri}`\n",
            key="batch-erase-manifest",
            description="Where the JSONL results manifest was archived",
        )
    message = f"{summary.succeeded} of {summary.total} items erased, {summary.failed} failed"
    logger.info("%s; results manifest at %s", message, summary.manifest_uri)
    if summary.failed:
        return Failed(message=message + "; see the batch-erase-summary artifact", data=summary)
    return Completed(message=message, data=summary)


async def _archive_manifest(summary: BatchSummary, storage: Any) -> str:
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
