"""Vendor errors: one hierarchy for every vendor, and classification tables as data.

Exception tree::

    ImageEditError
    └── VendorError                 vendor, action, code, message, http_status, request_id,
        │                           kind (ErrorKind) and retry (RetryVerdict)
        ├── VendorRequestError      no usable response: connect error, timeout, reset, bad JSON
        └── VendorAPIError          the vendor answered with an error envelope
            ├── AuthError           credentials, signature, clock skew, permissions
            ├── VendorInputError    the vendor refused the input or a parameter
            ├── ModerationError     content moderation refused the input or the output
            ├── QuotaError          no credits, arrears, account suspended
            ├── NotFoundError       unknown task, action or resource
            ├── RateLimitedError    rate or concurrency limit; back off and resend
            ├── VendorServerError   the vendor failed internally
            ├── SeedRejectedError   the output was rejected for this seed (Volcengine 201304
            │                       "AI ghost face", 50511/50519 output moderation): try another
            └── BadResultError      a success answer whose result is unusable (empty, not an
                                    image, absurd size, a non-https URL): a vendor fault, never
                                    resent silently

    InputError (also a ValueError)  raised by a client before any request leaves the machine
    └── ClientInputError            field names the argument at fault
        ├── InvalidParameterError   a parameter out of range, not an allowed value, or missing
        └── InvalidImageError       an image input missing, empty, not an image, wrong format or
                                    over the vendor's byte cap

The retry verdict is what docs/design.md#money-rules need, and the only thing Prefect's
``retry_condition_fn`` reads:

- ``RESUBMIT``: transient, and the vendor did not accept the job (rate limits, gateway errors
  before processing, connection refused). Safe to send again; nothing was billed.
- ``RETRY_ONCE``: transient, but the vendor may have accepted (and billed) the job. Retry at
  most once and record the possible double charge.
- ``NEW_SEED``: the job ran but the output was rejected; resend with another seed.
- ``PERMANENT``: auth, bad input, moderation, no credits, not found. Never retried.

Each vendor keeps one table (``dict[str, ErrorRule]``) mapping its documented codes to a rule;
codes missing from the table are permanent, because retrying an unknown error can only cost money.
Answers that carry no vendor code are classified by HTTP status (``STATUS_RULES``).

An error answer's ``Retry-After`` header (seconds or an HTTP date) is kept as ``retry_after``
(seconds, clamped to [0, 60], ``None`` when absent or unreadable); callers wait that long
instead of their own backoff.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC
from email.utils import parsedate_to_datetime
from enum import StrEnum
from typing import Any

from prefect_image_edit.errors import ImageEditError, InputError

__all__ = [
    "MAX_RETRY_AFTER",
    "STATUS_RULES",
    "AuthError",
    "BadResultError",
    "ClientInputError",
    "ErrorKind",
    "ErrorRule",
    "InvalidImageError",
    "InvalidParameterError",
    "ModerationError",
    "NotFoundError",
    "QuotaError",
    "RateLimitedError",
    "RetryVerdict",
    "SeedRejectedError",
    "VendorAPIError",
    "VendorError",
    "VendorInputError",
    "VendorRequestError",
    "VendorServerError",
    "bad_result",
    "classify",
    "error_from_rule",
    "parse_retry_after",
    "rule_for_status",
    "sanitize_message",
]


class RetryVerdict(StrEnum):
    """What a caller may do after an error; see the module docstring."""

    RESUBMIT = "resubmit"
    RETRY_ONCE = "retry_once"
    NEW_SEED = "new_seed"
    PERMANENT = "permanent"

    @property
    def transient(self) -> bool:
        return self is not RetryVerdict.PERMANENT


class ErrorKind(StrEnum):
    """What went wrong, coarse enough to pick an exception class and a fallback decision."""

    AUTH = "auth"
    BAD_INPUT = "bad_input"
    MODERATION = "moderation"
    NO_CREDITS = "no_credits"
    NOT_FOUND = "not_found"
    RATE_LIMITED = "rate_limited"
    SERVER = "server"
    NETWORK = "network"
    BAD_SEED = "bad_seed"
    BAD_RESULT = "bad_result"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class ErrorRule:
    """One row of a vendor's classification table."""

    kind: ErrorKind
    retry: RetryVerdict


UNKNOWN_RULE = ErrorRule(ErrorKind.UNKNOWN, RetryVerdict.PERMANENT)


def classify(table: dict[str, ErrorRule], code: str | int | None) -> ErrorRule:
    """Look a vendor code up in its table; unknown codes are permanent."""
    if code is None:
        return UNKNOWN_RULE
    return table.get(str(code), UNKNOWN_RULE)


# Answers without a vendor code (gateway pages, proxies, bare status codes). 429/502/503 mean the
# job never reached the service; 500/504 may have come after the service accepted it.
STATUS_RULES: dict[int, ErrorRule] = {
    400: ErrorRule(ErrorKind.BAD_INPUT, RetryVerdict.PERMANENT),
    401: ErrorRule(ErrorKind.AUTH, RetryVerdict.PERMANENT),
    403: ErrorRule(ErrorKind.AUTH, RetryVerdict.PERMANENT),
    404: ErrorRule(ErrorKind.NOT_FOUND, RetryVerdict.PERMANENT),
    413: ErrorRule(ErrorKind.BAD_INPUT, RetryVerdict.PERMANENT),
    415: ErrorRule(ErrorKind.BAD_INPUT, RetryVerdict.PERMANENT),
    422: ErrorRule(ErrorKind.BAD_INPUT, RetryVerdict.PERMANENT),
    429: ErrorRule(ErrorKind.RATE_LIMITED, RetryVerdict.RESUBMIT),
    500: ErrorRule(ErrorKind.SERVER, RetryVerdict.RETRY_ONCE),
    502: ErrorRule(ErrorKind.SERVER, RetryVerdict.RESUBMIT),
    503: ErrorRule(ErrorKind.SERVER, RetryVerdict.RESUBMIT),
    504: ErrorRule(ErrorKind.SERVER, RetryVerdict.RETRY_ONCE),
}


def rule_for_status(status: int | None) -> ErrorRule:
    """Classify an answer that carries no vendor code by its HTTP status; others are permanent."""
    if status is None:
        return UNKNOWN_RULE
    return STATUS_RULES.get(status, UNKNOWN_RULE)


_MAX_MESSAGE = 300
# Long runs of base64-ish characters are image data or tokens echoed back by a vendor.
_BLOB = re.compile(r"[A-Za-z0-9+/=_-]{64,}")


def sanitize_message(message: Any) -> str:
    """Make a vendor message safe for logs: no blobs (image data, tokens), bounded length."""
    text = "" if message is None else str(message)
    text = _BLOB.sub("<redacted>", text)
    if len(text) > _MAX_MESSAGE:
        text = text[: _MAX_MESSAGE - 3] + "..."
    return text


class VendorError(ImageEditError):
    """A vendor call failed. Every field is safe to log.

    Attributes:
        vendor: ``ailabtools``, ``tencent`` or ``volcengine``.
        action: The API action, e.g. ``ImageInpaintingRemoval``.
        code: The vendor's error code as a string (``""`` when there is none).
        message: The vendor's message, sanitised.
        http_status: The HTTP status, or ``None`` when no response arrived.
        request_id: The vendor's request id (or log id), for support tickets.
        kind: The coarse error kind.
        retry: The retry verdict.
        retry_after: Seconds the vendor asked to wait (``Retry-After``), clamped to [0, 60];
            ``None`` when it did not say.
    """

    def __init__(
        self,
        message: str,
        *,
        vendor: str,
        action: str,
        code: str = "",
        http_status: int | None = None,
        request_id: str | None = None,
        kind: ErrorKind = ErrorKind.UNKNOWN,
        retry: RetryVerdict = RetryVerdict.PERMANENT,
        retry_after: float | None = None,
    ) -> None:
        self.vendor = vendor
        self.action = action
        self.code = code
        self.message = sanitize_message(message)
        self.http_status = http_status
        self.request_id = request_id
        self.kind = kind
        self.retry = retry
        self.retry_after = retry_after
        super().__init__(self._render())

    def _render(self) -> str:
        parts = [f"{self.vendor} {self.action} failed"]
        if self.code:
            parts.append(f"[{self.code}]")
        if self.http_status is not None:
            parts.append(f"(HTTP {self.http_status})")
        text = " ".join(parts) + f": {self.message}"
        if self.request_id:
            text += f" (request id {self.request_id})"
        return text + f"; retry: {self.retry.value}"

    @property
    def transient(self) -> bool:
        """True when the same request may be sent again (``RESUBMIT`` or ``RETRY_ONCE``).

        ``NEW_SEED`` is not: the same body gives the same refused output; the erase task
        changes the seed itself.
        """
        return self.retry in (RetryVerdict.RESUBMIT, RetryVerdict.RETRY_ONCE)


class VendorRequestError(VendorError):
    """No usable response: the connection failed, timed out, was reset, or the body was garbage."""


class VendorAPIError(VendorError):
    """The vendor answered with an error envelope."""


class AuthError(VendorAPIError):
    """Credentials, signature, clock skew or permissions were refused."""


class VendorInputError(VendorAPIError):
    """The vendor refused the input or a parameter."""


class ModerationError(VendorAPIError):
    """Content moderation refused the input or the output."""


class QuotaError(VendorAPIError):
    """No credits, account in arrears or suspended."""


class NotFoundError(VendorAPIError):
    """Unknown task, action or resource (an expired async task included)."""


class RateLimitedError(VendorAPIError):
    """A rate or concurrency limit was hit; the job was not accepted."""


class VendorServerError(VendorAPIError):
    """The vendor failed internally."""


class SeedRejectedError(VendorAPIError):
    """The output was rejected for this seed; another seed may succeed.

    Volcengine 201304 ("AI ghost face") and 50511/50519 (output moderation, which the vendor
    marks retryable): the same seed and parameters give the same image, so resending the
    identical body would pay for the same rejection again.
    """


class BadResultError(VendorAPIError):
    """The vendor answered success, but the result is unusable: a vendor fault, not bad input.

    Empty (Tencent ``ResultImage: ""``, Volcengine ``[""]``), not a decodable image (an HTML
    page, truncated bytes), an absurd size, or a result URL that is not https. The call was
    probably billed; it is never resent silently (``PERMANENT``): whoever decides to pay again
    records why.
    """


_CLASS_BY_KIND: dict[ErrorKind, type[VendorAPIError]] = {
    ErrorKind.AUTH: AuthError,
    ErrorKind.BAD_INPUT: VendorInputError,
    ErrorKind.MODERATION: ModerationError,
    ErrorKind.NO_CREDITS: QuotaError,
    ErrorKind.NOT_FOUND: NotFoundError,
    ErrorKind.RATE_LIMITED: RateLimitedError,
    ErrorKind.SERVER: VendorServerError,
    ErrorKind.NETWORK: VendorServerError,
    ErrorKind.BAD_SEED: SeedRejectedError,
    ErrorKind.BAD_RESULT: BadResultError,
    ErrorKind.UNKNOWN: VendorAPIError,
}


def error_from_rule(
    rule: ErrorRule,
    *,
    vendor: str,
    action: str,
    code: str | int | None,
    message: Any,
    http_status: int | None,
    request_id: str | None,
    retry_after: float | None = None,
) -> VendorAPIError:
    """Build the exception a classification rule calls for."""
    cls = _CLASS_BY_KIND[rule.kind]
    return cls(
        str(message or code or "unknown error"),
        vendor=vendor,
        action=action,
        code="" if code is None else str(code),
        http_status=http_status,
        request_id=request_id,
        kind=rule.kind,
        retry=rule.retry,
        retry_after=retry_after,
    )


def bad_result(
    reason: str,
    *,
    vendor: str,
    action: str,
    http_status: int | None = 200,
    request_id: str | None = None,
) -> BadResultError:
    """The :class:`BadResultError` for a success answer whose result cannot be used."""
    return BadResultError(
        f"bad result: {reason}",
        vendor=vendor,
        action=action,
        http_status=http_status,
        request_id=request_id,
        kind=ErrorKind.BAD_RESULT,
        retry=RetryVerdict.PERMANENT,
    )


# Anthropic's and OpenAI's SDKs honour a Retry-After of up to 60 s; a longer wait is better
# decided by the caller's own backoff than by a vendor header.
MAX_RETRY_AFTER = 60.0


def parse_retry_after(value: str | None, *, now: Callable[[], float] = time.time) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (delta seconds or an HTTP date).

    Clamped to [0, ``MAX_RETRY_AFTER``]; ``None`` when absent or unreadable.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        try:
            moment = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if moment is None:
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        seconds = moment.timestamp() - now()
    if seconds != seconds:  # NaN
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


class ClientInputError(InputError):
    """An argument a client refused before sending anything; nothing was paid.

    Args:
        reason: What is wrong and, where it helps, what is accepted.
        field: The argument at fault, e.g. ``mask`` or ``strength``.
        source: Where the value came from (a file path), if that helps to find it.
    """

    def __init__(self, reason: str, *, field: str, source: str | None = None) -> None:
        self.field = field
        super().__init__(reason, source=f"{field} ({source})" if source else field)


class InvalidParameterError(ClientInputError):
    """A parameter is out of range, not one of the allowed values, missing or contradictory."""


class InvalidImageError(ClientInputError):
    """An image input is missing, empty, not an image, in a refused format or too large."""
