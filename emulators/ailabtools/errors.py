"""AILabTools envelopes: the public fields of every answer, success or error.

::

    {"request_id", "log_id", "error_code": <HTTP status, 0 on success>, "error_code_str",
     "error_msg", "error_detail": {"status_code", "code", "code_message", "message"}, ...}

``error_code_str`` is the older, "gradually deprecated" code; it is the same as
``error_detail.code`` except where the older table used a broader name.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.responses import Response

from prefect_image_edit.emulators.faults import FaultKind
from prefect_image_edit.emulators.wire import EmulatorError, json_response

if TYPE_CHECKING:
    from prefect_image_edit.emulators.pipeline import Call

__all__ = ["AILabError", "fault_error", "success"]

# code -> (HTTP status, code_message, error_code_str)
CODES: dict[str, tuple[int, str, str]] = {
    "ERROR_PARAMETERS": (400, "Parameter error.", "ERROR_PARAMETERS"),
    "MISSING_PARAMETERS": (400, "Missing parameters.", "MISSING_PARAMETERS"),
    "ERROR_INVALID_PARAMETER": (400, "Invalid parameter.", "ERROR_PARAMETERS"),
    "ERROR_MASK_IMAGE_RESOLUTION_MISMATCH": (
        400,
        "The resolution of the mask image does not match the original image.",
        "ERROR_PARAMETERS",
    ),
    "ERROR_USER_NOT_EXISTS": (401, "User does not exist.", "ERROR_USER_NOT_EXISTS"),
    "ERROR_AI_NOT_EXISTS": (404, "AI does not exist.", "ERROR_AI_NOT_EXISTS"),
    "ERROR_RESOURCE_NOT_FOUND": (404, "Resource not found.", "ERROR_RESOURCE_NOT_FOUND"),
    "ERROR_REQUEST_BODY_TOO_LARGE": (413, "Request body too large.", "FILE_SIZE_EXCEEDS_LIMIT"),
    "FILE_SIZE_EXCEEDS_LIMIT": (413, "File size exceeds limit.", "FILE_SIZE_EXCEEDS_LIMIT"),
    "FILE_RESOLUTION_EXCEEDS_LIMITS": (
        413,
        "File resolution exceeds limits.",
        "FILE_RESOLUTION_EXCEEDS_LIMITS",
    ),
    "UNSUPPORTED_FILE_TYPES": (415, "Unsupported file types.", "UNSUPPORTED_FILE_TYPES"),
    "FILE_DECODING_FAILURE": (422, "File decoding failure.", "FILE_DECODING_FAILURE"),
    "ERROR_INVALID_FILE": (422, "Invalid file.", "ERROR_INVALID_FILE"),
    "ERROR_LOW_RESOLUTION": (422, "Resolution too low.", "ERROR_LOW_RESOLUTION"),
    "FILE_CONTENT_NON_COMPLIANCE": (
        422,
        "File content does not meet requirements.",
        "FILE_CONTENT_NON_COMPLIANCE",
    ),
    "ERROR_POSE_NOT_ENOUGH_KEYPOINTS": (
        422,
        "Not enough pose keypoints detected.",
        "FILE_CONTENT_NON_COMPLIANCE",
    ),
    "ERROR_NOT_ENOUGH_CREDITS": (429, "Not enough credits.", "ERROR_NOT_ENOUGH_CREDITS"),
    "EXCEEDING_LIMITS": (429, "Exceeding limits.", "EXCEEDING_LIMITS"),
    "SERVICE_INTERNAL_ERROR": (500, "Service internal error.", "SERVICE_INTERNAL_ERROR"),
    "PROCESSING_FAILURE": (500, "Processing failure.", "PROCESSING_FAILURE"),
    "AI_SERVICE_INTERNAL_ERROR": (502, "AI service internal error.", "AI_SERVICE_ERROR"),
    "AI_SERVICE_FLOW_RESTRICTION": (
        503,
        "AI service is rate-limited.",
        "AI_SERVICE_FLOW_RESTRICTION",
    ),
}


def _public(call: Call) -> dict[str, Any]:
    return {"request_id": call.request_id, "log_id": call.extra.get("log_id", "")}


def success(call: Call, **fields: Any) -> Response:
    """HTTP 200 with the public fields of a success, then the business fields."""
    payload = {
        **_public(call),
        "error_code": 0,
        "error_code_str": "",
        "error_msg": "",
        "error_detail": {"status_code": 200, "code": "", "code_message": "", "message": ""},
        **fields,
    }
    return json_response(payload)


class AILabError(EmulatorError):
    """One AILabTools error; ``extra`` adds business fields (a failed task's status)."""

    def __init__(
        self,
        code: str,
        message: str = "",
        *,
        status: int | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        default_status, code_message, code_str = CODES.get(code, (400, code, code))
        self.code = code
        self.status = status if status is not None else default_status
        self.code_message = code_message
        self.code_str = code_str
        self.message = message or code_message
        self.extra = extra or {}
        self.headers: dict[str, str] = {}
        super().__init__(f"{code}: {self.message}")

    def render(self, call: Call) -> Response:
        payload = {
            **_public(call),
            "error_code": self.status,
            "error_code_str": self.code_str,
            "error_msg": f"{self.code_message} - {self.message}",
            "error_detail": {
                "status_code": self.status,
                "code": self.code,
                "code_message": self.code_message,
                "message": self.message,
            },
            **self.extra,
        }
        return json_response(payload, status=self.status, headers=self.headers)


_FAULT_CODES: dict[FaultKind, str] = {
    FaultKind.SERVER_ERROR: "SERVICE_INTERNAL_ERROR",
    FaultKind.RATE_LIMIT: "EXCEEDING_LIMITS",
    FaultKind.GATEWAY_RATE_LIMIT: "AI_SERVICE_FLOW_RESTRICTION",
    FaultKind.CONCURRENCY_LIMIT: "EXCEEDING_LIMITS",
    FaultKind.MODERATION: "FILE_CONTENT_NON_COMPLIANCE",
    FaultKind.TASK_FAILURE: "ERROR_POSE_NOT_ENOUGH_KEYPOINTS",
    FaultKind.NO_CREDITS: "ERROR_NOT_ENOUGH_CREDITS",
}


def fault_error(call: Call, kind: FaultKind) -> AILabError:
    """How a fault (or a real concurrency limit) looks at AILabTools."""
    fault = call.fault if call.fault is not None and call.fault.kind is kind else None
    params = fault.params if fault is not None else {}
    status = int(params["status"]) if "status" in params else None
    error = AILabError(
        params.get("code", _FAULT_CODES[kind]), params.get("message", ""), status=status
    )
    if params.get("retry_after") is not None:
        error.headers["Retry-After"] = str(params["retry_after"])
    return error
