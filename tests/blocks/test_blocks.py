"""Blocks: Prefect's standard checks, secrets that stay secret, clients pointed where asked."""

from __future__ import annotations

import asyncio
import inspect
from importlib.metadata import entry_points

import pytest
from prefect import get_client
from prefect.blocks.core import Block
from prefect.testing.standard_test_suites import BlockStandardTestSuite

import prefect_image_edit
from prefect_image_edit.blocks import (
    AILabToolsCredentials,
    ImageEditPrices,
    LocalArchiveStorage,
    S3ArchiveStorage,
    TencentCloudCredentials,
    VolcengineCredentials,
)
from prefect_image_edit.tasks.credentials import MissingCredentialsError, resolve_credentials

BLOCKS = [
    AILabToolsCredentials,
    TencentCloudCredentials,
    VolcengineCredentials,
    S3ArchiveStorage,
    LocalArchiveStorage,
    ImageEditPrices,
]
SECRET = "sk-example-very-secret-0123456789"


class TestBlockStandards(BlockStandardTestSuite):
    @pytest.fixture(params=BLOCKS, ids=[b.__name__ for b in BLOCKS])
    def block(self, request):
        return request.param

    def test_has_a_valid_image(self, block):
        pytest.skip("downloads the logo; the tests never leave 127.0.0.1")


def test_register_module_finds_every_block_and_the_entry_point_is_declared():
    # what `prefect block register -m prefect_image_edit` walks
    found = {cls for _, cls in inspect.getmembers(prefect_image_edit) if Block.is_block_class(cls)}
    assert set(BLOCKS) <= found
    [point] = [
        e for e in entry_points(group="prefect.collections") if e.name == "prefect_image_edit"
    ]
    assert point.value == "prefect_image_edit.blocks"


@pytest.mark.parametrize(
    "block",
    [
        AILabToolsCredentials(api_key=SECRET),
        TencentCloudCredentials(secret_id="AKIDexample", secret_key=SECRET, token=SECRET),
        VolcengineCredentials(access_key_id="AKLTexample", secret_access_key=SECRET),
        S3ArchiveStorage(bucket="b", aws_access_key_id="id", aws_secret_access_key=SECRET),
    ],
    ids=lambda b: type(b).__name__,
)
def test_secrets_never_show_in_repr_or_json(block):
    assert SECRET not in repr(block)
    assert SECRET not in block.model_dump_json()
    if hasattr(block, "get_client"):
        assert SECRET not in repr(block.get_client())


def test_clients_follow_the_endpoint_override_and_region():
    tencent = TencentCloudCredentials(
        secret_id="AKIDexample",
        secret_key=SECRET,
        region="ap-shanghai",
        endpoint_url="http://127.0.0.1:9",
    ).get_client()
    assert str(tencent.base_url).startswith("http://127.0.0.1:9")
    volc = VolcengineCredentials(
        access_key_id="AKLTexample", secret_access_key=SECRET, action="Img2ImgInpainting"
    ).get_client()
    assert str(volc.base_url).startswith("https://visual.volcengineapi.com")
    ailab = AILabToolsCredentials(api_key=SECRET, endpoint_url="http://127.0.0.1:8").get_client()
    assert str(ailab.base_url).startswith("http://127.0.0.1:8")


def test_s3_client_is_path_style_with_checksums_when_required():
    client = S3ArchiveStorage(
        bucket="b",
        endpoint_url="http://127.0.0.1:1",
        aws_access_key_id="id",
        aws_secret_access_key=SECRET,
    ).get_s3_client()
    config = client.meta.config
    assert config.s3["addressing_style"] == "path"
    assert config.request_checksum_calculation == "when_required"
    assert config.response_checksum_validation == "when_required"
    assert client.meta.endpoint_url == "http://127.0.0.1:1"


def test_credentials_from_the_environment_and_what_is_missing_is_named():
    block = asyncio.run(
        resolve_credentials(
            "tencent",
            environ={"TENCENTCLOUD_SECRET_ID": "AKIDexample", "TENCENTCLOUD_SECRET_KEY": SECRET},
        )
    )
    assert isinstance(block, TencentCloudCredentials)
    assert block.secret_key.get_secret_value() == SECRET
    with pytest.raises(MissingCredentialsError, match="VOLC_ACCESSKEY and VOLC_SECRETKEY"):
        asyncio.run(resolve_credentials("volcengine", environ={}))


@pytest.mark.usefixtures("prefect_api")
def test_saved_secrets_are_masked_by_the_api_and_load_back_whole():
    AILabToolsCredentials(api_key=SECRET).save("masked", overwrite=True)

    async def read():
        async with get_client() as client:
            return await client.read_block_document_by_name(
                "masked", "ailabtools-credentials", include_secrets=False
            )

    document = asyncio.run(read())
    assert SECRET not in str(document.data)
    loaded = AILabToolsCredentials.load("masked")
    assert loaded.api_key.get_secret_value() == SECRET
