"""Scripted faults: what goes wrong with the next matching request, and whether it is billed.

A fault is queued with ``inject(vendor, kind, times=1, action=None, **params)`` and consumed by
the next ``times`` requests that match it (vendor, optionally action and account, and a request
class the kind applies to). Faults are matched first in, first out.

Billing follows the moment the fault strikes, because that is what a real vendor charges for and
what the pack must measure (the double-charge window)::

    kind                     strikes                         billed  answer
    SERVER_ERROR             before the job is accepted      no      vendor 5xx envelope
    GATEWAY_ERROR            at the front proxy              no      bare 502/503/504 HTML page
    RATE_LIMIT               before acceptance               no      vendor rate-limit code
    GATEWAY_RATE_LIMIT       at the gateway                  no      FlowLimitExceeded (Volc),
                                                                     UinLimitExceeded (Tencent),
                                                                     AI_SERVICE_FLOW_RESTRICTION
    CONCURRENCY_LIMIT        before acceptance               no      JobNumExceed, 50430,
                                                                     EXCEEDING_LIMITS
    RESET_BEFORE_PROCESSING  before acceptance               no      TCP abort, no answer
    MODERATION               input review, before work       no      ImageIllegalDetected, 50411,
                                                                     FILE_CONTENT_NON_COMPLIANCE
    NO_CREDITS               before acceptance               no      LowBalance (Tencent),
                                                                     ERROR_NOT_ENOUGH_CREDITS
    ARREARS                  before acceptance (Tencent)     no      InArrears
    TOKEN_EXPIRED            at authentication               no      AuthFailure.TokenFailure,
                             (Tencent, Volcengine)                   InvalidAccessKey (Volc)
    SLOW                     delay first, then normal        as normal
    GHOST_FACE               after work (Volcengine)         no      201304, no image delivered
    OUTPUT_MODERATION        after work (Tencent, Volc.)     no      GenerateImageFailed, 50511
    TASK_FAILURE             async task fails (AILabTools)   no      failed task when queried
    STUCK_QUEUED             async task never starts         no      task_status 0 forever
    RESET_AFTER_PROCESSING   after the job ran               yes     TCP abort, no answer
    TIMEOUT                  after the job ran               yes     no answer, then TCP abort
    MALFORMED_JSON           after the job ran               yes     HTTP 200, truncated JSON
    EMPTY_RESULT             after the job ran               yes     HTTP 200, "" as the image
    CORRUPT_RESULT           after the job ran               yes     HTTP 200, an HTML page or a
                                                                     truncated JPEG as the image
                                                                     (Base64 and result URL)
    URL_FORBIDDEN            result download                 -       403 before the URL expires
    TRICKLE                  result download                 -       the body at ``rate`` B/s

``params`` tune a fault: ``delay`` (SLOW, seconds, default 2), ``seconds`` (TIMEOUT hang, default
the suite's ``hang_seconds``), ``status``, ``code``, ``message`` (override the error rendered),
``retry_after`` (adds a Retry-After header to rate limits), ``account`` (only that account),
``variant`` (CORRUPT_RESULT: ``html``, the default, or ``truncated``), ``rate`` (TRICKLE, bytes a
second, default 1024), ``shape`` (GHOST_FACE: ``error``, the default, or ``data`` for HTTP 200
``code: 10000`` with 201304 inside ``data`` and no image).
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

__all__ = ["BILLED", "ONLY_FOR", "Fault", "FaultBook", "FaultKind", "RequestClass"]

VENDORS = ("ailabtools", "tencent", "volcengine")


class RequestClass(StrEnum):
    """What a request is, so that a fault only strikes where it makes sense."""

    PAID = "paid"  # a synchronous paid call (erase)
    SUBMIT = "submit"  # a paid asynchronous submit (try-on)
    POLL = "poll"  # a free status query
    DOWNLOAD = "download"  # a result URL fetch


class FaultKind(StrEnum):
    """Every fault the emulators can script (see the module docstring for billing)."""

    SERVER_ERROR = "server_error"
    GATEWAY_ERROR = "gateway_error"
    RATE_LIMIT = "rate_limit"
    GATEWAY_RATE_LIMIT = "gateway_rate_limit"
    CONCURRENCY_LIMIT = "concurrency_limit"
    SLOW = "slow"
    TIMEOUT = "timeout"
    RESET_BEFORE_PROCESSING = "reset_before_processing"
    RESET_AFTER_PROCESSING = "reset_after_processing"
    MALFORMED_JSON = "malformed_json"
    MODERATION = "moderation"
    GHOST_FACE = "ghost_face"
    TASK_FAILURE = "task_failure"
    OUTPUT_MODERATION = "output_moderation"
    NO_CREDITS = "no_credits"
    ARREARS = "arrears"
    TOKEN_EXPIRED = "token_expired"
    STUCK_QUEUED = "stuck_queued"
    EMPTY_RESULT = "empty_result"
    CORRUPT_RESULT = "corrupt_result"
    URL_FORBIDDEN = "url_forbidden"
    TRICKLE = "trickle"
    # Aliases, for the names the brief uses.
    HTTP_5XX = "server_error"
    CONNECTION_RESET = "reset_before_processing"


_API = frozenset({RequestClass.PAID, RequestClass.SUBMIT, RequestClass.POLL})
_JOBS = frozenset({RequestClass.PAID, RequestClass.SUBMIT})
_ANYWHERE = _API | {RequestClass.DOWNLOAD}

# Which request classes each kind can strike.
APPLIES_TO: dict[FaultKind, frozenset[RequestClass]] = {
    FaultKind.SERVER_ERROR: _ANYWHERE,
    FaultKind.GATEWAY_ERROR: _ANYWHERE,
    FaultKind.RATE_LIMIT: _API,
    FaultKind.GATEWAY_RATE_LIMIT: _API,
    FaultKind.CONCURRENCY_LIMIT: _JOBS,
    FaultKind.SLOW: _ANYWHERE,
    FaultKind.TIMEOUT: _ANYWHERE,
    FaultKind.RESET_BEFORE_PROCESSING: _ANYWHERE,
    FaultKind.RESET_AFTER_PROCESSING: _ANYWHERE,
    FaultKind.MALFORMED_JSON: _API,
    FaultKind.MODERATION: _JOBS,
    FaultKind.GHOST_FACE: frozenset({RequestClass.PAID}),
    FaultKind.TASK_FAILURE: frozenset({RequestClass.SUBMIT}),
    FaultKind.OUTPUT_MODERATION: frozenset({RequestClass.PAID}),
    FaultKind.NO_CREDITS: _JOBS,
    FaultKind.ARREARS: _JOBS,
    FaultKind.TOKEN_EXPIRED: _API,
    FaultKind.STUCK_QUEUED: frozenset({RequestClass.SUBMIT}),
    FaultKind.EMPTY_RESULT: frozenset({RequestClass.PAID}),
    FaultKind.CORRUPT_RESULT: _JOBS,
    FaultKind.URL_FORBIDDEN: frozenset({RequestClass.DOWNLOAD}),
    FaultKind.TRICKLE: frozenset({RequestClass.DOWNLOAD}),
}

# Whether a paid call that meets the fault is charged (as data, so tests can read it).
BILLED: dict[FaultKind, bool] = {
    FaultKind.SERVER_ERROR: False,
    FaultKind.GATEWAY_ERROR: False,
    FaultKind.RATE_LIMIT: False,
    FaultKind.GATEWAY_RATE_LIMIT: False,
    FaultKind.CONCURRENCY_LIMIT: False,
    FaultKind.SLOW: True,
    FaultKind.TIMEOUT: True,
    FaultKind.RESET_BEFORE_PROCESSING: False,
    FaultKind.RESET_AFTER_PROCESSING: True,
    FaultKind.MALFORMED_JSON: True,
    FaultKind.MODERATION: False,
    FaultKind.GHOST_FACE: False,
    FaultKind.TASK_FAILURE: False,
    # Refused after the work: the vendors charge successes only.
    FaultKind.OUTPUT_MODERATION: False,
    FaultKind.NO_CREDITS: False,
    FaultKind.ARREARS: False,
    FaultKind.TOKEN_EXPIRED: False,
    # Accepted, never run: the credits reserved at submit are given back.
    FaultKind.STUCK_QUEUED: False,
    # A success answer (HTTP 200): the vendor charges it, however useless the image.
    FaultKind.EMPTY_RESULT: True,
    FaultKind.CORRUPT_RESULT: True,
    # Downloads of result URLs are never charged.
    FaultKind.URL_FORBIDDEN: False,
    FaultKind.TRICKLE: False,
}

# Kinds that only some vendors have (no documented code, or no such feature, elsewhere).
_ONLY_FOR: dict[FaultKind, frozenset[str]] = {
    FaultKind.GHOST_FACE: frozenset({"volcengine"}),
    FaultKind.TASK_FAILURE: frozenset({"ailabtools"}),
    FaultKind.STUCK_QUEUED: frozenset({"ailabtools"}),
    # AILabTools documents no output review; its moderation code is the input's.
    FaultKind.OUTPUT_MODERATION: frozenset({"tencent", "volcengine"}),
    # Volcengine's visual API documents no balance code
    # (docs/vendors/volcengine-visual.md#error-codes).
    FaultKind.NO_CREDITS: frozenset({"ailabtools", "tencent"}),
    # Only Tencent bills after the fact; AILabTools is prepaid credits.
    FaultKind.ARREARS: frozenset({"tencent"}),
    # AILabTools keys do not expire; the other two take STS tokens.
    FaultKind.TOKEN_EXPIRED: frozenset({"tencent", "volcengine"}),
}

ONLY_FOR = _ONLY_FOR

_PARAMS = {
    "delay",
    "seconds",
    "status",
    "code",
    "message",
    "retry_after",
    "variant",
    "rate",
    "shape",
}


@dataclass
class Fault:
    """One scripted fault; ``times`` is how many more requests it strikes (``None``: no end)."""

    id: int
    vendor: str
    kind: FaultKind
    times: int | None
    action: str | None = None
    account: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    hits: int = 0

    def param(self, name: str, default: Any = None) -> Any:
        return self.params.get(name, default)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "vendor": self.vendor,
            "kind": self.kind.value,
            "times": self.times,
            "action": self.action,
            "account": self.account,
            "params": dict(self.params),
            "hits": self.hits,
        }

    def matches(self, vendor: str, action: str, account: str | None, cls: RequestClass) -> bool:
        if self.vendor != vendor or cls not in APPLIES_TO[self.kind]:
            return False
        # A download only meets faults aimed at downloads, so a fault meant for the next API
        # call is not used up by an archiver fetching an earlier result.
        if cls is RequestClass.DOWNLOAD and self.action != "download":
            return False
        if self.action is not None and self.action != action:
            return False
        return self.account is None or self.account == account


class FaultBook:
    """The queue of pending faults, shared by the three servers' threads."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def inject(
        self,
        vendor: str,
        kind: FaultKind | str,
        times: int | None = 1,
        action: str | None = None,
        account: str | None = None,
        **params: Any,
    ) -> Fault:
        """Queue a fault for the next ``times`` matching requests.

        Raises:
            ValueError: unknown vendor, kind or parameter, a kind the vendor does not have, or
                ``times`` below 1.
        """
        if vendor not in VENDORS:
            raise ValueError(f"Unknown vendor {vendor!r}; expected one of {', '.join(VENDORS)}.")
        try:
            kind = FaultKind(kind)
        except ValueError:
            names = ", ".join(sorted({k.value for k in FaultKind}))
            raise ValueError(f"Unknown fault kind {kind!r}; expected one of {names}.") from None
        only = _ONLY_FOR.get(kind)
        if only is not None and vendor not in only:
            names = " and ".join(sorted(only))
            raise ValueError(f"{kind.value} exists only for {names}, not {vendor}.")
        if times is not None and int(times) < 1:
            raise ValueError(f"times must be at least 1 (or None for every request), got {times}.")
        unknown = set(params) - _PARAMS
        if unknown:
            raise ValueError(
                f"Unknown fault parameter(s) {sorted(unknown)}; use {sorted(_PARAMS)}."
            )
        fault = Fault(
            id=next(self._ids),
            vendor=vendor,
            kind=kind,
            times=None if times is None else int(times),
            action=action,
            account=account,
            params=params,
        )
        with self._lock:
            self._faults.append(fault)
        return fault

    def take(
        self, vendor: str, action: str, account: str | None, cls: RequestClass
    ) -> Fault | None:
        """Consume the first pending fault matching this request, if any."""
        with self._lock:
            for fault in self._faults:
                if fault.matches(vendor, action, account, cls):
                    fault.hits += 1
                    if fault.times is not None:
                        fault.times -= 1
                        if fault.times == 0:
                            self._faults.remove(fault)
                    return fault
        return None

    def pending(self, vendor: str | None = None) -> list[Fault]:
        with self._lock:
            return [f for f in self._faults if vendor is None or f.vendor == vendor]

    def clear(self, vendor: str | None = None) -> int:
        """Drop pending faults (of one vendor, or all); returns how many were dropped."""
        with self._lock:
            keep = [f for f in self._faults if vendor is not None and f.vendor != vendor]
            dropped = len(self._faults) - len(keep)
            self._faults = keep
        return dropped
