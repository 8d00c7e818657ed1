"""Tencent Cloud API 3.0 error envelopes, exactly as the SDK expects them.

Every answer, error or not, is HTTP 200 with ``Content-Type: application/json`` and no charset
(docs/vendors/tencent-aiart.md#errors-at-http-200: the Python SDK skips error detection for
any other content type and raises
``ServerNetworkError`` for any other status)::

    {"Response": {"Error": {"Code": "...", "Message": "..."}, "RequestId": "..."}}
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.responses import Response

from prefect_image_edit.emulators.faults import FaultKind
from prefect_image_edit.emulators.wire import EmulatorError, json_response

if TYPE_CHECKING:
    from prefect_image_edit.emulators.pipeline import Call

__all__ = ["TencentError", "fault_error"]

# Default messages (the service's English wording where known, else a faithful paraphrase).
MESSAGES: dict[str, str] = {
    "AuthFailure.InvalidAuthorization": (
        "The Authorization header is not in the TC3-HMAC-SHA256 format."
    ),
    "AuthFailure.SecretIdNotFound": (
        "The SecretId is not found, please ensure that your SecretId is correct."
    ),
    "AuthFailure.SignatureExpire": (
        "Signature expired. Timestamp and server time cannot differ by more than five minutes."
    ),
    "AuthFailure.SignatureFailure": (
        "The provided credentials could not be validated. Please check your signature is correct."
    ),
    "AuthFailure.TokenFailure": "The token is invalid or does not match the SecretId.",
    "FailedOperation.GenerateImageFailed": "生成图片审核不通过，请重试。",
    "ResourceUnavailable.LowBalance": "余额不足。",
    "ResourceUnavailable.InArrears": "账号已欠费。",
    "RequestSizeLimitExceeded": "请求包超过限制大小。",
    "InternalError": "An internal error has occurred. Please retry your request.",
    "RequestLimitExceeded": "Your current request rate exceeds the limit. Please try again later.",
    "RequestLimitExceeded.UinLimitExceeded": (
        "Your account's request rate exceeds the limit. Please try again later."
    ),
    "RequestLimitExceeded.JobNumExceed": "同时处理的任务数过多，请稍后重试。",
    "OperationDenied.ImageIllegalDetected": "图片包含违规内容，请更换图片。",
    "FailedOperation.ImageDownloadError": "图片下载失败。",
    "FailedOperation.ImageDecodeFailed": "图片解码失败。",
    "FailedOperation.ImageSizeExceed": "图片过大，Base64 字符串需小于 6MB。",
    "FailedOperation.ImageResolutionExceed": "图片分辨率过大，单边分辨率需小于 5000。",
    "InvalidParameterValue.ImageEmpty": "图片为空。",
    "InvalidParameterValue.UrlIllegal": "URL 格式不合法。",
    "InvalidParameterValue.ParameterValueError": "参数字段或者值有误。",
    "InvalidParameterValue.LogoParamErr": "标识参数有误。",
}


class TencentError(EmulatorError):
    """One Tencent error code; ``status`` stays 200 unless a fault asks otherwise."""

    def __init__(
        self,
        code: str,
        message: str | None = None,
        *,
        status: int = 200,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.code = code
        self.message = message if message is not None else MESSAGES.get(code, code)
        self.status = status
        self.headers = headers or {}
        super().__init__(f"{self.code}: {self.message}")

    def render(self, call: Call) -> Response:
        payload = {
            "Response": {
                "Error": {"Code": self.code, "Message": self.message},
                "RequestId": call.request_id,
            }
        }
        return json_response(payload, status=self.status, headers=self.headers)


def missing(name: str) -> TencentError:
    return TencentError(
        "MissingParameter", f"The request is missing a required parameter `{name}`."
    )


def invalid(name: str, detail: str) -> TencentError:
    return TencentError("InvalidParameter", f"The parameter `{name}` is invalid: {detail}.")


_FAULT_CODES: dict[FaultKind, str] = {
    FaultKind.SERVER_ERROR: "InternalError",
    FaultKind.RATE_LIMIT: "RequestLimitExceeded",
    FaultKind.GATEWAY_RATE_LIMIT: "RequestLimitExceeded.UinLimitExceeded",
    FaultKind.CONCURRENCY_LIMIT: "RequestLimitExceeded.JobNumExceed",
    FaultKind.MODERATION: "OperationDenied.ImageIllegalDetected",
    FaultKind.OUTPUT_MODERATION: "FailedOperation.GenerateImageFailed",
    FaultKind.NO_CREDITS: "ResourceUnavailable.LowBalance",
    FaultKind.ARREARS: "ResourceUnavailable.InArrears",
    # Temporary credentials past their expiry: Tencent's STS token error.
    FaultKind.TOKEN_EXPIRED: "AuthFailure.TokenFailure",
}
_FAULT_MESSAGES: dict[FaultKind, str] = {
    FaultKind.TOKEN_EXPIRED: "The token has expired; get new temporary credentials.",
}


def fault_error(call: Call, kind: FaultKind) -> TencentError:
    """How a fault (or the real concurrency limit) looks at Tencent: an error at HTTP 200."""
    fault = call.fault if call.fault is not None and call.fault.kind is kind else None
    params = fault.params if fault is not None else {}
    headers = {}
    if params.get("retry_after") is not None:
        headers["Retry-After"] = str(params["retry_after"])
    return TencentError(
        params.get("code", _FAULT_CODES[kind]),
        params.get("message", _FAULT_MESSAGES.get(kind)),
        status=int(params.get("status", 200)),
        headers=headers,
    )
