"""Durable copies of results: content-addressed, streamed, idempotent (no Prefect inside).

- ``keys``: archive keys and object metadata, pure functions.
- ``store``: where objects go (S3-compatible or a local directory) behind one small protocol.
- ``download``: fetching a vendor result URL from an allow-list of hosts, streamed, size-capped.
- ``archiver``: spool, hash, upload once and verify.
- ``multipart``: a large object's parts read in place from the spool, a few in flight.
"""

from prefect_image_edit.archive.archiver import archive_bytes, archive_stream
from prefect_image_edit.archive.download import AllowList, download_to_spool
from prefect_image_edit.archive.keys import archive_key, extension_for, object_metadata
from prefect_image_edit.archive.store import ArchivedObject, ArchiveStore, LocalStore, S3Store

__all__ = [
    "AllowList",
    "ArchiveStore",
    "ArchivedObject",
    "LocalStore",
    "S3Store",
    "archive_bytes",
    "archive_key",
    "archive_stream",
    "download_to_spool",
    "extension_for",
    "object_metadata",
]
