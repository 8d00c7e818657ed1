"""The ``erase`` flow: prepare, erase on the chosen provider (with fallbacks), map the result
back onto the original, archive it, and show before/after in the Prefect UI."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio.to_thread
from prefect import flow, get_run_logger
from prefect.artifacts import acreate_markdown_artifact

from prefect_image_edit.errors import InputError
from prefect_image_edit.flows.artifacts import artifact_key, before_after_markdown
from prefect_image_edit.flows.models import (
    Connections,
    EraseOutcome,
    FallbackAttempt,
    OutputOptions,
    Variant,
    Variants,
    check_output_path,
)
from prefect_image_edit.tasks.archive import read_archived, resolve_archive
from prefect_image_edit.tasks.credentials import resolve_credentials
from prefect_image_edit.tasks.erase import erase_image
from prefect_image_edit.tasks.finish import finish_erase, output_path
from prefect_image_edit.tasks.models import (
    EraseSettings,
    MaskOptions,
    Provider,
    ResizePolicy,
    StagedFile,
)
from prefect_image_edit.tasks.prepare import (
    prepare_inputs,
    read_staged,
    source_client,
)
from prefect_image_edit.tasks.providers import provider as provider_spec
from prefect_image_edit.tasks.sources import read_source
from prefect_image_edit.vendors.errors import ErrorKind, VendorError, VendorRequestError

__all__ = ["erase", "erase_item", "resolve_blocks", "should_fall_back"]

# DESIGN/issue: fall back on outages, rate exhaustion, no credits or 201304; never on bad input,
# auth or moderation (another vendor would refuse it too, or it is a configuration error).
FALLBACK_KINDS = frozenset(
    {
        ErrorKind.RATE_LIMITED,
        ErrorKind.SERVER,
        ErrorKind.NETWORK,
        ErrorKind.NO_CREDITS,
        ErrorKind.BAD_SEED,
        ErrorKind.BAD_RESULT,
    }
)
# Frozen models: safe to share as parameter defaults.
DEFAULT_SETTINGS = EraseSettings()
DEFAULT_OUTPUT = OutputOptions()
DEFAULT_CONNECTIONS = Connections()


def should_fall_back(error: BaseException) -> bool:
    """Whether an erase failure justifies trying the next provider in the chain."""
    if isinstance(error, VendorRequestError):
        return True
    if isinstance(error, VendorError):
        return error.kind in FALLBACK_KINDS
    return isinstance(error, TimeoutError)


def mask_for_provider(
    mask: MaskOptions, provider: Provider, settings: EraseSettings
) -> MaskOptions:
    """A provider that takes no ``dilate_size`` (Tencent) gets its mask grown here by the same
    amount, so every provider erases the same region (a tight mask leaves the object's edge
    halo behind)."""
    if provider_spec(provider).dilates_mask:
        return mask
    return mask.model_copy(update={"dilate_px": min(256, mask.dilate_px + settings.dilate_size)})


async def resolve_blocks(connections: Connections, chain: list[Provider]) -> None:
    """Load the run's saved blocks once, up front: every task of the run then reuses them
    (``tasks.block_cache``), and a misspelt block name fails here, before any paid call."""
    await resolve_archive(connections.archive)
    for name in chain:
        if provider_spec(name).paid:
            await resolve_credentials(name, connections.credentials_for(name))


def variant_seeds(seed: int, variants: int) -> list[int]:
    """Distinct seeds for the variants; -1 draws a random base (random means not cached)."""
    base = random.SystemRandom().randrange(2**31 - variants) if seed == -1 else seed
    return [base + i for i in range(variants)]


async def erase_item(
    image: str,
    mask: MaskOptions,
    chain: list[Provider],
    *,
    variants: int = 1,
    settings: EraseSettings | None = None,
    policy: ResizePolicy = "downscale",
    output: OutputOptions | None = None,
    connections: Connections | None = None,
) -> EraseOutcome:
    """Erase one image: each provider of ``chain`` in turn until one succeeds.

    A provider is skipped only for failures ``should_fall_back`` accepts; bad input fails at
    once, before any paid call, on the first provider's preparation.
    """
    settings = settings or EraseSettings()
    connections = connections or Connections()
    logger = get_run_logger()
    seeds = variant_seeds(settings.seed, variants)
    if output is not None and output.path:
        for seed in seeds:
            check_output_path(output_path(output.path, seed, variants), image)
    skipped: list[FallbackAttempt] = []
    for position, provider in enumerate(chain):
        provider_mask = mask_for_provider(mask, provider, settings)
        inputs = await prepare_inputs(image, provider_mask, provider, policy, connections.archive)
        states = await asyncio.gather(
            *(
                erase_image(
                    inputs,
                    provider,
                    settings.model_copy(update={"seed": seed}),
                    connections.credentials_for(provider),
                    connections.archive,
                    connections.requests_per_second,
                    return_state=True,
                )
                for seed in seeds
            )
        )
        erased = [await s.aresult() for s in states if s.is_completed()]
        errors = [await s.aresult(raise_on_failure=False) for s in states if not s.is_completed()]
        if erased:
            for error in errors:
                logger.warning("a variant failed on %s: %s", provider, error)
            break
        error = errors[0]
        if position + 1 < len(chain) and should_fall_back(error):
            logger.warning(
                "%s failed (%s); falling back to %s", provider, error, chain[position + 1]
            )
            skipped.append(FallbackAttempt(provider=provider, error=str(error)))
            continue
        logger.error("%s failed on %s: %s", _file_name(image), provider, error)
        raise error
    finals = await asyncio.gather(
        *(
            finish_erase(
                image,
                provider_mask,
                inputs,
                e,
                settings.dilate_size,
                output,
                variants,
                connections.archive,
            )
            for e in erased
        )
    )
    outcome = EraseOutcome(
        image=image,
        mask=mask,
        provider=provider,
        variants=[
            Variant(seed=e.seed, erased=e, final=f) for e, f in zip(erased, finals, strict=True)
        ],
        skipped=skipped,
    )
    outcome._original = inputs.original
    for variant in outcome.variants:
        logger.info("%s", _result_line(image, outcome.provider, variant))
    return outcome


def _result_line(image: str, provider: Provider, variant: Variant) -> str:
    """One line per result: how it was got (cache hit, paid, free) and where it went."""
    spec = provider_spec(provider)
    erased = variant.erased
    how = (
        "cache hit"
        if erased.cached
        else f"paid, request {erased.request_id or '-'}"
        if spec.paid
        else "free"
    )
    seed = f", seed {variant.seed}" if spec.seeded and variant.seed is not None else ""
    where = variant.final.archived.uri
    written = f"; written to {variant.final.written_to}" if variant.final.written_to else ""
    return f"{_file_name(image)}: erased on {provider} ({how}{seed}); archived {where}{written}"


async def _bytes_of(staged: StagedFile | None, fallback: Callable[[], Awaitable[bytes]]) -> bytes:
    """Bytes the run staged on this machine, else read from where they live."""
    data = read_staged(staged) if staged is not None else None
    return data if data is not None else await fallback()


async def _read_source(image: str, archive: Any) -> bytes:
    return await read_source(image, s3_client=await source_client(archive))


async def publish_before_after(
    outcome: EraseOutcome, archive: Any, original: StagedFile | None = None
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
            (f"{prefix}cost", None),  # the price table's figure, once the paid path reports it
        ]
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
) -> EraseOutcome:
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
        connections: Saved blocks: vendor credentials and the archive storage.
    """
    if not 1 <= variants <= 4:
        raise InputError("variants must be between 1 and 4", source="variants")
    chain = list(dict.fromkeys([provider, *(fallback or [])]))
    await resolve_blocks(connections, chain)
    outcome = await erase_item(
        image,
        mask,
        chain,
        variants=variants,
        settings=settings,
        policy=policy,
        output=output,
        connections=connections,
    )
    await publish_before_after(outcome, connections.archive, outcome._original)
    return outcome
