"""Whether an archive is answering: no new paid call goes out while it is not.

A result paid for must become durable. When the archive fails (a dead or frozen store), the
results already paid for stay staged in the state (bytes, not expiring URLs), and paying for
more would only pile up results that cannot be archived. So a failure is remembered per
archive, and before the next paid call the archive is probed once; if it still fails, the call
is refused with :class:`ArchiveDown` (nothing paid), until a probe or an upload succeeds.

Process-wide and thread-safe; no Prefect.
"""

from __future__ import annotations

import threading
import time

import anyio
import anyio.to_thread

from prefect_image_edit.archive.archiver import ArchiveError
from prefect_image_edit.archive.store import ArchiveStore

__all__ = [
    "PROBE_DEADLINE_SECONDS",
    "ArchiveDown",
    "acheck_archive",
    "check_archive",
    "note_endpoint_unreachable",
    "note_failure",
    "note_success",
]

PROBE_DEADLINE_SECONDS = 10.0
"""The longest the probe of an archive known to have failed may take (a frozen store)."""

PROBE_KEY = "image-edit-health-probe"
"""A key that never exists: a HEAD of it answers 404 from a healthy store."""

_down: dict[str, float] = {}
_lock = threading.Lock()


class ArchiveDown(ArchiveError):
    """The archive is not answering: no paid call is made until it does (retry later)."""

    transient = True


def _identity(store: ArchiveStore) -> str:
    return store.location


def _endpoint_key(store: ArchiveStore) -> str | None:
    endpoint = getattr(store, "endpoint_url", None)  # S3 only; known without making a client
    return f"endpoint:{endpoint}" if endpoint else None


def note_endpoint_unreachable(endpoint_url: str) -> None:
    """One request to an S3 endpoint got no answer at all (refused, reset, timed out).

    Called from boto3's retry hook on the first such attempt, so paid calls stop while the
    client is still retrying, not only once its retries (seconds) are used up.
    """
    with _lock:
        _down[f"endpoint:{endpoint_url}"] = time.monotonic()


def note_failure(store: ArchiveStore) -> None:
    """An operation on ``store`` failed in a way that says the store itself is down."""
    with _lock:
        _down[_identity(store)] = time.monotonic()


def note_success(store: ArchiveStore) -> None:
    with _lock:
        _down.pop(_identity(store), None)
        endpoint = _endpoint_key(store)
        if endpoint is not None:
            _down.pop(endpoint, None)


def _known_down(store: ArchiveStore) -> bool:
    with _lock:
        return _identity(store) in _down or _endpoint_key(store) in _down


def check_archive(store: ArchiveStore) -> None:
    """Raise :class:`ArchiveDown` if ``store`` failed recently and still fails a probe.

    Blocking (boto3): call it in a worker thread. Cheap when the store is known healthy.
    """
    if not _known_down(store):
        return
    try:
        store.head(PROBE_KEY)
    except Exception as error:
        note_failure(store)
        raise ArchiveDown(
            f"the archive {store.location} is not answering ({type(error).__name__}); "
            "results already paid for stay staged, and no new paid call is made until it answers"
        ) from None
    note_success(store)


async def acheck_archive(store: ArchiveStore, deadline: float | None = None) -> None:
    """``check_archive`` off the event loop, with an overall deadline: a probe of a frozen
    store that does not answer in time counts as the store being down."""
    if not _known_down(store):  # the usual case, on every paid call: no thread hop
        return
    deadline = PROBE_DEADLINE_SECONDS if deadline is None else deadline
    try:
        with anyio.fail_after(deadline):
            await anyio.to_thread.run_sync(check_archive, store, abandon_on_cancel=True)
    except TimeoutError:
        note_failure(store)
        raise ArchiveDown(
            f"the archive {store.location} did not answer within {deadline:.0f} s; results "
            "already paid for stay staged, and no new paid call is made until it answers"
        ) from None
