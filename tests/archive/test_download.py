"""Result downloads: allow-list, redirects, caps, expiry. Unit tests on an httpx mock transport;
the integration against the emulators' signed result URLs lives with the flow tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from prefect_image_edit.archive.download import (
    AllowList,
    DownloadError,
    DownloadRefused,
    download_to_spool,
)
from prefect_image_edit.errors import ResultExpired

ALLOW = AllowList.for_vendor("tencent", extra=("http://127.0.0.1:8123",))


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://aiart-1258344699.cos.ap-guangzhou.myqcloud.com/a.jpg?q-sign-time=1;2", True),
        ("http://aiart-1258344699.cos.ap-guangzhou.myqcloud.com/a.jpg", False),
        ("https://myqcloud.com.evil.example/a.jpg", False),
        ("https://evil.example/?x=.myqcloud.com", False),
        ("https://user:pw@aiart.cos.ap-guangzhou.myqcloud.com/a.jpg", False),
        ("https://aiart.cos.ap-guangzhou.myqcloud.com:8443/a.jpg", False),
        ("http://127.0.0.1:8123/cos/a.jpg", True),
        ("http://127.0.0.1:8124/cos/a.jpg", False),
        ("http://localhost:8123/cos/a.jpg", False),
        ("not a url", False),
    ],
)
def test_allow_list(url, allowed):
    assert ALLOW.allows(url) is allowed


def _client(handler) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.MockTransport(handler))


async def _download(handler, url="http://127.0.0.1:8123/cos/a.jpg", **kwargs):
    async with _client(handler) as client:
        return await download_to_spool(url, allow=ALLOW, client=client, **kwargs)


def run(coro):
    import asyncio

    return asyncio.run(coro)


def test_download_streams_into_a_spool_with_digests():
    body = b"\xff\xd8" + b"x" * 100_000
    spool, media_type = run(
        _download(
            lambda r: httpx.Response(200, content=body, headers={"content-type": "image/jpeg"})
        )
    )
    assert media_type == "image/jpeg"
    assert spool.size == len(body)
    assert spool.read_all() == body
    import hashlib

    assert spool.sha256 == hashlib.sha256(body).hexdigest()


def test_redirect_within_the_list_is_followed_and_off_the_list_refused():
    def handler(request):
        if request.url.path == "/cos/a.jpg":
            return httpx.Response(302, headers={"location": "/cos/b.jpg"})
        if request.url.path == "/cos/b.jpg":
            return httpx.Response(302, headers={"location": "http://169.254.169.254/latest"})
        raise AssertionError(f"must not fetch {request.url}")

    with pytest.raises(DownloadRefused, match="allow-list"):
        run(_download(handler))


def test_refuses_before_any_request_when_host_not_allowed():
    seen = []

    def handler(request):
        seen.append(request)
        return httpx.Response(200)

    with pytest.raises(DownloadRefused):
        run(_download(handler, url="https://evil.example/a.jpg"))
    assert seen == []


def test_size_cap_from_header_and_from_stream():
    with pytest.raises(DownloadRefused, match="cap"):
        run(_download(lambda r: httpx.Response(200, content=b"x" * 2000), max_bytes=1000))

    def no_length(request):
        return httpx.Response(200, stream=httpx.ByteStream(b"x" * 2000), headers={})

    with pytest.raises(DownloadRefused, match="cap"):
        run(_download(no_length, max_bytes=1000))


def test_403_is_result_expired_and_5xx_is_transient():
    past = datetime.now(UTC) - timedelta(minutes=1)
    with pytest.raises(ResultExpired, match="expired at"):
        run(_download(lambda r: httpx.Response(403), expires_at=past))
    with pytest.raises(DownloadError) as info:
        run(_download(lambda r: httpx.Response(503)))
    assert info.value.transient


def test_network_errors_are_transient():
    def handler(request):
        raise httpx.ConnectError("refused")

    with pytest.raises(DownloadError) as info:
        run(_download(handler))
    assert info.value.transient
