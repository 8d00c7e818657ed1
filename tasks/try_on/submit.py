"""The two paid try-on submits (Try on Clothes Pro, then the Refiner), each paid at most once.

- Cached on content (``tasks.policy``): the key is the sha256 of the prepared bytes sent, the
  vendor, the action and the canonical parameters, so a re-run with the same content pays
  nothing, whether the sources were local files or ``s3://`` objects.
- One lock: the cache policy's SERIALIZABLE lock is the state's per-input lock
  (``tasks.policy.state_lock_cache_policy``: flock on one machine, a PostgreSQL advisory lock
  across machines), keyed on that same key. A concurrent run of the same content, here or on
  another machine sharing the state, waits for it, then finds the job (in Prefect's cache, or
  in the record). The record key is the same key, so the archive sweeper's lock excludes the
  same runs. The body never takes that lock itself: the engine holds it, and it is not
  re-entrant.
- The task id is in the state before anything else (``records.TryOnRecords.pay_submit``): a
  job paid for but never recorded by Prefect is resumed from there, not paid again; one whose
  result expired unarchived is paid again only as a counted re-payment.
- A cached job lives no longer than the vendor keeps the task (``cache_expiration``): after
  that the body runs again, and resumes from the record (free) or re-pays, counted.
- Retries follow the vendor's verdict (``tasks.policy.should_retry``); the vendor's Prefect
  concurrency limit (and optional rate limit) is held around the HTTP call only, and the call
  is marked in flight only once the slot is held.

Both submits take the prepared outfit (``prepare_try_on``); neither prepares anything.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta
from typing import Any

import anyio.to_thread
from prefect import get_run_logger, task
from prefect.blocks.abstract import CredentialsBlock

from prefect_image_edit.blocks.archive import ArchiveStorage
from prefect_image_edit.errors import InputError
from prefect_image_edit.state import PaidCall
from prefect_image_edit.tasks.archive import read_archived, resolve_archive
from prefect_image_edit.tasks.cost import CallMeter
from prefect_image_edit.tasks.credentials import resolve_credentials
from prefect_image_edit.tasks.limits import vendor_slot
from prefect_image_edit.tasks.models import ArchivedRef, StagedFile
from prefect_image_edit.tasks.policy import (
    content_key,
    retry_delays,
    should_retry,
    state_lock_cache_policy,
)
from prefect_image_edit.tasks.prepare import read_staged
from prefect_image_edit.tasks.run_cost import run_meter
from prefect_image_edit.tasks.try_on.models import (
    COARSE_PARAMETERS,
    PRO_ACTION,
    REFINER_ACTION,
    VENDOR,
    Gender,
    PreparedOutfit,
    Stage,
    TryOnJob,
)
from prefect_image_edit.tasks.try_on.records import records
from prefect_image_edit.vendors import registry
from prefect_image_edit.vendors.results import TaskSubmission

__all__ = [
    "coarse_key",
    "refiner_key",
    "submit_try_on_coarse",
    "submit_try_on_refiner",
]

RETRIES = 4


def coarse_key(outfit: PreparedOutfit) -> str:
    """The content key of the Pro submit: prepared person and garments, fixed parameters."""
    return content_key("try-on-coarse", VENDOR, PRO_ACTION, outfit.inputs(), COARSE_PARAMETERS)


def refiner_key(outfit: PreparedOutfit, coarse_sha256: str, gender: Gender) -> str:
    """The content key of the Refiner submit: the same inputs plus the coarse result, gender."""
    inputs = {**outfit.inputs(), "coarse": coarse_sha256}
    return content_key("try-on-refined", VENDOR, REFINER_ACTION, inputs, {"gender": gender})


def _coarse_cache_key(context: Any, parameters: dict[str, Any]) -> str:
    return coarse_key(parameters["outfit"])


def _refiner_cache_key(context: Any, parameters: dict[str, Any]) -> str:
    return refiner_key(parameters["outfit"], parameters["coarse"].sha256, parameters["gender"])


async def _staged_bytes(outfit: PreparedOutfit) -> dict[str, bytes]:
    """The prepared bytes to send, checked against their sha256."""

    sources = outfit.sources()

    def _read(name: str, staged: StagedFile) -> bytes:
        data = read_staged(staged)
        if data is None:
            raise InputError(
                "its prepared copy is no longer on this machine; run prepare_try_on again",
                source=sources.get(name, name),
            )
        return data

    return {
        name: await anyio.to_thread.run_sync(_read, name, staged)
        for name, staged in outfit.files().items()
    }


def _job(stage: Stage, record: PaidCall, *, resumed: bool, cost: float | None = 0.0) -> TryOnJob:
    """The job a record holds. A resumed job counts from the moment its request was paid for
    (the record's creation, or its last re-payment: the earliest moment it may have been
    accepted), so polling never outlives the vendor's retention."""
    paid_at = record.repayments[-1].at if record.repayments else record.created_at
    return TryOnJob(
        key=record.key,
        stage=stage,
        action=record.action,
        task_id=record.task_id,
        submitted_at=paid_at if resumed else record.updated_at,
        request_id=record.request_ids[-1] if record.request_ids else None,
        inputs=record.inputs,
        parameters=record.parameters,
        attempts=record.attempts,
        possible_double_charges=record.possible_double_charges,
        cost=0.0 if resumed else cost,
    )


Send = Callable[[Any, dict[str, bytes]], Awaitable[TaskSubmission]]


async def _submit(
    *,
    key: str,
    stage: Stage,
    action: str,
    outfit: PreparedOutfit,
    parameters: Mapping[str, Any],
    send_with: Send,
    credentials: str | CredentialsBlock | None,
    requests_per_second: float | None,
    extra: Mapping[str, str] | None = None,
    load_extra: Callable[[], Awaitable[dict[str, bytes]]] | None = None,
) -> TryOnJob:
    """Resume the job the state holds for ``key``, or pay for a new one and record it.

    ``extra`` names inputs beyond the outfit (name -> sha256) whose bytes ``load_extra``
    reads, only when a request is really sent.
    """
    logger = get_run_logger()
    book = records()
    known = await book.paid_job(key)
    if known is not None:
        logger.info("resuming %s job %s (already paid for)", stage, known.task_id)
        return _job(stage, known, resumed=True)
    images = await _staged_bytes(outfit)
    if load_extra is not None:
        images.update(await load_extra())
    inputs = {**outfit.inputs(), **(extra or {})}
    block = await resolve_credentials(VENDOR, credentials)
    meter = CallMeter(run_meter(), VENDOR, action, key)
    async with block.get_client() as client:

        async def send() -> TaskSubmission:
            return await send_with(client, images)

        record = await book.pay_submit(
            key,
            action=action,
            inputs=inputs,
            parameters=parameters,
            send=send,
            slot=lambda: vendor_slot(VENDOR, requests_per_second=requests_per_second),
            meter=meter,
        )
    logger.info("%s job %s submitted (attempt %s)", stage, record.task_id, record.attempts)
    return _job(stage, record, resumed=False, cost=meter.run.cost_for(key))


_SUBMIT_OPTIONS: dict[str, Any] = {
    "persist_result": True,
    "retries": RETRIES,
    "retry_delay_seconds": retry_delays(RETRIES),
    "retry_condition_fn": should_retry,
    "timeout_seconds": 600,
    # A task id is only good while the vendor keeps the task.
    "cache_expiration": timedelta(seconds=registry.get(VENDOR).task_retention_seconds or 86400),
}


@task(
    name="submit-try-on-coarse",
    cache_policy=state_lock_cache_policy(_coarse_cache_key),
    **_SUBMIT_OPTIONS,
)
async def submit_try_on_coarse(
    outfit: PreparedOutfit,
    credentials: str | CredentialsBlock | None = None,
    requests_per_second: float | None = None,
) -> TryOnJob:
    """Submit Try on Clothes Pro (the coarse result: resolution -1, restore_face on).

    Args:
        outfit: The prepared person and garments (``prepare_try_on``).
        credentials: AILabTools credentials block or saved block name; None reads the
            environment.
        requests_per_second: Optional AILabTools rate limit, shared through Prefect.
    """

    async def send_with(vendor: Any, images: dict[str, bytes]) -> TaskSubmission:
        return await vendor.submit_try_on_pro(
            images["person"],
            images["top"],
            bottom_garment=images.get("bottom"),
            **COARSE_PARAMETERS,
        )

    return await _submit(
        key=coarse_key(outfit),
        stage="coarse",
        action=PRO_ACTION,
        outfit=outfit,
        parameters=COARSE_PARAMETERS,
        send_with=send_with,
        credentials=credentials,
        requests_per_second=requests_per_second,
    )


@task(
    name="submit-try-on-refiner",
    cache_policy=state_lock_cache_policy(_refiner_cache_key),
    **_SUBMIT_OPTIONS,
)
async def submit_try_on_refiner(
    outfit: PreparedOutfit,
    coarse: ArchivedRef,
    gender: Gender,
    credentials: str | CredentialsBlock | None = None,
    archive: ArchiveStorage | str | None = None,
    requests_per_second: float | None = None,
) -> TryOnJob:
    """Submit Try on Clothes Refiner over the archived coarse result.

    Args:
        outfit: The same prepared outfit the coarse job was given (it is not prepared again).
        coarse: The archived coarse result (``archive_try_on_result`` of the coarse job).
        gender: ``woman`` or ``man``.
        credentials: AILabTools credentials block or saved block name.
        archive: The archive block holding ``coarse``.
        requests_per_second: Optional AILabTools rate limit.
    """

    async def load_coarse() -> dict[str, bytes]:
        return {"coarse": await read_archived(await resolve_archive(archive), coarse)}

    async def send_with(vendor: Any, images: dict[str, bytes]) -> TaskSubmission:
        return await vendor.submit_try_on_refiner(
            images["person"],
            images["top"],
            images["coarse"],
            gender=gender,
            bottom_garment=images.get("bottom"),
        )

    return await _submit(
        key=refiner_key(outfit, coarse.sha256, gender),
        stage="refined",
        action=REFINER_ACTION,
        outfit=outfit,
        parameters={"gender": gender},
        send_with=send_with,
        credentials=credentials,
        requests_per_second=requests_per_second,
        extra={"coarse": coarse.sha256},
        load_extra=load_coarse,
    )
