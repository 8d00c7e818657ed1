"""Volcengine SignerV4 (HMAC-SHA256) as an :class:`httpx.Auth`: stamps and signs each attempt.

The pure steps live in :mod:`.signing`; this class only reads the clock and the request, and
writes headers. httpx calls ``auth_flow`` once per request it sends, so a resent request gets a
fresh ``X-Date`` and signature.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Generator
from datetime import UTC, datetime
from urllib.parse import parse_qs

import httpx

from prefect_image_edit.vendors._constants import VOLCENGINE_REGION, VOLCENGINE_SERVICE
from prefect_image_edit.vendors.volcengine import signing

__all__ = ["VolcengineAuth"]

logger = logging.getLogger(__name__)

# Headers this auth writes; an earlier attempt may have left them on the request.
_STAMPED = ("Authorization", "X-Date", "X-Content-Sha256", "X-Security-Token")


class VolcengineAuth(httpx.Auth):
    """Sign Volcengine OpenAPI requests the way the official Python SDK does.

    Signed headers follow the SDK rule: Content-Type, Content-Md5, Host and every ``X-`` header
    (so ``X-Security-Token`` is signed; ``User-Agent`` is not). The Host header is signed exactly
    as httpx sends it, port included for non-default ports.

    Args:
        access_key_id: The AccessKeyId (``AKLT...``).
        secret_access_key: The SecretAccessKey; only ever used as HMAC key material.
        session_token: STS session token for temporary credentials.
        region: Signing region.
        service: Signing service.
        clock: Returns Unix seconds; read once per attempt. Tests freeze it.
    """

    requires_request_body = True

    def __init__(
        self,
        access_key_id: str,
        secret_access_key: str,
        *,
        session_token: str | None = None,
        region: str = VOLCENGINE_REGION,
        service: str = VOLCENGINE_SERVICE,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._access_key_id = access_key_id
        self._secret_access_key = secret_access_key
        self._session_token = session_token
        self._region = region
        self._service = service
        self._clock = clock

    def __repr__(self) -> str:
        return f"{type(self).__name__}(region={self._region!r}, service={self._service!r})"

    def _redact(self, text: str) -> str:
        # The session token is a signed header, so it appears in the canonical request.
        if self._session_token:
            return text.replace(self._session_token, "<redacted>")
        return text

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        # This could be a retry: drop what an earlier attempt stamped before stamping anew.
        for name in _STAMPED:
            request.headers.pop(name, None)
        x_date = signing.format_x_date(datetime.fromtimestamp(self._clock(), UTC))
        body = request.content
        request.headers["X-Date"] = x_date
        if self._session_token:
            request.headers["X-Security-Token"] = self._session_token
        request.headers["X-Content-Sha256"] = signing.hash_payload(body)
        query = parse_qs(request.url.query.decode("ascii"), keep_blank_values=True)
        result = signing.sign(
            access_key=self._access_key_id,
            secret_key=self._secret_access_key,
            x_date=x_date,
            region=self._region,
            service=self._service,
            headers=request.headers,
            body=body,
            method=request.method,
            path=request.url.path,
            query=query,
            signed_headers=signing.signed_header_names(request.headers.keys()),
        )
        logger.debug("Volcengine canonical request:\n%s", self._redact(result.canonical_request))
        logger.debug("Volcengine string to sign:\n%s", result.string_to_sign)
        request.headers["Authorization"] = result.authorization
        yield request
