"""The vendors' official SDKs against the emulators (skipped unless the SDK is installed).

Not dependencies of the pack: install ``tencentcloud-sdk-python-aiart``, ``volcengine`` or
``ailabtools-sdk`` to run these. They show that the emulators' signatures, envelopes and
headers are what the vendors' own code expects.
"""

from __future__ import annotations

import asyncio
import base64

import pytest


def _inputs(img) -> tuple[str, str]:
    return base64.b64encode(img.scene()).decode(), base64.b64encode(img.mask_png()).decode()


def test_tencent_sdk(emu, img):
    pytest.importorskip("tencentcloud.aiart")
    from tencentcloud.aiart.v20221229 import aiart_client, models
    from tencentcloud.common import credential
    from tencentcloud.common.exception.tencent_cloud_sdk_exception import (
        TencentCloudSDKException,
    )
    from tencentcloud.common.profile.client_profile import ClientProfile
    from tencentcloud.common.profile.http_profile import HttpProfile

    ep = emu.tencent
    profile = ClientProfile(
        httpProfile=HttpProfile(endpoint=ep.base_url.removeprefix("http://"), protocol="http")
    )
    request = models.ImageInpaintingRemovalRequest()
    request.InputImage, request.Mask = _inputs(img)
    request.LogoAdd = 0
    client = aiart_client.AiartClient(
        credential.Credential(ep.secret_id, ep.secret_key), ep.region, profile
    )
    assert client.ImageInpaintingRemoval(request).ResultImage
    wrong = aiart_client.AiartClient(credential.Credential(ep.secret_id, "x"), ep.region, profile)
    with pytest.raises(TencentCloudSDKException) as caught:
        wrong.ImageInpaintingRemoval(request)
    assert caught.value.get_code() == "AuthFailure.SignatureFailure"


def test_volcengine_sdk(emu, img):
    pytest.importorskip("volcengine.visual.VisualService")
    from volcengine.visual.VisualService import VisualService

    ep = emu.volcengine
    service = VisualService()
    service.set_host(ep.base_url.removeprefix("http://"))
    service.service_info.scheme = "http"
    service.set_ak(ep.access_key_id)
    service.set_sk(ep.secret_access_key)
    form = {"req_key": "i2i_inpainting", "binary_data_base64": list(_inputs(img))}
    assert service.cv_process(form)["code"] == 10000
    service.set_sk("wrong")
    with pytest.raises(Exception, match="SignatureDoesNotMatch"):
        service.cv_process(form)


def test_ailabtools_sdk(emu, img):
    ailabtools = pytest.importorskip("ailabtools")
    emu.settings.ailabtools.task_queued_seconds = 0.2
    emu.settings.ailabtools.task_processing_seconds = 0.2

    async def main() -> None:
        client = ailabtools.AILabClient(emu.ailabtools.api_key, base_url=emu.ailabtools.base_url)
        removed = await client.image.imageRemoveObjectsAdvanced(
            {"image": img.scene(), "mask": img.mask_png()}
        )
        assert removed["data"]["binary_data_base64"]
        submitted = await client.portrait.portraitTryOnClothesPro(
            {
                "taskType": "async",
                "personImage": img.scene(200, 400),
                "topGarment": img.scene(200, 200),
            }
        )
        done = await client.wait_for_task(submitted["task_id"], interval=0.2, timeout=10)
        assert done["task_status"] == 2 and done["output"]["image_url"]
        await client.aclose()

    asyncio.run(main())
