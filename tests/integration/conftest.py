"""Kit for the integration tests: the real vendor clients against the real emulators.

One emulator suite runs for the whole session on free 127.0.0.1 ports and is reset before and
after every test (``reset()`` restores faults, counters, tasks, credits, results, clock and
settings). Clients are built per test, inside the test's event loop, by :class:`Clients`.

Clients get a :class:`Tap` transport unless a test asks for httpx's default one: a real
``AsyncHTTPTransport`` over TCP that keeps each raw response, so a test can read the request id
the emulator actually sent and check that the client's exception carries the same one. Taps
share one SSL context: httpx builds a context per client otherwise, and loading the CA bundle
(~50 ms each) was most of this folder's CPU time, for plain http to 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import functools
import io
import json
import ssl
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import httpx
import pytest
from PIL import Image, ImageChops, ImageCms, ImageDraw, ImageStat

from prefect_image_edit.emulators import EmulatorSuite, run_emulators
from prefect_image_edit.vendors import (
    AILabToolsClient,
    TencentAiartClient,
    VolcengineVisualClient,
)
from prefect_image_edit.vendors._constants import DEFAULT_LIMITS

VENDORS = ("ailabtools", "tencent", "volcengine")
# The action name each emulator counts a standard erase under.
ERASE_ACTION = {
    "ailabtools": "remove-objects-advanced",
    "tencent": "ImageInpaintingRemoval",
    "volcengine": "CVProcess",
}
TIMEOUT = httpx.Timeout(15.0, connect=5.0)
SSL_CONTEXT = ssl.create_default_context()


@pytest.fixture(scope="session")
def suite() -> Iterator[EmulatorSuite]:
    # A TIMEOUT fault holds its connection this long at most, so hung requests end quickly.
    with run_emulators(hang_seconds=2.0) as emu:
        yield emu


@pytest.fixture
def emu(suite: EmulatorSuite) -> Iterator[EmulatorSuite]:
    suite.reset()
    yield suite
    suite.reset()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


# -- transports ----------------------------------------------------------------------------
class Tap(httpx.AsyncBaseTransport):
    """A real HTTP transport that remembers every response it hands to the client."""

    def __init__(self, mutate: Callable[[httpx.Request], httpx.Request] | None = None) -> None:
        self._inner = httpx.AsyncHTTPTransport(verify=SSL_CONTEXT, limits=DEFAULT_LIMITS)
        self._mutate = mutate  # changes a request after the client signed it (a MITM)
        self.responses: list[httpx.Response] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._mutate is not None:
            request = self._mutate(request)
        response = await self._inner.handle_async_request(request)
        # httpx reads the body into this very object, so .content is there after the call.
        self.responses.append(response)
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()

    @property
    def last(self) -> httpx.Response:
        return self.responses[-1]

    def request_id(self, vendor: str) -> str | None:
        """The request id in the last answer, read the way the vendor documents it."""
        try:
            data = json.loads(self.last.content)
        except ValueError:
            return None
        if vendor == "tencent":
            return data["Response"]["RequestId"]
        if vendor == "volcengine":
            meta = data.get("ResponseMetadata")
            return meta["RequestId"] if meta else data["request_id"]
        return data["request_id"]


def flip_signature(request: httpx.Request) -> httpx.Request:
    """Change the last hex digit of the Authorization signature."""
    auth = request.headers["Authorization"]
    request.headers["Authorization"] = auth[:-1] + ("1" if auth.endswith("0") else "0")
    return request


def change_body(old: bytes, new: bytes) -> Callable[[httpx.Request], httpx.Request]:
    """Replace ``old`` with ``new`` in the signed body, keeping every signed header."""

    def mutate(request: httpx.Request) -> httpx.Request:
        body = request.content.replace(old, new)
        assert body != request.content, "nothing to change"
        headers = [(k, v) for k, v in request.headers.items() if k.lower() != "content-length"]
        return httpx.Request(request.method, request.url, headers=headers, content=body)

    return mutate


class Clients:
    """Builds each vendor's client pointed at its emulator, with the emulator's credentials.

    Keywords go to the client; ``url`` replaces the emulator's address, ``transport``
    defaults to a fresh :class:`Tap`, and ``default_transport=True`` leaves httpx's own.
    """

    def __init__(self, emu: EmulatorSuite) -> None:
        self.emu = emu

    @staticmethod
    def _defaults(kw: dict[str, Any]) -> dict[str, Any]:
        kw.setdefault("timeout", TIMEOUT)
        if not kw.pop("default_transport", False):
            kw.setdefault("transport", Tap())
        return kw

    def ailabtools(
        self, *, api_key: str | None = None, url: str | None = None, **kw: Any
    ) -> AILabToolsClient:
        ep = self.emu.ailabtools
        return AILabToolsClient(
            api_key or ep.api_key, base_url=url or ep.base_url, **self._defaults(kw)
        )

    def tencent(
        self,
        *,
        secret_id: str | None = None,
        secret_key: str | None = None,
        url: str | None = None,
        **kw: Any,
    ) -> TencentAiartClient:
        ep = self.emu.tencent
        kw.setdefault("region", ep.region)
        return TencentAiartClient(
            secret_id or ep.secret_id,
            secret_key or ep.secret_key,
            endpoint=url or ep.base_url,
            **self._defaults(kw),
        )

    def volcengine(
        self,
        *,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        url: str | None = None,
        **kw: Any,
    ) -> VolcengineVisualClient:
        ep = self.emu.volcengine
        return VolcengineVisualClient(
            access_key_id or ep.access_key_id,
            secret_access_key or ep.secret_access_key,
            endpoint=url or ep.base_url,
            **self._defaults(kw),
        )

    def of(self, vendor: str, **kw: Any) -> Any:
        return getattr(self, vendor)(**kw)


@pytest.fixture
def clients(emu: EmulatorSuite) -> Clients:
    return Clients(emu)


def http_client() -> httpx.AsyncClient:
    """A plain client for fetching result URLs (what an archiver would do)."""
    return httpx.AsyncClient(trust_env=False, timeout=10, verify=SSL_CONTEXT)


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait (bounded) for something the emulator's threads will make true."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting for the emulator"
        await asyncio.sleep(0.01)


def account(emu: EmulatorSuite, vendor: str) -> str:
    """The emulator account the default client of ``vendor`` is billed to."""
    if vendor == "ailabtools":
        return emu.ailabtools.api_key
    if vendor == "tencent":
        return emu.tencent.secret_id
    return emu.volcengine.access_key_id


async def overlapping(
    emu: EmulatorSuite, vendor: str, call: Callable[[], Awaitable[Any]]
) -> list[Any]:
    """Two paid calls at once: the second starts once the first holds a concurrency slot.

    Returns both outcomes (results or exceptions), first call first.
    """
    first = asyncio.ensure_future(call())
    try:
        await until(lambda: emu.state.slots.running(vendor, account(emu, vendor)) >= 1)
    except AssertionError:
        first.cancel()
        raise
    return await asyncio.gather(first, call(), return_exceptions=True)


async def erase(vendor: str, client: Any, image: Any = None, mask: Any = None, **kw: Any):
    """One standard paid erase through ``client``; default inputs are the small scene."""
    image = scene() if image is None else image
    mask = mask_png() if mask is None else mask
    if vendor == "ailabtools":
        return await client.remove_objects_advanced(image, mask, **kw)
    if vendor == "tencent":
        kw.setdefault("rsp_img_type", "base64")
        return await client.image_inpainting_removal(image=image, mask=mask, **kw)
    return await client.i2i_inpainting(image=image, mask=mask, **kw)


# -- images --------------------------------------------------------------------------------
SIZE = 128


def object_box(width: int = SIZE, height: int = SIZE) -> tuple[int, int, int, int]:
    """The red square in the middle of the scene (inclusive corners)."""
    return (width * 3 // 8, height * 3 // 8, width * 5 // 8, height * 5 // 8)


@functools.cache
def scene(width: int = SIZE, height: int = SIZE, fmt: str = "PNG") -> bytes:
    """A smooth gradient with a red square in the middle: the object to erase."""
    image = Image.new("RGB", (width, height))
    image.putdata(
        [
            (40 + x * 100 // width, 120 + y * 60 // height, 160)
            for y in range(height)
            for x in range(width)
        ]
    )
    ImageDraw.Draw(image).rectangle(object_box(width, height), fill=(230, 20, 20))
    return encode(image, fmt)


@functools.cache
def mask_png(
    width: int = SIZE,
    height: int = SIZE,
    *,
    margin: int = 2,
    icc: bool = False,
) -> bytes:
    """White over the red square (grown by ``margin``), black elsewhere; 8-bit grey PNG."""
    image = Image.new("L", (width, height), 0)
    ImageDraw.Draw(image).rectangle(grow(object_box(width, height), margin), fill=255)
    save: dict[str, Any] = {}
    if icc:
        save["icc_profile"] = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    return encode(image, "PNG", **save)


def encode(image: Image.Image, fmt: str = "PNG", **save: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **save)
    return buffer.getvalue()


def flat(width: int, height: int, mode: str = "RGB", colour: Any = None) -> bytes:
    """A flat PNG of any size (cheap to encode even when large); black for a grey mask."""
    fill = colour if colour is not None else ((90, 140, 200) if mode == "RGB" else 0)
    return encode(Image.new(mode, (width, height), fill), "PNG")


def person(width: int = 160, height: int = 320) -> bytes:
    return scene(width, height)


def garment(size: int = 160) -> bytes:
    return scene(size, size, "JPEG")


def open_image(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data)).convert("RGB")


def region_mask(size: tuple[int, int], box: tuple[int, int, int, int], inside: bool) -> Image.Image:
    """An L mask selecting ``box`` (inclusive) or everything but it."""
    mask = Image.new("L", size, 0 if inside else 255)
    ImageDraw.Draw(mask).rectangle(box, fill=255 if inside else 0)
    return mask


def grow(box: tuple[int, int, int, int], by: int) -> tuple[int, int, int, int]:
    return (box[0] - by, box[1] - by, box[2] + by, box[3] + by)


def mean_diff(a: Image.Image, b: Image.Image, where: Image.Image | None = None) -> float:
    """Mean absolute per-channel difference, over the white pixels of ``where`` (or all)."""
    return sum(ImageStat.Stat(ImageChops.difference(a, b), mask=where).mean) / 3


def assert_erased(result: bytes, original: bytes, *, grown_by: int) -> None:
    """The red square is repainted; pixels outside the (dilated) mask are the original's."""
    out, src = open_image(result), open_image(original)
    assert out.size == src.size
    box = object_box(*src.size)
    inner = region_mask(src.size, grow(box, -2), inside=True)
    assert mean_diff(out, src, inner) > 60, "the masked area did not change"
    red = ImageStat.Stat(out, mask=inner).mean
    assert red[0] < 180 or red[1] > 80, f"still red inside the mask: {red}"
    # Only JPEG noise outside the erase region (mask margin 2 px + dilation + JPEG blocks).
    outside = region_mask(src.size, grow(box, 2 + grown_by + 8), inside=False)
    assert mean_diff(out, src, outside) < 3, "pixels outside the mask changed"
