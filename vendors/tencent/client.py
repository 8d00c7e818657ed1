"""Async client for Tencent Cloud aiart ``ImageInpaintingRemoval`` (局部消除).

One synchronous call erases the masked area and returns the image as Base64 or as a COS URL
valid for one hour. Errors arrive at HTTP 200 inside ``Response.Error``; a non-200 answer
without that envelope came from a gateway. See docs/vendors/tencent-aiart.md.
"""

from __future__ import annotations

import base64
import binascii
import logging
import time
from collections.abc import Callable
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx

from prefect_image_edit.vendors._constants import (
    DEFAULT_TIMEOUT,
    TENCENT,
    TENCENT_CONTENT_TYPE,
    TENCENT_DEFAULT_LOGO_ADD,
    TENCENT_ENDPOINT,
    TENCENT_INPAINTING_ACTION,
    TENCENT_MAX_BASE64_CHARS,
    TENCENT_MAX_BODY_BYTES,
    TENCENT_REGION,
    TENCENT_SERVICE,
    TENCENT_VERSION,
)
from prefect_image_edit.vendors._http import (
    BaseVendorClient,
    malformed_response,
    parse_json,
)
from prefect_image_edit.vendors._params import validated
from prefect_image_edit.vendors.errors import InvalidImageError, InvalidParameterError, bad_result
from prefect_image_edit.vendors.files import (
    ImageFormat,
    ImageInput,
    LoadedImage,
    load_image,
    require_modes,
)
from prefect_image_edit.vendors.results import (
    EraseResult,
    check_result_url,
    result_url_expiry,
    utcnow,
    validate_result_image,
)
from prefect_image_edit.vendors.tencent.auth import TC3Auth
from prefect_image_edit.vendors.tencent.errors import TENCENT_ERRORS
from prefect_image_edit.vendors.tencent.models import (
    ImageInpaintingRemovalRequest,
    ImageInpaintingRemovalResponse,
    LogoParam,
    TencentError,
)

__all__ = ["INPAINTING_FORMATS", "MASK_FORMATS", "MASK_MODES", "TencentAiartClient"]

logger = logging.getLogger(__name__)

# "格式支持 jpg、jpeg、png、bmp、tiff、webp" for the image; the mask has the same limits.
INPAINTING_FORMATS = frozenset(
    {ImageFormat.JPEG, ImageFormat.PNG, ImageFormat.BMP, ImageFormat.TIFF, ImageFormat.WEBP}
)
# The mask is "single-channel greyscale": an RGB mask is refused, and so is TIFF (a TIFF mask
# is where multi-channel and 16-bit data hide; Tencent's service refuses it).
MASK_FORMATS = INPAINTING_FORMATS - {ImageFormat.TIFF}
MASK_MODES = frozenset({"L", "1"})


def _check_url(value: str | None, field: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or urlsplit(value).scheme not in ("http", "https"):
        raise InvalidParameterError("must be an http(s) URL", field=field)
    return value


def _one_of(data: ImageInput | None, url: str | None, *, field: str, url_field: str) -> None:
    if data is None and url is None:
        raise InvalidParameterError(f"give {field} or {url_field}", field=field)
    if data is not None and url is not None:
        # The vendor would silently prefer the URL; say so instead of paying for a surprise.
        raise InvalidParameterError(f"give {field} or {url_field}, not both", field=field)


def _b64(image: LoadedImage | None) -> str | None:
    return None if image is None else base64.b64encode(image.data).decode("ascii")


class TencentAiartClient(BaseVendorClient):
    """Tencent Cloud aiart, signed with TC3-HMAC-SHA256.

    Args:
        secret_id: The SecretId.
        secret_key: The SecretKey.
        region: ``X-TC-Region``; aiart requires one.
        token: STS token for temporary credentials (sent as ``X-TC-Token``).
        endpoint: Scheme, host and optional port; an emulator at ``http://127.0.0.1:<port>``.
        timeout: httpx timeouts; the SDK's default is 60 s.
        transport: Replace the network in tests.
        clock: Unix seconds for ``X-TC-Timestamp``; read once per attempt.
        service: The signing service, which must match the host (``aiart``).
    """

    vendor = TENCENT

    def __init__(
        self,
        secret_id: str,
        secret_key: str,
        *,
        region: str = TENCENT_REGION,
        token: str | None = None,
        endpoint: str = TENCENT_ENDPOINT,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.time,
        service: str = TENCENT_SERVICE,
    ) -> None:
        if not secret_id or not secret_key:
            raise InvalidParameterError("secret_id and secret_key are required", field="secret_id")
        self.region = region
        auth = TC3Auth(secret_id, secret_key, token=token, service=service, clock=clock)
        super().__init__(
            base_url=endpoint,
            timeout=timeout,
            transport=transport,
            auth=auth,
            secrets=(secret_key, token),
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(endpoint={self.base_url!r}, region={self.region!r})"

    def _build_request(self, action: str, body: bytes) -> httpx.Request:
        return self._http.build_request(
            "POST",
            "/",
            content=body,
            headers={
                "Content-Type": TENCENT_CONTENT_TYPE,
                "X-TC-Action": action,
                "X-TC-Version": TENCENT_VERSION,
                "X-TC-Region": self.region,
            },
        )

    async def _call(self, action: str, body: bytes) -> tuple[dict[str, Any], httpx.Response]:
        """Send one action and return ``Response`` of a success, or raise the typed error."""
        response = await self._send(self._build_request(action, body), action=action)
        payload = parse_json(response)
        envelope = payload.get("Response") if isinstance(payload, dict) else None
        if not isinstance(envelope, dict):
            if response.status_code != 200:
                raise self._api_error(
                    TENCENT_ERRORS,
                    response=response,
                    action=action,
                    code=None,
                    message=None,
                    http_status=response.status_code,
                    request_id=None,
                )
            raise malformed_response(
                "no Response envelope",
                vendor=self.vendor,
                action=action,
                http_status=response.status_code,
            )
        request_id = envelope.get("RequestId") or None
        error = envelope.get("Error")
        if error is not None:
            parsed = TencentError.parse(error)
            raise self._api_error(
                TENCENT_ERRORS,
                response=response,
                action=action,
                code=parsed.code,
                message=parsed.message,
                http_status=response.status_code,
                request_id=request_id,
            )
        if response.status_code != 200:
            raise self._api_error(
                TENCENT_ERRORS,
                response=response,
                action=action,
                code=None,
                message=None,
                http_status=response.status_code,
                request_id=request_id,
            )
        return envelope, response

    async def image_inpainting_removal(
        self,
        *,
        image: ImageInput | None = None,
        mask: ImageInput | None = None,
        image_url: str | None = None,
        mask_url: str | None = None,
        rsp_img_type: Literal["url", "base64"] = "url",
        logo_add: int = TENCENT_DEFAULT_LOGO_ADD,
        logo_param: LogoParam | None = None,
    ) -> EraseResult:
        """Erase the white area of ``mask`` from ``image`` (局部消除).

        Args:
            image: The image (jpg, png, bmp, tiff or webp; Base64 under 6 MB; sides < 5000 px).
            mask: Single-channel (greyscale) mask, not TIFF, same size: white (255) erases,
                black (0) keeps.
            image_url: The image as a URL instead of ``image``.
            mask_url: The mask as a URL instead of ``mask``.
            rsp_img_type: ``url`` (a COS link valid 1 h) or ``base64`` (bytes in the result).
            logo_add: 0 (the pack's default) for no mark, 1 for the vendor's "AI generated" mark.
            logo_param: A custom mark; only meaningful with ``logo_add=1``.

        Returns:
            The result with ``image_url`` and ``expires_at`` (url) or ``image_bytes`` (base64).

        Raises:
            InvalidParameterError, InvalidImageError: before anything is sent (an RGB or TIFF
                mask, a whole body over 10 MB included).
            BadResultError: a success answer with an empty, undecodable or non-https result.
            VendorAPIError: the vendor refused; ``retry`` says what may be done.
            VendorRequestError: no usable answer.
        """
        action = TENCENT_INPAINTING_ACTION
        _one_of(image, image_url, field="image", url_field="image_url")
        _one_of(mask, mask_url, field="mask", url_field="mask_url")
        if logo_param is not None and not isinstance(logo_param, LogoParam):
            raise InvalidParameterError("must be a LogoParam", field="logo_param")
        # Parameters first (no I/O), then the files.
        request = validated(
            ImageInpaintingRemovalRequest,
            input_url=_check_url(image_url, "image_url"),
            mask_url=_check_url(mask_url, "mask_url"),
            rsp_img_type=rsp_img_type,
            logo_add=logo_add,
            logo_param=logo_param,
        )
        loaded = {
            name: load_image(
                value,
                field=name,
                formats=INPAINTING_FORMATS if name == "image" else MASK_FORMATS,
                max_base64_chars=TENCENT_MAX_BASE64_CHARS,
            )
            for name, value in (("image", image), ("mask", mask))
            if value is not None
        }
        if "mask" in loaded:
            require_modes(loaded["mask"], MASK_MODES, what="a single-channel greyscale mask")
        # Our own Base64 of checked bytes: nothing left to validate.
        request = request.model_copy(
            update={"input_image": _b64(loaded.get("image")), "mask": _b64(loaded.get("mask"))}
        )
        body = request.body()
        if len(body) > TENCENT_MAX_BODY_BYTES:
            raise InvalidImageError(
                f"image and mask make a {len(body)}-byte request; Tencent accepts at most "
                f"{TENCENT_MAX_BODY_BYTES} bytes per request: send smaller images or URLs",
                field="image" if "image" in loaded else "mask",
            )
        envelope, response = await self._call(action, body)
        received_at = utcnow()
        try:
            parsed = ImageInpaintingRemovalResponse.model_validate(envelope)
        except ValueError:
            raise malformed_response(
                "no ResultImage",
                vendor=self.vendor,
                action=action,
                http_status=response.status_code,
                request_id=envelope.get("RequestId"),
            ) from None
        common: dict[str, Any] = {
            "vendor": self.vendor,
            "action": action,
            "request_id": parsed.request_id,
            "received_at": received_at,
            "parameters": request.canonical(),
            "input_sha256": {name: image.sha256 for name, image in loaded.items()},
        }
        if not parsed.result_image:
            raise bad_result(
                "ResultImage is empty",
                vendor=self.vendor,
                action=action,
                http_status=response.status_code,
                request_id=parsed.request_id,
            )
        if request.rsp_img_type == "url":
            url = check_result_url(
                parsed.result_image,
                vendor=self.vendor,
                action=action,
                endpoint=self.base_url,
                request_id=parsed.request_id,
            )
            expires_at = result_url_expiry(url, vendor=self.vendor, received_at=received_at)
            return EraseResult(image_url=url, expires_at=expires_at, **common)
        try:
            data = base64.b64decode(parsed.result_image, validate=True)
        except (binascii.Error, ValueError):
            # A well-formed success answer: the job ran and was billed; its result is unusable
            # (a URL such as file:///..., garbage). A vendor fault, never resent silently.
            raise bad_result(
                "ResultImage is not Base64",
                vendor=self.vendor,
                action=action,
                http_status=response.status_code,
                request_id=parsed.request_id,
            ) from None
        media_type = validate_result_image(
            data, vendor=self.vendor, action=action, request_id=parsed.request_id
        )
        return EraseResult(image_bytes=data, media_type=media_type, **common)
