"""Fetch a vendor result URL safely: allow-listed hosts only, no redirect off the list, capped.

Result URLs come from vendor responses, so they are untrusted input: a compromised or spoofed
answer must not turn the archiver into a fetcher of arbitrary internal URLs. Only https URLs on
the vendor's result hosts are fetched unless the allow-list names another origin explicitly
(the emulators serve plain http on 127.0.0.1). Redirects are followed by hand, each hop checked.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urljoin, urlsplit

import httpx

from prefect_image_edit.archive.archiver import ArchiveError, Spool, SpoolTooLarge, new_spool
from prefect_image_edit.errors import ResultExpired

__all__ = [
    "AllowList",
    "DownloadError",
    "DownloadRefused",
    "download_to_spool",
]

DEFAULT_MAX_BYTES = 64 * 1024 * 1024
MAX_REDIRECTS = 3
_DEFAULT_PORTS = {"http": 80, "https": 443}


class DownloadError(ArchiveError):
    """A result could not be downloaded. ``transient`` says whether trying again may help."""

    def __init__(self, message: str, *, transient: bool = False) -> None:
        self.transient = transient
        super().__init__(message)


class DownloadRefused(DownloadError):
    """The URL is not allowed (host, scheme, redirect target) or the result is too large."""


@dataclass(frozen=True)
class AllowList:
    """Origins results may be fetched from: ``scheme://host[:port]``, host may start with ``*.``.

    Example: ``AllowList(("https://*.myqcloud.com", "http://127.0.0.1:8123"))``.
    """

    origins: tuple[str, ...]

    @classmethod
    def for_vendor(cls, vendor: str, extra: tuple[str, ...] = ()) -> AllowList:
        from prefect_image_edit.vendors import registry

        hosts = registry.get(vendor).result_hosts if vendor in registry.names() else ()
        return cls((*hosts, *extra))

    def allows(self, url: str) -> bool:
        try:
            parts = urlsplit(url)
            port = parts.port or _DEFAULT_PORTS.get(parts.scheme)
        except ValueError:
            return False
        host = (parts.hostname or "").lower()
        if not host or parts.username or parts.password:
            return False
        for origin in self.origins:
            allowed = urlsplit(origin)
            allowed_port = allowed.port or _DEFAULT_PORTS.get(allowed.scheme)
            if (
                allowed.scheme == parts.scheme
                and allowed_port == port
                and fnmatch.fnmatchcase(host, (allowed.hostname or "").lower())
            ):
                return True
        return False


def _host(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rsplit('@', 1)[-1]}"


async def download_to_spool(
    url: str,
    *,
    allow: AllowList,
    client: httpx.AsyncClient,
    max_bytes: int = DEFAULT_MAX_BYTES,
    expires_at: datetime | None = None,
) -> tuple[Spool, str]:
    """Stream ``url`` into a spool; returns the spool and the response's media type.

    Raises:
        DownloadRefused: host or redirect target not allowed, or larger than ``max_bytes``.
        ResultExpired: the URL answers 403/404/410 (expired or withdrawn).
        DownloadError: any other failure; ``transient`` for 5xx and network errors.
    """
    for _ in range(MAX_REDIRECTS + 1):
        if not allow.allows(url):
            raise DownloadRefused(f"{_host(url)} is not on the result-host allow-list")
        try:
            async with client.stream("GET", url, follow_redirects=False) as response:
                if response.is_redirect:
                    url = urljoin(url, response.headers.get("location", ""))
                    continue
                _check_status(response, url, expires_at)
                declared = int(response.headers.get("content-length") or 0)
                if declared > max_bytes:
                    raise DownloadRefused(
                        f"result at {_host(url)} is {declared} bytes, over the {max_bytes} cap"
                    )
                spool = new_spool(max_bytes)
                try:
                    async for chunk in response.aiter_bytes(1 << 16):
                        spool.write(chunk)
                except SpoolTooLarge as exc:
                    spool.close()
                    raise DownloadRefused(
                        f"result at {_host(url)} is over the {max_bytes}-byte cap"
                    ) from exc
                except BaseException:
                    spool.close()
                    raise
                media_type = response.headers.get("content-type", "application/octet-stream")
                return spool, media_type.split(";", 1)[0].strip()
        except httpx.HTTPError as exc:
            raise DownloadError(
                f"downloading from {_host(url)} failed: {type(exc).__name__}", transient=True
            ) from exc
    raise DownloadRefused(f"more than {MAX_REDIRECTS} redirects from {_host(url)}")


def _check_status(response: httpx.Response, url: str, expires_at: datetime | None) -> None:
    status = response.status_code
    if status == 200:
        return
    if status in (403, 404, 410):
        when = f" (expired at {expires_at.isoformat()})" if expires_at else ""
        if expires_at is not None and expires_at > datetime.now(UTC):
            when = f" (expected valid until {expires_at.isoformat()})"
        raise ResultExpired(f"result at {_host(url)} answered HTTP {status}{when}")
    raise DownloadError(
        f"downloading from {_host(url)} answered HTTP {status}", transient=status >= 500
    )
