"""The ``erase`` flow: one image, one ``erase-item`` task (prepare, erase on the chosen
provider with fallbacks, map the result back onto the original, archive), then before/after
thumbnails in the Prefect UI."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio.to_thread
from prefect import flow
from prefect.artifacts import acreate_markdown_artifact, acreate_table_artifact
from prefect.states import Completed, Failed

from prefect_image_edit.flows.artifacts import artifact_key, before_after_markdown
from prefect_image_edit.flows.models import (
    Connections,
    EraseOutcome,
    OutputOptions,
    Variants,
    check_output_path,
)
from prefect_image_edit.state import resolve_state
from prefect_image_edit.tasks.archive import read_archived, resolve_archive
from prefect_image_edit.tasks.cost import BudgetExceeded, RunSpend, format_cost
from prefect_image_edit.tasks.credentials import resolve_credentials
from prefect_image_edit.tasks.dry_run import (
    DryRunReport,
    apply_cap,
    check_archive_reachable,
    predict_erase,
)
from prefect_image_edit.tasks.finish import output_path
from prefect_image_edit.tasks.item import erase_item, variant_seeds
from prefect_image_edit.tasks.models import (
    EraseSettings,
    MaskOptions,
    Provider,
    ResizePolicy,
    StagedFile,
    Variant,
)
from prefect_image_edit.tasks.prepare import (
    read_staged,
    source_client,
)
from prefect_image_edit.tasks.providers import provider as provider_spec
from prefect_image_edit.tasks.run_cost import check_prices, finish_run, start_run
from prefect_image_edit.tasks.sources import read_source

__all__ = [
    "erase",
    "publish_before_after",
    "publish_dry_run",
    "resolve_blocks",
]

# Frozen models: safe to share as parameter defaults.
DEFAULT_SETTINGS = EraseSettings()
DEFAULT_OUTPUT = OutputOptions()
DEFAULT_CONNECTIONS = Connections()


async def resolve_blocks(connections: Connections, chain: list[Provider]) -> None:
    """Load the run's saved blocks once, up front: every task of the run then reuses them
    (``tasks.block_cache``), and a misspelt block name fails here, before any paid call."""
    await resolve_archive(connections.archive)
    for name in chain:
        if provider_spec(name).paid:
            for block in _blocks_of(connections, name):
                await resolve_credentials(name, block)


def _blocks_of(connections: Connections, provider: Provider) -> list[str | None]:
    pool = list(dict.fromkeys(connections.pools.get(provider, [])))
    return pool if pool else [connections.credentials_for(provider)]


def credentials_by_provider(
    connections: Connections, chain: list[Provider]
) -> dict[str, str | list[str] | None]:
    """The saved credentials block name for each provider of the chain (None: environment),
    or, for a vendor with an account pool (``connections.pools``), the pool's block names."""
    found: dict[str, str | list[str] | None] = {}
    for name in chain:
        blocks = _blocks_of(connections, name)
        found[name] = blocks if len(blocks) > 1 else blocks[0]
    return found


async def _bytes_of(staged: StagedFile | None, fallback: Callable[[], Awaitable[bytes]]) -> bytes:
    """Bytes the run staged on this machine, else read from where they live."""
    data = read_staged(staged) if staged is not None else None
    return data if data is not None else await fallback()


async def _read_source(image: str, archive: Any) -> bytes:
    return await read_source(image, s3_client=await source_client(archive, [image]))


async def publish_dry_run(report: DryRunReport, flow_name: str) -> None:
    """The dry run's rows and totals as a table artifact (``<flow>-dry-run``)."""
    await acreate_table_artifact(
        report.table(), key=f"{flow_name}-dry-run", description=report.summary()
    )


async def publish_before_after(
    outcome: EraseOutcome,
    archive: Any,
    original: StagedFile | None = None,
    spend: RunSpend | None = None,
) -> None:
    """A markdown artifact with the input and each variant as thumbnails (data URIs)."""
    storage = await resolve_archive(archive)
    before = await _bytes_of(
        original,
        lambda: _read_source(outcome.image, archive),
    )
    seeded = provider_spec(outcome.provider).seeded
    labels = [
        _variant_label(i, v, len(outcome.variants), seeded) for i, v in enumerate(outcome.variants)
    ]
    afters = [
        (
            label,
            await _bytes_of(v.final.staged, lambda v=v: read_archived(storage, v.final.archived)),
            v.final.archived.uri,
        )
        for label, v in zip(labels, outcome.variants, strict=True)
    ]
    details: list[tuple[str, object]] = [("provider", outcome.provider)]
    for label, v in zip(labels, outcome.variants, strict=True):
        prefix = "" if len(outcome.variants) == 1 else f"{label}: "
        details += [
            (f"{prefix}request id", v.erased.request_id),
            (f"{prefix}seed", v.seed if seeded else None),
            (f"{prefix}paid", _paid_text(v, provider_spec(outcome.provider).paid)),
            (f"{prefix}cost", "0 (cache hit)" if v.erased.cached else format_cost(v.cost)),
        ]
    if spend is not None:
        details.append(("run spend", spend.summary()))
    details += [(f"skipped {s.provider}", s.error) for s in outcome.skipped]
    markdown = await anyio.to_thread.run_sync(
        before_after_markdown, f"Erase: {_file_name(outcome.image)}", before, afters, details
    )
    await acreate_markdown_artifact(
        markdown=markdown,
        key=artifact_key("erase", Path(outcome.image).stem),
        description=f"Before/after of {outcome.image}",
    )


def _file_name(reference: str) -> str:
    return reference.rstrip("/").rsplit("/", 1)[-1] or reference


def _variant_label(index: int, variant: Variant, count: int, seeded: bool) -> str:
    """``after`` for one result; ``seed 7`` per variant (seedless providers: ``variant 2``)."""
    if count == 1:
        return "after"
    return f"seed {variant.seed}" if seeded and variant.seed is not None else f"variant {index + 1}"


def _paid_text(variant: Variant, paid: bool) -> str:
    """What this result cost in requests, as the ledger counts them."""
    if not paid:
        return "free (runs here)"
    erased = variant.erased
    if erased.cached:
        return "cache hit: nothing sent"
    text = f"{erased.attempts} request(s)"
    if erased.possible_double_charges:
        text += f", {erased.possible_double_charges} possible double charge(s)"
    return text


@flow(name="erase", log_prints=False)
async def erase(
    image: str,
    mask: MaskOptions,
    provider: Provider = "local",
    fallback: list[Provider] | None = None,
    variants: Variants = 1,
    settings: EraseSettings = DEFAULT_SETTINGS,
    policy: ResizePolicy = "downscale",
    output: OutputOptions = DEFAULT_OUTPUT,
    connections: Connections = DEFAULT_CONNECTIONS,
    dry_run: bool = False,
    max_cost: float | None = None,
) -> EraseOutcome | DryRunReport:
    """Erase the masked object from one image and archive the result before any URL expires.

    Args:
        image: Path or s3:// URI of the image to edit.
        mask: Where the mask comes from (a mask image, boxes, polygons or the alpha channel);
            white erases.
        provider: The provider to use first: local (OpenCV here, free), ailabtools, tencent
            or volcengine.
        fallback: Providers to try next, in order, on outages, rate exhaustion, no credits or
            Volcengine 201304; never on bad input.
        variants: How many results with consecutive seeds to make, concurrently (1 to 4).
        settings: Vendor parameters (seed, steps, strength, quality, ...).
        policy: When the image breaks a provider limit: fail, downscale, or send only the
            region around the mask (crop_around_mask).
        output: Format, quality and an optional local path for the edited image.
        connections: Saved blocks: vendor credentials, the archive storage and prices.
        dry_run: Prepare and look everything up as a real run would, pay for nothing, and
            report the provider, the cost (0 when cached) or the error a real run would hit.
        max_cost: Spend at most this much in this run (the price table's unit, AILabTools
            credits by default); no paid call starts that could pass it. Empty: no cap.
    """
    chain = list(dict.fromkeys([provider, *(fallback or [])]))
    seeds = variant_seeds(settings.seed, variants)
    if output.path:
        for seed in seeds:
            check_output_path(output_path(output.path, seed, variants), image)
    await resolve_blocks(connections, chain)
    meter = await start_run(connections.prices, max_cost)
    if not dry_run:  # a dry run reports it per item instead
        check_prices(meter, chain)
    if dry_run:
        storage = await resolve_archive(connections.archive)
        await check_archive_reachable(storage)
        row = await predict_erase(
            image,
            mask,
            chain,
            seeds,
            settings,
            policy,
            connections.archive,
            resolve_state(),
            meter.prices,
        )
        report = DryRunReport(
            rows=apply_cap([row], max_cost), unit=meter.prices.unit, max_cost=max_cost
        )
        await publish_dry_run(report, "erase")
        return Completed(message=report.summary(), data=report)
    try:
        outcome = await erase_item(
            image,
            mask,
            chain,
            variants=variants,
            settings=settings,
            policy=policy,
            output=output,
            credentials=credentials_by_provider(connections, chain),
            archive=connections.archive,
            requests_per_second=connections.requests_per_second,
        )
    except BudgetExceeded as error:
        spend = await finish_run(meter)
        return Failed(message=f"{error}; {spend.summary()}", data=error)
    except BaseException:
        await finish_run(meter)
        raise
    spend = await finish_run(meter)
    await publish_before_after(outcome, connections.archive, outcome._original, spend)
    if outcome.failed_variants:
        done = len(outcome.variants)
        message = f"{done} of {done + len(outcome.failed_variants)} variants made; " + "; ".join(
            attempt.error for attempt in outcome.failed_variants
        )
        return Failed(message=f"{message}; {spend.summary()}", data=outcome)
    return Completed(message=f"erased with {outcome.provider}; {spend.summary()}", data=outcome)
