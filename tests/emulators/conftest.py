"""Fixtures for the emulator tests: one running suite, reset around every test, plus raw
request builders made from httpx and the vendors' pure signing modules only (the real clients
are written elsewhere; these tests must not depend on them).
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from PIL import Image, ImageChops, ImageDraw, ImageStat

from prefect_image_edit.emulators import EmulatorSuite, run_emulators
from prefect_image_edit.vendors.tencent import signing as tc3
from prefect_image_edit.vendors.volcengine import signing as volc

TIMEOUT = httpx.Timeout(10.0)


@pytest.fixture(scope="session")
def suite() -> Iterator[EmulatorSuite]:
    # Short hangs, so that TIMEOUT faults release their connections quickly.
    with run_emulators(hang_seconds=3.0) as emu:
        yield emu


@pytest.fixture
def emu(suite: EmulatorSuite) -> Iterator[EmulatorSuite]:
    suite.reset()
    yield suite
    suite.reset()


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=TIMEOUT, trust_env=False) as client:
        yield client


# -- images ------------------------------------------------------------------------------
def scene(width: int = 96, height: int = 96, fmt: str = "PNG", **save: Any) -> bytes:
    """A smooth gradient with a red square in the middle: the object to erase."""
    image = Image.new("RGB", (width, height))
    pixels = image.load()
    for y in range(height):
        for x in range(width):
            pixels[x, y] = (40 + x * 100 // width, 120 + y * 60 // height, 160)
    ImageDraw.Draw(image).rectangle(object_box(width, height), fill=(230, 20, 20))
    buffer = io.BytesIO()
    image.save(buffer, fmt, **save)
    return buffer.getvalue()


def object_box(width: int, height: int) -> tuple[int, int, int, int]:
    return (width * 3 // 8, height * 3 // 8, width * 5 // 8, height * 5 // 8)


def mask_png(width: int = 96, height: int = 96, mode: str = "L", **save: Any) -> bytes:
    """White over the object (with a margin), black elsewhere."""
    x0, y0, x1, y1 = object_box(width, height)
    image = Image.new(mode, (width, height), 0 if mode == "L" else (0,) * len(mode))
    white = 255 if mode == "L" else (255,) * len(mode)
    ImageDraw.Draw(image).rectangle((x0 - 2, y0 - 2, x1 + 2, y1 + 2), fill=white)
    if mode == "RGBA":  # alpha 255 everywhere
        image.putalpha(255)
    buffer = io.BytesIO()
    image.save(buffer, "PNG", **save)
    return buffer.getvalue()


def open_image(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data)).convert("RGB")


def mean_diff(a: Image.Image, b: Image.Image, box: tuple[int, int, int, int]) -> float:
    """Mean absolute per-channel difference inside ``box``."""
    diff = ImageChops.difference(a.crop(box), b.crop(box))
    return sum(ImageStat.Stat(diff).mean) / 3


def outside_diff(a: Image.Image, b: Image.Image, margin: int) -> float:
    """Mean difference over the top band of the image, far from the object."""
    return mean_diff(a, b, (0, 0, a.width, margin))


# -- Tencent -----------------------------------------------------------------------------
class TencentCaller:
    """Builds TC3-signed requests by hand (vendors/tencent/signing.py) and sends them."""

    def __init__(self, emu: EmulatorSuite, http: httpx.Client) -> None:
        self.emu = emu
        self.http = http

    def headers(
        self,
        body: bytes,
        *,
        timestamp: int | None = None,
        secret_id: str | None = None,
        secret_key: str | None = None,
        action: str = "ImageInpaintingRemoval",
        version: str = "2022-12-29",
        region: str | None = "ap-guangzhou",
        content_type: str = "application/json",
        service: str = "aiart",
        token: str | None = None,
    ) -> dict[str, str]:
        ep = self.emu.tencent
        host = ep.base_url.removeprefix("http://")
        ts = int(self.emu.clock.time()) if timestamp is None else timestamp
        base = {"Content-Type": content_type, "Host": host}
        signed = tc3.sign(
            secret_id=secret_id or ep.secret_id,
            secret_key=secret_key or ep.secret_key,
            timestamp=ts,
            service=service,
            headers=base,
            body=body,
        )
        headers = {
            **base,
            "X-TC-Action": action,
            "X-TC-Timestamp": str(ts),
            "X-TC-Version": version,
            "Authorization": signed.authorization,
        }
        if region is not None:
            headers["X-TC-Region"] = region
        if token is not None:
            headers["X-TC-Token"] = token
        return headers

    def post(self, payload: dict[str, Any] | bytes, **kw: Any) -> httpx.Response:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        headers = kw.pop("headers", None) or self.headers(body, **kw)
        return self.http.post(self.emu.tencent.base_url + "/", content=body, headers=headers)


# -- Volcengine --------------------------------------------------------------------------
class VolcengineCaller:
    """Builds Volcengine-signed requests by hand (vendors/volcengine/signing.py)."""

    def __init__(self, emu: EmulatorSuite, http: httpx.Client) -> None:
        self.emu = emu
        self.http = http

    def headers(
        self,
        body: bytes,
        *,
        action: str = "CVProcess",
        version: str = "2022-08-31",
        x_date: str | None = None,
        access_key: str | None = None,
        secret_key: str | None = None,
        region: str = "cn-north-1",
        service: str = "cv",
        token: str | None = None,
    ) -> dict[str, str]:
        ep = self.emu.volcengine
        moment = datetime.fromtimestamp(self.emu.clock.time(), UTC)
        headers = {
            "Host": ep.base_url.removeprefix("http://"),
            "Content-Type": "application/json",
            "X-Date": x_date or volc.format_x_date(moment),
            "X-Content-Sha256": volc.hash_payload(body),
        }
        if token is not None:
            headers["X-Security-Token"] = token
        signed = volc.sign(
            access_key=access_key or ep.access_key_id,
            secret_key=secret_key or ep.secret_access_key,
            x_date=headers["X-Date"],
            region=region,
            service=service,
            headers=headers,
            body=body,
            query={"Action": action, "Version": version},
        )
        return {**headers, "Authorization": signed.authorization}

    def post(self, payload: dict[str, Any] | bytes, **kw: Any) -> httpx.Response:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        action, version = kw.get("action", "CVProcess"), kw.get("version", "2022-08-31")
        headers = kw.pop("headers", None) or self.headers(body, **kw)
        return self.http.post(
            self.emu.volcengine.base_url + "/",
            params={"Action": action, "Version": version},
            content=body,
            headers=headers,
        )


# -- AILabTools --------------------------------------------------------------------------
REMOVE = "/api/image/editing/remove-objects-advanced"
PRO = "/api/portrait/editing/try-on-clothes-pro"
REFINER = "/api/portrait/enhance/try-on-clothes-refiner"
QUERY = "/api/common/query-async-task-result"


class AILabCaller:
    def __init__(self, emu: EmulatorSuite, http: httpx.Client) -> None:
        self.emu = emu
        self.http = http

    def post(
        self,
        path: str,
        files: dict[str, Any],
        data: dict[str, str] | None = None,
        key: str | None = None,
    ) -> httpx.Response:
        headers = {"ailabapi-api-key": key if key is not None else self.emu.ailabtools.api_key}
        return self.http.post(
            self.emu.ailabtools.base_url + path, files=files, data=data or {}, headers=headers
        )

    def remove(
        self, image: bytes | None = None, mask: bytes | None = None, **data: str
    ) -> httpx.Response:
        files = {
            "image": ("image.png", image if image is not None else scene(), "image/png"),
            "mask": ("mask.png", mask if mask is not None else mask_png(), "image/png"),
        }
        return self.post(REMOVE, files, data)

    def try_on(self, size: int = 200, **data: str) -> httpx.Response:
        files = {
            "person_image": ("person.png", scene(size, size * 2), "image/png"),
            "top_garment": ("top.jpg", scene(size, size, "JPEG"), "image/jpeg"),
        }
        return self.post(PRO, files, {"task_type": "async", **data})

    def query(self, task_id: str, key: str | None = None) -> httpx.Response:
        headers = {"ailabapi-api-key": key if key is not None else self.emu.ailabtools.api_key}
        return self.http.get(
            self.emu.ailabtools.base_url + QUERY, params={"task_id": task_id}, headers=headers
        )


@pytest.fixture
def tencent(emu: EmulatorSuite, http: httpx.Client) -> TencentCaller:
    return TencentCaller(emu, http)


@pytest.fixture
def volcengine(emu: EmulatorSuite, http: httpx.Client) -> VolcengineCaller:
    return VolcengineCaller(emu, http)


@pytest.fixture
def ailab(emu: EmulatorSuite, http: httpx.Client) -> AILabCaller:
    return AILabCaller(emu, http)


@pytest.fixture
def img() -> Any:
    """Image helpers for test modules (conftest modules cannot be imported directly)."""
    from types import SimpleNamespace

    return SimpleNamespace(
        scene=scene,
        mask_png=mask_png,
        object_box=object_box,
        open=open_image,
        mean_diff=mean_diff,
        outside_diff=outside_diff,
    )
