"""Tencent Cloud error codes (common codes and aiart's), classified once, as data.

Source: docs/vendors/tencent-aiart.md#error-codes.
Tencent answers errors at HTTP 200 inside ``Response.Error``; a code
missing here is permanent (``classify``). Verdicts follow docs/design.md#money-rules:

- RESUBMIT: frequency and concurrency limits, service unavailable, provisioning in progress; the
  job was refused before it ran.
- RETRY_ONCE: internal and processing failures after the job was accepted, the URL download
  failure, and ``GenerateImageFailed`` (output moderation; the vendor says "please retry").
- PERMANENT: auth, bad input, moderation of the input, billing, unknown actions.
"""

from __future__ import annotations

from prefect_image_edit.vendors.errors import ErrorKind, ErrorRule, RetryVerdict

__all__ = ["TENCENT_ERRORS"]

_P = RetryVerdict.PERMANENT
_RESUBMIT = RetryVerdict.RESUBMIT
_ONCE = RetryVerdict.RETRY_ONCE


def _rule(kind: ErrorKind, retry: RetryVerdict = _P) -> ErrorRule:
    return ErrorRule(kind, retry)


_AUTH = _rule(ErrorKind.AUTH)
_BAD_INPUT = _rule(ErrorKind.BAD_INPUT)
_NOT_FOUND = _rule(ErrorKind.NOT_FOUND)
_NO_CREDITS = _rule(ErrorKind.NO_CREDITS)
_MODERATION = _rule(ErrorKind.MODERATION)
_THROTTLED = _rule(ErrorKind.RATE_LIMITED, _RESUBMIT)
_SERVER_ONCE = _rule(ErrorKind.SERVER, _ONCE)
_SERVER_PERMANENT = _rule(ErrorKind.SERVER)

TENCENT_ERRORS: dict[str, ErrorRule] = {
    # --- common codes (any action) ---
    "ActionOffline": _NOT_FOUND,
    "AuthFailure.InvalidAuthorization": _AUTH,
    "AuthFailure.InvalidSecretId": _AUTH,
    "AuthFailure.MFAFailure": _AUTH,
    "AuthFailure.SecretIdNotFound": _AUTH,
    # Clock skew: resending cannot help until the clock is fixed.
    "AuthFailure.SignatureExpire": _AUTH,
    "AuthFailure.SignatureFailure": _AUTH,
    "AuthFailure.TokenFailure": _AUTH,
    "AuthFailure.UnauthorizedOperation": _AUTH,
    "DryRunOperation": _BAD_INPUT,
    # "Depends": the bare code says nothing about whether the job ran, so never pay twice.
    "FailedOperation": _SERVER_PERMANENT,
    "InternalError": _SERVER_ONCE,
    "InvalidAction": _NOT_FOUND,
    "InvalidParameter": _BAD_INPUT,
    "InvalidParameterValue": _BAD_INPUT,
    "InvalidRequest": _BAD_INPUT,
    "IpInBlacklist": _AUTH,
    "IpNotInWhitelist": _AUTH,
    "LimitExceeded": _NO_CREDITS,
    "MissingParameter": _BAD_INPUT,
    "NoSuchProduct": _NOT_FOUND,
    "NoSuchVersion": _NOT_FOUND,
    "RequestLimitExceeded": _THROTTLED,
    "RequestLimitExceeded.GlobalRegionUinLimitExceeded": _THROTTLED,
    "RequestLimitExceeded.IPLimitExceeded": _THROTTLED,
    "RequestLimitExceeded.UinLimitExceeded": _THROTTLED,
    "RequestSizeLimitExceeded": _BAD_INPUT,
    "ResourceInUse": _BAD_INPUT,
    "ResourceInsufficient": _SERVER_PERMANENT,
    "ResourceNotFound": _NOT_FOUND,
    "ResourceUnavailable": _SERVER_PERMANENT,
    # Base64 output too large: ask for RspImgType=url instead.
    "ResponseSizeLimitExceeded": _BAD_INPUT,
    "ServiceUnavailable": _rule(ErrorKind.SERVER, _RESUBMIT),
    "UnauthorizedOperation": _AUTH,
    "UnknownParameter": _BAD_INPUT,
    "UnsupportedOperation": _BAD_INPUT,
    "UnsupportedProtocol": _BAD_INPUT,
    "UnsupportedRegion": _BAD_INPUT,
    # --- aiart codes ---
    # Undocumented console-side failure; treated like an internal error, at most one retry.
    "FailedOperation.ConsoleServerError": _SERVER_ONCE,
    # Output moderation; the vendor says "please retry" and generation is not deterministic.
    "FailedOperation.GenerateImageFailed": _rule(ErrorKind.MODERATION, _ONCE),
    "FailedOperation.ImageDecodeFailed": _BAD_INPUT,
    "FailedOperation.ImageDownloadError": _SERVER_ONCE,
    "FailedOperation.ImageResolutionExceed": _BAD_INPUT,
    "FailedOperation.ImageSizeExceed": _BAD_INPUT,
    "FailedOperation.InnerError": _SERVER_ONCE,
    "FailedOperation.JobNotExist": _NOT_FOUND,
    "FailedOperation.RequestEntityTooLarge": _BAD_INPUT,
    "FailedOperation.RequestTimeout": _SERVER_ONCE,
    "FailedOperation.RpcFail": _SERVER_ONCE,
    "FailedOperation.ServerError": _SERVER_ONCE,
    "FailedOperation.Unknown": _SERVER_ONCE,
    "InvalidParameter.InvalidParameter": _BAD_INPUT,
    "InvalidParameterValue.ImageEmpty": _BAD_INPUT,
    "InvalidParameterValue.LogoParamErr": _BAD_INPUT,
    "InvalidParameterValue.ParameterValueError": _BAD_INPUT,
    "InvalidParameterValue.StyleConflict": _BAD_INPUT,
    "InvalidParameterValue.TextLengthExceed": _BAD_INPUT,
    "InvalidParameterValue.UrlIllegal": _BAD_INPUT,
    "OperationDenied.ImageIllegalDetected": _MODERATION,
    "OperationDenied.TextIllegalDetected": _MODERATION,
    # Default concurrency is one job per account: another job is running; it was not accepted.
    "RequestLimitExceeded.JobNumExceed": _THROTTLED,
    # The service is being provisioned: refused before processing, try again later.
    "ResourceUnavailable.Delivering": _rule(ErrorKind.SERVER, _RESUBMIT),
    "ResourceUnavailable.InArrears": _NO_CREDITS,
    "ResourceUnavailable.LowBalance": _NO_CREDITS,
    "ResourceUnavailable.NotExist": _NO_CREDITS,
    "ResourceUnavailable.StopUsing": _NO_CREDITS,
    "ResourcesSoldOut.ChargeStatusException": _NO_CREDITS,
}
