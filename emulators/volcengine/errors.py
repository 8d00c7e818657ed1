"""Volcengine visual error envelopes: the TOP gateway's and the CV service's.

Gateway errors (auth, routing, throttling) come back under ``ResponseMetadata.Error`` with the
HTTP status of docs/vendors/volcengine-visual.md#gateway-codes;
service errors carry ``code`` (= ``status``), ``data: null``,
``message``, ``request_id`` and ``time_elapsed`` with HTTP 4xx/5xx.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import TYPE_CHECKING

from starlette.responses import Response

from prefect_image_edit.emulators.faults import FaultKind
from prefect_image_edit.emulators.wire import EmulatorError, json_response

if TYPE_CHECKING:
    from prefect_image_edit.emulators.pipeline import Call

__all__ = [
    "DataError",
    "GatewayError",
    "ServiceError",
    "fault_error",
    "request_id",
    "time_elapsed",
]

# Code -> (CodeN, HTTP status, message template) from the BytePlus/Volcengine common list.
GATEWAY_CODES: dict[str, tuple[int, int, str]] = {
    "MissingParameter": (100002, 400, "The request is missing {} parameter."),
    "MissingAuthenticationToken": (100003, 401, "Request is missing Authentication Token."),
    "MissingRequestInfo": (100004, 400, "The request is missing {} information."),
    "MissingSignature": (100005, 401, "The request is missing signature."),
    "InvalidTimestamp": (100006, 400, "The signature of the request is expired."),
    "ServiceNotFound": (100007, 404, "This service[{}] not found."),
    "InvalidActionOrVersion": (100008, 404, "Could not find operation {} for version {}."),
    "InvalidAccessKey": (100009, 401, "The accesskey [{}] included in the request is invalid."),
    "SignatureDoesNotMatch": (
        100010,
        401,
        "The request signature we calculated does not match the signature you provided. "
        "Check your Secret Access Key and signing method. Consult the service documentation "
        "for details.",
    ),
    "FlowLimitExceeded": (100018, 429, "Request has exceeded the flow limit, please try later."),
}

# code -> (HTTP status, message) for the CV service layer.
SERVICE_CODES: dict[int, tuple[int, str]] = {
    50200: (400, "Request Invalid Args"),
    50201: (400, "Request Missing Args"),
    50204: (400, "Parse Args Error"),
    50205: (400, "Image Size Limited"),
    50206: (400, "Image Empty"),
    50207: (400, "Image Decode Error"),
    50411: (400, "Pre Img Risk Not Pass"),
    50511: (400, "Post Img Risk Not Pass"),
    50519: (400, "Post Img Risk Not Pass: Copyright"),
    50429: (429, "Request Has Reached API Limit, Please Try Later"),
    50430: (429, "Request Has Reached API Concurrent Limit, Please Try Later"),
    50500: (500, "Internal Error"),
    50501: (500, "Internal RPC Error"),
    201304: (400, "Output Image Has AI Ghost Face, Please Retry With Another Seed"),
}


def request_id(call: Call) -> str:
    """Volcengine-style id: Beijing time ``YYYYMMDDHHMMSS`` then 20 upper-case hex digits."""
    stamp = (call.state.clock.now() + timedelta(hours=8)).strftime("%Y%m%d%H%M%S")
    return stamp + secrets.token_hex(10).upper()


def time_elapsed(call: Call) -> str:
    seconds = call.elapsed()
    return f"{seconds * 1000:.6f}ms" if seconds < 1 else f"{seconds:.9f}s"


class GatewayError(EmulatorError):
    """An error of the TOP gateway, before the request reaches the service."""

    def __init__(
        self, code: str, *args: str, status: int | None = None, message: str | None = None
    ) -> None:
        coden, default_status, template = GATEWAY_CODES.get(code, (0, 400, code))
        self.code = code
        self.coden = coden
        self.status = status if status is not None else default_status
        self.message = message if message is not None else template.format(*args)
        self.headers: dict[str, str] = {}
        super().__init__(f"{code}: {self.message}")

    def render(self, call: Call) -> Response:
        meta = {
            "RequestId": call.request_id,
            "Action": call.extra.get("action", ""),
            "Version": call.extra.get("version", ""),
            "Service": call.extra.get("service", "cv"),
            "Region": call.extra.get("region", "cn-north-1"),
            "Error": {"CodeN": self.coden, "Code": self.code, "Message": self.message},
        }
        return json_response({"ResponseMetadata": meta}, status=self.status, headers=self.headers)


class ServiceError(EmulatorError):
    """An error of the CV service (the request passed the gateway)."""

    def __init__(
        self, code: int, detail: str = "", *, status: int | None = None, message: str | None = None
    ) -> None:
        default_status, base = SERVICE_CODES.get(code, (400, "Error"))
        self.code = code
        self.status = status if status is not None else default_status
        self.message = message if message is not None else (f"{base}: {detail}" if detail else base)
        self.headers: dict[str, str] = {}
        super().__init__(f"{code}: {self.message}")

    def render(self, call: Call) -> Response:
        payload = {
            "code": self.code,
            "data": None,
            "message": self.message,
            "request_id": call.request_id,
            "status": self.code,
            "time_elapsed": time_elapsed(call),
        }
        return json_response(payload, status=self.status, headers=self.headers)


class DataError(EmulatorError):
    """A failure reported inside ``data`` of an HTTP 200 ``code: 10000`` answer, with no image.

    201304 has been seen this way: the outer envelope says success, ``algorithm_base_resp``
    says the algorithm refused its own output.
    """

    def __init__(self, code: int, message: str | None = None) -> None:
        self.code = code
        self.message = message or SERVICE_CODES.get(code, (400, "Error"))[1]
        self.headers: dict[str, str] = {}
        super().__init__(f"{code} in data: {self.message}")

    def render(self, call: Call) -> Response:
        payload = {
            "code": 10000,
            "data": {
                "algorithm_base_resp": {"status_code": self.code, "status_message": self.message},
                "binary_data_base64": [],
                "image_urls": [],
            },
            "message": "Success",
            "request_id": call.request_id,
            "status": 10000,
            "time_elapsed": time_elapsed(call),
        }
        return json_response(payload, headers=self.headers)


_FAULT_CODES: dict[FaultKind, int | str] = {
    FaultKind.SERVER_ERROR: 50500,
    FaultKind.RATE_LIMIT: 50429,
    FaultKind.GATEWAY_RATE_LIMIT: "FlowLimitExceeded",
    FaultKind.CONCURRENCY_LIMIT: 50430,
    FaultKind.MODERATION: 50411,
    FaultKind.GHOST_FACE: 201304,
    FaultKind.OUTPUT_MODERATION: 50511,
    # The emulator's answer to a wrong or stale STS token (see backend.authenticate).
    FaultKind.TOKEN_EXPIRED: "InvalidAccessKey",
}
_FAULT_MESSAGES: dict[FaultKind, str] = {
    FaultKind.TOKEN_EXPIRED: "The security token included in the request is expired.",
}


def fault_error(call: Call, kind: FaultKind) -> EmulatorError:
    """How a fault (or the real concurrency limit) looks at Volcengine.

    A fault's ``code`` parameter may be a service code (int) or a gateway code (str).
    """
    fault = call.fault if call.fault is not None and call.fault.kind is kind else None
    params = fault.params if fault is not None else {}
    code = params.get("code", _FAULT_CODES[kind])
    status = int(params["status"]) if "status" in params else None
    message = params.get("message", _FAULT_MESSAGES.get(kind))
    error: GatewayError | ServiceError | DataError
    if kind is FaultKind.GHOST_FACE and params.get("shape") == "data":
        error = DataError(int(code), message)
    elif isinstance(code, str) and not code.isdigit():
        error = GatewayError(code, status=status, message=message)
    else:
        error = ServiceError(int(code), status=status, message=message)
    if params.get("retry_after") is not None:
        error.headers["Retry-After"] = str(params["retry_after"])
    return error
