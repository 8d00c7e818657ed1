"""TC3-HMAC-SHA256 as an :class:`httpx.Auth`: stamps the timestamp and signs each attempt.

The pure steps live in :mod:`.signing`; this class only reads the clock and the request, and
writes headers. httpx calls ``auth_flow`` once per request it sends, so a resent request is
signed again with a fresh timestamp (the server refuses signatures older than 5 minutes).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Generator

import httpx

from prefect_image_edit.vendors._constants import TENCENT_SERVICE
from prefect_image_edit.vendors.tencent import signing

__all__ = ["TC3Auth"]

logger = logging.getLogger(__name__)

# Headers this auth writes; an earlier attempt may have left them on the request.
_STAMPED = ("Authorization", "X-TC-Timestamp", "X-TC-Token")


class TC3Auth(httpx.Auth):
    """Sign Tencent Cloud API 3.0 requests the way the official SDK does.

    Signs ``content-type;host`` with the Host header exactly as httpx sends it (it carries the
    port for non-default ports, e.g. ``127.0.0.1:8123``, and that is what the server sees).
    ``X-TC-Token`` is sent but, as in the SDK, not signed.

    Args:
        secret_id: The SecretId (``AKID...``).
        secret_key: The SecretKey; only ever used as HMAC key material.
        token: STS session token for temporary credentials.
        service: The product, which must match the host's first label.
        clock: Returns Unix seconds; read once per attempt. Tests freeze it.
    """

    requires_request_body = True

    def __init__(
        self,
        secret_id: str,
        secret_key: str,
        *,
        token: str | None = None,
        service: str = TENCENT_SERVICE,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._secret_id = secret_id
        self._secret_key = secret_key
        self._token = token
        self._service = service
        self._clock = clock

    def __repr__(self) -> str:
        return f"{type(self).__name__}(service={self._service!r})"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        # This could be a retry: drop what an earlier attempt stamped before stamping anew.
        for name in _STAMPED:
            request.headers.pop(name, None)
        timestamp = int(self._clock())
        request.headers["X-TC-Timestamp"] = str(timestamp)
        if self._token:
            request.headers["X-TC-Token"] = self._token
        result = signing.sign(
            secret_id=self._secret_id,
            secret_key=self._secret_key,
            timestamp=timestamp,
            service=self._service,
            headers=request.headers,
            body=request.content,
            method=request.method,
            uri=request.url.path,
            query=request.url.query.decode("ascii"),
        )
        # The intermediates hold hashes and public headers only, never the key or the token.
        logger.debug("TC3 canonical request:\n%s", result.canonical_request)
        logger.debug("TC3 string to sign:\n%s", result.string_to_sign)
        request.headers["Authorization"] = result.authorization
        yield request
