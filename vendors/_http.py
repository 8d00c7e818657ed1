"""Plumbing every vendor client shares: one pooled AsyncClient, sending, and failure mapping.

A client object owns exactly one :class:`httpx.AsyncClient`, so connections are reused between
calls; close it with ``aclose()`` or ``async with``. An AsyncClient belongs to the event loop it
first ran on: build one client per loop (per Prefect task run, say), never share one across loops.

Transport failures become :class:`VendorRequestError` with the retry verdict docs/design.md's money
rules need, decided by whether the request can have reached the vendor::

    httpx.RequestError
    ├── ConnectError, ConnectTimeout, PoolTimeout, ProxyError   nothing sent       -> RESUBMIT
    ├── UnsupportedProtocol, LocalProtocolError                 nothing sent, and a
    │                                                           retry cannot help  -> PERMANENT
    └── everything else (ReadTimeout, WriteTimeout, ReadError,   the request may
        WriteError, RemoteProtocolError, DecodingError, ...)    have been accepted -> RETRY_ONCE

No retries happen here: the tasks layer owns retries (docs/design.md#layers), reading the verdicts.
"""

from __future__ import annotations

import functools
import json
import logging
import ssl
from typing import Any, ClassVar, Self

import httpx

from prefect_image_edit.vendors._constants import (
    DEFAULT_LIMITS,
    DEFAULT_TIMEOUT,
    FOLLOW_REDIRECTS,
    USER_AGENT,
)
from prefect_image_edit.vendors._transport import pooled_transport
from prefect_image_edit.vendors.errors import (
    ErrorKind,
    ErrorRule,
    RetryVerdict,
    VendorAPIError,
    VendorRequestError,
    classify,
    error_from_rule,
    parse_retry_after,
    rule_for_status,
)

__all__ = [
    "BaseVendorClient",
    "api_error",
    "malformed_response",
    "parse_json",
    "retry_after_of",
    "scrub",
    "transport_error",
    "transport_verdict",
]

logger = logging.getLogger(__name__)

_NOTHING_SENT: tuple[type[Exception], ...] = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.ProxyError,
)
_NEVER_SENDABLE: tuple[type[Exception], ...] = (httpx.UnsupportedProtocol, httpx.LocalProtocolError)


def transport_verdict(exc: httpx.RequestError) -> RetryVerdict:
    """How safe it is to send again after ``exc``, by whether the request can have gone out."""
    if isinstance(exc, _NOTHING_SENT):
        return RetryVerdict.RESUBMIT
    if isinstance(exc, _NEVER_SENDABLE):
        return RetryVerdict.PERMANENT
    return RetryVerdict.RETRY_ONCE


def transport_error(exc: httpx.RequestError, *, vendor: str, action: str) -> VendorRequestError:
    """The :class:`VendorRequestError` for a transport failure; raise it ``from exc``."""
    verdict = transport_verdict(exc)
    reason = str(exc) or "no detail"
    return VendorRequestError(
        f"{type(exc).__name__}: {reason}",
        vendor=vendor,
        action=action,
        kind=ErrorKind.NETWORK,
        retry=verdict,
    )


def malformed_response(
    reason: str,
    *,
    vendor: str,
    action: str,
    http_status: int | None,
    request_id: str | None = None,
) -> VendorRequestError:
    """A 200 whose body is not what the vendor documents: the job may have run, so retry once."""
    return VendorRequestError(
        f"malformed response: {reason}",
        vendor=vendor,
        action=action,
        http_status=http_status,
        request_id=request_id,
        kind=ErrorKind.SERVER,
        retry=RetryVerdict.RETRY_ONCE,
    )


def scrub(message: Any, secrets: tuple[str, ...]) -> Any:
    """Remove the client's own secrets from a vendor message (a vendor may echo a bad key).

    ``sanitize_message`` catches long blobs; this catches short keys it cannot recognise.
    """
    if not isinstance(message, str):
        return message
    for secret in secrets:
        message = message.replace(secret, "<redacted>")
    return message


def parse_json(response: httpx.Response) -> Any | None:
    """The decoded JSON body, or ``None`` when the body is not JSON (gateway pages, garbage)."""
    try:
        return json.loads(response.content)
    except (ValueError, UnicodeDecodeError):
        return None


def api_error(
    table: dict[str, ErrorRule],
    *,
    vendor: str,
    action: str,
    code: str | int | None,
    message: Any,
    http_status: int | None,
    request_id: str | None,
    fallback_status: int | None = None,
    retry_after: float | None = None,
) -> VendorAPIError:
    """The typed error for an error answer: by the vendor's table, else by HTTP status.

    A code the table does not know is permanent (``classify``); only answers without any code
    fall back to the status rules, using ``fallback_status`` when given (AILabTools mirrors the
    status in ``error_code``, even inside an HTTP 200).
    """
    if code is None or code == "":
        rule = rule_for_status(fallback_status if fallback_status is not None else http_status)
        code = None
    else:
        rule = classify(table, code)
    return error_from_rule(
        rule,
        vendor=vendor,
        action=action,
        code=code,
        message=message or (f"HTTP {http_status}" if http_status else None),
        http_status=http_status,
        request_id=request_id,
        retry_after=retry_after,
    )


def retry_after_of(response: httpx.Response | None) -> float | None:
    """The answer's ``Retry-After`` in seconds (clamped to [0, 60]), or ``None``."""
    if response is None:
        return None
    return parse_retry_after(response.headers.get("retry-after"))


@functools.cache
def shared_ssl_context() -> ssl.SSLContext:
    """One TLS context for every client of the process.

    Loading the CA bundle costs about 45 ms of CPU per ``httpx.AsyncClient``; tasks build a
    client per call, so a batch of 1,000 images would spend a minute on it. An SSLContext is
    safe to share between clients, threads and event loops.
    """
    return httpx.create_ssl_context()


class BaseVendorClient:
    """One pooled :class:`httpx.AsyncClient` with the pack's defaults, and error-mapped sending.

    Args:
        base_url: Scheme, host and optional port of the API; point it at an emulator with
            ``http://127.0.0.1:<port>``.
        timeout: Explicit httpx timeouts; image edits take seconds, so the 5 s httpx default is
            too short.
        transport: Replace the network (``httpx.MockTransport``, ``httpx.ASGITransport``).
        auth: The vendor's request signer.
        limits: Connection pool limits.
        secrets: Credentials to scrub from vendor messages before they reach an exception.
    """

    vendor: ClassVar[str] = ""

    def __init__(
        self,
        *,
        base_url: str,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        transport: httpx.AsyncBaseTransport | None = None,
        auth: httpx.Auth | None = None,
        limits: httpx.Limits = DEFAULT_LIMITS,
        secrets: tuple[str | None, ...] = (),
    ) -> None:
        if not isinstance(timeout, httpx.Timeout):
            raise TypeError(f"timeout must be an httpx.Timeout, got {type(timeout).__name__}")
        self._base_url = base_url.rstrip("/")
        # Longest first, so a key that contains another is removed whole.
        self._secrets = tuple(sorted({x for x in secrets if x and len(x) >= 4}, key=len)[::-1])
        if transport is None:  # httpx's default transport, with a cheaper idle check
            transport = pooled_transport(verify=shared_ssl_context(), limits=limits)
        self._http = httpx.AsyncClient(
            base_url=self._base_url,
            timeout=timeout,
            transport=transport,
            verify=shared_ssl_context(),
            auth=auth,
            limits=limits,
            headers={"User-Agent": USER_AGENT},
            follow_redirects=FOLLOW_REDIRECTS,
        )

    @property
    def base_url(self) -> str:
        return self._base_url

    @property
    def is_closed(self) -> bool:
        return self._http.is_closed

    def __repr__(self) -> str:
        # Credentials live in the auth object, never in repr.
        return f"{type(self).__name__}(base_url={self._base_url!r})"

    async def aclose(self) -> None:
        """Close the pooled connections."""
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def _api_error(
        self,
        table: dict[str, ErrorRule],
        *,
        response: httpx.Response | None = None,
        **fields: Any,
    ) -> VendorAPIError:
        """:func:`api_error` for this vendor, its secrets scrubbed from the message.

        ``response`` (the error answer) supplies ``retry_after`` from its ``Retry-After``.
        """
        fields["message"] = scrub(fields.get("message"), self._secrets)
        return api_error(table, vendor=self.vendor, retry_after=retry_after_of(response), **fields)

    async def _send(self, request: httpx.Request, *, action: str) -> httpx.Response:
        """Send one request and read the whole body; transport failures become vendor errors."""
        try:
            response = await self._http.send(request)
        except httpx.RequestError as exc:
            error = transport_error(exc, vendor=self.vendor, action=action)
            logger.debug("%s %s: %s", self.vendor, action, error)
            raise error from exc
        logger.debug("%s %s: HTTP %s", self.vendor, action, response.status_code)
        return response
