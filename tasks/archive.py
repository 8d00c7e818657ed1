"""Archiving as Prefect tasks: results (bytes or a vendor URL) into the configured storage.

The archiving logic is in ``prefect_image_edit.archive`` (no Prefect); this module resolves the
storage block, runs boto3 off the event loop, and wraps it in a task that retries freely:
uploads are idempotent (content-addressed keys), so a retry can never duplicate anything.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import anyio
import anyio.to_thread
import httpx
from prefect import task
from prefect.blocks.core import Block
from prefect.cache_policies import NO_CACHE

from prefect_image_edit.archive import AllowList
from prefect_image_edit.archive.archiver import Spool, archive_spool
from prefect_image_edit.archive.download import (
    DEFAULT_MAX_BYTES,
    DownloadError,
    download_to_spool,
)
from prefect_image_edit.archive.keys import media_type_for
from prefect_image_edit.archive.store import ArchivedObject
from prefect_image_edit.blocks.archive import ArchiveStorage, LocalArchiveStorage
from prefect_image_edit.errors import InputError, ResultExpired
from prefect_image_edit.state import CallState, PaidCall
from prefect_image_edit.tasks.block_cache import load_once
from prefect_image_edit.tasks.models import ArchivedRef
from prefect_image_edit.tasks.policy import retry_delays, should_retry
from prefect_image_edit.tasks.settings import get_settings
from prefect_image_edit.vendors._constants import DEFAULT_TIMEOUT, USER_AGENT
from prefect_image_edit.vendors._http import shared_ssl_context

__all__ = [
    "archive_result",
    "download_result",
    "find_archived",
    "read_archived",
    "resolve_archive",
    "store_bytes",
    "store_url",
    "warm_archive",
]

ArchiveSource = str | ArchiveStorage | None


async def resolve_archive(archive: ArchiveSource = None) -> ArchiveStorage:
    """The archive storage block: an instance, a saved block's ``slug/name``, or the default.

    The default is a local directory (``PREFECT_IMAGE_EDIT_ARCHIVE_DIR``, else
    ``$PREFECT_IMAGE_EDIT_HOME/archive``): the embedded default with no cloud.
    """
    if isinstance(archive, ArchiveStorage):
        return archive
    if archive:
        if "/" not in archive:
            raise InputError(
                "name the archive block as <block-type-slug>/<name>, e.g. "
                "image-edit-s3-archive/prod",
                source="archive",
            )
        try:
            block = await load_once(f"archive:{archive}", lambda: Block.aload(archive))
        except ValueError as exc:
            raise InputError(f"no saved block named {archive!r}", source="archive") from exc
        if not isinstance(block, ArchiveStorage):
            raise InputError(f"{archive!r} is not an archive storage block", source="archive")
        return block
    return LocalArchiveStorage(base_path=str(get_settings().local_archive_dir))


async def warm_archive(storage: ArchiveStorage) -> None:
    """Make an S3 archive's client now, in a worker thread (~0.1 s of botocore loading).

    A batch calls it as it starts, so the client is ready by its first upload; the store makes
    it on first use otherwise (``S3Store.connecting``), and makes it once either way.
    """
    from prefect_image_edit.blocks.archive import S3ArchiveStorage

    if isinstance(storage, S3ArchiveStorage):
        await anyio.to_thread.run_sync(storage.get_s3_client)


def to_ref(obj: ArchivedObject) -> ArchivedRef:
    return ArchivedRef(
        uri=obj.uri,
        key=obj.key,
        sha256=obj.sha256,
        size=obj.size,
        media_type=obj.media_type,
    )


async def store_bytes(
    storage: ArchiveStorage,
    data: bytes,
    *,
    vendor: str,
    media_type: str,
    metadata: Mapping[str, Any],
) -> ArchivedRef:
    """Archive bytes already in memory (no copy is made)."""
    return await _archive_spool(storage, Spool.of_bytes(data), vendor, media_type, metadata)


async def _archive_spool(
    storage: ArchiveStorage,
    spool: Spool,
    vendor: str,
    media_type: str,
    metadata: Mapping[str, Any],
) -> ArchivedRef:
    """Upload a spool (boto3 is blocking: in a worker thread) and close it."""

    def _run() -> ArchivedObject:
        with spool:
            return archive_spool(
                storage.get_store(),
                spool,
                prefix=storage.prefix,
                vendor=vendor,
                media_type=media_type,
                metadata=metadata,
            )

    # Abandoned on cancellation: a caller's deadline ends the wait even while boto3 is still
    # retrying a frozen store in the thread (the upload is idempotent, the spool its own).
    return to_ref(await anyio.to_thread.run_sync(_run, abandon_on_cancel=True))


async def store_url(
    storage: ArchiveStorage,
    url: str,
    *,
    vendor: str,
    allowed_origins: tuple[str, ...] = (),
    expires_at: datetime | None = None,
    metadata: Mapping[str, Any],
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> ArchivedRef:
    """Stream a vendor result URL into the archive.

    Raises:
        ResultExpired: the URL is past ``expires_at`` (it is not even tried) or answers 403.
        DownloadRefused: the host is not allowed or the result is too large.
    """
    if expires_at is not None and datetime.now(UTC) >= expires_at:
        raise ResultExpired(f"the {vendor} result URL expired at {expires_at.isoformat()}")
    allow = AllowList.for_vendor(vendor, extra=allowed_origins)
    async with httpx.AsyncClient(
        timeout=DEFAULT_TIMEOUT,
        headers={"user-agent": USER_AGENT},
        verify=shared_ssl_context(),
    ) as c:
        spool, media_type = await download_to_spool(
            url, allow=allow, client=c, max_bytes=max_bytes, expires_at=expires_at
        )
    if not media_type.startswith("image/"):
        media_type = media_type_for(url.split("?", 1)[0])
    return await _archive_spool(storage, spool, vendor, media_type, metadata)


DOWNLOAD_DEADLINE_SECONDS = 300.0
"""The longest a result download may take in all (a trickling body cannot outlive its URL)."""


async def download_result(
    url: str,
    *,
    vendor: str,
    allowed_origins: tuple[str, ...] = (),
    expires_at: datetime | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    deadline: float | None = None,
) -> bytes:
    """Download a vendor result into memory: allow-listed hosts, capped, with a total deadline.

    Raises:
        ResultExpired: the URL is past ``expires_at`` (not even tried) or the vendor says so.
        DownloadRefused: not an allowed host, or larger than ``max_bytes``.
        DownloadError: anything else (``transient`` for network errors, 5xx and the deadline).
    """
    if deadline is None:  # read now, so the module's figure can be changed (tests, users)
        deadline = DOWNLOAD_DEADLINE_SECONDS
    if expires_at is not None and datetime.now(UTC) >= expires_at:
        raise ResultExpired(f"the {vendor} result URL expired at {expires_at.isoformat()}")
    allow = AllowList.for_vendor(vendor, extra=allowed_origins)
    try:
        with anyio.fail_after(deadline):
            async with httpx.AsyncClient(
                timeout=DEFAULT_TIMEOUT,
                headers={"user-agent": USER_AGENT},
                verify=shared_ssl_context(),
            ) as client:
                spool, _ = await download_to_spool(
                    url, allow=allow, client=client, max_bytes=max_bytes, expires_at=expires_at
                )
    except TimeoutError:
        raise DownloadError(
            f"downloading the {vendor} result took longer than {deadline:.0f} s", transient=True
        ) from None
    with spool:
        return spool.read_all()


async def find_archived(storage: ArchiveStorage, record: PaidCall | None) -> ArchivedRef | None:
    """The object a ledger record says was archived, if the store still holds it intact."""
    if record is None or record.state is not CallState.ARCHIVED or not record.archived_key:
        return None
    found = await anyio.to_thread.run_sync(storage.get_store().head, record.archived_key)
    if found is None or found.sha256 != record.archived_sha256:
        return None
    return to_ref(found)


async def read_archived(storage: ArchiveStorage, ref: ArchivedRef) -> bytes:
    """Read an archived object back (e.g. a coarse try-on result to refine)."""
    store = storage.get_store()

    def _run() -> bytes:
        with store.open(ref.key) as handle:
            return handle.read()

    return await anyio.to_thread.run_sync(_run)


@task(
    name="archive-result",
    cache_policy=NO_CACHE,
    retries=5,
    retry_delay_seconds=retry_delays(5),
    retry_condition_fn=should_retry,
)
async def archive_result(
    result: bytes | str,
    *,
    vendor: str,
    media_type: str = "image/png",
    metadata: dict[str, Any] | None = None,
    archive: ArchiveSource = None,
    allowed_origins: tuple[str, ...] = (),
    expires_at: datetime | None = None,
) -> ArchivedRef:
    """Archive a result, given as bytes or as a vendor URL, under its content-addressed key.

    Streamed (a URL result is never held whole in memory), idempotent (content-addressed: the
    same bytes rewrite the same object), verified (ETag or size and checksum), and only from the
    vendor's result hosts (plus ``allowed_origins``). Retries freely: nothing here is paid.

    Args:
        result: The image bytes, or an https URL on the vendor's result hosts.
        vendor: Vendor name, used in the key (``<prefix>/<vendor>/<sha256>.<ext>``).
        media_type: Media type of bytes results (URL results use the response's).
        metadata: Object metadata (vendor, action, request/task id, input hashes, times...).
        archive: An archive storage block, a saved block's ``slug/name``, or None for the
            local default.
        allowed_origins: Extra origins a URL result may come from.
        expires_at: When a URL result expires; an expired URL is not tried.
    """
    storage = await resolve_archive(archive)
    meta = {"archived_at": datetime.now(UTC), **(metadata or {})}
    if isinstance(result, bytes):
        return await store_bytes(
            storage, result, vendor=vendor, media_type=media_type, metadata=meta
        )
    return await store_url(
        storage,
        result,
        vendor=vendor,
        allowed_origins=allowed_origins,
        expires_at=expires_at,
        metadata=meta,
    )
