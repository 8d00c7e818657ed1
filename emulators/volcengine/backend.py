"""Volcengine visual ``i2i_inpainting``: gateway authentication and the service's rules.

The gateway recomputes the HMAC-SHA256 signature over exactly the ``SignedHeaders`` the client
lists, hashing the body actually received, with ``vendors/volcengine/signing.py``; it does not
require ``X-Content-Sha256`` (other official SDKs do not send it).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from prefect_image_edit.emulators import images, painting
from prefect_image_edit.emulators.settings import VolcengineSettings
from prefect_image_edit.emulators.state import EmulatorState
from prefect_image_edit.emulators.volcengine.errors import GatewayError, ServiceError
from prefect_image_edit.emulators.wire import FetchError, fetch_local
from prefect_image_edit.vendors.volcengine import signing as volc

logger = logging.getLogger(__name__)

__all__ = ["ACTIONS", "REQ_KEY", "VERSION", "InpaintingRequest", "VolcengineBackend"]

ACTIONS = ("CVProcess", "Img2ImgInpainting")
VERSION = "2022-08-31"
REQ_KEY = "i2i_inpainting"
FORMATS = {"JPEG", "MPO", "PNG"}
MAX_BYTES = 5 * images.MB
MIN_SIDE, MAX_SIDE = 64, 4096


@dataclass(frozen=True)
class InpaintingRequest:
    """The parsed body, defaults filled in (the documented ones)."""

    images_b64: list[str] | None
    image_urls: list[str] | None
    return_url: bool = False
    steps: int = 30
    strength: float = 0.8
    scale: float = 7.0
    seed: int = 0
    dilate_size: int = 15
    quality: str = "M"
    logo_info: dict[str, Any] | None = None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


# name -> (type check, range check, description of the range)
_PARAMS: dict[str, tuple[Any, Any, str]] = {
    "steps": (_is_int, lambda v: v >= 1, ">= 1"),
    "strength": (_is_number, lambda v: 0.1 <= v <= 1.0, "in [0.1, 1.0]"),
    "scale": (_is_number, lambda v: 1 <= v <= 20, "in [1, 20]"),
    "seed": (_is_int, lambda v: v >= -1, ">= -1"),
    "dilate_size": (_is_int, lambda v: v >= 1, ">= 1"),
    "quality": (lambda v: isinstance(v, str), lambda v: v in ("H", "M", "L"), "H, M or L"),
    "return_url": (lambda v: isinstance(v, bool), lambda v: True, "a bool"),
}


# LogoInfo (the doc's table): position 0 bottom right, 1 bottom left, 2 top left, 3 top right;
# language 0 Chinese, 1 English; opacity 0 to 1.
_LOGO_FIELDS: dict[str, tuple[Any, Any, str]] = {
    "add_logo": (lambda v: isinstance(v, bool), lambda v: True, "a bool"),
    "position": (_is_int, lambda v: v in (0, 1, 2, 3), "0, 1, 2 or 3"),
    "language": (_is_int, lambda v: v in (0, 1), "0 or 1"),
    "opacity": (_is_number, lambda v: 0 <= v <= 1, "in [0, 1]"),
    "logo_text_content": (lambda v: isinstance(v, str), lambda v: True, "a string"),
}


def _check_logo(logo: dict[str, Any]) -> None:
    for name, (type_ok, range_ok, expected) in _LOGO_FIELDS.items():
        if name not in logo or logo[name] is None:
            continue
        if not type_ok(logo[name]):
            raise ServiceError(50204, f"logo_info.{name} has the wrong type")
        if not range_ok(logo[name]):
            raise ServiceError(50200, f"logo_info.{name} must be {expected}")


class VolcengineBackend:
    """The rules of the emulated ``visual.volcengineapi.com``."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state

    @property
    def settings(self) -> VolcengineSettings:
        return self.state.settings.volcengine

    # -- gateway --------------------------------------------------------------------------
    def authenticate(
        self,
        method: str,
        path: str,
        query: Mapping[str, str | list[str]],
        headers: Mapping[str, str],
        body: bytes,
    ) -> str:
        """Check the request the way the TOP gateway does; returns the access key id.

        Raises:
            GatewayError: MissingParameter, MissingAuthenticationToken, MissingSignature,
                MissingRequestInfo, ServiceNotFound, InvalidAccessKey, InvalidTimestamp,
                SignatureDoesNotMatch or InvalidActionOrVersion.
        """
        action, version = query.get("Action"), query.get("Version")
        for name, value in (("Action", action), ("Version", version)):
            if not value:
                raise GatewayError("MissingParameter", name)
        authorization = headers.get("authorization", "")
        if not authorization:
            raise GatewayError("MissingAuthenticationToken")
        parsed = volc.parse_authorization(authorization)
        if parsed is None:
            if "Signature=" not in authorization:
                raise GatewayError("MissingSignature")
            raise GatewayError("MissingRequestInfo", "Credential")
        settings = self.settings
        if parsed.service != settings.service or parsed.region != settings.region:
            raise GatewayError("ServiceNotFound", parsed.service)
        secret_key = settings.accounts.get(parsed.access_key)
        if secret_key is None:
            raise GatewayError("InvalidAccessKey", parsed.access_key)
        x_date = headers.get("x-date", "")
        moment = volc.parse_x_date(x_date)
        if moment is None:
            raise GatewayError("InvalidTimestamp")
        if abs(self.state.clock.time() - moment.timestamp()) > settings.timestamp_window:
            raise GatewayError("InvalidTimestamp")
        signed = set(parsed.signed_headers)
        token = headers.get("x-security-token", "")
        if (
            parsed.date != x_date[:8]
            or not {"host", "x-date"} <= signed
            or not signed <= set(headers)
            or (token and "x-security-token" not in signed)
        ):
            raise GatewayError("SignatureDoesNotMatch")
        canonical = volc.canonical_request(
            method=method,
            path=path,
            query=query,
            headers=headers,
            signed_headers=parsed.signed_headers,
            payload_hash=volc.hash_payload(body),
        )
        scope = volc.credential_scope(parsed.date, parsed.region, parsed.service)
        key = volc.signing_key(secret_key, parsed.date, parsed.region, parsed.service)
        expected = volc.signature(key, volc.string_to_sign(x_date, scope, canonical))
        if not hmac.compare_digest(expected, parsed.signature):
            # What the client should have signed, to debug a signer (no secrets in it).
            logger.debug("Volcengine signature mismatch; expected canonical request %r", canonical)
            raise GatewayError("SignatureDoesNotMatch")
        required = settings.tokens.get(parsed.access_key)
        if (required or token) and not hmac.compare_digest(token, required or ""):
            raise GatewayError("InvalidAccessKey", parsed.access_key)
        if action not in ACTIONS or version != VERSION:
            raise GatewayError("InvalidActionOrVersion", str(action), str(version))
        return parsed.access_key

    # -- service --------------------------------------------------------------------------
    def parse(self, body: bytes) -> InpaintingRequest:
        """Parse the JSON body and check ``req_key``, the inputs' shape and parameter ranges.

        Raises:
            ServiceError: 50204 (not JSON, wrong types), 50201/50200 (req_key), 50206 (no
                images), 50200 (wrong count or a value out of range).
        """
        try:
            data = json.loads(body or b"")
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise ServiceError(50204, "body is not valid JSON") from None
        if not isinstance(data, dict):
            raise ServiceError(50204, "body must be a JSON object")
        if not data.get("req_key"):
            raise ServiceError(50201, "req_key")
        if data["req_key"] != REQ_KEY:
            raise ServiceError(50200, f"unsupported req_key {data['req_key']!r}")
        sources = {}
        for name in ("binary_data_base64", "image_urls"):
            value = data.get(name)
            if value in (None, []):
                continue
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ServiceError(50204, f"{name} must be an array of strings")
            if len(value) != 2:
                raise ServiceError(50200, f"{name} must hold [image, mask]")
            sources[name] = value
        if not sources:
            raise ServiceError(50206)
        if len(sources) > 1:
            # binary_data_base64 and image_urls are "二选一" (one or the other).
            raise ServiceError(50200, "give binary_data_base64 or image_urls, not both")
        values: dict[str, Any] = {}
        for name, (type_ok, range_ok, expected) in _PARAMS.items():
            if name not in data or data[name] is None:
                continue
            if not type_ok(data[name]):
                raise ServiceError(50204, f"{name} has the wrong type")
            if not range_ok(data[name]):
                raise ServiceError(50200, f"{name} must be {expected}")
            values[name] = data[name]
        logo = data.get("logo_info")
        if logo is not None and not isinstance(logo, dict):
            raise ServiceError(50204, "logo_info must be an object")
        _check_logo(logo or {})
        return InpaintingRequest(
            images_b64=sources.get("binary_data_base64"),
            image_urls=sources.get("image_urls"),
            logo_info=logo,
            **values,
        )

    async def _load(self, req: InpaintingRequest, index: int, what: str) -> images.Decoded:
        if req.images_b64 is not None:
            try:
                data = base64.b64decode(req.images_b64[index], validate=True)
            except (binascii.Error, ValueError):
                raise ServiceError(50207, f"{what} is not valid base64") from None
        else:
            try:
                data = await fetch_local(req.image_urls[index], self.state.settings.fetch_timeout)
            except FetchError as exc:
                raise ServiceError(50200, f"{what} download failed: {exc}") from None
        if not data:
            raise ServiceError(50206, what)
        if len(data) > MAX_BYTES:
            raise ServiceError(50205, f"{what} is larger than 5 MB")
        try:
            decoded = images.decode(data)
        except images.TooLarge:
            raise ServiceError(50205, f"{what} resolution is too large") from None
        if decoded is None:
            raise ServiceError(50207, what)
        if decoded.format not in FORMATS:
            raise ServiceError(50200, f"{what} must be JPG, JPEG or PNG, got {decoded.format}")
        if not (MIN_SIDE <= decoded.width <= MAX_SIDE and MIN_SIDE <= decoded.height <= MAX_SIDE):
            raise ServiceError(50205, f"{what} must be between 64x64 and 4096x4096 px")
        return decoded

    async def load_inputs(self, req: InpaintingRequest) -> tuple[images.Decoded, images.Decoded]:
        """Decode (or fetch) image and mask and check limits and the mask rules.

        Raises:
            ServiceError: 50205, 50206, 50207 or 50200 (format, mask rules, mask size).
        """
        image = await self._load(req, 0, "image")
        if image.image.mode != "RGB":
            # "0：输入图片，三通道RGB图": greyscale, RGBA, palette and CMYK inputs are refused.
            raise ServiceError(
                50200, f"the input image must be three-channel RGB, got mode {image.image.mode}"
            )
        mask = await self._load(req, 1, "mask")
        problem = images.mask_problem(mask)
        if problem is not None:
            raise ServiceError(50200, problem)
        if mask.image.size != image.image.size:
            raise ServiceError(50200, "the mask must be the same size as the image")
        return image, mask

    async def process(
        self, req: InpaintingRequest, image: images.Decoded, mask: images.Decoded
    ) -> tuple[bytes, str]:
        """Erase the (dilated) masked region; a mark only when ``logo_info.add_logo`` is true.

        The pixel work runs in a worker thread so the server keeps answering meanwhile.
        """
        return await asyncio.to_thread(self._render, req, image, mask)

    def _render(
        self, req: InpaintingRequest, image: images.Decoded, mask: images.Decoded
    ) -> tuple[bytes, str]:
        result = painting.inpaint(
            images.to_rgb(image.image), images.binary_mask(mask.image), req.dilate_size
        )
        logo = req.logo_info or {}
        if logo.get("add_logo") is True:
            language = logo.get("language", 0)
            text = logo.get("logo_text_content") or (
                "Generated by AI" if language == 1 else "AI生成"
            )
            result = painting.add_mark(
                result,
                text=text,
                corner=int(logo.get("position", 0)) % 4,
                opacity=float(logo.get("opacity", 0.3)),
            )
        settings = self.settings
        return images.encode(result, settings.result_format, settings.result_quality)
