"""Spool, hash, upload once, verify.

A result is streamed into a spooled temporary file (memory up to a threshold, then disk) while
its SHA-256 is computed in the same pass, so it is never held twice in memory. The SHA-256 names
the object, so uploading the same bytes again rewrites the same object (uploads are idempotent
without asking the store first), and the upload is verified: a single PUT by the ETag it answers
with (the MD5, computed from the spool only then: a large object never pays for it), a multipart
upload by what the store then says it holds.
"""

from __future__ import annotations

import hashlib
import io
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import IO, Any

from prefect_image_edit.archive.keys import archive_key, object_metadata
from prefect_image_edit.archive.store import ArchivedObject, ArchiveStore
from prefect_image_edit.errors import ImageEditError

__all__ = [
    "ArchiveError",
    "ArchiveVerificationError",
    "Spool",
    "SpoolTooLarge",
    "archive_bytes",
    "archive_spool",
    "archive_stream",
    "new_spool",
]

SPOOL_MEMORY_BYTES = 2 * 1024 * 1024
"""Results up to this size stay in memory; larger ones go to a file as they arrive.

Small enough that a large result's first bytes are not built up in a growing buffer only to be
copied to disk (and that a large upload's extra memory stays small), large enough for most
edited photos to skip the disk altogether.
"""
_READ_BLOCK = 1024 * 1024


class ArchiveError(ImageEditError):
    """Archiving failed; the result is not (yet) durable. Worth another try by default."""

    transient = True


class ArchiveVerificationError(ArchiveError):
    """The store holds something other than what was uploaded."""


class SpoolTooLarge(ArchiveError):
    """More bytes arrived than the configured cap allows."""

    transient = False


@dataclass
class Spool:
    """Bytes received so far, with their running size and digests."""

    file: IO[bytes]
    max_bytes: int | None = None
    size: int = 0
    roll_at: int | None = None
    """Past this many bytes the spool moves from memory to a named temporary file on disk."""

    def __post_init__(self) -> None:
        self._sha256 = hashlib.sha256()
        self._md5: str | None = None
        self._bytes: bytes | None = None  # set by of_bytes: hashed as is, never copied

    def write(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.max_bytes is not None and self.size > self.max_bytes:
            raise SpoolTooLarge(f"result is larger than the {self.max_bytes}-byte cap")
        self._sha256.update(chunk)
        self._md5 = None
        if self.roll_at is not None and self.size > self.roll_at and self.path is None:
            self._roll()
        self.file.write(chunk)

    def _roll(self) -> None:
        disk = tempfile.NamedTemporaryFile(prefix="image-edit-spool-")  # noqa: SIM115
        with self.file.getbuffer() as held:  # type: ignore[attr-defined]  # a view, not a copy
            disk.write(held)
        self.file.close()
        self.file = disk

    @property
    def path(self) -> str | None:
        """The spool's file on disk, once it has rolled there (a store can stream it by name)."""
        name = getattr(self.file, "name", None)
        return name if isinstance(name, str) else None

    @property
    def sha256(self) -> str:
        return self._sha256.hexdigest()

    @property
    def md5(self) -> str:
        """The MD5 of the bytes, computed on first use by reading the spool back.

        Only a single-PUT upload needs it (its ETag is the MD5); computing it while the bytes
        arrive would cost every large object a second full hash (MD5 is slower than SHA-256
        with the CPU's SHA extensions) that its multipart upload never uses.
        """
        if self._md5 is None:
            digest = hashlib.md5(usedforsecurity=False)
            if self._bytes is not None:
                digest.update(self._bytes)
            elif isinstance(self.file, io.BytesIO):
                with self.file.getbuffer() as view:  # no copy of the bytes
                    digest.update(view)
            else:
                self.file.flush()
                self.file.seek(0)
                block = bytearray(_READ_BLOCK)
                with memoryview(block) as view:
                    while read := self.file.readinto(view):  # type: ignore[attr-defined]
                        digest.update(view[:read])
            self._md5 = digest.hexdigest()
        return self._md5

    @classmethod
    def of_bytes(cls, data: bytes) -> Spool:
        """Wrap bytes already in memory without copying them (BytesIO shares the buffer)."""
        spool = cls(io.BytesIO(data))
        spool.size = len(data)
        spool._sha256.update(data)
        spool._bytes = data
        return spool

    def rewind(self) -> IO[bytes]:
        self.file.seek(0)
        return self.file

    def read_all(self) -> bytes:
        return self.rewind().read()

    def close(self) -> None:
        self.file.close()

    def __enter__(self) -> Spool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def new_spool(max_bytes: int | None = None) -> Spool:
    """A spool held in memory up to :data:`SPOOL_MEMORY_BYTES`, then in a named file on disk."""
    return Spool(io.BytesIO(), max_bytes, roll_at=SPOOL_MEMORY_BYTES)


def archive_spool(
    store: ArchiveStore,
    spool: Spool,
    *,
    prefix: str,
    vendor: str,
    media_type: str,
    metadata: Mapping[str, Any],
) -> ArchivedObject:
    """Upload a spool under its content-addressed key, verified, in one request when it can.

    Content-addressed keys make the upload idempotent: sending the same bytes again rewrites
    the same object. A single-part upload is verified by the ETag the PUT answers with (the
    MD5 of the bytes); a multipart one (large objects) by a HEAD of its size and sha256.
    """
    key = archive_key(prefix, vendor, spool.sha256, media_type)
    meta = object_metadata({**metadata, "sha256": spool.sha256, "size": spool.size})
    spool.rewind().flush()
    etag = store.put(key, spool.file, size=spool.size, media_type=media_type, metadata=meta)
    if etag is not None and "-" not in etag:
        if etag != spool.md5:
            raise ArchiveVerificationError(f"{store.uri_for(key)}: ETag {etag} is not the MD5")
        return ArchivedObject(
            uri=store.uri_for(key),
            key=key,
            size=spool.size,
            sha256=spool.sha256,
            media_type=media_type,
            metadata=meta,
            etag=etag,
        )
    stored = store.head(key)
    if stored is None or stored.size != spool.size or stored.sha256 != spool.sha256:
        raise ArchiveVerificationError(
            f"{store.uri_for(key)}: the store does not hold the {spool.size} bytes just uploaded"
        )
    return stored


def archive_stream(
    store: ArchiveStore,
    chunks: Iterable[bytes],
    *,
    prefix: str,
    vendor: str,
    media_type: str,
    metadata: Mapping[str, Any],
    max_bytes: int | None = None,
) -> ArchivedObject:
    """Spool ``chunks`` and archive them; see :func:`archive_spool`."""
    with new_spool(max_bytes) as spool:
        for chunk in chunks:
            spool.write(chunk)
        return archive_spool(
            store, spool, prefix=prefix, vendor=vendor, media_type=media_type, metadata=metadata
        )


def archive_bytes(
    store: ArchiveStore,
    data: bytes,
    *,
    prefix: str,
    vendor: str,
    media_type: str,
    metadata: Mapping[str, Any],
) -> ArchivedObject:
    """Archive bytes already in memory (e.g. a base64 result the vendor returned)."""
    with Spool.of_bytes(data) as spool:
        return archive_spool(
            store, spool, prefix=prefix, vendor=vendor, media_type=media_type, metadata=metadata
        )
