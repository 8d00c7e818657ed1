"""Every row of every classification table, against an independent table written here.

The expectations are typed out again on purpose (from docs/vendors/tencent-aiart.md#error-codes,
docs/vendors/volcengine-visual.md#error-codes and docs/vendors/ailabtools.md#error-codes and the
money rules in docs/design.md#money-rules), so a wrong row in the code fails here. Each test
also checks that the
code's table and this one have exactly the same keys: no row untested, no row unexpected.
"""

from __future__ import annotations

import pytest

from prefect_image_edit.vendors.ailabtools.errors import AILABTOOLS_ERRORS
from prefect_image_edit.vendors.errors import (
    STATUS_RULES,
    ErrorKind,
    ErrorRule,
    RetryVerdict,
    classify,
    rule_for_status,
)
from prefect_image_edit.vendors.tencent.errors import TENCENT_ERRORS
from prefect_image_edit.vendors.volcengine.errors import VOLCENGINE_ERRORS

AUTH = ("auth", "permanent")
BAD = ("bad_input", "permanent")
MOD = ("moderation", "permanent")
CREDITS = ("no_credits", "permanent")
GONE = ("not_found", "permanent")
THROTTLED = ("rate_limited", "resubmit")
UNAVAILABLE = ("server", "resubmit")
ONCE = ("server", "retry_once")
SERVER_FINAL = ("server", "permanent")

TENCENT_EXPECTED: dict[str, tuple[str, str]] = {
    "ActionOffline": GONE,
    "AuthFailure.InvalidAuthorization": AUTH,
    "AuthFailure.InvalidSecretId": AUTH,
    "AuthFailure.MFAFailure": AUTH,
    "AuthFailure.SecretIdNotFound": AUTH,
    "AuthFailure.SignatureExpire": AUTH,
    "AuthFailure.SignatureFailure": AUTH,
    "AuthFailure.TokenFailure": AUTH,
    "AuthFailure.UnauthorizedOperation": AUTH,
    "DryRunOperation": BAD,
    "FailedOperation": SERVER_FINAL,
    "InternalError": ONCE,
    "InvalidAction": GONE,
    "InvalidParameter": BAD,
    "InvalidParameterValue": BAD,
    "InvalidRequest": BAD,
    "IpInBlacklist": AUTH,
    "IpNotInWhitelist": AUTH,
    "LimitExceeded": CREDITS,
    "MissingParameter": BAD,
    "NoSuchProduct": GONE,
    "NoSuchVersion": GONE,
    "RequestLimitExceeded": THROTTLED,
    "RequestLimitExceeded.GlobalRegionUinLimitExceeded": THROTTLED,
    "RequestLimitExceeded.IPLimitExceeded": THROTTLED,
    "RequestLimitExceeded.UinLimitExceeded": THROTTLED,
    "RequestSizeLimitExceeded": BAD,
    "ResourceInUse": BAD,
    "ResourceInsufficient": SERVER_FINAL,
    "ResourceNotFound": GONE,
    "ResourceUnavailable": SERVER_FINAL,
    "ResponseSizeLimitExceeded": BAD,
    "ServiceUnavailable": UNAVAILABLE,
    "UnauthorizedOperation": AUTH,
    "UnknownParameter": BAD,
    "UnsupportedOperation": BAD,
    "UnsupportedProtocol": BAD,
    "UnsupportedRegion": BAD,
    "FailedOperation.ConsoleServerError": ONCE,
    "FailedOperation.GenerateImageFailed": ("moderation", "retry_once"),
    "FailedOperation.ImageDecodeFailed": BAD,
    "FailedOperation.ImageDownloadError": ONCE,
    "FailedOperation.ImageResolutionExceed": BAD,
    "FailedOperation.ImageSizeExceed": BAD,
    "FailedOperation.InnerError": ONCE,
    "FailedOperation.JobNotExist": GONE,
    "FailedOperation.RequestEntityTooLarge": BAD,
    "FailedOperation.RequestTimeout": ONCE,
    "FailedOperation.RpcFail": ONCE,
    "FailedOperation.ServerError": ONCE,
    "FailedOperation.Unknown": ONCE,
    "InvalidParameter.InvalidParameter": BAD,
    "InvalidParameterValue.ImageEmpty": BAD,
    "InvalidParameterValue.LogoParamErr": BAD,
    "InvalidParameterValue.ParameterValueError": BAD,
    "InvalidParameterValue.StyleConflict": BAD,
    "InvalidParameterValue.TextLengthExceed": BAD,
    "InvalidParameterValue.UrlIllegal": BAD,
    "OperationDenied.ImageIllegalDetected": MOD,
    "OperationDenied.TextIllegalDetected": MOD,
    "RequestLimitExceeded.JobNumExceed": THROTTLED,
    "ResourceUnavailable.Delivering": UNAVAILABLE,
    "ResourceUnavailable.InArrears": CREDITS,
    "ResourceUnavailable.LowBalance": CREDITS,
    "ResourceUnavailable.NotExist": CREDITS,
    "ResourceUnavailable.StopUsing": CREDITS,
    "ResourcesSoldOut.ChargeStatusException": CREDITS,
}

_VOLC_GATEWAY = {
    ("MissingParameter", "100002"): BAD,
    ("MissingAuthenticationToken", "100003"): AUTH,
    ("MissingRequestInfo", "100004"): AUTH,
    ("MissingSignature", "100005"): AUTH,
    ("InvalidTimestamp", "100006"): AUTH,
    ("ServiceNotFound", "100007"): GONE,
    ("InvalidActionOrVersion", "100008"): GONE,
    ("InvalidAccessKey", "100009"): AUTH,
    ("SignatureDoesNotMatch", "100010"): AUTH,
    ("LackPolicy", "100012"): AUTH,
    ("AccessDenied", "100013"): AUTH,
    ("FlowLimitExceeded", "100018"): THROTTLED,
}
VOLCENGINE_EXPECTED: dict[str, tuple[str, str]] = {
    **{name: rule for (name, _), rule in _VOLC_GATEWAY.items()},
    **{number: rule for (_, number), rule in _VOLC_GATEWAY.items()},
    **dict.fromkeys(
        [
            "50200",
            "50201",
            "50204",
            "50205",
            "50206",
            "50207",
            "50209",
            "50210",
            "50211",
            "50213",
            "50214",
            "50215",
            "60102",
        ],
        BAD,
    ),
    "60208": MOD,
    "50400": AUTH,
    "50402": GONE,
    "50429": THROTTLED,
    "50430": THROTTLED,
    "50500": ONCE,
    "50501": ONCE,
    "50411": MOD,
    "50412": MOD,
    "50413": MOD,
    # Output moderation: the same seed gives the same image, so only another seed helps.
    "50511": ("bad_seed", "new_seed"),
    "50512": MOD,
    "50518": MOD,
    "50519": ("bad_seed", "new_seed"),
    "50520": SERVER_FINAL,
    "50521": SERVER_FINAL,
    "50522": SERVER_FINAL,
    "201304": ("bad_seed", "new_seed"),
}

_AILAB_BAD = """
ERROR_PARAMETERS MISSING_PARAMETERS ERROR_INVALID_PARAMETER PARAMETERS_CANNOT_EMPTY
ERROR_INVALID_URL UNSUPPORTED_PARAMETER_VALUES ERROR_INVALID_PARAMETER_FORMAT
ERROR_PARAMETER_CONVERSION_FAILED ERROR_MASK_IMAGE_RESOLUTION_MISMATCH
ERROR_MISSING_LIMIT_PARAMETER ERROR_MISSING_TASKS_PARAMETER
ERROR_MISSING_ASSURE_DIRECTION_PARAMETER ERROR_MISSING_MIN_HEIGHT_PARAMETER
ERROR_INVALID_SIDE_PARAMETER ERROR_UNSUPPORTED_RESPONSE_FORMAT ERROR_INVALID_OUTPUT_FORMAT
ERROR_MISSING_OUTPUT_FORMAT ERROR_QUALITY_CONTROL_ERROR ERROR_LIVENESS_CONTROL_ERROR
ERROR_INVALID_FACE_BOX_PARAMETER ERROR_INVALID_BIG_EYES_PARAMETER
ERROR_INVALID_FACE_SLIMMING_PARAMETER ERROR_INVALID_SMOOTHING_PARAMETER
ERROR_INVALID_SKIN_WHITENING_PARAMETER ERROR_TOO_MANY_GROUPS_IN_GROUP_LIST
ERROR_TOO_MANY_UIDS_IN_UID_LIST ERROR_TOO_MANY_APPS_IN_APP_LIST
ERROR_INVALID_RESPONSE_FORMAT
ERROR_FACE_ALREADY_EXISTS ERROR_DATA_ALREADY_EXISTS ERROR_USER_GROUP_ALREADY_EXISTS
ERROR_USER_ALREADY_EXISTS ERROR_DUPLICATE_GROUP_NAME ERROR_RESOURCE_IN_USE ERROR_TASK_CONFLICT
ERROR_TASK_REVOCATION_FAILED
ERROR_TOO_MANY_FILES FILE_SIZE_EXCEEDS_LIMIT FILE_RESOLUTION_EXCEEDS_LIMITS ERROR_HIGH_RESOLUTION
ERROR_REQUEST_BODY_TOO_LARGE UNSUPPORTED_FILE_TYPES ERROR_UNSUPPORTED_GRAYSCALE_IMAGE
FILE_DECODING_FAILURE ERROR_ILLEGAL_FILE ERROR_INVALID_FILE ERROR_LOW_RESOLUTION
ERROR_INCORRECT_FILE_COUNT ERROR_VIDEO_DURATION_EXCEEDED ERROR_CONTENT_TOO_LONG
ERROR_NO_FACE_IN_FILE ERROR_FACE_SIZE_NOT_MEET_REQUIREMENTS ERROR_FACE_SIZE_RATIO_NOT_MET
ERROR_SMALL_FACE_SIZE ERROR_FACE_COPY_SCENE_MISMATCH ERROR_FACE_UNRECOGNIZABLE
ERROR_POOR_FACE_QUALITY ERROR_BLURRY_FACE ERROR_OBSTRUCTED_FACE ERROR_POOR_FACE_LIGHTING
ERROR_INCOMPLETE_FACE ERROR_FACE_NOT_FACING_FORWARD ERROR_FACE_COUNT_INVALID
ERROR_CARTOON_FACE_NOT_SUPPORTED
ERROR_LEFT_EYE_OCCLUSION_TOO_HIGH ERROR_RIGHT_EYE_OCCLUSION_TOO_HIGH
ERROR_LEFT_FACE_OCCLUSION_TOO_HIGH ERROR_RIGHT_FACE_OCCLUSION_TOO_HIGH
ERROR_CHIN_OCCLUSION_TOO_HIGH ERROR_NOSE_OCCLUSION_TOO_HIGH ERROR_MOUTH_OCCLUSION_TOO_HIGH
ERROR_QUALITY_SCORE_NOT_MEET_REQUIREMENTS ERROR_SCENE_TYPE_MISMATCH
ERROR_TEMPLATE_IMAGE_QUALITY_TOO_LOW ERROR_ACTION_VERIFICATION_FAILED
ERROR_SYNTHESIS_DETECTION_FAILED ERROR_LIVENESS_DETECTION_FAILED
ERROR_NO_RECOGNITION_TARGET_DETECTED ERROR_IMAGE_RECOGNITION_FAILED ERROR_POSE_NOT_ENOUGH_KEYPOINTS
ERROR_RESPONSE_BODY_TOO_LARGE ERROR_IMAGE_STORAGE_NOT_SUPPORTED
"""
_AILAB_AUTH = (
    "ERROR_USER_NOT_EXISTS ERROR_APPLICATIONS_NOT_EXISTS ERROR_USER_LOCKED ERROR_ILLEGAL_OPERATION"
)
_AILAB_GONE = """
ERROR_AI_NOT_EXISTS ERROR_FILE_NOT_FOUND ERROR_FACE_NOT_FOUND ERROR_USER_GROUP_NOT_FOUND
ERROR_USER_NOT_FOUND ERROR_FACE_TOKEN_NOT_FOUND ERROR_CONTENT_NOT_FOUND ERROR_RESOURCE_NOT_FOUND
ERROR_TASK_REVOKED ERROR_RESOURCE_RECLAIMED
"""
_AILAB_QUOTA = """
ERROR_NOT_ENOUGH_CREDITS ERROR_FACE_TRACE_LIMIT_EXCEEDED ERROR_DATABASE_LIMIT_EXCEEDED
ERROR_BATCH_TASK_LIMIT_EXCEEDED
"""
_AILAB_ONCE = """
PROCESSING_FAILURE UNKNOWN_ERROR SERVICE_INTERNAL_ERROR
ERROR_FILE_DOWNLOAD_FAILED ERROR_FILE_UPLOAD_FAILED ERROR_DATA_TRANSFER_FAILED
ERROR_GET_FACE_IMAGE_FAILED ERROR_FACE_IMAGE_ADDITION_FAILED ERROR_FACE_BLENDING_FAILED
FILE_SERVICE_ERROR AI_SERVICE_ERROR AI_SERVICE_INTERNAL_ERROR AI_SERVICE_UNAUTHORIZED
AI_SERVICE_NOT_FOUND ERROR_GATEWAY ERROR_FILE_DOWNLOAD_TIMEOUT AI_SERVICE_TIMEOUT
"""
_AILAB_UNAVAILABLE = """
ERROR_CLEANING_USER_GROUP_DATA ERROR_INSUFFICIENT_RESOURCES ERROR_RESOURCE_IN_TRANSIT
ERROR_RESOURCE_UNAVAILABLE
"""
AILABTOOLS_EXPECTED: dict[str, tuple[str, str]] = {
    **dict.fromkeys(_AILAB_BAD.split(), BAD),
    **dict.fromkeys(_AILAB_AUTH.split(), AUTH),
    **dict.fromkeys(_AILAB_GONE.split(), GONE),
    **dict.fromkeys(_AILAB_QUOTA.split(), CREDITS),
    **dict.fromkeys(_AILAB_ONCE.split(), ONCE),
    **dict.fromkeys(_AILAB_UNAVAILABLE.split(), UNAVAILABLE),
    "FILE_CONTENT_NON_COMPLIANCE": MOD,
    "ERROR_CONTENT_NON_COMPLIANCE": MOD,
    "ERROR_TASK_STOPPED_PROCESSING": SERVER_FINAL,
    "EXCEEDING_LIMITS": THROTTLED,
    "AI_SERVICE_FLOW_RESTRICTION": THROTTLED,
}

TABLES = {
    "tencent": (TENCENT_ERRORS, TENCENT_EXPECTED),
    "volcengine": (VOLCENGINE_ERRORS, VOLCENGINE_EXPECTED),
    "ailabtools": (AILABTOOLS_ERRORS, AILABTOOLS_EXPECTED),
}


def _rows(vendor: str) -> list[tuple[str, str, tuple[str, str]]]:
    _, expected = TABLES[vendor]
    return [(vendor, code, rule) for code, rule in sorted(expected.items())]


ROWS = [row for vendor in TABLES for row in _rows(vendor)]


@pytest.mark.parametrize(("vendor", "code", "expected"), ROWS, ids=[f"{v}-{c}" for v, c, _ in ROWS])
def test_every_row(vendor, code, expected):
    table, _ = TABLES[vendor]
    rule = classify(table, code)
    assert (rule.kind.value, rule.retry.value) == expected


@pytest.mark.parametrize("vendor", sorted(TABLES))
def test_tables_cover_exactly_the_expected_codes(vendor):
    table, expected = TABLES[vendor]
    assert set(table) - set(expected) == set(), "rows without an expectation"
    assert set(expected) - set(table) == set(), "documented codes missing from the table"


@pytest.mark.parametrize("vendor", sorted(TABLES))
def test_tables_are_data(vendor):
    table, _ = TABLES[vendor]
    assert all(isinstance(code, str) for code in table)
    assert all(isinstance(rule, ErrorRule) for rule in table.values())


def test_no_credits_is_permanent_although_429():
    assert classify(AILABTOOLS_ERRORS, "ERROR_NOT_ENOUGH_CREDITS").retry is RetryVerdict.PERMANENT


@pytest.mark.parametrize("table", [TENCENT_ERRORS, VOLCENGINE_ERRORS, AILABTOOLS_ERRORS])
def test_unknown_codes_are_permanent(table):
    for code in ("NotAThing", "99999", None):
        rule = classify(table, code)
        assert (rule.kind, rule.retry) == (ErrorKind.UNKNOWN, RetryVerdict.PERMANENT)


def test_volcengine_numeric_codes_classify_as_int_too():
    assert classify(VOLCENGINE_ERRORS, 201304).retry is RetryVerdict.NEW_SEED
    assert classify(VOLCENGINE_ERRORS, 50429).retry is RetryVerdict.RESUBMIT


STATUS_EXPECTED = {
    400: BAD,
    401: AUTH,
    403: AUTH,
    404: GONE,
    413: BAD,
    415: BAD,
    422: BAD,
    429: THROTTLED,
    500: ONCE,
    502: UNAVAILABLE,
    503: UNAVAILABLE,
    504: ONCE,
}


@pytest.mark.parametrize(("status", "expected"), sorted(STATUS_EXPECTED.items()))
def test_status_rules(status, expected):
    rule = rule_for_status(status)
    assert (rule.kind.value, rule.retry.value) == expected


def test_status_rules_cover_exactly_the_expected_statuses():
    assert set(STATUS_RULES) == set(STATUS_EXPECTED)


@pytest.mark.parametrize("status", [None, 200, 302, 405, 408, 409, 418, 501, 505, 520])
def test_other_statuses_are_permanent(status):
    assert rule_for_status(status).retry is RetryVerdict.PERMANENT
