"""Async client for AILabTools: Remove Objects Advanced and the Try on Clothes Pro/Refiner pair.

Remove Objects Advanced is synchronous (Base64 image out). The try-on APIs are asynchronous:
submit returns a task id at once, and ``query_async_task`` is polled (every 5 s, results kept
24 h). Requests are multipart with real file parts (``<field>.<ext>`` and a sniffed content
type); an answer is an error when HTTP is not 200 or ``error_code`` is non-zero.
See docs/vendors/ailabtools.md.
"""

from __future__ import annotations

import base64
import binascii
import logging
from typing import Any, Literal
from urllib.parse import urlencode

import httpx
from pydantic import BaseModel, ValidationError

from prefect_image_edit.vendors._constants import (
    AILABTOOLS,
    AILABTOOLS_BASE_URL,
    AILABTOOLS_MAX_IMAGE_BYTES,
    AILABTOOLS_QUERY_TASK_ACTION,
    AILABTOOLS_QUERY_TASK_PATH,
    AILABTOOLS_REMOVE_OBJECTS_ACTION,
    AILABTOOLS_REMOVE_OBJECTS_PATH,
    AILABTOOLS_TRY_ON_PRO_ACTION,
    AILABTOOLS_TRY_ON_PRO_PATH,
    AILABTOOLS_TRY_ON_REFINER_ACTION,
    AILABTOOLS_TRY_ON_REFINER_PATH,
    DEFAULT_TIMEOUT,
)
from prefect_image_edit.vendors._http import (
    BaseVendorClient,
    malformed_response,
    parse_json,
)
from prefect_image_edit.vendors._params import validated
from prefect_image_edit.vendors.ailabtools.auth import ApiKeyAuth
from prefect_image_edit.vendors.ailabtools.errors import AILABTOOLS_ERRORS
from prefect_image_edit.vendors.ailabtools.models import (
    AILabEnvelope,
    RemoveObjectsParams,
    TryOnProParams,
    TryOnRefinerParams,
    form_fields,
)
from prefect_image_edit.vendors.ailabtools.status import combine_states, result_url, task_states
from prefect_image_edit.vendors.errors import (
    ErrorKind,
    InvalidParameterError,
    VendorAPIError,
    bad_result,
)
from prefect_image_edit.vendors.files import ImageFormat, ImageInput, LoadedImage, load_image
from prefect_image_edit.vendors.results import (
    EraseResult,
    TaskResult,
    TaskState,
    TaskSubmission,
    check_result_url,
    result_url_expiry,
    utcnow,
    validate_result_image,
)

__all__ = ["MASK_FORMATS", "REMOVE_FORMATS", "TRY_ON_FORMATS", "AILabToolsClient"]

logger = logging.getLogger(__name__)

# Remove Objects Advanced: JPEG/JPG/PNG image, 8-bit PNG mask. Try-on: JPG/JPEG/PNG/BMP.
REMOVE_FORMATS = frozenset({ImageFormat.JPEG, ImageFormat.PNG})
MASK_FORMATS = frozenset({ImageFormat.PNG})
TRY_ON_FORMATS = frozenset({ImageFormat.JPEG, ImageFormat.PNG, ImageFormat.BMP})

# Query errors that say nothing about the task itself: raise them so the caller polls again
# (or fixes the key) instead of giving up on, and paying again for, a task that may be fine.
_QUERY_RAISES = (ErrorKind.AUTH, ErrorKind.NOT_FOUND, ErrorKind.RATE_LIMITED)
# Query errors that are the task's own end although their code reads transient elsewhere: an
# HTTP 500 PROCESSING_FAILURE while polling is the task failing, not the query; polling again
# only burns the error budget before giving the same answer.
_TASK_FAILED_CODES = frozenset({"PROCESSING_FAILURE"})


def _envelope(payload: dict[str, Any]) -> AILabEnvelope:
    try:
        return AILabEnvelope.model_validate(payload)
    except ValidationError:
        # A mangled envelope still counts: its status code decides below.
        code = payload.get("error_code")
        return AILabEnvelope(error_code=code if isinstance(code, int | str) else None)


def _fallback_status(status: int, envelope: AILabEnvelope) -> int:
    """The HTTP status, or on an HTTP 200 error the ``error_code`` (it mirrors the status)."""
    if status != 200:
        return status
    try:
        return int(envelope.error_code or status)
    except (TypeError, ValueError):
        return status


class AILabToolsClient(BaseVendorClient):
    """AILabTools (``https://www.ailabapi.com``), authenticated by API key.

    Args:
        api_key: The application API key.
        base_url: Scheme, host and optional port; an emulator at ``http://127.0.0.1:<port>``.
        timeout: httpx timeouts.
        transport: Replace the network in tests.
    """

    vendor = AILABTOOLS

    def __init__(
        self,
        api_key: str,
        *,
        base_url: str = AILABTOOLS_BASE_URL,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if not api_key:
            raise InvalidParameterError("an API key is required", field="api_key")
        super().__init__(
            base_url=base_url,
            timeout=timeout,
            transport=transport,
            auth=ApiKeyAuth(api_key),
            secrets=(api_key,),
        )
        # The absolute query URL up to its parameters: a poll builds its URL from one string
        # instead of merging a relative path and a params dict into the base URL (3 URL parses
        # a poll, ~6 % of a poller's CPU); the result is the same URL, byte for byte.
        self._query_url = f"{self.base_url}{AILABTOOLS_QUERY_TASK_PATH}?"

    # --- plumbing ------------------------------------------------------------------------------

    def _error(self, response: httpx.Response, action: str) -> tuple[dict[str, Any], AILabEnvelope]:
        """The parsed answer of a success; raises the typed error of anything else."""
        status = response.status_code
        payload = parse_json(response)
        if not isinstance(payload, dict):
            if status != 200:
                raise self._api_error(
                    AILABTOOLS_ERRORS,
                    response=response,
                    action=action,
                    code=None,
                    message=None,
                    http_status=status,
                    request_id=None,
                )
            raise malformed_response(
                "body is not a JSON object", vendor=self.vendor, action=action, http_status=status
            )
        envelope = _envelope(payload)
        if status != 200 or envelope.failed:
            raise self._api_error(
                AILABTOOLS_ERRORS,
                response=response,
                action=action,
                code=envelope.code,
                message=envelope.message,
                http_status=status,
                request_id=envelope.trace_id,
                fallback_status=_fallback_status(status, envelope),
            )
        return payload, envelope

    async def _post_form(
        self, action: str, path: str, params: BaseModel, images: list[LoadedImage]
    ) -> tuple[dict[str, Any], AILabEnvelope, httpx.Response]:
        files = [(image.field, (image.filename, image.data, image.media_type)) for image in images]
        request = self._http.build_request("POST", path, data=form_fields(params), files=files)
        response = await self._send(request, action=action)
        payload, envelope = self._error(response, action)
        return payload, envelope, response

    async def _submit(
        self, action: str, path: str, params: BaseModel, images: list[LoadedImage]
    ) -> TaskSubmission:
        payload, envelope, response = await self._post_form(action, path, params, images)
        data = payload.get("data")
        nested = data.get("task_id") if isinstance(data, dict) else None
        task_id = payload.get("task_id") or nested
        if not task_id:
            # Accepted (HTTP 200, no error) yet no id: the job may be running and billed.
            raise malformed_response(
                "no task_id",
                vendor=self.vendor,
                action=action,
                http_status=response.status_code,
                request_id=envelope.trace_id,
            )
        return TaskSubmission(
            vendor=self.vendor,
            action=action,
            request_id=envelope.trace_id,
            task_id=str(task_id),
            parameters=params.model_dump(),
            input_sha256={image.field: image.sha256 for image in images},
        )

    @staticmethod
    def _load(field: str, value: ImageInput, formats: frozenset[ImageFormat]) -> LoadedImage:
        return load_image(value, field=field, formats=formats, max_bytes=AILABTOOLS_MAX_IMAGE_BYTES)

    # --- API actions -----------------------------------------------------------------------------

    async def remove_objects_advanced(
        self,
        image: ImageInput,
        mask: ImageInput,
        *,
        steps: int = 30,
        strength: float = 0.8,
        scale: float = 7.0,
        seed: int = 0,
        dilate_size: int = 15,
        quality: Literal["H", "M", "L"] = "M",
    ) -> EraseResult:
        """Erase the white area of ``mask`` from ``image`` (synchronous; 20 credits).

        Args:
            image: JPEG or PNG, at most 5 MB, 64-4096 px a side.
            mask: 8-bit PNG, same size, no ICC profile: white (255) erases, black (0) keeps.
            steps: Sampling steps, at least 1.
            strength: 0.1 to 1.0; smaller stays closer to the original.
            scale: A whole number from 1 to 20 (the API takes an integer).
            seed: -1 (random) or a non-negative seed.
            dilate_size: Mask dilation radius in px, at least 1.
            quality: ``H``, ``M`` or ``L``.

        Raises:
            InvalidParameterError, InvalidImageError: before anything is sent.
            BadResultError: a success answer with an empty or undecodable image.
            VendorAPIError: the vendor refused; ``retry`` says what may be done.

        Returns:
            The result with ``image_bytes`` (the vendor stores nothing, so there is no URL).
        """
        action = AILABTOOLS_REMOVE_OBJECTS_ACTION
        params = validated(
            RemoveObjectsParams,
            steps=steps,
            strength=strength,
            scale=scale,
            seed=seed,
            dilate_size=dilate_size,
            quality=quality,
        )
        images = [
            self._load("image", image, REMOVE_FORMATS),
            load_image(mask, field="mask", formats=MASK_FORMATS),
        ]
        payload, envelope, response = await self._post_form(
            action, AILABTOOLS_REMOVE_OBJECTS_PATH, params, images
        )
        data = payload.get("data")
        blobs = data.get("binary_data_base64") if isinstance(data, dict) else None
        if isinstance(blobs, list) and blobs and blobs[0] == "":
            raise bad_result(
                "the result image is empty",
                vendor=self.vendor,
                action=action,
                http_status=response.status_code,
                request_id=envelope.trace_id,
            )
        try:
            result = base64.b64decode(blobs[0], validate=True) if blobs else b""
        except (binascii.Error, TypeError, ValueError):
            result = b""
        if not result:
            raise malformed_response(
                "no Base64 image in data.binary_data_base64",
                vendor=self.vendor,
                action=action,
                http_status=response.status_code,
                request_id=envelope.trace_id,
            )
        media_type = validate_result_image(
            result, vendor=self.vendor, action=action, request_id=envelope.trace_id
        )
        return EraseResult(
            vendor=self.vendor,
            action=action,
            request_id=envelope.trace_id,
            image_bytes=result,
            media_type=media_type,
            seed=params.seed,
            parameters=params.model_dump(),
            input_sha256={item.field: item.sha256 for item in images},
        )

    async def submit_try_on_pro(
        self,
        person_image: ImageInput,
        top_garment: ImageInput,
        *,
        bottom_garment: ImageInput | None = None,
        resolution: int = -1,
        restore_face: bool = True,
    ) -> TaskSubmission:
        """Submit Try on Clothes Pro (async; 30 credits). Persist the task id at once.

        Args:
            person_image: Full-body front view (JPG, PNG or BMP, at most 5 MB).
            top_garment: The top, flat lay on a plain background.
            bottom_garment: The bottom; leave out for a dress.
            resolution: -1 original (needed when the Refiner follows), 1024 or 1280.
            restore_face: Keep the person's face (needed when the Refiner follows).
        """
        params = validated(TryOnProParams, resolution=resolution, restore_face=restore_face)
        images = [
            self._load("person_image", person_image, TRY_ON_FORMATS),
            self._load("top_garment", top_garment, TRY_ON_FORMATS),
        ]
        if bottom_garment is not None:
            images.append(self._load("bottom_garment", bottom_garment, TRY_ON_FORMATS))
        return await self._submit(
            AILABTOOLS_TRY_ON_PRO_ACTION, AILABTOOLS_TRY_ON_PRO_PATH, params, images
        )

    async def submit_try_on_refiner(
        self,
        person_image: ImageInput,
        top_garment: ImageInput,
        coarse_image: ImageInput,
        *,
        gender: Literal["woman", "man"],
        bottom_garment: ImageInput | None = None,
    ) -> TaskSubmission:
        """Submit Try on Clothes Refiner (async; 25 credits) over a Pro result.

        Args:
            person_image: The person image given to Try on Clothes Pro.
            top_garment: The top given to Pro.
            coarse_image: Pro's result image.
            gender: ``woman`` or ``man``.
            bottom_garment: The bottom given to Pro, if any.
        """
        params = validated(TryOnRefinerParams, gender=gender)
        images = [
            self._load("person_image", person_image, TRY_ON_FORMATS),
            self._load("top_garment", top_garment, TRY_ON_FORMATS),
            self._load("coarse_image", coarse_image, TRY_ON_FORMATS),
        ]
        if bottom_garment is not None:
            images.append(self._load("bottom_garment", bottom_garment, TRY_ON_FORMATS))
        return await self._submit(
            AILABTOOLS_TRY_ON_REFINER_ACTION, AILABTOOLS_TRY_ON_REFINER_PATH, params, images
        )

    async def query_async_task(self, task_id: str) -> TaskResult:
        """Poll an async task once (free; poll every 5 s, results kept 24 h).

        A failed task comes back as ``state=FAILED`` (``task_status`` 3, ``output.task_status``
        FAILED, at the top level or inside ``data``, an error envelope about the task, or an
        HTTP 500 ``PROCESSING_FAILURE``), never as an exception. Errors that say
        nothing about the task (auth, rate limits, unknown task, transient failures) raise.

        Raises:
            InvalidParameterError: ``task_id`` is empty.
            VendorAPIError: see above.
            VendorRequestError: no usable answer; poll again.
        """
        action = AILABTOOLS_QUERY_TASK_ACTION
        if not isinstance(task_id, str) or not task_id.strip():
            raise InvalidParameterError("must be a non-empty task id", field="task_id")
        url = httpx.URL(self._query_url + urlencode({"task_id": task_id}))
        request = self._http.build_request("GET", url)
        response = await self._send(request, action=action)
        received_at = utcnow()
        common: dict[str, Any] = {
            "vendor": self.vendor,
            "action": action,
            "task_id": task_id,
            "received_at": received_at,
        }
        try:
            payload, envelope = self._error(response, action)
        except VendorAPIError as error:
            if error.code not in _TASK_FAILED_CODES and (
                error.retry.transient or error.kind in _QUERY_RAISES
            ):
                raise
            return TaskResult(
                state=TaskState.FAILED,
                vendor_status=f"HTTP {response.status_code}",
                request_id=error.request_id,
                error_code=error.code or None,
                error_message=error.message,
                **common,
            )
        states, raw = task_states(payload)
        state = combine_states(states)
        malformed = {
            "vendor": self.vendor,
            "action": action,
            "http_status": response.status_code,
            "request_id": envelope.trace_id,
        }
        if state is None:
            raise malformed_response("no task_status", **malformed)
        url = result_url(payload) if state is TaskState.SUCCEEDED else None
        if state is TaskState.SUCCEEDED and url is None:
            raise malformed_response("task succeeded without a result URL", **malformed)
        if url is not None:
            url = check_result_url(
                url,
                vendor=self.vendor,
                action=action,
                endpoint=self.base_url,
                request_id=envelope.trace_id,
            )
        return TaskResult(
            state=state,
            vendor_status=raw,
            request_id=envelope.trace_id,
            image_url=url,
            expires_at=(
                result_url_expiry(url, vendor=self.vendor, received_at=received_at) if url else None
            ),
            error_code=envelope.code if state is TaskState.FAILED else None,
            error_message=envelope.message if state is TaskState.FAILED else None,
            **common,
        )
