"""A lean multipart upload of bytes already spooled: parts read in place, a few in flight.

boto3's ``upload_file`` runs each part through s3transfer's file wrappers and its thread pools,
up to ten parts in flight, and its HTTP layer pulls each body 16 KiB at a time (a Python round
trip of read + send per 16 KiB, in every part's thread, all contending for the GIL). Here each
part is a window on the spool (``os.pread`` on its file, or one block at a time of an in-memory
buffer) that answers every read with one block of :data:`BLOCK_BYTES`, so a part costs a few
dozen round trips instead of a thousand. Memory stays bounded whatever the object's size: at
most :data:`PARTS_IN_FLIGHT` parts are being sent, each holding about one block at a time
(botocore's signing pass asks for 1 MiB reads and gets one block each: short reads are fine).

The request signatures and payload hashes are botocore's, exactly as for ``upload_file``: a
store that checks signed payloads still checks every part.
"""

from __future__ import annotations

import contextlib
import io
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, BinaryIO

__all__ = [
    "BLOCK_BYTES",
    "MAX_PART_BYTES",
    "MIN_PART_BYTES",
    "PARTS_IN_FLIGHT",
    "PartReader",
    "part_size_for",
    "reader_for",
    "upload_parts",
]

MIN_PART_BYTES = 8 * 1024 * 1024
"""The smallest part: far above S3's 5 MiB minimum, few requests per object."""
MAX_PART_BYTES = 16 * 1024 * 1024
"""The largest part while :data:`MAX_PARTS` allows it. botocore hashes a whole part (to sign
it) before sending its first byte, so smaller parts reach the store sooner, and a failed part
is sent again whole."""
MAX_PARTS = 10_000
"""S3's limit on the number of parts; larger objects get larger parts."""
PARTS_IN_FLIGHT = 4
"""Parts sent at once: enough to keep a store busy, few enough to bound memory."""
BLOCK_BYTES = 256 * 1024
"""What a part hands out per read: more than the HTTP layer's 16 KiB (fewer round trips), less
than botocore's 1 MiB signing reads (less memory held per part in flight)."""

ReadAt = Callable[[int, int], bytes]
"""``read_at(offset, size)``: up to ``size`` bytes of the source from ``offset``."""


class PartReader(io.RawIOBase):
    """A read-only window ``[offset, offset + length)`` on a source read by position.

    ``read(n)`` answers with one block of :data:`BLOCK_BYTES` (less at the end) whatever
    ``n``: the HTTP layer asks for 16 KiB and sends whatever it gets (a larger block saves
    round trips), botocore's signing asks for 1 MiB and loops on short reads (a smaller block
    holds less memory). ``read()`` with no size returns the rest, as the contract says.
    Seekable, so botocore can hash the payload and rewind it for a retry.
    """

    def __init__(self, read_at: ReadAt, offset: int, length: int) -> None:
        super().__init__()
        self._read_at = read_at
        self._offset = offset
        self._length = length
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def __len__(self) -> int:
        return self._length

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._length}[whence]
        self._position = min(max(base + offset, 0), self._length)
        return self._position

    def read(self, size: int | None = -1) -> bytes:
        remaining = self._length - self._position
        if remaining <= 0:
            return b""
        wanted = remaining if size is None or size < 0 else min(BLOCK_BYTES, remaining)
        data = self._fetch(wanted)
        self._position += len(data)
        return data

    def _fetch(self, wanted: int) -> bytes:
        data = self._read_at(self._offset + self._position, wanted)
        if not data:  # never send fewer bytes than the Content-Length promised
            raise EOFError(f"the source ended {self._length - self._position} bytes early")
        return data

    def readall(self) -> bytes:
        return self.read(-1)

    def readinto(self, buffer: Any) -> int:  # io.RawIOBase's contract: never more than asked
        view = memoryview(buffer).cast("B")
        remaining = self._length - self._position
        wanted = min(len(view), max(remaining, 0))
        if wanted == 0:
            return 0
        data = self._fetch(wanted)
        view[: len(data)] = data
        self._position += len(data)
        return len(data)


def part_size_for(size: int) -> int:
    """Equal parts, one per slot in flight, each within [MIN_PART_BYTES, MAX_PART_BYTES].

    Equal parts finish together (no lone small part at the end), and a store is busy from the
    first request; past :data:`MAX_PARTS` parts of the largest size, parts grow to fit.
    """
    mib = 1024 * 1024
    even = -(-size // PARTS_IN_FLIGHT)
    part = min(max(-(-even // mib) * mib, MIN_PART_BYTES), MAX_PART_BYTES)
    return max(part, -(-size // MAX_PARTS))


def upload_parts(
    client: Any,
    bucket: str,
    key: str,
    read_at: ReadAt,
    size: int,
    *,
    extra: dict[str, Any],
) -> None:
    """Upload ``size`` bytes read through ``read_at`` as one multipart upload.

    ``extra`` goes to ``CreateMultipartUpload`` (content type, metadata). On any failure the
    upload is aborted (the store frees the parts sent so far) and the error propagates: the
    caller's retry sends it all again under the same content-addressed key.
    """
    part_bytes = part_size_for(size)
    upload_id = client.create_multipart_upload(Bucket=bucket, Key=key, **extra)["UploadId"]

    def send(number: int, offset: int) -> dict[str, Any]:
        length = min(part_bytes, size - offset)
        answer = client.upload_part(
            Bucket=bucket,
            Key=key,
            UploadId=upload_id,
            PartNumber=number,
            Body=PartReader(read_at, offset, length),
            ContentLength=length,
        )
        return {"PartNumber": number, "ETag": answer["ETag"]}

    pool = ThreadPoolExecutor(PARTS_IN_FLIGHT, thread_name_prefix="image-edit-part")
    try:
        futures = [
            pool.submit(send, number, offset)
            for number, offset in enumerate(range(0, size, part_bytes), start=1)
        ]
        parts = [future.result() for future in futures]
        pool.shutdown()
        client.complete_multipart_upload(
            Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
        )
    except BaseException:
        # Parts not started are dropped; parts in flight finish (or time out) first, so none
        # still reads the caller's file once this returns and the caller closes it.
        pool.shutdown(wait=True, cancel_futures=True)
        with contextlib.suppress(Exception):
            client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
        raise


def reader_for(fileobj: BinaryIO) -> ReadAt:
    """``read_at`` for a file object, from its current position on.

    A file on disk is read with ``os.pread`` (no shared position: parts read in parallel); any
    other seekable file object (an in-memory spool) one block at a time under a lock, so the
    object is never copied whole.
    """
    start = fileobj.tell()
    try:
        fd = fileobj.fileno()
    except (AttributeError, OSError, io.UnsupportedOperation):
        fd = None
    if fd is not None:
        fileobj.flush()
        return lambda offset, size: os.pread(fd, size, start + offset)
    lock = threading.Lock()

    def read_at(offset: int, size: int) -> bytes:
        with lock:
            fileobj.seek(start + offset)
            return fileobj.read(size)

    return read_at
