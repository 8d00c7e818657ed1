"""The erase task: one provider-agnostic Prefect task (plus one per vendor) that pays at most once.

What makes a paid call safe to retry, re-run and run twice at the same time, on any number of
machines (DESIGN.md, Money and idempotency):

1. The shared state (``prefect_image_edit.state``) is the cache and the ledger. Its key is the
   content (prepared bytes, provider, action, parameters, seed). A re-run, a flow retry or
   another flow with the same input finds the result that was paid for, checked against the
   archive this run uses: an object that is not there (another archive, a lifecycle rule) is
   re-archived from what the state still holds, or else paid for again, and that re-payment is
   recorded with its reason.
2. The per-input lock of the state: two runs of the same input on any machines take turns;
   the second finds the first's result.
3. The request is recorded only once the vendor's concurrency slot is held, the answer's bytes
   the moment they arrive (validated as an image first). A failed archive step retries from
   those bytes; a crash mid-call is counted as a possible double charge, not hidden.
4. Retries by the vendor's verdict: resubmit what the vendor did not accept, resend an
   ambiguous failure once, never retry a permanent error. No new paid call while the archive
   is down.

Prefect's result cache is not used for the paid call: a cached value could not be checked
against the archive before it is returned. The state's verified lookup replaces it.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime
from functools import partial
from typing import Any

import anyio
import anyio.to_thread
from prefect import task
from prefect.blocks.abstract import CredentialsBlock
from prefect.cache_policies import NO_CACHE

from prefect_image_edit.archive.archiver import ArchiveError
from prefect_image_edit.archive.health import acheck_archive, note_failure, note_success
from prefect_image_edit.archive.store import ArchiveStore, ArchiveStoreError
from prefect_image_edit.blocks.archive import ArchiveStorage
from prefect_image_edit.blocks.credentials import result_origins
from prefect_image_edit.errors import InputError, ResultExpired
from prefect_image_edit.state import CallState, PaidCall, RepaymentReason, StateStore, resolve_state
from prefect_image_edit.tasks.archive import (
    download_result,
    find_archived,
    resolve_archive,
    store_bytes,
)
from prefect_image_edit.tasks.cost import CallMeter
from prefect_image_edit.tasks.credentials import resolve_credentials
from prefect_image_edit.tasks.limits import vendor_slot
from prefect_image_edit.tasks.logs import run_logger
from prefect_image_edit.tasks.models import (
    ArchivedRef,
    ErasedImage,
    EraseSettings,
    PreparedInputs,
    Provider,
    StagedFile,
)
from prefect_image_edit.tasks.paid import pay_once
from prefect_image_edit.tasks.policy import content_key, retry_delays, should_retry
from prefect_image_edit.tasks.pools import AccountPool, run_pool
from prefect_image_edit.tasks.prepare import read_staged, stage_bytes
from prefect_image_edit.tasks.providers import ProviderSpec, call_provider, vendor_parameters
from prefect_image_edit.tasks.providers import provider as provider_spec
from prefect_image_edit.tasks.run_cost import run_meter
from prefect_image_edit.tasks.vendor_clients import shared_client
from prefect_image_edit.vendors.errors import (
    BadResultError,
    ErrorKind,
    SeedRejectedError,
    VendorError,
)
from prefect_image_edit.vendors.results import EraseResult, validate_result_image

__all__ = [
    "archive_recorded",
    "erase_image",
    "erase_key",
    "erase_with_ailabtools",
    "erase_with_tencent",
    "erase_with_volcengine",
]

RETRIES = 4
ARCHIVE_DEADLINE_SECONDS = 120.0
"""The longest one archive upload may take before the attempt counts as failed."""


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


def _seeds(settings: EraseSettings) -> list[int]:
    """The requested seed, then others to try after a rejected output (-1 stays random)."""
    if settings.seed == -1:
        return [-1] * (1 + settings.reseed_attempts)
    return [(settings.seed + 7919 * i) % 2**31 for i in range(1 + settings.reseed_attempts)]


def _repayment_reason(record: PaidCall | None) -> RepaymentReason | None:
    """Why paying now would pay again for an input already paid for (None: it would not)."""
    if record is None:
        return None
    if record.state is CallState.ARCHIVED:
        return RepaymentReason.ARCHIVE_MISSING
    if record.state is CallState.EXPIRED:
        return RepaymentReason.EXPIRED
    if record.state is CallState.FAILED and record.poisoned:
        return RepaymentReason.POISONED
    if record.state in (CallState.READY, CallState.SUBMITTED):
        return RepaymentReason.LOST
    return None


async def _result_in_hand(
    store: StateStore, record: PaidCall | None, *, allowed_origins: tuple[str, ...]
) -> tuple[bytes | None, RepaymentReason | None]:
    """The paid-for result the state still holds: staged bytes, or a URL that still works.

    Staged bytes are checked as an image again (a crash may have left anything); a result known
    only by its URL is downloaded (allow-listed, capped) and staged first.

    Returns:
        The bytes, or None and why paying now pays again (None: it would be a first payment).
    """
    if record is None or record.state not in (CallState.IN_FLIGHT, CallState.READY):
        return None, _repayment_reason(record)
    data = await store.staged(record.key)
    if data is None and record.state is CallState.READY and record.result_url:
        try:
            data = await download_result(
                record.result_url,
                vendor=record.vendor,
                allowed_origins=allowed_origins,
                expires_at=record.expires_at,
            )
        except ResultExpired as error:
            await store.mark_expired(record.key, str(error))
            return None, RepaymentReason.EXPIRED
    if data is None:
        return None, _repayment_reason(record)
    try:
        media_type = validate_result_image(data, vendor=record.vendor, action=record.action)
    except BadResultError as error:
        if record.state is CallState.IN_FLIGHT:
            await store.mark_failed(record.key, str(error), poisoned=True)
        return None, RepaymentReason.POISONED
    if record.state is CallState.IN_FLIGHT or not record.staged_size:
        # Bytes staged by a process that died before marking the call answered, or just
        # downloaded: make the state say READY with them.
        await store.record_answer(
            record.key,
            data=data,
            media_type=media_type,
            result_url=record.result_url,
            expires_at=record.expires_at,
        )
    return data, None


class Accounts:
    """Where one erase's paid request gets its slot and client: one account, or a pool.

    With a pool (several credentials blocks of the vendor) the slot is the least busy
    account's, the client that account's, and an account out of credits is dropped for the
    run and the request goes to another (``tasks.pools``).
    """

    def __init__(
        self, vendor: str, blocks: dict[str, CredentialsBlock], pool: AccountPool | None
    ) -> None:
        self.vendor, self.blocks, self.pool = vendor, blocks, pool
        self.first = next(iter(blocks.values()))
        self.current: str = next(iter(blocks))
        self._clients: dict[str, Any] = {}
        self._shared: set[str] = set()

    @classmethod
    async def resolve(
        cls, vendor: str, credentials: str | list[str] | CredentialsBlock | None
    ) -> Accounts:
        if isinstance(credentials, (list, tuple)) and len(credentials) > 1:
            names = list(dict.fromkeys(credentials))
            blocks = {name: await resolve_credentials(vendor, name) for name in names}
            return cls(vendor, blocks, run_pool(vendor, names))
        if isinstance(credentials, (list, tuple)):
            credentials = credentials[0] if credentials else None
        block = await resolve_credentials(vendor, credentials)
        return cls(vendor, {"default": block}, None)

    @asynccontextmanager
    async def slot(self, requests_per_second: float | None) -> AsyncIterator[None]:
        if self.pool is None:
            async with vendor_slot(self.vendor, requests_per_second=requests_per_second):
                yield
            return
        async with self.pool.slot(requests_per_second) as block:
            self.current = block
            yield

    def client(self) -> Any:
        """The client of the account holding the slot: the run's shared one inside
        ``shared_vendor_clients`` (a batch), else made once per account and closed here."""
        if self.current not in self._clients:
            block = self.blocks[self.current]
            shared = shared_client(self.vendor, self.current, block)
            self._clients[self.current] = shared if shared is not None else block.get_client()
            if shared is not None:
                self._shared.add(self.current)
        return self._clients[self.current]

    async def drop_on(self, error: VendorError) -> bool:
        """Drop the account that answered "no credits" (or arrears) from the pool; whether
        the request may go to another account."""
        if self.pool is None or error.kind is not ErrorKind.NO_CREDITS:
            return False
        await self.pool.drop(self.current, f"{error.code or error.kind}: {error.message}")
        return bool(self.pool.live)

    async def aclose(self) -> None:
        for account, client in self._clients.items():
            if account not in self._shared:  # shared ones close with their run
                await client.aclose()
        self._clients.clear()


@asynccontextmanager
async def _slot_while_archive_answers(
    slot: AbstractAsyncContextManager[object], archive: ArchiveStore
) -> AsyncIterator[None]:
    """The vendor slot, then the archive's health once more: a call that queued for the slot
    while the archive died is not paid for (nothing is recorded before this passes)."""
    async with slot:
        await acheck_archive(archive)
        yield


async def _pay_for_result(
    store: StateStore,
    key: str,
    spec: ProviderSpec,
    accounts: Accounts | None,
    inputs: PreparedInputs,
    settings: EraseSettings,
    requests_per_second: float | None,
    repayment: RepaymentReason | None,
    detail: str | None = None,
    meter: CallMeter | None = None,
    archive: ArchiveStore | None = None,
) -> tuple[PaidCall, bytes]:
    """Make the paid call (another seed after a rejected output); stage its bytes at once.

    ``accounts`` gives the slot and the client (one account, or the free account of a pool;
    None for ``local``). ``meter`` reserves each request's price before it goes out (the
    run's ``max_cost``) and counts what was billed.
    """
    logger = run_logger()
    image, mask = await anyio.to_thread.run_sync(  # read and checked: off the event loop
        lambda: (read_staged(inputs.image), read_staged(inputs.mask))
    )
    if image is None or mask is None:
        raise InputError(
            "the prepared inputs are no longer on this machine; prepare them again",
            source=inputs.source,
        )
    hashes = {"image": inputs.image.sha256, "mask": inputs.mask.sha256}
    rejected: SeedRejectedError | None = None
    for seed in _seeds(settings):
        call = PaidCall(
            key=key,
            vendor=spec.vendor,
            action=spec.action,
            inputs=hashes,
            parameters=vendor_parameters(spec.name, settings, seed),
        )

        async def send(seed: int = seed) -> EraseResult:
            client = accounts.client() if accounts is not None else None
            return await call_provider(spec.name, client, image, mask, settings, seed)

        try:
            while True:
                slot = accounts.slot(requests_per_second) if accounts is not None else None
                if slot is not None and archive is not None:
                    slot = _slot_while_archive_answers(slot, archive)
                try:
                    result = await pay_once(
                        store,
                        call,
                        send,
                        slot=slot,
                        repayment=repayment,
                        detail=detail,
                        meter=meter if spec.paid else None,
                    )
                except VendorError as error:
                    if accounts is None or not await accounts.drop_on(error):
                        raise
                    repayment = None  # refused, not billed: the record is failed, not paid
                    continue
                break
        except SeedRejectedError as error:
            logger.warning(
                "%s rejected seed %s (%s); trying another", spec.vendor, seed, error.code
            )
            rejected, repayment = error, None
            continue
        data = result.image_bytes
        if not data and result.image_url:
            data = await download_result(
                result.image_url,
                vendor=spec.vendor,
                allowed_origins=(),
                expires_at=result.expires_at,
            )
        if not data:
            error = BadResultError(
                "the answer carries no image",
                vendor=spec.vendor,
                action=spec.action,
                request_id=result.request_id,
            )
            await store.mark_failed(key, str(error), poisoned=True)
            raise error
        media_type = (
            result.media_type
            if data is result.image_bytes and result.media_type  # the client decoded it
            else await anyio.to_thread.run_sync(
                partial(
                    validate_result_image,
                    data,
                    vendor=spec.vendor,
                    action=spec.action,
                    request_id=result.request_id,
                )
            )
        )
        record = await store.record_answer(
            key,
            data=data,
            media_type=media_type,
            result_url=result.image_url,
            expires_at=result.expires_at,
            request_id=result.request_id,
        )
        if spec.paid:
            logger.info(
                "%s %s paid (request %s, attempt %s)",
                spec.vendor,
                spec.action,
                result.request_id,
                record.attempts,
            )
        return record, data
    assert rejected is not None
    raise rejected


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
    store: StateStore,
    record: PaidCall,
    data: bytes,
    storage: ArchiveStorage,
    *,
    provider: Provider,
) -> tuple[PaidCall, ArchivedRef]:
    """Archive a paid-for result's bytes and mark it archived (staged bytes then dropped).

    A store that fails is remembered (``archive.health``): no new paid call goes out until it
    answers again. Each upload has an overall deadline, so a frozen store cannot hang a run.
    """
    try:
        with anyio.fail_after(ARCHIVE_DEADLINE_SECONDS):
            ref = await store_bytes(
                storage,
                data,
                vendor=record.vendor,
                media_type=record.media_type or "image/png",
                metadata=_metadata(record, provider),
            )
    except (ArchiveError, ArchiveStoreError, TimeoutError) as error:
        if getattr(error, "transient", True):
            note_failure(storage.get_store())
        raise
    note_success(storage.get_store())
    record = await store.mark_archived(
        record.key, uri=ref.uri, object_key=ref.key, sha256=ref.sha256
    )
    return record, ref


def _result(
    record: PaidCall,
    provider: Provider,
    archived: ArchivedRef,
    *,
    staged: StagedFile | None = None,
    cached: bool = False,
    cost: float | None = 0.0,
) -> ErasedImage:
    spec = provider_spec(provider)
    return ErasedImage(
        provider=provider,
        vendor=spec.vendor,
        action=spec.action,
        key=record.key,
        request_id=record.request_ids[-1] if record.request_ids else None,
        seed=record.parameters.get("seed"),
        archived=archived,
        result=staged,
        vendor_url_expires_at=record.expires_at,
        attempts=record.attempts,
        possible_double_charges=record.possible_double_charges,
        repayments=len(record.repayments),
        cached=cached,
        cost=cost if spec.paid else 0.0,
        paid=spec.paid,
    )


async def _erase(
    inputs: PreparedInputs,
    provider: Provider,
    settings: EraseSettings | None,
    credentials: str | list[str] | CredentialsBlock | None,
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
    storage = await resolve_archive(archive)
    accounts = await Accounts.resolve(spec.vendor, credentials) if spec.paid else None
    origins = result_origins(accounts.first) if accounts is not None else ()
    store = resolve_state()
    logger = run_logger()
    meter = CallMeter(run_meter(), spec.vendor, spec.action, key)
    async with store.lock(key):
        record = await store.get(key)
        archived = await find_archived(storage, record)
        if archived is not None:
            logger.info("cache hit: %s (archived %s)", spec.action, archived.uri)
            return _result(record, provider, archived, cached=True)
        data, repayment = await _result_in_hand(store, record, allowed_origins=origins)
        if data is None:
            record = await store.get(key)
            detail = None
            if repayment is RepaymentReason.ARCHIVE_MISSING:
                detail = f"{record.archived_uri} is not in {storage.get_store().location}"
            await acheck_archive(storage.get_store())
            try:
                record, data = await _pay_for_result(
                    store,
                    key,
                    spec,
                    accounts,
                    inputs,
                    settings,
                    requests_per_second,
                    repayment,
                    detail,
                    meter,
                    storage.get_store(),
                )
            finally:
                if accounts is not None:
                    await accounts.aclose()
        else:
            logger.info("archiving the result paid for by an earlier attempt")
            record = await store.get(key)
        record, archived = await archive_recorded(store, record, data, storage, provider=provider)
        staged = await anyio.to_thread.run_sync(
            stage_bytes, data, hashlib.sha256(data).hexdigest(), archived.media_type
        )
        logger.info("archived %s", archived.uri)
        # every billed attempt for this input in this run, earlier tries of the step included
        cost = meter.run.cost_for(key)
        return _result(record, provider, archived, staged=staged, cost=cost)


_TASK_OPTIONS: dict[str, Any] = {
    "retries": RETRIES,
    "retry_delay_seconds": retry_delays(RETRIES),
    "retry_condition_fn": should_retry,
    "timeout_seconds": 900,
}


@task(
    name="erase-image",
    task_run_name="erase-{provider}",
    cache_policy=NO_CACHE,
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
    """``erase_image`` with the provider fixed: the same content key, so both share results."""

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
        cache_policy=NO_CACHE,
        **_TASK_OPTIONS,
    )


erase_with_ailabtools = _vendor_task("ailabtools")
erase_with_tencent = _vendor_task("tencent")
erase_with_volcengine = _vendor_task("volcengine")
