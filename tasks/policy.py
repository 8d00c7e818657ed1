"""Caching and retry policy for the tasks that call vendors: content keys, locks, verdicts.

Cache keys are the content (DESIGN.md, Money and idempotency): sha256 of the prepared input
bytes, the vendor, the action and the canonical parameters (seed included), under a version
tag. Never the run id or the task's source code, so re-runs, flow retries and other flows with
the same inputs find what was already paid for, and upgrading the pack does not re-pay.

Isolation is SERIALIZABLE with a flock lock manager: two concurrent runs of the same inputs
take turns, and the second finds the first's result instead of paying again.

Retries are decided by one function reading the error's retry verdict (vendors/errors.py).
It inspects ``state.data`` (the exception) rather than calling ``state.result()``, which never
raises inside async tasks (PREFECT-NOTES.md pitfall 7); Prefect calls it only if it is a plain
function.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from prefect.cache_policies import CacheKeyFnPolicy, CachePolicy
from prefect.tasks import exponential_backoff

from prefect_image_edit.archive.archiver import ArchiveError, SpoolTooLarge
from prefect_image_edit.archive.download import DownloadError
from prefect_image_edit.archive.store import ArchiveStoreError
from prefect_image_edit.errors import ImageEditError
from prefect_image_edit.tasks.locking import FlockLockManager
from prefect_image_edit.tasks.settings import get_settings
from prefect_image_edit.vendors.errors import RetryVerdict, VendorError

__all__ = [
    "CACHE_VERSION",
    "LOCKS",
    "content_key",
    "paid_call_cache_policy",
    "retry_delays",
    "should_retry",
]

CACHE_VERSION = "v1"

LOCKS = FlockLockManager(lambda: get_settings().locks_dir)


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


def paid_call_cache_policy(cache_key_fn) -> CachePolicy:
    """A content-key policy with SERIALIZABLE isolation under crash-safe flock locks."""
    return CacheKeyFnPolicy(cache_key_fn=cache_key_fn).configure(
        isolation_level="SERIALIZABLE", lock_manager=LOCKS
    )


def retry_delays(retries: int) -> list[float]:
    """Exponential backoff from the pack's settings (jitter is added by Prefect)."""
    return exponential_backoff(get_settings().retry_backoff_seconds)(retries)


_RETRYABLE = (RetryVerdict.RESUBMIT, RetryVerdict.RETRY_ONCE)


def should_retry(task, task_run, state) -> bool:
    """Prefect ``retry_condition_fn``: retry only what the classification allows.

    Vendor errors follow their verdict (the task itself turns a second ambiguous failure into a
    permanent one, so a possibly billed job is resent at most once); downloads and archive
    uploads retry when transient; bad input, expired results and unknown errors never do.
    """
    exc = state.data if isinstance(state.data, BaseException) else None
    if isinstance(exc, VendorError):
        return exc.retry in _RETRYABLE
    if isinstance(exc, (DownloadError, ArchiveStoreError)):
        return exc.transient
    if isinstance(exc, SpoolTooLarge):
        return False
    if isinstance(exc, ArchiveError):
        return True
    if isinstance(exc, ImageEditError):
        return False
    return _is_transient_storage_error(exc) or isinstance(exc, TimeoutError)


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
