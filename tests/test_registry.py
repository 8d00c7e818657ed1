"""The vendor registry: every vendor is described completely, and one more needs nothing else.

The first tests fail when a vendor is half-registered (a block without its environment
fields, a limits target nobody defines, a price row missing, no emulator...). The last one adds
a throwaway fourth vendor (a client stub, an emulator stub serving real HTTP on 127.0.0.1 and
one registry entry, all in this file) and runs it through the real ``erase`` flow.
"""

from __future__ import annotations

import asyncio
import base64
import io
import os
from collections.abc import Iterator
from typing import Any
from unittest import mock

import httpx
import pytest
from PIL import Image
from prefect.blocks.abstract import CredentialsBlock
from pydantic import Field, SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

import prefect_image_edit.blocks as blocks
from prefect_image_edit.emulators.server import ServerThread
from prefect_image_edit.emulators.state import VENDORS as EMULATED
from prefect_image_edit.imaging.limits import LIMITS, MIN_SIDE, Limits
from prefect_image_edit.vendors import registry
from prefect_image_edit.vendors.results import EraseResult
from prefect_image_edit.vendors.spec import EraseAction, VendorSpec


@pytest.mark.parametrize("spec", registry.specs(), ids=lambda s: s.name)
def test_every_vendor_is_fully_registered(spec: VendorSpec) -> None:
    block = spec.block_type()
    assert issubclass(block, CredentialsBlock)
    assert getattr(blocks, block.__name__) is block, "export the block from blocks/"
    assert set(spec.env) <= set(block.model_fields), "every env variable names a block field"
    assert set(spec.required) <= set(spec.env), "required fields can come from the environment"
    assert spec.limit_name.startswith("image-edit:") and "/" not in spec.limit_name
    assert spec.concurrency >= 1
    assert spec.result_hosts and all(h.startswith("https://") for h in spec.result_hosts)
    assert spec.result_ttl_seconds > 0
    assert spec.limits, "at least one limits row"
    for row in spec.limits:
        assert LIMITS[row.target] is row
    if spec.erase is not None:
        assert spec.erase.target in {row.target for row in spec.limits}
        assert spec.erase.action in spec.prices, "a price row (None = unknown) per action"
    assert spec.name in EMULATED, "every built-in vendor has an emulator"
    assert spec.emulator_credentials is not None


def test_derived_tables_follow_the_registry() -> None:
    from prefect_image_edit.archive.download import AllowList
    from prefect_image_edit.tasks.models import provider_names

    assert provider_names() == ("local", *registry.names())
    for spec in registry.specs():
        assert AllowList.for_vendor(spec.name).origins == spec.result_hosts


def test_limit_names_are_unique() -> None:
    names = [spec.limit_name for spec in registry.specs()]
    assert len(names) == len(set(names))


# --- a throwaway fourth vendor -------------------------------------------------------------

API_KEY = "fake-vendor-key-for-tests"


class FakeVendorCredentials(CredentialsBlock):
    """A test vendor's key.

    Example:
        ```python
        FakeVendorCredentials.load("BLOCK_NAME")
        ```
    """

    _block_type_name = "Fake Vendor Credentials (tests)"
    api_key: SecretStr = Field(description="The key.")
    endpoint_url: str = Field(description="The emulator.")

    def get_client(self) -> FakeClient:
        return FakeClient(self.endpoint_url, self.api_key.get_secret_value())


class FakeClient:
    """The smallest wire client: one POST, the result image as Base64 in the answer."""

    def __init__(self, base_url: str, key: str) -> None:
        self._http = httpx.AsyncClient(base_url=base_url, headers={"x-key": key})

    async def erase(self, image: bytes, mask: bytes, strength: float) -> EraseResult:
        files = {"image": image, "mask": mask}
        answer = await self._http.post("/erase", files=files, data={"strength": str(strength)})
        answer.raise_for_status()
        body = answer.json()
        return EraseResult(
            vendor="fakevendor",
            action="Erase",
            request_id=body["id"],
            image_bytes=base64.b64decode(body["image"]),
            parameters={"strength": strength},
        )

    async def aclose(self) -> None:
        await self._http.aclose()


class FakeEmulator:
    """A real HTTP server checking the key and answering with the image, greyed."""

    def __init__(self) -> None:
        self.billed = 0
        self.server = ServerThread(
            Starlette(routes=[Route("/erase", self._erase, methods=["POST"])])
        )

    async def _erase(self, request: Request) -> JSONResponse:
        if request.headers.get("x-key") != API_KEY:
            return JSONResponse({"error": "bad key"}, status_code=401)
        form = await request.form()
        data = await form["image"].read()
        with Image.open(io.BytesIO(data)) as image:
            out = io.BytesIO()
            image.convert("L").convert("RGB").save(out, format="PNG")
        self.billed += 1
        return JSONResponse(
            {"id": f"req-{self.billed}", "image": base64.b64encode(out.getvalue()).decode()}
        )


async def _fake_erase(client: Any, image: bytes, mask: bytes, parameters: Any) -> EraseResult:
    return await client.erase(image, mask, parameters["strength"])


@pytest.fixture
def fake_vendor() -> Iterator[FakeEmulator]:
    emulator = FakeEmulator()
    emulator.server.start()
    spec = VendorSpec(
        name="fakevendor",
        title="Fake Vendor",
        block=FakeVendorCredentials,
        env={"api_key": "FAKEVENDOR_KEY", "endpoint_url": "FAKEVENDOR_ENDPOINT"},
        required=("api_key", "endpoint_url"),
        limit_name="image-edit:fakevendor",
        concurrency=2,
        result_hosts=("https://*.fakevendor.example",),
        result_ttl_seconds=600,
        limits=(
            Limits("fakevendor", frozenset({"JPEG", "PNG"}), min_side=MIN_SIDE, max_side=2048),
        ),
        erase=EraseAction(
            action="Erase",
            target="fakevendor",
            parameters=lambda settings, seed: {"strength": settings.strength},
            call=_fake_erase,
            seeded=False,
        ),
        prices={"Erase": 3},
    )
    registry.register(spec)
    environment = {"FAKEVENDOR_KEY": API_KEY, "FAKEVENDOR_ENDPOINT": emulator.server.base_url}
    try:
        with mock.patch.dict(os.environ, environment):
            yield emulator
    finally:
        registry.unregister("fakevendor")
        emulator.server.stop()


def test_a_fourth_vendor_runs_through_erase(fake_vendor, prefect_api, tmp_path) -> None:
    from prefect_image_edit.flows.erase import erase
    from prefect_image_edit.flows.models import OutputOptions
    from prefect_image_edit.tasks.models import MaskOptions

    photo = tmp_path / "photo.png"
    Image.new("RGB", (160, 120), (200, 40, 40)).save(photo)
    out = tmp_path / "out.png"
    outcome = asyncio.run(
        erase(
            str(photo),
            MaskOptions(boxes=[(40, 30, 100, 90)]),
            "fakevendor",
            output=OutputOptions(path=str(out)),
        )
    )
    assert outcome.provider == "fakevendor"
    assert fake_vendor.billed == 1
    assert outcome.variants[0].erased.action == "Erase"
    with Image.open(out) as result:
        assert result.size == (160, 120)
        assert result.getpixel((70, 60))[0] == result.getpixel((70, 60))[1]  # greyed inside
        assert result.getpixel((5, 5)) == (200, 40, 40)  # the original outside the mask
    # The same input again is a cache hit: nothing more billed.
    asyncio.run(erase(str(photo), MaskOptions(boxes=[(40, 30, 100, 90)]), "fakevendor"))
    assert fake_vendor.billed == 1
