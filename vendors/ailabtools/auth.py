"""AILabTools' only authentication: the API key in the ``ailabapi-api-key`` header."""

from __future__ import annotations

from collections.abc import Generator

import httpx

from prefect_image_edit.vendors._constants import AILABTOOLS_API_KEY_HEADER

__all__ = ["ApiKeyAuth"]


class ApiKeyAuth(httpx.Auth):
    """Puts the key in ``ailabapi-api-key`` per request, so it never sits in client headers."""

    def __init__(self, api_key: str) -> None:
        self._api_key = api_key

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers[AILABTOOLS_API_KEY_HEADER] = self._api_key
        yield request
