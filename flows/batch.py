"""The ``batch-erase`` flow: many images, one bad one never stops the rest.

Items run concurrently (bounded), each through the same chain as the ``erase`` flow's one item
(``erase_one``: prepare, erase with fallbacks, map back, archive), inside the flow run: a task
run per item cost the flow process and the Prefect server more CPU than the item's own work
(the server records every task-run event), so only a failed item becomes a task run, failed
and named after its file (``report_item_failure``), next to the flow run's logs and the
summary table that list every item. Items a previous run finished (remembered in the shared
state, and still in the archive) are reported without running anything. Vendor concurrency
limits hold across items, flows and processes because every paid call holds one of the
vendor's Prefect slots. Progress (in steps) and a summary table are published as artifacts,
the summary before anything that could fail on storage; a results manifest (JSONL) is
archived, and the flow's final state says how many items failed.
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

from prefect_image_edit.flows.artifacts import (
    BATCH_THUMBNAILS,
    batch_summary_markdown,
    batch_table_rows,
    batch_thumbnail,
)
from prefect_image_edit.flows.erase import (
    DEFAULT_CONNECTIONS,
    DEFAULT_SETTINGS,
    credentials_by_provider,
    publish_dry_run,
    resolve_blocks,
)
from prefect_image_edit.flows.models import BatchConcurrency, Connections, OutputOptions
from prefect_image_edit.state import resolve_state
from prefect_image_edit.tasks.archive import resolve_archive, store_bytes, warm_archive
from prefect_image_edit.tasks.batch import load_batch
from prefect_image_edit.tasks.batch_items import BatchItem, BatchSource
from prefect_image_edit.tasks.cost import RunMeter, RunSpend, format_cost
from prefect_image_edit.tasks.dry_run import (
    DryRunReport,
    DryRunRow,
    apply_cap,
    check_archive_reachable,
    error_row,
    predict_erase,
)
from prefect_image_edit.tasks.erase import ARCHIVE_DEADLINE_SECONDS
from prefect_image_edit.tasks.item import erase_one, variant_seeds
from prefect_image_edit.tasks.limits import reserve_vendor_slots, warm_vendor_slots
from prefect_image_edit.tasks.memo import (
    item_inputs,
    item_keys,
    recall_finished,
    remember_finished,
)
from prefect_image_edit.tasks.models import EraseOutcome, EraseSettings, Provider, ResizePolicy
from prefect_image_edit.tasks.prepare import read_staged, source_client
from prefect_image_edit.tasks.providers import provider as provider_spec
from prefect_image_edit.tasks.report import report_item_failure
from prefect_image_edit.tasks.run_cost import check_prices, finish_run, start_run
from prefect_image_edit.tasks.sources import any_s3
from prefect_image_edit.tasks.vendor_clients import shared_vendor_clients, warm_vendor_clients

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
    cost: float | None = Field(
        default=0.0,
        description="What the item's billed calls cost in this run (0 when cached or local; "
        "None: price unknown).",
    )
    error: str | None = None
    error_type: str | None = None


class BatchSummary(BaseModel):
    total: int
    succeeded: int
    failed: int
    manifest_uri: str | None = None
    rows: list[BatchRow]
    spend: RunSpend | None = Field(default=None, description="What the run spent.")
    not_started: int = Field(
        default=0, description="Items not started because max_cost was reached."
    )


REPORTED_FAILURES = 50
"""Failed items shown as failed task runs of their own (the summary lists them all)."""


class _Progress:
    """The progress artifact, updated in steps (every 10 % or 2 s), not once per item: each
    update is an API write the server also records as an event.

    The artifact is created, in the background, when the first item is done: until then the
    server's attention goes to what starts the first paid calls (measured: a new server took
    0.35 s over its first artifact, and the lease requests queued behind it).
    """

    def __init__(self, total: int) -> None:
        self.total, self.done = max(1, total), 0
        self._shown, self._at = 0.0, time.monotonic()
        self._artifact: asyncio.Future | None = None

    def _created(self) -> asyncio.Future:
        if self._artifact is None:
            self._artifact = asyncio.ensure_future(
                acreate_progress_artifact(
                    0.0, key="batch-erase-progress", description=f"{self.total} items"
                )
            )
        return self._artifact

    async def advance(self, count: int = 1) -> None:
        self.done += count
        if not self.done:
            return
        artifact = self._created()
        percent = 100.0 * self.done / self.total
        now = time.monotonic()
        if percent >= 100 or percent - self._shown >= 10 or now - self._at >= 2:
            self._shown, self._at = percent, now
            await aupdate_progress_artifact(await artifact, percent)

    async def settle(self) -> None:
        """Wait for the artifact's creation (its failure is the run's, as any API failure)."""
        await self._created()


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
        cost=outcome.cost,
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
        cost=0.0,
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
    archive: Any,
) -> dict[int, str]:
    """Each runnable item's memo key; an item whose inputs cannot be read gets none."""
    refs = [ref for item in items for ref in item_inputs(item)]
    return await item_keys(
        items,
        [_chain_for(item, chain) for item in items],
        settings,
        policy,
        output,
        storage.get_store().location,
        s3_client=await source_client(archive, refs),
    )


async def _dry_run(
    items: list[BatchItem],
    chain: list[Provider],
    settings: EraseSettings,
    policy: str,
    output: OutputOptions,
    storage: Any,
    connections: Connections,
    meter: RunMeter,
) -> DryRunReport:
    """Every item as the real run would meet it, in the order it would run them."""
    await check_archive_reachable(storage)
    store = resolve_state()
    rows: list[DryRunRow | None] = [None] * len(items)
    for index, item in enumerate(items):
        if item.error:
            rows[index] = error_row(item.image, item.error)
    keys = await _memo_keys(items, chain, settings, policy, output, storage, connections.archive)
    for index, finished in (await recall_finished(store, storage, keys)).items():
        rows[index] = DryRunRow(item=items[index].image, provider=finished["provider"], cached=True)
    gate = asyncio.Semaphore(8)

    async def predict(index: int) -> None:
        item = items[index]
        item_settings = item.erase_settings(settings)
        async with gate:
            rows[index] = await predict_erase(
                item.image,
                item.mask,
                _chain_for(item, chain),
                variant_seeds(item_settings.seed, 1),
                item_settings,
                policy,
                connections.archive,
                store,
                meter.prices,
            )

    await asyncio.gather(*(predict(i) for i, row in enumerate(rows) if row is None))
    ready = [row for row in rows if row is not None]
    return DryRunReport(
        rows=apply_cap(ready, meter.cap), unit=meter.prices.unit, max_cost=meter.cap
    )


async def _warm_up(storage: Any, chain: list[Provider]) -> None:
    """Make the archive's S3 client, connect the paid vendors' slot pools and load the vendor
    clients' TLS context while the first items are looked up and prepared: the first calls
    and uploads then wait for none of them.

    What fails here fails again, with its real error, where it is used: it is only logged.
    """
    paid = [spec.vendor for spec in map(provider_spec, chain) if spec.paid]
    clients = [warm_vendor_clients()] if paid else []
    for outcome in await asyncio.gather(
        warm_archive(storage), warm_vendor_slots(paid), *clients, return_exceptions=True
    ):
        if isinstance(outcome, Exception):
            get_run_logger().debug("warming up failed: %s", outcome)


def _chain_for(item: BatchItem, chain: list[Provider]) -> list[Provider]:
    return list(dict.fromkeys([item.provider, *chain])) if item.provider else chain


@flow(name="batch-erase", log_prints=False)
async def batch_erase(
    source: BatchSource,
    provider: Provider = "local",
    fallback: list[Provider] | None = None,
    settings: EraseSettings = DEFAULT_SETTINGS,
    policy: ResizePolicy = "downscale",
    output_format: Literal["auto", "PNG", "JPEG", "WEBP"] = "auto",
    max_concurrency: BatchConcurrency = 8,
    connections: Connections = DEFAULT_CONNECTIONS,
    dry_run: bool = False,
    max_cost: float | None = None,
):
    """Erase objects from many images; one bad image never stops the batch.

    Args:
        source: Where the images (and masks) come from: a folder, an s3:// prefix or a
            CSV/JSONL manifest.
        provider: The provider to use first (a manifest row may name its own).
        fallback: Providers to try next on outages, rate exhaustion, no credits or 201304.
        settings: Vendor parameters for every item (manifest rows may override them).
        policy: When an image breaks a provider limit: fail, downscale or crop_around_mask.
        output_format: File format of the edited images: auto keeps each source's kind (a
            JPEG photo stays JPEG at quality 95, anything else becomes PNG); PNG keeps every
            unmasked pixel exactly the original's, at several times the size and encoding time.
        max_concurrency: Vendor calls the batch keeps going at once (the vendor's concurrency
            limit still applies on top). Twice as many images are in progress, so preparing
            and archiving overlap the vendor calls instead of leaving slots idle.
        connections: Saved blocks: vendor credentials, the archive storage and prices.
        dry_run: Prepare and look up every item as a real run would, pay for nothing, and
            report per item the provider, the cost (0 when cached) or the error it would hit.
        max_cost: Spend at most this much in this run (the price table's unit, AILabTools
            credits by default): no paid call starts that could pass it, what is in flight
            finishes, and a re-run with a higher cap continues without paying again.
    """
    logger = get_run_logger()
    chain = list(dict.fromkeys([provider, *(fallback or [])]))
    # Local sources are listed while the blocks load (an s3:// one needs the archive block).
    listing = (
        None
        if any_s3(source.locations())
        else asyncio.ensure_future(load_batch(source, connections.archive))
    )
    try:
        await resolve_blocks(connections, chain)
        meter = await start_run(connections.prices, max_cost)
        if not dry_run:  # a dry run reports it per item instead
            check_prices(meter, chain)
        storage = await resolve_archive(connections.archive)
    except BaseException:
        if listing is not None:
            listing.cancel()
            listing.add_done_callback(lambda done: done.cancelled() or done.exception())
        raise
    items = await (listing or load_batch(source, connections.archive))
    output = OutputOptions(format=output_format)
    if dry_run:
        report = await _dry_run(items, chain, settings, policy, output, storage, connections, meter)
        await publish_dry_run(report, "batch-erase")
        logger.info("%s", report.summary())
        return Completed(message=report.summary(), data=report)
    warming = asyncio.ensure_future(_warm_up(storage, chain))
    progress = _Progress(len(items))
    store = resolve_state()
    rows: list[BatchRow | None] = [None] * len(items)

    # Rows that need no work: refused items, and items finished by an earlier run.
    for index, item in enumerate(items):
        if item.error:
            rows[index] = _failed_row(item, item.error)
    keys = await _memo_keys(items, chain, settings, policy, output, storage, connections.archive)
    for index, finished in (await recall_finished(store, storage, keys)).items():
        rows[index] = _row_of_finished(items[index], finished)
    await progress.advance(sum(row is not None for row in rows))
    todo = [i for i, row in enumerate(rows) if row is None]
    lead = provider_spec(chain[0])
    if lead.paid and todo:  # the first wave's slots, leased while its items are prepared
        try:
            await reserve_vendor_slots(lead.vendor, min(max_concurrency, len(todo)))
        except Exception as error:  # the calls meet it again, with their own error
            logger.debug("could not lease slots ahead: %s", error)
    if len(todo) < len(items):
        logger.info("%s of %s items already done or refused", len(items) - len(todo), len(items))

    gate = asyncio.Semaphore(2 * max(1, max_concurrency))
    thumbnails: dict[str, str] = {}
    credentials = credentials_by_provider(connections, chain)

    async def run(index: int) -> None:
        item = items[index]
        item_chain = _chain_for(item, chain)
        async with gate:
            if meter.exhausted:  # the cap was reached: start nothing new
                first = provider_spec(item_chain[0])
                rows[index] = _failed_row(item, await meter.refusal(first.vendor, first.action))
                await progress.advance()
                return
            try:
                outcome = await erase_one(
                    item.image,
                    item.mask,
                    item_chain,
                    settings=item.erase_settings(settings),
                    policy=policy,
                    output=output,
                    credentials={
                        **credentials,
                        **credentials_by_provider(connections, item_chain),
                    },
                    archive=connections.archive,
                    requests_per_second=connections.requests_per_second,
                )
            except Exception as error:  # one bad image never stops the batch
                rows[index] = _failed_row(item, error)
                await progress.advance()
                return
        rows[index] = _row_of(item, outcome)
        if index < BATCH_THUMBNAILS:  # the report's first rows; made now, not at the end
            staged = outcome.variants[0].final.staged
            data = read_staged(staged) if staged is not None else None
            if data is not None:
                thumbnails[item.image] = await anyio.to_thread.run_sync(batch_thumbnail, data)
        if index in keys:
            await remember_finished(store, keys[index], outcome)
        await progress.advance()

    try:
        async with shared_vendor_clients():  # one connection pool per account, not per item
            await asyncio.gather(*(run(i) for i in todo))
        await progress.settle()
    finally:
        await warming
        spend = await finish_run(meter)
    done_rows = [row for row in rows if row is not None]
    # A failed item (refused before it ran, or failed while running) gets a failed task run
    # named after its file and one warning line. At most REPORTED_FAILURES of them: a manifest
    # of 10,000 missing files must stay fast; the summary table lists every one.
    failed_rows = [row for row in done_rows if row.status == "failed"]
    for row in failed_rows[:REPORTED_FAILURES]:
        await report_item_failure(row.item, row.error or "failed")
    summary = BatchSummary(
        total=len(done_rows),
        succeeded=sum(r.status == "done" for r in done_rows),
        failed=sum(r.status == "failed" for r in done_rows),
        rows=done_rows,
        spend=spend,
        not_started=sum(r.error_type == "BudgetExceeded" for r in done_rows),
    )

    async def archive_manifest() -> str | None:
        try:
            with anyio.fail_after(ARCHIVE_DEADLINE_SECONDS):  # a frozen store cannot hang it
                uri = await _archive_manifest(summary, storage)
        except Exception as error:  # the items' results are archived or staged; say so, go on
            logger.warning("the results manifest could not be archived: %s", error)
            return None
        await acreate_markdown_artifact(
            markdown=f"Results manifest: `{uri}`\n",
            key="batch-erase-manifest",
            description="Where the JSONL results manifest was archived",
        )
        return uri

    # The summary does not wait for the archive: if it is down, the user still sees which
    # items were paid.
    _, summary.manifest_uri = await asyncio.gather(
        _publish_summary(summary, thumbnails), archive_manifest()
    )
    message = f"{summary.succeeded} of {summary.total} items erased, {summary.failed} failed"
    if summary.not_started:
        message += (
            f" ({summary.not_started} not started: max_cost {max_cost:g} reached; re-run with "
            "a higher max_cost to continue)"
        )
    message += f"; {spend.summary()}"
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


async def _publish_summary(summary: BatchSummary, thumbnails: dict[str, str]) -> None:
    """The summary table (reason third, so it is on screen) and a report with a thumbnail per
    item and every failure's reason at the top."""
    rows = [
        {
            **r.model_dump(),
            "cost": "0 (cached)" if r.cached else format_cost(r.cost),
        }
        for r in summary.rows
    ]

    async def report() -> None:
        markdown = await anyio.to_thread.run_sync(batch_summary_markdown, rows, thumbnails)
        await acreate_markdown_artifact(
            markdown=markdown, key="batch-erase-report", description="Thumbnails and failures"
        )

    table = acreate_table_artifact(
        batch_table_rows(rows),
        key="batch-erase-summary",
        description=f"{summary.succeeded} done, {summary.failed} failed"
        + (f"; {summary.spend.summary()}" if summary.spend is not None else ""),
    )
    await asyncio.gather(table, report())
