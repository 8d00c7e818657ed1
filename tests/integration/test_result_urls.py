"""Result URLs: the ``expires_at`` a client reports is exactly when the emulator stops serving,
and a tampered signature is refused."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
import pytest

from prefect_image_edit.vendors import TaskState

from .conftest import VENDORS, garment, http_client, mask_png, person, scene

pytestmark = pytest.mark.anyio

SIGNATURE = {"tencent": "q-signature", "volcengine": "x-signature", "ailabtools": "Signature"}
TAMPERED_CODE = {
    "tencent": "SignatureDoesNotMatch",  # COS
    "volcengine": "AccessDenied",  # TOS
    "ailabtools": "SignatureDoesNotMatch",  # OSS
}
TTL = {"tencent": 3600, "volcengine": 86400, "ailabtools": 86400}


async def result_url(emu, clients, vendor: str) -> tuple[str, datetime]:
    """A fresh result URL and its expiry, as the vendor's client reports them."""
    if vendor == "tencent":
        async with clients.tencent() as client:
            result = await client.image_inpainting_removal(image=scene(), mask=mask_png())
    elif vendor == "volcengine":
        async with clients.volcengine() as client:
            result = await client.i2i_inpainting(image=scene(), mask=mask_png(), return_url=True)
    else:
        emu.settings.ailabtools.task_queued_seconds = 0
        emu.settings.ailabtools.task_processing_seconds = 0
        async with clients.ailabtools() as client:
            submission = await client.submit_try_on_pro(person(), garment())
            result = await client.query_async_task(submission.task_id)
        assert result.state is TaskState.SUCCEEDED
    assert result.image_url and result.expires_at is not None
    return result.image_url, result.expires_at


def tamper(url: str, name: str) -> str:
    parts = urlsplit(url)
    query = [
        (k, ("0" if v[0] != "0" else "1") + v[1:] if k == name else v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
    ]
    return urlunsplit(parts._replace(query=urlencode(query, safe=";")))


def store_code(response: httpx.Response) -> str:
    text = response.text
    return text.split("<Code>", 1)[1].split("</Code>", 1)[0]


@pytest.mark.parametrize("vendor", VENDORS)
async def test_url_works_until_expires_at_then_403(emu, clients, vendor):
    url, expires_at = await result_url(emu, clients, vendor)
    assert abs(expires_at.timestamp() - emu.clock.time() - TTL[vendor]) <= 3
    async with http_client() as http:
        assert (await http.get(url)).status_code == 200
        emu.clock.set(expires_at.timestamp() - 2)
        assert (await http.get(url)).status_code == 200
        emu.clock.set(expires_at.timestamp())
        expired = await http.get(url)
    assert expired.status_code == 403, expired.text
    assert store_code(expired) == "AccessDenied"
    assert emu.counters.requests(vendor, "download") == 3


@pytest.mark.parametrize("vendor", VENDORS)
async def test_tampered_signature_is_refused(emu, clients, vendor):
    url, _ = await result_url(emu, clients, vendor)
    async with http_client() as http:
        forged = await http.get(tamper(url, SIGNATURE[vendor]))
        genuine = await http.get(url)
    assert forged.status_code == 403 and store_code(forged) == TAMPERED_CODE[vendor]
    assert genuine.status_code == 200
