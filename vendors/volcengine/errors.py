"""Volcengine visual (CV) error codes, classified once, as data.

Source: docs/vendors/volcengine-visual.md#error-codes. Two layers answer errors:

- the TOP gateway, under ``ResponseMetadata.Error`` with a string ``Code`` and a numeric
  ``CodeN`` (both are keys here, so either finds the rule);
- the visual service, with a numeric ``code`` (10000 is success) and HTTP 4xx/5xx.

A code missing here is permanent (``classify``). Verdicts follow docs/design.md#money-rules:
RESUBMIT for rate and concurrency limits (refused before processing); RETRY_ONCE for internal
errors (the job ran); NEW_SEED for 201304 ("AI ghost face") and for 50511/50519 (output
moderation, "retryable" says the vendor): the output was rejected, and the same seed with the
same parameters gives the same image, so only another seed can help; PERMANENT for the rest.
50500/50501 are documented both ways; one retry is the compromise.
"""

from __future__ import annotations

from prefect_image_edit.vendors.errors import ErrorKind, ErrorRule, RetryVerdict

__all__ = ["GATEWAY_CODES", "VOLCENGINE_ERRORS"]

_P = RetryVerdict.PERMANENT

_AUTH = ErrorRule(ErrorKind.AUTH, _P)
_BAD_INPUT = ErrorRule(ErrorKind.BAD_INPUT, _P)
_NOT_FOUND = ErrorRule(ErrorKind.NOT_FOUND, _P)
_MODERATION = ErrorRule(ErrorKind.MODERATION, _P)
# The output was rejected for this seed: SeedRejectedError, resent only with another seed.
_NEW_SEED = ErrorRule(ErrorKind.BAD_SEED, RetryVerdict.NEW_SEED)
_THROTTLED = ErrorRule(ErrorKind.RATE_LIMITED, RetryVerdict.RESUBMIT)
_SERVER_ONCE = ErrorRule(ErrorKind.SERVER, RetryVerdict.RETRY_ONCE)
_SERVER_PERMANENT = ErrorRule(ErrorKind.SERVER, _P)

# Gateway (TOP) errors: (Code, CodeN) -> rule.
GATEWAY_CODES: dict[tuple[str, int], ErrorRule] = {
    ("MissingParameter", 100002): _BAD_INPUT,
    ("MissingAuthenticationToken", 100003): _AUTH,
    ("MissingRequestInfo", 100004): _AUTH,
    ("MissingSignature", 100005): _AUTH,
    # Signature expired: a clock problem, resending with the same clock cannot help.
    ("InvalidTimestamp", 100006): _AUTH,
    ("ServiceNotFound", 100007): _NOT_FOUND,
    ("InvalidActionOrVersion", 100008): _NOT_FOUND,
    ("InvalidAccessKey", 100009): _AUTH,
    ("SignatureDoesNotMatch", 100010): _AUTH,
    ("LackPolicy", 100012): _AUTH,
    ("AccessDenied", 100013): _AUTH,
    ("FlowLimitExceeded", 100018): _THROTTLED,
}

_SERVICE_CODES: dict[int, ErrorRule] = {
    # --- visual service common codes ---
    50200: _BAD_INPUT,
    50201: _BAD_INPUT,
    50204: _BAD_INPUT,
    50205: _BAD_INPUT,
    50206: _BAD_INPUT,
    50207: _BAD_INPUT,
    50209: _BAD_INPUT,
    50210: _BAD_INPUT,
    50211: _BAD_INPUT,
    50213: _BAD_INPUT,
    50214: _BAD_INPUT,
    50215: _BAD_INPUT,
    60102: _BAD_INPUT,
    60208: _MODERATION,
    50400: _AUTH,
    50402: _NOT_FOUND,
    50429: _THROTTLED,
    50430: _THROTTLED,
    50500: _SERVER_ONCE,
    50501: _SERVER_ONCE,
    # --- per-API business codes (the CV family's table) ---
    50411: _MODERATION,
    50412: _MODERATION,
    50413: _MODERATION,
    50511: _NEW_SEED,
    50512: _MODERATION,
    50518: _MODERATION,
    50519: _NEW_SEED,
    # The moderation service itself failed; the vendor says not to retry.
    50520: _SERVER_PERMANENT,
    50521: _SERVER_PERMANENT,
    50522: _SERVER_PERMANENT,
    # i2i_inpainting produced an "AI ghost face"; another seed may succeed.
    201304: _NEW_SEED,
}

VOLCENGINE_ERRORS: dict[str, ErrorRule] = {
    **{code: rule for (code, _), rule in GATEWAY_CODES.items()},
    **{str(code_n): rule for (_, code_n), rule in GATEWAY_CODES.items()},
    **{str(code): rule for code, rule in _SERVICE_CODES.items()},
}
