"""Transport failures: the verdict depends on whether the request can have reached the vendor."""

from __future__ import annotations

import httpx
import pytest

from prefect_image_edit.vendors import (
    AILabToolsClient,
    TencentAiartClient,
    VolcengineVisualClient,
)
from prefect_image_edit.vendors._http import transport_error, transport_verdict
from prefect_image_edit.vendors.errors import ErrorKind, RetryVerdict, VendorRequestError

from .conftest import (
    AILAB_KEY,
    FROZEN_NOW,
    MASK_PNG,
    PNG,
    TC_SECRET_ID,
    TC_SECRET_KEY,
    VOLC_AK,
    VOLC_SK,
    Recorder,
    assert_no_secrets,
)

REQUEST = httpx.Request("POST", "https://example.invalid/")

VERDICTS = [
    (httpx.ConnectError("refused", request=REQUEST), "resubmit"),
    (httpx.ConnectTimeout("slow connect", request=REQUEST), "resubmit"),
    (httpx.PoolTimeout("pool", request=REQUEST), "resubmit"),
    (httpx.ProxyError("proxy", request=REQUEST), "resubmit"),
    (httpx.ReadTimeout("slow answer", request=REQUEST), "retry_once"),
    (httpx.WriteTimeout("slow upload", request=REQUEST), "retry_once"),
    (httpx.ReadError("reset by peer", request=REQUEST), "retry_once"),
    (httpx.WriteError("broken pipe", request=REQUEST), "retry_once"),
    (httpx.RemoteProtocolError("server disconnected", request=REQUEST), "retry_once"),
    (httpx.CloseError("close", request=REQUEST), "retry_once"),
    (httpx.DecodingError("bad gzip", request=REQUEST), "retry_once"),
    (httpx.UnsupportedProtocol("ftp://", request=REQUEST), "permanent"),
    (httpx.LocalProtocolError("bad header", request=REQUEST), "permanent"),
]


@pytest.mark.parametrize(("exc", "verdict"), VERDICTS, ids=[type(e).__name__ for e, _ in VERDICTS])
def test_transport_verdicts(exc, verdict):
    assert transport_verdict(exc).value == verdict
    error = transport_error(exc, vendor="tencent", action="A")
    assert isinstance(error, VendorRequestError)
    assert error.kind is ErrorKind.NETWORK
    assert error.http_status is None
    assert type(exc).__name__ in str(error)


def _clients(transport: httpx.AsyncBaseTransport):
    return [
        (
            TencentAiartClient(
                TC_SECRET_ID, TC_SECRET_KEY, transport=transport, clock=lambda: FROZEN_NOW
            ),
            lambda c: c.image_inpainting_removal(image=PNG, mask=MASK_PNG),
        ),
        (
            VolcengineVisualClient(VOLC_AK, VOLC_SK, transport=transport, clock=lambda: FROZEN_NOW),
            lambda c: c.i2i_inpainting(image=PNG, mask=MASK_PNG),
        ),
        (
            AILabToolsClient(AILAB_KEY, transport=transport),
            lambda c: c.remove_objects_advanced(PNG, MASK_PNG),
        ),
        (
            AILabToolsClient(AILAB_KEY, transport=transport),
            lambda c: c.submit_try_on_pro(PNG, PNG),
        ),
        (AILabToolsClient(AILAB_KEY, transport=transport), lambda c: c.query_async_task("t-1")),
    ]


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("exc", "verdict"),
    [
        (httpx.ConnectError("connection refused"), RetryVerdict.RESUBMIT),
        (httpx.ConnectTimeout("connect timed out"), RetryVerdict.RESUBMIT),
        (httpx.ReadTimeout("read timed out"), RetryVerdict.RETRY_ONCE),
        (httpx.RemoteProtocolError("peer closed connection"), RetryVerdict.RETRY_ONCE),
        (httpx.ReadError("connection reset"), RetryVerdict.RETRY_ONCE),
    ],
    ids=["connect", "connect-timeout", "read-timeout", "remote-protocol", "reset"],
)
async def test_every_client_maps_transport_failures(exc, verdict):
    recorder = Recorder(exc)
    for client, call in _clients(recorder.transport):
        async with client:
            with pytest.raises(VendorRequestError) as caught:
                await call(client)
        assert caught.value.retry is verdict
        assert caught.value.__cause__ is exc
        assert caught.value.vendor == client.vendor
        assert_no_secrets(str(caught.value), repr(caught.value))


@pytest.mark.anyio
@pytest.mark.parametrize(
    "body",
    [b"{not json", b"", b"<html>ok</html>", b"[1, 2]"],
    ids=["truncated", "empty", "html", "list"],
)
async def test_every_client_retries_once_on_malformed_200(body):
    recorder = Recorder(httpx.Response(200, content=body))
    for client, call in _clients(recorder.transport):
        async with client:
            with pytest.raises(VendorRequestError) as caught:
                await call(client)
        assert caught.value.retry is RetryVerdict.RETRY_ONCE
        assert caught.value.http_status == 200
        assert "malformed" in str(caught.value)
