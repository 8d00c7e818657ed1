"""Real flows against the real emulators, a real SeaweedFS S3 server and a real Prefect API."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from prefect_image_edit.blocks import (
    AILabToolsCredentials,
    S3ArchiveStorage,
    TencentCloudCredentials,
    VolcengineCredentials,
)
from prefect_image_edit.emulators import run_emulators
from prefect_image_edit.flows.models import Connections

BUCKET = "image-edit-archive"
FAST_TASKS = {"task_queued_seconds": 0.2, "task_processing_seconds": 0.3}


@pytest.fixture(scope="session")
def emulators():
    with run_emulators(ailabtools=dict(FAST_TASKS)) as suite:
        yield suite


@pytest.fixture
def emu(emulators):
    """The emulators, fresh: no faults, counters at zero, settings as started."""
    emulators.reset()
    yield emulators
    emulators.reset()


@pytest.fixture(scope="session")
def connections(prefect_api, emulators, seaweedfs) -> Connections:
    """Saved blocks pointing at the emulators and at a SeaweedFS bucket."""
    seaweedfs.create_bucket(BUCKET)
    AILabToolsCredentials(
        api_key=emulators.ailabtools.api_key, endpoint_url=emulators.ailabtools.base_url
    ).save("emu", overwrite=True)
    TencentCloudCredentials(
        secret_id=emulators.tencent.secret_id,
        secret_key=emulators.tencent.secret_key,
        endpoint_url=emulators.tencent.base_url,
    ).save("emu", overwrite=True)
    VolcengineCredentials(
        access_key_id=emulators.volcengine.access_key_id,
        secret_access_key=emulators.volcengine.secret_access_key,
        endpoint_url=emulators.volcengine.base_url,
    ).save("emu", overwrite=True)
    S3ArchiveStorage(
        bucket=BUCKET,
        endpoint_url=seaweedfs.endpoint_url,
        aws_access_key_id=seaweedfs.access_key_id,
        aws_secret_access_key=seaweedfs.secret_access_key,
    ).save("test", overwrite=True)
    return Connections(
        ailabtools="emu", tencent="emu", volcengine="emu", archive="image-edit-s3-archive/test"
    )


@pytest.fixture(scope="session")
def broken_archive(connections, seaweedfs) -> str:
    """An archive block whose store refuses its keys: archiving fails after the vendor paid."""
    S3ArchiveStorage(
        bucket=BUCKET,
        endpoint_url=seaweedfs.endpoint_url,
        aws_access_key_id=seaweedfs.access_key_id,
        aws_secret_access_key="not-the-secret",
    ).save("broken", overwrite=True)
    return "image-edit-s3-archive/broken"


@pytest.fixture
def s3(seaweedfs):
    return seaweedfs.client()


Scene = tuple[Path, Path]


@pytest.fixture
def make_scene(tmp_path) -> Callable[..., Scene]:
    """Unique images (so no test meets another's cached results) with a mask of the object."""

    def make(name: str = "scene", size: tuple[int, int] = (320, 240)) -> Scene:
        salt = uuid.uuid4().int
        # never reddish, so "the red object is gone" is a fair check
        colour = (salt % 100 + 20, (salt >> 8) % 160 + 60, (salt >> 16) % 160 + 60)
        image = Image.new("RGB", size, colour)
        box = (size[0] // 3, size[1] // 3, size[0] // 2, size[1] // 2)
        ImageDraw.Draw(image).ellipse(box, fill=(230, 20, 20))
        mask = Image.new("L", size, 0)
        ImageDraw.Draw(mask).rectangle(box, fill=255)
        image_path, mask_path = tmp_path / f"{name}.jpg", tmp_path / f"{name}-mask.png"
        image.save(image_path, quality=95)
        mask.save(mask_path)
        return image_path, mask_path

    return make
