"""AILabTools ``error_detail.code`` values, classified once, as data.

Source: docs/vendors/ailabtools.md#error-codes (the current table; old HTTP statuses do not
matter here, codes do).
A code missing here is permanent (``classify``). Verdicts follow docs/design.md#money-rules and the
vendor's own retry guidance:

- RESUBMIT: EXCEEDING_LIMITS, AI_SERVICE_FLOW_RESTRICTION and the other 503 resource codes; the
  job was refused before it ran ("failed calls bill 0 credits").
- RETRY_ONCE: processing, internal and timeout failures, and every 502/504 code; the job may
  have run.
- PERMANENT: parameters, auth, content and face checks, not found, and ERROR_NOT_ENOUGH_CREDITS
  although it comes with HTTP 429.
"""

from __future__ import annotations

from prefect_image_edit.vendors.errors import ErrorKind, ErrorRule, RetryVerdict

__all__ = ["AILABTOOLS_ERRORS"]

_P = RetryVerdict.PERMANENT

_AUTH = ErrorRule(ErrorKind.AUTH, _P)
_BAD_INPUT = ErrorRule(ErrorKind.BAD_INPUT, _P)
_MODERATION = ErrorRule(ErrorKind.MODERATION, _P)
_NOT_FOUND = ErrorRule(ErrorKind.NOT_FOUND, _P)
_QUOTA = ErrorRule(ErrorKind.NO_CREDITS, _P)
_THROTTLED = ErrorRule(ErrorKind.RATE_LIMITED, RetryVerdict.RESUBMIT)
_UNAVAILABLE = ErrorRule(ErrorKind.SERVER, RetryVerdict.RESUBMIT)
_SERVER_ONCE = ErrorRule(ErrorKind.SERVER, RetryVerdict.RETRY_ONCE)
_SERVER_PERMANENT = ErrorRule(ErrorKind.SERVER, _P)


def _rows(rule: ErrorRule, *codes: str) -> dict[str, ErrorRule]:
    return dict.fromkeys(codes, rule)


_FACE_CHECKS = (
    "ERROR_NO_FACE_IN_FILE",
    "ERROR_FACE_SIZE_NOT_MEET_REQUIREMENTS",
    "ERROR_FACE_SIZE_RATIO_NOT_MET",
    "ERROR_SMALL_FACE_SIZE",
    "ERROR_FACE_COPY_SCENE_MISMATCH",
    "ERROR_FACE_UNRECOGNIZABLE",
    "ERROR_POOR_FACE_QUALITY",
    "ERROR_BLURRY_FACE",
    "ERROR_OBSTRUCTED_FACE",
    "ERROR_POOR_FACE_LIGHTING",
    "ERROR_INCOMPLETE_FACE",
    "ERROR_FACE_NOT_FACING_FORWARD",
    "ERROR_FACE_COUNT_INVALID",
    "ERROR_CARTOON_FACE_NOT_SUPPORTED",
    *(
        f"ERROR_{part}_OCCLUSION_TOO_HIGH"
        for part in ("LEFT_EYE", "RIGHT_EYE", "LEFT_FACE", "RIGHT_FACE", "CHIN", "NOSE", "MOUTH")
    ),
)

AILABTOOLS_ERRORS: dict[str, ErrorRule] = {
    # 400: parameters, formats, quality checks, list limits.
    **_rows(
        _BAD_INPUT,
        "ERROR_PARAMETERS",
        "MISSING_PARAMETERS",
        "ERROR_INVALID_PARAMETER",
        "PARAMETERS_CANNOT_EMPTY",
        "ERROR_INVALID_URL",
        "UNSUPPORTED_PARAMETER_VALUES",
        "ERROR_INVALID_PARAMETER_FORMAT",
        "ERROR_PARAMETER_CONVERSION_FAILED",
        "ERROR_MASK_IMAGE_RESOLUTION_MISMATCH",
        "ERROR_MISSING_LIMIT_PARAMETER",
        "ERROR_MISSING_TASKS_PARAMETER",
        "ERROR_MISSING_ASSURE_DIRECTION_PARAMETER",
        "ERROR_MISSING_MIN_HEIGHT_PARAMETER",
        "ERROR_INVALID_SIDE_PARAMETER",
        "ERROR_UNSUPPORTED_RESPONSE_FORMAT",
        "ERROR_INVALID_OUTPUT_FORMAT",
        "ERROR_MISSING_OUTPUT_FORMAT",
        "ERROR_QUALITY_CONTROL_ERROR",
        "ERROR_LIVENESS_CONTROL_ERROR",
        "ERROR_INVALID_FACE_BOX_PARAMETER",
        "ERROR_INVALID_BIG_EYES_PARAMETER",
        "ERROR_INVALID_FACE_SLIMMING_PARAMETER",
        "ERROR_INVALID_SMOOTHING_PARAMETER",
        "ERROR_INVALID_SKIN_WHITENING_PARAMETER",
        "ERROR_TOO_MANY_GROUPS_IN_GROUP_LIST",
        "ERROR_TOO_MANY_UIDS_IN_UID_LIST",
        "ERROR_TOO_MANY_APPS_IN_APP_LIST",
    ),
    # 401/403: the key, the application, the account.
    **_rows(
        _AUTH,
        "ERROR_USER_NOT_EXISTS",
        "ERROR_APPLICATIONS_NOT_EXISTS",
        "ERROR_USER_LOCKED",
        "ERROR_ILLEGAL_OPERATION",
    ),
    # 404 and 410: gone or never there (an expired async task included).
    **_rows(
        _NOT_FOUND,
        "ERROR_AI_NOT_EXISTS",
        "ERROR_FILE_NOT_FOUND",
        "ERROR_FACE_NOT_FOUND",
        "ERROR_USER_GROUP_NOT_FOUND",
        "ERROR_USER_NOT_FOUND",
        "ERROR_FACE_TOKEN_NOT_FOUND",
        "ERROR_CONTENT_NOT_FOUND",
        "ERROR_RESOURCE_NOT_FOUND",
        "ERROR_TASK_REVOKED",
        "ERROR_RESOURCE_RECLAIMED",
    ),
    # 406: a request for a response format the API does not offer.
    "ERROR_INVALID_RESPONSE_FORMAT": _BAD_INPUT,
    # 409: state conflicts; resending the same request meets the same state.
    **_rows(
        _BAD_INPUT,
        "ERROR_FACE_ALREADY_EXISTS",
        "ERROR_DATA_ALREADY_EXISTS",
        "ERROR_USER_GROUP_ALREADY_EXISTS",
        "ERROR_USER_ALREADY_EXISTS",
        "ERROR_DUPLICATE_GROUP_NAME",
        "ERROR_RESOURCE_IN_USE",
        "ERROR_TASK_CONFLICT",
        "ERROR_TASK_REVOCATION_FAILED",
    ),
    "ERROR_TASK_STOPPED_PROCESSING": _SERVER_PERMANENT,
    # 413/415: too big, wrong type.
    **_rows(
        _BAD_INPUT,
        "ERROR_TOO_MANY_FILES",
        "FILE_SIZE_EXCEEDS_LIMIT",
        "FILE_RESOLUTION_EXCEEDS_LIMITS",
        "ERROR_HIGH_RESOLUTION",
        "ERROR_REQUEST_BODY_TOO_LARGE",
        "UNSUPPORTED_FILE_TYPES",
        "ERROR_UNSUPPORTED_GRAYSCALE_IMAGE",
    ),
    # 422: the file, the face, the scene.
    **_rows(
        _BAD_INPUT,
        "FILE_DECODING_FAILURE",
        "ERROR_ILLEGAL_FILE",
        "ERROR_INVALID_FILE",
        "ERROR_LOW_RESOLUTION",
        "ERROR_INCORRECT_FILE_COUNT",
        "ERROR_VIDEO_DURATION_EXCEEDED",
        "ERROR_CONTENT_TOO_LONG",
        *_FACE_CHECKS,
        "ERROR_QUALITY_SCORE_NOT_MEET_REQUIREMENTS",
        "ERROR_SCENE_TYPE_MISMATCH",
        "ERROR_TEMPLATE_IMAGE_QUALITY_TOO_LOW",
        "ERROR_ACTION_VERIFICATION_FAILED",
        "ERROR_SYNTHESIS_DETECTION_FAILED",
        "ERROR_LIVENESS_DETECTION_FAILED",
        "ERROR_NO_RECOGNITION_TARGET_DETECTED",
        "ERROR_IMAGE_RECOGNITION_FAILED",
        "ERROR_POSE_NOT_ENOUGH_KEYPOINTS",
    ),
    # 422: content moderation.
    **_rows(_MODERATION, "FILE_CONTENT_NON_COMPLIANCE", "ERROR_CONTENT_NON_COMPLIANCE"),
    # 429: account quotas are permanent until someone pays; only EXCEEDING_LIMITS is a rate.
    **_rows(
        _QUOTA,
        "ERROR_NOT_ENOUGH_CREDITS",
        "ERROR_FACE_TRACE_LIMIT_EXCEEDED",
        "ERROR_DATABASE_LIMIT_EXCEEDED",
        "ERROR_BATCH_TASK_LIMIT_EXCEEDED",
    ),
    "EXCEEDING_LIMITS": _THROTTLED,
    # 500: "PROCESSING_FAILURE: retry once"; an oversized response will be oversized again.
    **_rows(_SERVER_ONCE, "PROCESSING_FAILURE", "UNKNOWN_ERROR", "SERVICE_INTERNAL_ERROR"),
    "ERROR_RESPONSE_BODY_TOO_LARGE": _BAD_INPUT,
    # 501
    "ERROR_IMAGE_STORAGE_NOT_SUPPORTED": _BAD_INPUT,
    # 502: failures between AILabTools and its back ends; the job may have run.
    **_rows(
        _SERVER_ONCE,
        "ERROR_FILE_DOWNLOAD_FAILED",
        "ERROR_FILE_UPLOAD_FAILED",
        "ERROR_DATA_TRANSFER_FAILED",
        "ERROR_GET_FACE_IMAGE_FAILED",
        "ERROR_FACE_IMAGE_ADDITION_FAILED",
        "ERROR_FACE_BLENDING_FAILED",
        "FILE_SERVICE_ERROR",
        "AI_SERVICE_ERROR",
        "AI_SERVICE_INTERNAL_ERROR",
        "AI_SERVICE_UNAUTHORIZED",
        "AI_SERVICE_NOT_FOUND",
        "ERROR_GATEWAY",
    ),
    # 503: resources busy or throttled; refused before processing.
    **_rows(
        _UNAVAILABLE,
        "ERROR_CLEANING_USER_GROUP_DATA",
        "ERROR_INSUFFICIENT_RESOURCES",
        "ERROR_RESOURCE_IN_TRANSIT",
        "ERROR_RESOURCE_UNAVAILABLE",
    ),
    "AI_SERVICE_FLOW_RESTRICTION": _THROTTLED,
    # 504: timeouts after the job was handed on.
    **_rows(_SERVER_ONCE, "ERROR_FILE_DOWNLOAD_TIMEOUT", "AI_SERVICE_TIMEOUT"),
}
