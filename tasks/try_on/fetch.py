"""Fetching a finished try-on job's result bytes: allow-listed, capped, deadlined, checked.

A job's result exists only behind a URL the vendor serves for 24 h. The moment a job succeeds
its bytes are downloaded here (``archive.download``: the vendor's result hosts and the
credentials' own endpoint only, no redirect off that list, a size cap) within an overall
deadline, and checked to be a whole image of a sane size. A result that is not is the vendor's
fault (``BadResultError``), never the user's input, and is neither staged nor archived. No
Prefect here.
"""

from __future__ import annotations

from datetime import UTC, datetime

import anyio
import httpx

from prefect_image_edit.archive import AllowList
from prefect_image_edit.archive.download import DEFAULT_MAX_BYTES, DownloadError, download_to_spool
from prefect_image_edit.errors import ResultExpired
from prefect_image_edit.tasks.try_on.models import VENDOR
from prefect_image_edit.vendors._constants import DEFAULT_TIMEOUT, USER_AGENT
from prefect_image_edit.vendors._http import shared_ssl_context
from prefect_image_edit.vendors.results import validate_result_image

__all__ = ["FETCH_DEADLINE_SECONDS", "fetch_result"]

FETCH_DEADLINE_SECONDS = 300.0
"""The longest a whole result download may take (a trickling body is cut off here)."""


async def fetch_result(
    url: str,
    *,
    allowed_origins: tuple[str, ...] = (),
    expires_at: datetime | None = None,
    action: str = "result",
    request_id: str | None = None,
    deadline_seconds: float = FETCH_DEADLINE_SECONDS,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> tuple[bytes, str]:
    """Download and check one result; returns its bytes and media type.

    Raises:
        ResultExpired: the URL is past ``expires_at`` or answers 403/404/410.
        DownloadRefused: the host is not allowed or the result is too large.
        DownloadError: anything else (``transient`` for network errors, 5xx and the deadline).
        BadResultError: the bytes are not a whole, decodable image of a sane size.
    """
    if expires_at is not None and datetime.now(UTC) >= expires_at:
        raise ResultExpired(f"the {VENDOR} result URL expired at {expires_at.isoformat()}")
    allow = AllowList.for_vendor(VENDOR, extra=allowed_origins)
    try:
        with anyio.fail_after(deadline_seconds):
            async with httpx.AsyncClient(
                timeout=DEFAULT_TIMEOUT,
                headers={"user-agent": USER_AGENT},
                verify=shared_ssl_context(),
            ) as client:
                spool, _ = await download_to_spool(
                    url, allow=allow, client=client, max_bytes=max_bytes, expires_at=expires_at
                )
    except TimeoutError as error:
        raise DownloadError(
            f"the {VENDOR} result took longer than {deadline_seconds:g} s to download",
            transient=True,
        ) from error
    with spool:
        data = spool.read_all()
    media_type = validate_result_image(data, vendor=VENDOR, action=action, request_id=request_id)
    return data, media_type
