"""Caching and retry policy for the tasks that call vendors: content keys, locks, verdicts.

Cache keys are the content (docs/design.md#cache-keys): sha256 of the prepared input
bytes, the vendor, the action and the canonical parameters (seed included), under a version
tag. Never the run id or the task's source code, so re-runs, flow retries and other flows with
the same inputs find what was already paid for, and upgrading the pack does not re-pay.

Isolation is SERIALIZABLE: two concurrent runs of the same inputs take turns, and the second
finds the first's result instead of paying again. ``paid_call_cache_policy`` locks with flock
(one machine); ``state_lock_cache_policy`` with the pack state's per-input lock
(``StateLockManager``: flock on the embedded state, PostgreSQL advisory locks when
``PREFECT_IMAGE_EDIT_STATE_URL`` names a database), so runs on many machines take turns too.

Retries are decided by one function reading the error's retry verdict (vendors/errors.py).
It inspects ``state.data`` (the exception) rather than calling ``state.result()``, which never
raises inside async tasks (docs/prefect.md#retry-conditions-in-async-tasks);
Prefect calls it only if it is a plain
function.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Mapping
from contextvars import ContextVar
from typing import Any

from prefect.cache_policies import CacheKeyFnPolicy, CachePolicy
from prefect.locking.protocol import LockManager

from prefect_image_edit.errors import ImageEditError
from prefect_image_edit.state.prefect_locks import StateLockManager
from prefect_image_edit.tasks.locking import FlockLockManager
from prefect_image_edit.tasks.settings import get_settings

__all__ = [
    "CACHE_VERSION",
    "LOCKS",
    "MAX_RETRY_AFTER_SECONDS",
    "STATE_LOCKS",
    "BackoffDelays",
    "content_key",
    "is_transient",
    "paid_call_cache_policy",
    "retry_delays",
    "set_retry_after",
    "should_retry",
    "state_lock_cache_policy",
]

CACHE_VERSION = "v1"

MAX_RETRY_AFTER_SECONDS = 60.0
"""The longest ``Retry-After`` honoured; a vendor asking for more is waited on for this long."""

_retry_after: ContextVar[float | None] = ContextVar("image_edit_retry_after", default=None)

LOCKS = FlockLockManager(lambda: get_settings().locks_dir)

STATE_LOCKS = StateLockManager()
"""The state's per-input locks; the store is resolved at each acquisition, not at import."""


def content_key(
    kind: str,
    vendor: str,
    action: str,
    inputs: Mapping[str, str],
    parameters: Mapping[str, Any],
) -> str:
    """A stable, path-safe key: ``image-edit/<kind>/<vendor>/<sha256 of the canonical JSON>``."""
    canonical = json.dumps(
        {
            "version": CACHE_VERSION,
            "vendor": vendor,
            "action": action,
            "inputs": dict(sorted(inputs.items())),
            "parameters": parameters,
        },
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    )
    digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    return f"image-edit/{kind}/{vendor}/{digest}"


def paid_call_cache_policy(cache_key_fn, *, lock_manager: LockManager | None = None) -> CachePolicy:
    """A content-key policy with SERIALIZABLE isolation under crash-safe locks.

    Args:
        cache_key_fn: ``(context, parameters) -> key``: the content key.
        lock_manager: Whose locks; default the flock ``LOCKS`` of this machine.
    """
    return CacheKeyFnPolicy(cache_key_fn=cache_key_fn).configure(
        isolation_level="SERIALIZABLE", lock_manager=lock_manager or LOCKS
    )


def state_lock_cache_policy(cache_key_fn) -> CachePolicy:
    """``paid_call_cache_policy`` under the state's per-input lock (``STATE_LOCKS``).

    The lock is the one the state store holds per content key, on every machine sharing the
    state. It is not re-entrant: a task under this policy already holds it for its key (the
    engine took it), so its body must never take ``store.lock(key)`` for the same key.
    """
    return paid_call_cache_policy(cache_key_fn, lock_manager=STATE_LOCKS)


class BackoffDelays(list):
    """Prefect's ``retry_delay_seconds``, computed when a retry is scheduled, not at import.

    Prefect indexes this list with the retry number when a task fails. Each delay is the pack's
    backoff (``PREFECT_IMAGE_EDIT_RETRY_BACKOFF`` read at that moment, doubling per retry, with
    up to 50 % jitter added here), and never shorter than the ``Retry-After`` the vendor sent
    with a rate-limited answer (clamped to :data:`MAX_RETRY_AFTER_SECONDS`). Prefect's own
    jitter stays off: it could shorten a delay below what the vendor asked for.
    """

    def __init__(self, retries: int) -> None:
        super().__init__([0.0] * retries)

    def __getitem__(self, index):  # type: ignore[override]
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        base = get_settings().retry_backoff_seconds * 2**index
        delay = base * (1 + 0.5 * random.random())
        hint = _retry_after.get()
        return max(delay, min(hint, MAX_RETRY_AFTER_SECONDS)) if hint else delay

    def __iter__(self):
        return (self[i] for i in range(len(self)))


def retry_delays(retries: int) -> BackoffDelays:
    """Exponential backoff from the pack's settings, read at retry time (see BackoffDelays)."""
    return BackoffDelays(retries)


def should_retry(task, task_run, state) -> bool:
    """Prefect ``retry_condition_fn``: retry exactly what the error calls transient.

    The pack's errors carry ``transient`` (vendor errors derive it from their classification
    verdict; the task itself turns a second ambiguous failure into a permanent one, so a
    possibly billed job is resent at most once). Foreign errors retry only for storage network
    failures and timeouts. A vendor's ``Retry-After`` is handed to :class:`BackoffDelays`,
    which Prefect reads right after this returns.
    """
    exc = state.data if isinstance(state.data, BaseException) else None
    set_retry_after(exc)
    return is_transient(exc)


def set_retry_after(error: BaseException | None) -> None:
    """Hand the vendor's ``Retry-After`` (if any) to the next delay :class:`BackoffDelays` gives."""
    _retry_after.set(getattr(error, "retry_after", None))


def is_transient(error: BaseException | None) -> bool:
    """Whether trying the same step again may succeed: the one retry decision.

    The pack's errors say so themselves (``ImageEditError.transient``); foreign errors count
    only for storage network failures and timeouts.
    """
    if isinstance(error, ImageEditError):
        return error.transient
    return _is_transient_storage_error(error) or isinstance(error, TimeoutError)


def _is_transient_storage_error(exc: BaseException | None) -> bool:
    try:
        from botocore.exceptions import ClientError, ConnectionError, HTTPClientError
    except ImportError:  # pragma: no cover - boto3 is a dependency
        return False
    if isinstance(exc, (ConnectionError, HTTPClientError)):
        return True
    if isinstance(exc, ClientError):
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        return status >= 500 or status == 429
    return False
