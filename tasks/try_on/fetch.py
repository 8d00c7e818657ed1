"""Fetching a finished try-on job's result bytes: allow-listed, capped, deadlined, checked.

A job's result exists only behind a URL the vendor serves for 24 h. The moment a job succeeds
its bytes are downloaded here (``archive.download``: the vendor's result hosts and the
credentials' own endpoint only, no redirect off that list, a size cap) within an overall
deadline, and checked to be a whole image of a sane size. A result that is not is the vendor's
fault (``BadResultError``), never the user's input, and is neither staged nor archived. No
Prefect here.
"""

from __future__ import annotations

from datetime import datetime

from prefect_image_edit.archive.download import DEFAULT_MAX_BYTES
from prefect_image_edit.tasks.archive import DOWNLOAD_DEADLINE_SECONDS, download_result
from prefect_image_edit.tasks.try_on.models import VENDOR
from prefect_image_edit.vendors.results import validate_result_image

__all__ = ["FETCH_DEADLINE_SECONDS", "fetch_result"]

FETCH_DEADLINE_SECONDS = DOWNLOAD_DEADLINE_SECONDS


async def fetch_result(
    url: str,
    *,
    allowed_origins: tuple[str, ...] = (),
    expires_at: datetime | None = None,
    action: str = "result",
    request_id: str | None = None,
    deadline_seconds: float | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> tuple[bytes, str]:
    """Download and check one result; returns its bytes and media type.

    ``deadline_seconds`` None: ``tasks.archive.DOWNLOAD_DEADLINE_SECONDS``, read now.

    Raises:
        ResultExpired: the URL is past ``expires_at`` or answers 403/404/410.
        DownloadRefused: the host is not allowed or the result is too large.
        DownloadError: anything else (``transient`` for network errors, 5xx and the deadline).
        BadResultError: the bytes are not a whole, decodable image of a sane size.
    """
    data = await download_result(
        url,
        vendor=VENDOR,
        allowed_origins=allowed_origins,
        expires_at=expires_at,
        max_bytes=max_bytes,
        deadline=deadline_seconds,
    )
    media_type = validate_result_image(data, vendor=VENDOR, action=action, request_id=request_id)
    return data, media_type
