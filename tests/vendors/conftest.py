"""Shared kit for the vendor client tests: fake credentials, tiny images, a recording transport.

No test here touches the network: every client gets an ``httpx.MockTransport`` wrapping a
:class:`Recorder`, which keeps every request that reached the transport (so tests can prove
that bad input sent nothing) and answers from a script.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from PIL import Image

# Obviously fake credentials; the vector keys come from docs/signing.md#known-answer-vectors.
TC_SECRET_ID = "AKIDEXAMPLEa1b2c3d4e5f6g7h8i9j0kLmNoP"
TC_SECRET_KEY = "SKEYexampleA1B2C3D4E5F6G7H8I9J0kl"
TC_TOKEN = "TOKENexample0123456789"
VOLC_AK = "AKLTexampleAKID0123456789abcdef"
VOLC_SK = "c2VjcmV0LWtleS1leGFtcGxlLTAxMjM0NTY3ODk="
VOLC_TOKEN = "STS2exampleSessionToken"
AILAB_KEY = "fake-ailab-key-example-0123456789"
SECRETS = (TC_SECRET_KEY, TC_TOKEN, VOLC_SK, VOLC_TOKEN, AILAB_KEY)

# 2023-11-14T22:13:20Z, the instant of every signing vector.
FROZEN_NOW = 1_700_000_000.0


def encode(fmt: str, *, mode: str = "RGB", size: tuple[int, int] = (8, 8)) -> bytes:
    """A tiny real image in Pillow format ``fmt``."""
    buffer = io.BytesIO()
    Image.new(mode, size, 255 if mode == "L" else (200, 100, 50)).save(buffer, format=fmt)
    return buffer.getvalue()


PNG = encode("PNG")
MASK_PNG = encode("PNG", mode="L")
JPEG = encode("JPEG")
BMP = encode("BMP")
WEBP = encode("WEBP")
TIFF = encode("TIFF")
GIF = encode("GIF")


Answer = httpx.Response | Exception | Callable[[httpx.Request], httpx.Response]


class Recorder:
    """An httpx "App": records each request, then answers with the next scripted answer.

    An answer is a response, an exception to raise (transport failures), or a callable taking
    the request. The last answer repeats when the script runs out.
    """

    def __init__(self, *answers: Answer) -> None:
        self.answers = list(answers) or [httpx.Response(500)]
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        if callable(answer) and not isinstance(answer, httpx.Response):
            return answer(request)
        return answer

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self)

    @property
    def last(self) -> httpx.Request:
        return self.requests[-1]


def json_response(payload: Any, status: int = 200) -> httpx.Response:
    """JSON with ``Content-Type: application/json`` exactly, as Tencent answers."""
    return httpx.Response(
        status, content=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}
    )


def assert_no_secrets(*texts: str) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in text


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
