"""Tencent aiart ``ImageInpaintingRemoval``: authentication and request rules.

Signature checks follow docs/signing.md#verifying-a-tc3-signature step by step, and
recompute the signature from the raw request with ``vendors/tencent/signing.py``, the code the
pack's client signs with (kept honest by the vendor's known-answer vectors).
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

from PIL import Image

from prefect_image_edit.emulators import images, painting
from prefect_image_edit.emulators.settings import TencentSettings
from prefect_image_edit.emulators.state import EmulatorState
from prefect_image_edit.emulators.tencent.errors import TencentError, invalid, missing
from prefect_image_edit.emulators.wire import FetchError, fetch_local, is_valid_url
from prefect_image_edit.vendors.tencent import signing as tc3

logger = logging.getLogger(__name__)

__all__ = [
    "ACTION",
    "MAX_BODY",
    "SERVICE",
    "VERSION",
    "Inputs",
    "RemovalRequest",
    "TencentBackend",
]

SERVICE = "aiart"
ACTION = "ImageInpaintingRemoval"
VERSION = "2022-12-29"
FORMATS = {"JPEG", "MPO", "PNG", "BMP", "TIFF", "WEBP"}
MAX_BASE64 = 6 * images.MB  # the Base64 string must be smaller than 6 MB
MAX_SIDE = 5000  # each side must be smaller than 5000 px
# A TC3-signed POST body is capped at 10 MB (signature v3 documentation); read as MiB here,
# the lenient reading, so the client's stricter 10^7-byte check always trips first.
MAX_BODY = 10 * 1024 * 1024
# The mask is "single-channel greyscale" (docs/vendors/tencent-aiart.md#request-fields):
# an RGB mask is refused, and TIFF
# (where multi-channel and 16-bit data hide) too.
MASK_MODES = {"L", "1"}

_FIELDS: dict[str, type] = {
    "InputImage": str,
    "InputUrl": str,
    "Mask": str,
    "MaskUrl": str,
    "RspImgType": str,
    "LogoAdd": int,
    "LogoParam": dict,
}
_LOGO_FIELDS: dict[str, type] = {"LogoUrl": str, "LogoImage": str, "LogoRect": dict}
_RECT_FIELDS = ("X", "Y", "Width", "Height")
_TYPE_NAMES = {str: "String", int: "Integer", dict: "Object"}


@dataclass(frozen=True)
class RemovalRequest:
    """The parsed body; ``None`` or ``""`` means the field was not given."""

    input_image: str | None
    input_url: str | None
    mask: str | None
    mask_url: str | None
    rsp_img_type: str
    logo_add: int
    logo_param: dict[str, Any] | None


@dataclass(frozen=True)
class Inputs:
    """Decoded inputs of an accepted request."""

    image: images.Decoded
    mask: images.Decoded
    logo: Image.Image | None
    logo_rect: tuple[int, int, int, int] | None


def _check_type(name: str, value: Any, expected: type) -> None:
    ok = isinstance(value, expected) and not (expected is int and isinstance(value, bool))
    if not ok:
        raise invalid(name, f"expected {_TYPE_NAMES[expected]}")


class TencentBackend:
    """The rules of one emulated Tencent aiart endpoint; accounts come from the settings."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state

    @property
    def settings(self) -> TencentSettings:
        return self.state.settings.tencent

    # -- authentication (docs/signing.md#verifying-a-tc3-signature, steps 1-5) --------------
    def authenticate(
        self, method: str, path: str, query: str, headers: Mapping[str, str], body: bytes
    ) -> str:
        """Verify the TC3 signature of a raw request; returns the SecretId.

        Raises:
            TencentError: AuthFailure.* (or MissingParameter for a missing timestamp).
        """
        parsed = tc3.parse_authorization(headers.get("authorization", ""))
        if parsed is None:  # step 1
            raise TencentError("AuthFailure.InvalidAuthorization")
        secret_key = self.settings.accounts.get(parsed.secret_id)
        if secret_key is None:  # step 2
            raise TencentError("AuthFailure.SecretIdNotFound")
        raw_timestamp = headers.get("x-tc-timestamp", "").strip()
        if not raw_timestamp:
            raise missing("Timestamp")
        if not raw_timestamp.isdigit():
            raise invalid("Timestamp", "expected Unix seconds")
        timestamp = int(raw_timestamp)
        if abs(self.state.clock.time() - timestamp) > self.settings.timestamp_window:  # step 3
            raise TencentError("AuthFailure.SignatureExpire")
        signed = set(parsed.signed_headers)
        if (  # step 4
            parsed.date != tc3.utc_date(timestamp)
            or parsed.service != SERVICE
            or not {"content-type", "host"} <= signed
            or not signed <= set(headers)
        ):
            raise TencentError("AuthFailure.SignatureFailure")
        unsigned = headers.get("x-tc-content-sha256", "") == tc3.UNSIGNED_PAYLOAD
        canonical = tc3.canonical_request(  # step 5
            method=method,
            uri=path,
            query=query,
            headers=headers,
            signed_headers=parsed.signed_headers,
            payload_hash=tc3.UNSIGNED_PAYLOAD if unsigned else tc3.hash_payload(body),
        )
        scope = tc3.credential_scope(parsed.date, parsed.service)
        key = tc3.signing_key(secret_key, parsed.date, parsed.service)
        expected = tc3.signature(key, tc3.string_to_sign(timestamp, scope, canonical))
        if not hmac.compare_digest(expected, parsed.signature):
            # What the client should have signed, to debug a signer (no secrets in it).
            logger.debug("TC3 signature mismatch; expected canonical request %r", canonical)
            raise TencentError("AuthFailure.SignatureFailure")
        token = headers.get("x-tc-token", "")
        required = self.settings.tokens.get(parsed.secret_id)
        if (required or token) and not hmac.compare_digest(token, required or ""):
            raise TencentError("AuthFailure.TokenFailure")
        return parsed.secret_id

    def check_route(self, headers: Mapping[str, str]) -> None:
        """Step 6: Action, Version and Region.

        Raises:
            TencentError: MissingParameter, InvalidAction, NoSuchVersion or UnsupportedRegion.
        """
        action = headers.get("x-tc-action", "")
        if not action:
            raise missing("Action")
        if action != ACTION:
            raise TencentError("InvalidAction", f"The requested action `{action}` does not exist.")
        version = headers.get("x-tc-version", "")
        if not version:
            raise missing("Version")
        if version != VERSION:
            raise TencentError(
                "NoSuchVersion",
                f"The requested version `{version}` of service `{SERVICE}` does not exist.",
            )
        region = headers.get("x-tc-region", "")
        if not region:
            raise missing("Region")
        if region not in self.settings.regions:
            raise TencentError(
                "UnsupportedRegion", f"The `{SERVICE}` service does not support region `{region}`."
            )

    # -- request body ---------------------------------------------------------------------
    def parse(self, content_type: str, body: bytes) -> RemovalRequest:
        """Parse and type-check the JSON body.

        Raises:
            TencentError: wrong Content-Type, bad JSON, UnknownParameter, wrong types or values.
        """
        media_type = content_type.split(";", 1)[0].strip().lower()
        if media_type != "application/json":
            raise TencentError(
                "InvalidParameter",
                f"Content-Type `{content_type or '(none)'}` is not supported by {ACTION}; "
                "send application/json.",
            )
        try:
            data = json.loads(body or b"{}")
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise TencentError("InvalidParameter", "The request body is not valid JSON.") from None
        if not isinstance(data, dict):
            raise TencentError("InvalidParameter", "The request body must be a JSON object.")
        for name, value in data.items():
            if name not in _FIELDS:
                raise TencentError("UnknownParameter", f"The parameter `{name}` is not recognized.")
            _check_type(name, value, _FIELDS[name])
        logo = data.get("LogoParam")
        if logo is not None:
            for name, value in logo.items():
                if name not in _LOGO_FIELDS:
                    raise TencentError(
                        "UnknownParameter", f"The parameter `LogoParam.{name}` is not recognized."
                    )
                _check_type(f"LogoParam.{name}", value, _LOGO_FIELDS[name])
            for name, value in (logo.get("LogoRect") or {}).items():
                if name not in _RECT_FIELDS:
                    raise TencentError(
                        "UnknownParameter",
                        f"The parameter `LogoParam.LogoRect.{name}` is not recognized.",
                    )
                _check_type(f"LogoParam.LogoRect.{name}", value, int)
        rsp = data.get("RspImgType") or "base64"
        if rsp not in ("base64", "url"):
            raise TencentError(
                "InvalidParameterValue.ParameterValueError", "RspImgType must be base64 or url."
            )
        return RemovalRequest(
            input_image=data.get("InputImage") or None,
            input_url=data.get("InputUrl") or None,
            mask=data.get("Mask") or None,
            mask_url=data.get("MaskUrl") or None,
            rsp_img_type=rsp,
            logo_add=data.get("LogoAdd", 1),
            logo_param=logo,
        )

    # -- inputs ---------------------------------------------------------------------------
    async def _bytes(self, b64: str | None, url: str | None, what: str) -> bytes:
        if url:  # the URL wins when both are given
            if not is_valid_url(url):
                raise TencentError("InvalidParameterValue.UrlIllegal")
            try:
                data = await fetch_local(url, self.state.settings.fetch_timeout)
            except FetchError as exc:
                raise TencentError(
                    "FailedOperation.ImageDownloadError", f"{what}: {exc}."
                ) from None
            if len(data) * 4 // 3 >= MAX_BASE64:
                raise TencentError("FailedOperation.ImageSizeExceed")
            return data
        if not b64:
            raise TencentError("InvalidParameterValue.ImageEmpty", f"{what} is empty.")
        if len(b64) >= MAX_BASE64:
            raise TencentError("FailedOperation.ImageSizeExceed")
        try:
            return base64.b64decode(b64, validate=True)
        except (binascii.Error, ValueError):
            raise TencentError("FailedOperation.ImageDecodeFailed") from None

    def _decode(self, data: bytes) -> images.Decoded:
        try:
            decoded = images.decode(data)
        except images.TooLarge:
            raise TencentError("FailedOperation.ImageResolutionExceed") from None
        if decoded is None or decoded.format not in FORMATS:
            raise TencentError("FailedOperation.ImageDecodeFailed")
        if decoded.width >= MAX_SIDE or decoded.height >= MAX_SIDE:
            raise TencentError("FailedOperation.ImageResolutionExceed")
        return decoded

    async def _logo(
        self, logo: dict[str, Any] | None
    ) -> tuple[Image.Image | None, tuple[int, int, int, int] | None]:
        if not logo:
            return None, None
        rect = logo.get("LogoRect")
        box = tuple(int(rect.get(k, 0)) for k in _RECT_FIELDS) if rect else None
        if box is not None and (box[2] <= 0 or box[3] <= 0 or box[0] < 0 or box[1] < 0):
            raise TencentError("InvalidParameterValue.LogoParamErr")
        if not (logo.get("LogoUrl") or logo.get("LogoImage")):
            return None, box
        try:
            data = await self._bytes(logo.get("LogoImage"), logo.get("LogoUrl"), "LogoParam")
            decoded = images.decode(data)
        except (TencentError, images.TooLarge):
            raise TencentError("InvalidParameterValue.LogoParamErr") from None
        if decoded is None:
            raise TencentError("InvalidParameterValue.LogoParamErr")
        return decoded.image, box

    async def load_inputs(self, req: RemovalRequest) -> Inputs:
        """Fetch or decode the image, mask and logo, and check the documented limits.

        Raises:
            TencentError: ImageEmpty, UrlIllegal, ImageDownloadError, ImageSizeExceed,
                ImageDecodeFailed, ImageResolutionExceed, ParameterValueError for a mask of
                another size, or LogoParamErr.
        """
        image = self._decode(await self._bytes(req.input_image, req.input_url, "InputImage"))
        mask = self._decode(await self._bytes(req.mask, req.mask_url, "Mask"))
        if mask.format == "TIFF" or mask.image.mode not in MASK_MODES:
            raise TencentError(
                "InvalidParameterValue.ParameterValueError",
                f"The Mask must be a single-channel greyscale image (not TIFF); got "
                f"{mask.format} {mask.image.mode}.",
            )
        if mask.image.size != image.image.size:
            raise TencentError(
                "InvalidParameterValue.ParameterValueError",
                "The Mask resolution must be the same as the input image's.",
            )
        logo, rect = (None, None)
        if req.logo_add != 0:
            logo, rect = await self._logo(req.logo_param)
        return Inputs(image, mask, logo, rect)

    async def process(self, req: RemovalRequest, inputs: Inputs) -> tuple[bytes, str]:
        """Erase the masked region, add the mark unless ``LogoAdd`` is 0; (bytes, media type).

        The pixel work runs in a worker thread so the server keeps answering meanwhile.
        """
        return await asyncio.to_thread(self._render, req, inputs)

    def _render(self, req: RemovalRequest, inputs: Inputs) -> tuple[bytes, str]:
        rgb = images.to_rgb(inputs.image.image)
        result = painting.inpaint(rgb, images.binary_mask(inputs.mask.image))
        if req.logo_add != 0:  # any value but 0 counts as 1
            result = painting.add_mark(
                result, text="AI-generated", logo=inputs.logo, rect=inputs.logo_rect
            )
        settings = self.settings
        return images.encode(result, settings.result_format, settings.result_quality)
