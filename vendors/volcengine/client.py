"""Async client for Volcengine visual ``i2i_inpainting`` (涂抹消除).

One synchronous call erases the masked area and returns Base64 and, with ``return_url``, a URL
valid 24 h (``x-expires``). Two layers report errors: the gateway (``ResponseMetadata.Error``)
and the service (``code`` other than 10000, HTTP 4xx/5xx). See docs/vendors/volcengine-visual.md.
"""

from __future__ import annotations

import base64
import binascii
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any, Literal, get_args
from urllib.parse import urlsplit

import httpx
from pydantic import ValidationError

from prefect_image_edit.vendors._constants import (
    DEFAULT_TIMEOUT,
    VOLCENGINE,
    VOLCENGINE_CONTENT_TYPE,
    VOLCENGINE_DEFAULT_ACTION,
    VOLCENGINE_ENDPOINT,
    VOLCENGINE_MAX_IMAGE_BYTES,
    VOLCENGINE_REGION,
    VOLCENGINE_SERVICE,
    VOLCENGINE_SUCCESS_CODE,
    VOLCENGINE_VERSION,
)
from prefect_image_edit.vendors._http import (
    BaseVendorClient,
    malformed_response,
    parse_json,
)
from prefect_image_edit.vendors._params import validated
from prefect_image_edit.vendors.errors import InvalidParameterError, VendorAPIError, bad_result
from prefect_image_edit.vendors.files import ImageFormat, ImageInput, load_image, require_modes
from prefect_image_edit.vendors.results import (
    EraseResult,
    check_result_url,
    result_url_expiry,
    utcnow,
    validate_result_image,
)
from prefect_image_edit.vendors.volcengine.auth import VolcengineAuth
from prefect_image_edit.vendors.volcengine.errors import VOLCENGINE_ERRORS
from prefect_image_edit.vendors.volcengine.models import (
    I2IInpaintingData,
    I2IInpaintingRequest,
    LogoInfo,
    parse_gateway_error,
    parse_service_envelope,
)

__all__ = ["IMAGE_FORMATS", "MASK_FORMATS", "VolcengineAction", "VolcengineVisualClient"]

logger = logging.getLogger(__name__)

VolcengineAction = Literal["CVProcess", "Img2ImgInpainting"]

# "仅支持JPG、JPEG、PNG格式" for the image; the mask is "8bit png".
IMAGE_FORMATS = frozenset({ImageFormat.JPEG, ImageFormat.PNG})
MASK_FORMATS = frozenset({ImageFormat.PNG})
# "0：输入图片，三通道RGB图": the input image is three-channel RGB (greyscale and RGBA refused).
IMAGE_MODES = frozenset({"RGB"})


def _check_urls(image_urls: Sequence[str] | None) -> tuple[str, str] | None:
    if image_urls is None:
        return None
    if isinstance(image_urls, str) or len(image_urls) != 2:
        raise InvalidParameterError("must be [image_url, mask_url]", field="image_urls")
    for url in image_urls:
        if not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https"):
            raise InvalidParameterError("must hold two http(s) URLs", field="image_urls")
    return image_urls[0], image_urls[1]


def _decode_first(images: list[str] | None) -> bytes | None:
    if not images:
        return None
    return base64.b64decode(images[0], validate=True)


def _inner_code(data: dict[str, Any]) -> int | None:
    """A failure code inside ``data`` of a ``code: 10000`` answer (201304 has been seen there).

    Read from ``algorithm_base_resp.status_code``, ``code`` or ``status_code``; ``None`` when
    none is a non-zero number.
    """
    base = data.get("algorithm_base_resp")
    candidates = [base.get("status_code") if isinstance(base, dict) else None]
    candidates += [data.get("code"), data.get("status_code")]
    for value in candidates:
        if isinstance(value, bool):
            continue
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value)
        if isinstance(value, int) and value not in (0, VOLCENGINE_SUCCESS_CODE):
            return value
    return None


def _inner_message(data: dict[str, Any]) -> Any:
    base = data.get("algorithm_base_resp")
    return (base.get("status_message") if isinstance(base, dict) else None) or data.get("message")


class VolcengineVisualClient(BaseVendorClient):
    """Volcengine visual (service ``cv``), signed with HMAC-SHA256.

    Args:
        access_key_id: The AccessKeyId.
        secret_access_key: The SecretAccessKey.
        session_token: STS session token (sent and signed as ``X-Security-Token``).
        region: Signing region (the service lives in ``cn-north-1``).
        endpoint: Scheme, host and optional port; an emulator at ``http://127.0.0.1:<port>``.
        action: ``CVProcess`` (what the doc's URL shows) or ``Img2ImgInpainting`` (what it
            names); both reach ``req_key=i2i_inpainting``.
        timeout: httpx timeouts.
        transport: Replace the network in tests.
        clock: Unix seconds for ``X-Date``; read once per attempt.
    """

    vendor = VOLCENGINE

    def __init__(
        self,
        access_key_id: str,
        secret_access_key: str,
        *,
        session_token: str | None = None,
        region: str = VOLCENGINE_REGION,
        endpoint: str = VOLCENGINE_ENDPOINT,
        action: VolcengineAction = VOLCENGINE_DEFAULT_ACTION,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not access_key_id or not secret_access_key:
            raise InvalidParameterError(
                "access_key_id and secret_access_key are required", field="access_key_id"
            )
        if action not in get_args(VolcengineAction):
            raise InvalidParameterError(
                f"must be one of {get_args(VolcengineAction)}", field="action"
            )
        self.region = region
        self.action = action
        auth = VolcengineAuth(
            access_key_id,
            secret_access_key,
            session_token=session_token,
            region=region,
            service=VOLCENGINE_SERVICE,
            clock=clock,
        )
        super().__init__(
            base_url=endpoint,
            timeout=timeout,
            transport=transport,
            auth=auth,
            secrets=(secret_access_key, session_token),
        )

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(endpoint={self.base_url!r}, region={self.region!r}, "
            f"action={self.action!r})"
        )

    def _error(self, response: httpx.Response, payload: Any) -> VendorAPIError | None:
        """The typed error an answer carries, or ``None`` for a success."""
        status = response.status_code
        common = {"action": self.action, "http_status": status}
        if not isinstance(payload, dict):
            return (
                None
                if status == 200
                else self._api_error(
                    VOLCENGINE_ERRORS,
                    response=response,
                    code=None,
                    message=None,
                    request_id=None,
                    **common,
                )
            )
        gateway = parse_gateway_error(payload)
        if gateway is not None:
            # "If ResponseMetadata.Error is returned, no need to look at other fields."
            code: str | int | None = gateway.code
            if (code is None or code not in VOLCENGINE_ERRORS) and gateway.code_n is not None:
                code = gateway.code_n
            return self._api_error(
                VOLCENGINE_ERRORS,
                response=response,
                code=code,
                message=gateway.message,
                request_id=gateway.request_id,
                **common,
            )
        service = parse_service_envelope(payload)
        if service.code is not None and service.code != VOLCENGINE_SUCCESS_CODE:
            return self._api_error(
                VOLCENGINE_ERRORS,
                response=response,
                code=service.code,
                message=service.message,
                request_id=service.request_id,
                **common,
            )
        if status != 200:
            return self._api_error(
                VOLCENGINE_ERRORS,
                response=response,
                code=None,
                message=None,
                request_id=service.request_id,
                **common,
            )
        return None

    async def i2i_inpainting(
        self,
        *,
        image: ImageInput | None = None,
        mask: ImageInput | None = None,
        image_urls: Sequence[str] | None = None,
        return_url: bool = True,
        steps: int = 30,
        strength: float = 0.8,
        scale: float = 7.0,
        seed: int = 0,
        dilate_size: int = 15,
        quality: Literal["H", "M", "L"] = "M",
        logo_info: LogoInfo | None = None,
    ) -> EraseResult:
        """Erase the white area of ``mask`` from ``image`` (req_key ``i2i_inpainting``).

        Args:
            image: The image (three-channel RGB JPG or PNG, at most 5 MB, 64-4096 px a side).
            mask: 8-bit PNG mask, same size: white (255) erases, black (0) keeps.
            image_urls: ``[image_url, mask_url]`` instead of ``image`` and ``mask``.
            return_url: Also return a URL valid 24 h.
            steps: Sampling steps, at least 1.
            strength: 0.1 to 1.0; smaller stays closer to the original.
            scale: 1 to 20.
            seed: -1 (random) or a non-negative seed; 201304 answers ask for another one.
            dilate_size: Mask dilation radius in px, at least 1.
            quality: ``H``, ``M`` or ``L``.
            logo_info: The vendor's visible mark; none by default.

        Raises:
            InvalidParameterError, InvalidImageError: before anything is sent.
            SeedRejectedError: 201304 or 50511/50519 (also inside ``data`` of a ``code: 10000``
                answer); retry with another seed.
            BadResultError: a success answer with an empty, undecodable or non-https result.
            VendorAPIError: the vendor refused; ``retry`` says what may be done.
            VendorRequestError: no usable answer.
        """
        if image_urls is not None and (image is not None or mask is not None):
            raise InvalidParameterError(
                "give image and mask, or image_urls, not both", field="image_urls"
            )
        if image_urls is None and (image is None or mask is None):
            missing = "image" if image is None else "mask"
            raise InvalidParameterError("give image and mask, or image_urls", field=missing)
        if logo_info is not None and not isinstance(logo_info, LogoInfo):
            raise InvalidParameterError("must be a LogoInfo", field="logo_info")
        if logo_info is not None:
            # Checked again: a LogoInfo built with model_construct skipped validation, and the
            # vendor refuses a position outside 0-3.
            logo_info = validated(LogoInfo, **logo_info.model_dump())
        # Parameters first (no I/O), then the files.
        request = validated(
            I2IInpaintingRequest,
            image_urls=_check_urls(image_urls),
            return_url=return_url,
            steps=steps,
            strength=strength,
            scale=scale,
            seed=seed,
            dilate_size=dilate_size,
            quality=quality,
            logo_info=logo_info,
        )
        loaded = []
        if request.image_urls is None:
            # The 5 MB cap is documented for the input image only.
            loaded = [
                load_image(
                    image,
                    field="image",
                    formats=IMAGE_FORMATS,
                    max_bytes=VOLCENGINE_MAX_IMAGE_BYTES,
                ),
                load_image(mask, field="mask", formats=MASK_FORMATS),
            ]
            require_modes(loaded[0], IMAGE_MODES, what="a three-channel RGB image")
            # Our own Base64 of checked bytes: nothing left to validate.
            b64 = tuple(base64.b64encode(item.data).decode("ascii") for item in loaded)
            request = request.model_copy(update={"binary_data_base64": b64})
        http_request = self._http.build_request(
            "POST",
            "/",
            params={"Action": self.action, "Version": VOLCENGINE_VERSION},
            content=request.body(),
            headers={"Content-Type": VOLCENGINE_CONTENT_TYPE},
        )
        response = await self._send(http_request, action=self.action)
        received_at = utcnow()
        payload = parse_json(response)
        error = self._error(response, payload)
        if error is not None:
            raise error
        request_id = payload.get("request_id") if isinstance(payload, dict) else None

        def malformed(reason: str) -> Exception:
            return malformed_response(
                reason,
                vendor=self.vendor,
                action=self.action,
                http_status=response.status_code,
                request_id=request_id,
            )

        if not isinstance(payload, dict) or not isinstance(payload.get("data"), dict):
            raise malformed("no data object")
        raw = payload["data"]
        try:
            data = I2IInpaintingData.model_validate(raw)
        except ValidationError:
            raise malformed("data is not Base64 images and URLs") from None
        url = data.image_urls[0] if data.image_urls else None
        try:
            image_bytes = _decode_first(data.binary_data_base64)
        except (binascii.Error, ValueError):
            # A well-formed success answer: the job ran and was billed. Its URL, when it has
            # one, still carries the result; without one it is a vendor fault, never resent
            # silently (resending would pay again), as Tencent's.
            if not url:
                raise bad_result(
                    "binary_data_base64 is not Base64",
                    vendor=self.vendor,
                    action=self.action,
                    http_status=response.status_code,
                    request_id=request_id,
                ) from None
            image_bytes = None
        blank = bool(data.binary_data_base64 and not data.binary_data_base64[0]) or url == ""
        if not image_bytes and not url:
            inner = _inner_code(raw)
            if inner is not None:
                # code 10000 outside, a failure inside (201304 included): classify that.
                raise self._api_error(
                    VOLCENGINE_ERRORS,
                    response=response,
                    action=self.action,
                    http_status=response.status_code,
                    code=inner,
                    message=_inner_message(raw),
                    request_id=request_id,
                )
            if blank:
                raise bad_result(
                    "the result image is empty",
                    vendor=self.vendor,
                    action=self.action,
                    http_status=response.status_code,
                    request_id=request_id,
                )
            raise malformed("data holds no image")
        media_type = None
        if image_bytes is not None:
            media_type = validate_result_image(
                image_bytes, vendor=self.vendor, action=self.action, request_id=request_id
            )
        if url is not None:
            url = check_result_url(
                url,
                vendor=self.vendor,
                action=self.action,
                endpoint=self.base_url,
                request_id=request_id,
            )
        return EraseResult(
            vendor=self.vendor,
            action=self.action,
            request_id=request_id,
            received_at=received_at,
            image_bytes=image_bytes,
            media_type=media_type,
            image_url=url,
            expires_at=(
                result_url_expiry(url, vendor=self.vendor, received_at=received_at) if url else None
            ),
            seed=request.seed,
            parameters=request.canonical(),
            input_sha256={item.field: item.sha256 for item in loaded},
        )
