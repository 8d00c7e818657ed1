"""One image, end to end, as one Prefect task: prepare, erase (with fallbacks), map back, archive.

The ``erase`` and ``batch-erase`` flows run one ``erase-item`` task per image, named after its
file, so a failed image is a failed task run that says which file it was. Inside it the steps
call the step tasks' functions directly (``prepare_inputs``, ``erase_image``, ``finish_erase``
stay usable as tasks in your own flows): a task run costs the flow process several
milliseconds of engine work and events, three per image made the flow, not the vendor, the
bottleneck of a batch.

Transient failures of a step (rate limits, gateway errors, storage hiccups) are retried here
with the pack's backoff and the vendor's ``Retry-After``; the paid step stays idempotent under
retries because the shared state holds what was paid for.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Mapping
from pathlib import PurePath
from typing import Any, TypeVar

from prefect import task
from prefect.cache_policies import NO_CACHE

from prefect_image_edit.errors import ImageEditError
from prefect_image_edit.tasks.erase import erase_image
from prefect_image_edit.tasks.finish import finish_erase
from prefect_image_edit.tasks.logs import run_logger
from prefect_image_edit.tasks.models import (
    EraseOutcome,
    EraseSettings,
    FallbackAttempt,
    MaskOptions,
    OutputOptions,
    Provider,
    ResizePolicy,
    Variant,
)
from prefect_image_edit.tasks.policy import is_transient, retry_delays, set_retry_after
from prefect_image_edit.tasks.prepare import prepare_inputs
from prefect_image_edit.tasks.providers import provider as provider_spec
from prefect_image_edit.vendors.errors import ErrorKind, VendorError, VendorRequestError

__all__ = [
    "FALLBACK_KINDS",
    "erase_item",
    "erase_one",
    "mask_for_provider",
    "should_fall_back",
    "variant_seeds",
]

T = TypeVar("T")

STEP_RETRIES = 4

# Fall back on outages, rate exhaustion, no credits, a rejected output or an unusable result;
# never on bad input, auth or moderation (another vendor would refuse it too, or it is a
# configuration error).
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


def variant_seeds(seed: int, variants: int) -> list[int]:
    """Distinct seeds for the variants; -1 draws a random base (random means not cached)."""
    base = random.SystemRandom().randrange(2**31 - variants) if seed == -1 else seed
    return [base + i for i in range(variants)]


async def retrying(step: Callable[[], Awaitable[T]], *, retries: int = STEP_RETRIES) -> T:
    """``await step()``, again after transient failures, with the pack's backoff."""
    delays = retry_delays(retries)
    for attempt in range(retries + 1):
        try:
            return await step()
        except Exception as error:
            if attempt == retries or not is_transient(error):
                raise
            set_retry_after(error)
            await asyncio.sleep(delays[attempt])
    raise AssertionError("unreachable")


async def erase_one(
    image: str,
    mask: MaskOptions,
    chain: list[Provider],
    *,
    variants: int = 1,
    settings: EraseSettings | None = None,
    policy: ResizePolicy = "downscale",
    output: OutputOptions | None = None,
    credentials: Mapping[str, Any] | None = None,
    archive: Any = None,
    requests_per_second: float | None = None,
) -> EraseOutcome:
    """Erase one image: each provider of ``chain`` in turn until one succeeds.

    A provider is skipped only for failures ``should_fall_back`` accepts; bad input fails at
    once, before any paid call, on the first provider's preparation. Variants run at once;
    when some fail and others succeed, the outcome lists the failed ones.
    """
    settings = settings or EraseSettings()
    credentials = credentials or {}
    logger = run_logger()
    seeds = variant_seeds(settings.seed, variants)
    skipped: list[FallbackAttempt] = []
    for position, provider in enumerate(chain):
        provider_mask = mask_for_provider(mask, provider, settings)
        inputs = await prepare_inputs.fn(image, provider_mask, provider, policy, archive)

        async def erase_seed(seed: int, provider: Provider = provider, inputs=inputs):
            return await retrying(
                lambda: erase_image.fn(
                    inputs,
                    provider,
                    settings.model_copy(update={"seed": seed}),
                    credentials.get(provider),
                    archive,
                    requests_per_second,
                )
            )

        results = await asyncio.gather(*(erase_seed(s) for s in seeds), return_exceptions=True)
        erased = [r for r in results if not isinstance(r, BaseException)]
        errors = [r for r in results if isinstance(r, BaseException)]
        for error in errors:
            if not isinstance(error, Exception):
                raise error  # cancellation and the like
        if erased:
            failed = [
                FallbackAttempt(provider=provider, error=f"seed {seed}: {result}")
                for seed, result in zip(seeds, results, strict=True)
                if isinstance(result, BaseException)
            ]
            for attempt in failed:
                logger.warning("a variant failed on %s: %s", provider, attempt.error)
            break
        error = errors[0]
        if position + 1 < len(chain) and should_fall_back(error):
            logger.warning(
                "%s failed (%s); falling back to %s", provider, error, chain[position + 1]
            )
            skipped.append(FallbackAttempt(provider=provider, error=str(error)))
            continue
        raise error  # the caller reports it (erase_item's log line, batch's failed task run)
    finals = await asyncio.gather(
        *(
            retrying(
                lambda e=e: finish_erase.fn(
                    image, provider_mask, inputs, e, settings.dilate_size, output, variants, archive
                )
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
        failed_variants=failed,
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
    name = PurePath(image.split("?", 1)[0]).name or image
    return f"{name}: erased on {provider} ({how}{seed}); archived {where}{written}"


def _item_run_name() -> str:
    from prefect.runtime import task_run

    image = str(task_run.parameters.get("image", "image"))
    return f"erase {PurePath(image.split('?', 1)[0]).name or image}"


@task(name="erase-item", task_run_name=_item_run_name, cache_policy=NO_CACHE)
async def erase_item(
    image: str,
    mask: MaskOptions,
    chain: list[Provider],
    variants: int = 1,
    settings: EraseSettings | None = None,
    policy: ResizePolicy = "downscale",
    output: OutputOptions | None = None,
    credentials: dict[str, str | list[str] | None] | None = None,
    archive: str | None = None,
    requests_per_second: float | None = None,
) -> EraseOutcome:
    """Erase one image end to end (see ``erase_one``); the task run is named after the file.

    Args:
        image: Path or s3:// URI of the image.
        mask: Where the mask comes from.
        chain: Providers to try in order.
        variants: Results with consecutive seeds to make at once.
        settings: Vendor parameters.
        policy: What to do when the image breaks a provider's limits.
        output: Format, quality and local path of the edited image.
        credentials: Provider -> saved credentials block name (None: environment), or a
            list of names: an account pool (see ``tasks.pools``).
        archive: The archive storage block's ``slug/name`` (None: the local default).
        requests_per_second: Optional per-vendor request rate, shared through Prefect.
    """
    try:
        return await erase_one(
            image,
            mask,
            chain,
            variants=variants,
            settings=settings,
            policy=policy,
            output=output,
            credentials=credentials,
            archive=archive,
            requests_per_second=requests_per_second,
        )
    except ImageEditError as error:
        run_logger().error("%s failed: %s", image, error)
        raise
