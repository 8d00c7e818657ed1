"""The erase task: one provider-agnostic Prefect task (plus one per vendor) that pays at most once.

What makes a paid call safe to retry, re-run and run twice at the same time:

1. Caching on content (``tasks.policy``): a re-run, a flow retry or another flow with the
   same prepared bytes, provider and parameters returns the archived result and pays nothing.
   Two concurrent runs take turns on a flock lock; the second finds the first's result.
2. The ledger (``prefect_image_edit.ledger``): the request is recorded before it goes out and
   the answer the moment it arrives. If archiving fails afterwards, the retry archives the
   recorded result instead of paying again; a crash mid-call is counted, not hidden.
3. Retries by the vendor's verdict, with exponential backoff and jitter: resubmit what the
   vendor did not accept, resend an ambiguous failure once, never retry a permanent error.
4. The vendor's Prefect concurrency limit (and optional rate limit) around the HTTP call only.

The cached value is the archived reference, never the vendor's expiring URL.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

import anyio.to_thread
from prefect import get_run_logger, task
from prefect.blocks.abstract import CredentialsBlock

from prefect_image_edit.archive.archiver import ArchiveError
from prefect_image_edit.blocks.archive import ArchiveStorage
from prefect_image_edit.blocks.credentials import result_origins
from prefect_image_edit.errors import InputError, ResultExpired
from prefect_image_edit.ledger import CallState, Ledger, PaidCall
from prefect_image_edit.tasks.archive import (
    find_archived,
    resolve_archive,
    store_bytes,
    store_url,
)
from prefect_image_edit.tasks.credentials import resolve_credentials
from prefect_image_edit.tasks.limits import vendor_slot
from prefect_image_edit.tasks.models import (
    ArchivedRef,
    ErasedImage,
    EraseSettings,
    PreparedInputs,
    Provider,
    StagedFile,
)
from prefect_image_edit.tasks.paid import pay
from prefect_image_edit.tasks.policy import (
    content_key,
    paid_call_cache_policy,
    retry_delays,
    should_retry,
)
from prefect_image_edit.tasks.prepare import read_staged, stage_bytes
from prefect_image_edit.tasks.providers import call_provider, vendor_parameters
from prefect_image_edit.tasks.providers import provider as provider_spec
from prefect_image_edit.tasks.settings import get_settings
from prefect_image_edit.vendors.errors import SeedRejectedError
from prefect_image_edit.vendors.files import sniff_format
from prefect_image_edit.vendors.results import EraseResult

__all__ = [
    "erase_image",
    "erase_key",
    "erase_with_ailabtools",
    "erase_with_tencent",
    "erase_with_volcengine",
]

RETRIES = 4


def erase_key(inputs: PreparedInputs, provider: Provider, settings: EraseSettings) -> str:
    """The content key of one erase: prepared bytes, provider, action, parameters, seed."""
    spec = provider_spec(provider)
    return content_key(
        "erase",
        spec.vendor,
        spec.action,
        {"image": inputs.image.sha256, "mask": inputs.mask.sha256},
        vendor_parameters(provider, settings, settings.seed),
    )


def _cache_key(context: Any, parameters: dict[str, Any]) -> str:
    return erase_key(
        parameters["inputs"],
        parameters.get("provider", "local"),
        parameters.get("settings") or EraseSettings(),
    )


def _seeds(settings: EraseSettings) -> list[int]:
    """The requested seed, then others to try after a Volcengine 201304 (-1 stays random)."""
    if settings.seed == -1:
        return [-1] * (1 + settings.reseed_attempts)
    return [(settings.seed + 7919 * i) % 2**31 for i in range(1 + settings.reseed_attempts)]


async def _call_once(
    provider: Provider,
    client: Any,
    inputs: PreparedInputs,
    settings: EraseSettings,
    seed: int,
    requests_per_second: float | None,
) -> EraseResult:
    image, mask = read_staged(inputs.image), read_staged(inputs.mask)
    if image is None or mask is None:
        raise InputError(
            "the prepared inputs are no longer on this machine; prepare them again",
            source=inputs.source,
        )
    spec = provider_spec(provider)
    if not spec.paid:
        return await call_provider(provider, client, image, mask, settings, seed)
    async with vendor_slot(spec.vendor, requests_per_second=requests_per_second):
        return await call_provider(provider, client, image, mask, settings, seed)


def _holds_result(ledger: Ledger, record: PaidCall | None) -> bool:
    """Whether the ledger has a paid-for result to archive (so nothing is paid again).

    Staged bytes count even if the process died before marking the call READY.
    """
    if record is None or record.state not in (CallState.READY, CallState.IN_FLIGHT):
        return False
    if ledger.staged_path(record) is not None:
        return True
    return record.state is CallState.READY and bool(record.result_url)


async def _pay_for_result(
    ledger: Ledger,
    key: str,
    provider: Provider,
    client: Any,
    inputs: PreparedInputs,
    settings: EraseSettings,
    requests_per_second: float | None,
) -> PaidCall:
    """Make the paid call (trying other seeds on 201304) and record its answer at once."""
    logger = get_run_logger()
    spec = provider_spec(provider)
    hashes = {"image": inputs.image.sha256, "mask": inputs.mask.sha256}
    rejected: SeedRejectedError | None = None
    for seed in _seeds(settings):
        record = PaidCall(
            key=key,
            vendor=spec.vendor,
            action=spec.action,
            inputs=hashes,
            parameters=vendor_parameters(provider, settings, seed),
        )

        async def send(seed: int = seed) -> EraseResult:
            return await _call_once(provider, client, inputs, settings, seed, requests_per_second)

        try:
            result = await pay(ledger, record, send)
        except SeedRejectedError as error:
            logger.warning(
                "%s rejected seed %s (%s); trying another", spec.vendor, seed, error.code
            )
            rejected = error
            continue
        # Bytes first, then the state: whatever point a crash hits, a re-run finds either a
        # usable result or a call still in flight, never READY with nothing behind it.
        if result.image_bytes:
            fmt = sniff_format(result.image_bytes)
            ledger.stage(key, result.image_bytes, fmt.media_type if fmt else "image/png")
        recorded = ledger.update(
            key,
            state=CallState.READY,
            request_ids=[*ledger.get(key).request_ids, *filter(None, [result.request_id])],
            result_url=result.image_url,
            expires_at=result.expires_at,
            error=None,
        )
        logger.info(
            "%s %s answered (request %s, attempt %s)",
            spec.vendor,
            spec.action,
            result.request_id,
            recorded.attempts,
        )
        return ledger.get(key)
    assert rejected is not None
    raise rejected


async def _stage_result(ledger: Ledger, record: PaidCall) -> StagedFile | None:
    """Keep the result's bytes on this machine for the next step of the run (no S3 GET)."""
    staged = ledger.staged_path(record)
    if staged is None:
        return None
    data = await anyio.to_thread.run_sync(staged.read_bytes)
    digest = hashlib.sha256(data).hexdigest()
    return stage_bytes(data, digest, record.media_type or "image/png")


def _metadata(record: PaidCall, provider: Provider) -> dict[str, Any]:
    return {
        "vendor": record.vendor,
        "action": record.action,
        "provider": provider,
        "request_id": record.request_ids[-1] if record.request_ids else None,
        "task_id": record.task_id,
        "content_key": record.key,
        "input_image_sha256": record.inputs.get("image"),
        "input_mask_sha256": record.inputs.get("mask"),
        "parameters": record.parameters,
        "requested_at": record.created_at,
        "result_expires_at": record.expires_at,
        "archived_at": datetime.now(UTC),
    }


async def archive_recorded(
    ledger: Ledger,
    record: PaidCall,
    storage: ArchiveStorage,
    *,
    provider: Provider,
    allowed_origins: tuple[str, ...],
) -> ArchivedRef:
    """Archive a result the ledger holds (staged bytes first, else its URL); mark it archived.

    Raises:
        ResultExpired: only a URL is left and it has expired (the ledger says so too).
    """
    staged = ledger.staged_path(record)
    metadata = _metadata(record, provider)
    if staged is not None:
        data = await anyio.to_thread.run_sync(staged.read_bytes)
        ref = await store_bytes(
            storage,
            data,
            vendor=record.vendor,
            media_type=record.media_type or "image/png",
            metadata=metadata,
        )
    elif record.result_url:
        try:
            ref = await store_url(
                storage,
                record.result_url,
                vendor=record.vendor,
                allowed_origins=allowed_origins,
                expires_at=record.expires_at,
                metadata=metadata,
            )
        except ResultExpired as error:
            ledger.update(record.key, state=CallState.EXPIRED, error=str(error))
            raise
    else:
        raise ArchiveError(f"the ledger holds no result for {record.key}")
    ledger.update(
        record.key,
        state=CallState.ARCHIVED,
        archived_uri=ref.uri,
        archived_key=ref.key,
        archived_sha256=ref.sha256,
    )
    ledger.drop_staged(record)
    return ref


async def _erase(
    inputs: PreparedInputs,
    provider: Provider,
    settings: EraseSettings | None,
    credentials: str | CredentialsBlock | None,
    archive: str | ArchiveStorage | None,
    requests_per_second: float | None,
) -> ErasedImage:
    settings = settings or EraseSettings()
    spec = provider_spec(provider)
    if inputs.provider != provider:
        raise InputError(
            f"inputs were prepared for {inputs.provider}, not {provider}", source=inputs.source
        )
    key = erase_key(inputs, provider, settings)
    ledger = Ledger(get_settings().ledger_dir)
    storage = await resolve_archive(archive)
    record = ledger.get(key)
    origins: tuple[str, ...] = ()
    block = None
    if spec.paid:
        block = await resolve_credentials(spec.vendor, credentials)
        origins = result_origins(block)

    archived = await find_archived(storage, record)
    result: StagedFile | None = None
    if archived is None:
        if not _holds_result(ledger, record):
            client = block.get_client() if block is not None else None
            try:
                record = await _pay_for_result(
                    ledger, key, provider, client, inputs, settings, requests_per_second
                )
            finally:
                if client is not None:
                    await client.aclose()
        else:
            get_run_logger().info("archiving the result recorded by an earlier attempt")
        result = await _stage_result(ledger, record)
        archived = await archive_recorded(
            ledger, record, storage, provider=provider, allowed_origins=origins
        )
        record = ledger.get(key)
    return ErasedImage(
        provider=provider,
        vendor=spec.vendor,
        action=spec.action,
        key=key,
        request_id=record.request_ids[-1] if record.request_ids else None,
        seed=record.parameters.get("seed"),
        archived=archived,
        result=result,
        vendor_url_expires_at=record.expires_at,
        attempts=record.attempts,
        possible_double_charges=record.possible_double_charges,
    )


_TASK_OPTIONS: dict[str, Any] = {
    "persist_result": True,
    "retries": RETRIES,
    "retry_delay_seconds": retry_delays(RETRIES),
    "retry_condition_fn": should_retry,
    "timeout_seconds": 900,
}


@task(
    name="erase-image",
    task_run_name="erase-{provider}",
    cache_policy=paid_call_cache_policy(_cache_key),
    **_TASK_OPTIONS,
)
async def erase_image(
    inputs: PreparedInputs,
    provider: Provider = "local",
    settings: EraseSettings | None = None,
    credentials: str | CredentialsBlock | None = None,
    archive: str | ArchiveStorage | None = None,
    requests_per_second: float | None = None,
) -> ErasedImage:
    """Erase the masked region with ``provider`` and archive the result; pays at most once.

    Args:
        inputs: Prepared image and mask for this provider (``prepare_inputs``).
        provider: ``local`` (OpenCV here, free), ``ailabtools``, ``tencent`` or ``volcengine``.
        settings: Vendor parameters (seed included; it is part of the cache key).
        credentials: A credentials block, a saved block's name, or None for environment
            variables (ignored by ``local``).
        archive: An archive storage block, a saved block's ``slug/name``, or None for the
            local default.
        requests_per_second: Optional rate limit for this vendor, shared through Prefect.
    """
    return await _erase(inputs, provider, settings, credentials, archive, requests_per_second)


def _vendor_task(provider: Provider):
    """``erase_image`` with the provider fixed: the same key, so both share one cache."""

    def key(context: Any, parameters: dict[str, Any]) -> str:
        return erase_key(
            parameters["inputs"], provider, parameters.get("settings") or EraseSettings()
        )

    async def erase_with_vendor(
        inputs: PreparedInputs,
        settings: EraseSettings | None = None,
        credentials: str | CredentialsBlock | None = None,
        archive: str | ArchiveStorage | None = None,
        requests_per_second: float | None = None,
    ) -> ErasedImage:
        return await _erase(inputs, provider, settings, credentials, archive, requests_per_second)

    erase_with_vendor.__doc__ = f"Erase with {provider}; see ``erase_image``."
    erase_with_vendor.__name__ = erase_with_vendor.__qualname__ = f"erase_with_{provider}"
    return task(
        erase_with_vendor,
        name=f"erase-with-{provider}",
        cache_policy=paid_call_cache_policy(key),
        **_TASK_OPTIONS,
    )


erase_with_ailabtools = _vendor_task("ailabtools")
erase_with_tencent = _vendor_task("tencent")
erase_with_volcengine = _vendor_task("volcengine")
