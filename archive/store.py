"""Where archived objects live: an S3-compatible bucket or a local directory.

Both stores speak one small protocol (head, put, open, uri_for), so the archiver and the tasks
do not care which one a user configured. Stores are synchronous (boto3 is); async callers run
them in a worker thread.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from prefect_image_edit.archive.multipart import reader_for, upload_parts
from prefect_image_edit.atomic import atomic_write
from prefect_image_edit.errors import ImageEditError

__all__ = ["ArchiveStore", "ArchiveStoreError", "ArchivedObject", "LocalStore", "S3Store"]


class ArchiveStoreError(ImageEditError):
    """The store refused or failed an operation; ``transient`` says whether to try again."""

    def __init__(self, message: str, *, transient: bool) -> None:
        self.transient = transient
        super().__init__(message)


@contextlib.contextmanager
def _store_errors(uri: str, operation: str) -> Iterator[None]:
    """Turn boto3's errors into one typed error naming the object and the HTTP status."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except ClientError as exc:
        meta = exc.response.get("ResponseMetadata", {})
        status = meta.get("HTTPStatusCode") or 0
        code = exc.response.get("Error", {}).get("Code") or "error"
        raise ArchiveStoreError(
            f"{operation} {uri} failed: {code} (HTTP {status})",
            transient=status >= 500 or status == 429,
        ) from exc
    except BotoCoreError as exc:
        raise ArchiveStoreError(
            f"{operation} {uri} failed: {type(exc).__name__}", transient=True
        ) from exc


@dataclass(frozen=True, slots=True)
class ArchivedObject:
    """A durable reference to an archived object; small, so tasks can pass and cache it."""

    uri: str
    key: str
    size: int
    sha256: str
    media_type: str
    metadata: dict[str, str] = field(default_factory=dict)
    etag: str | None = None
    """The store's ETag, where it has one (S3: the MD5 of a single-part upload)."""


class ArchiveStore(Protocol):
    @property
    def location(self) -> str:
        """Where the store is (``s3://bucket``, ``file:///dir``): its identity for caches."""

    def uri_for(self, key: str) -> str:
        """A URI naming the object (``s3://bucket/key`` or ``file:///path``)."""

    def head(self, key: str) -> ArchivedObject | None:
        """The object's size and metadata, or ``None`` when it does not exist."""

    def put(
        self, key: str, fileobj: BinaryIO, *, size: int, media_type: str, metadata: dict[str, str]
    ) -> str | None:
        """Store ``size`` bytes read from ``fileobj`` (streamed, never read whole).

        Returns:
            The store's ETag for the object, where it has one (``None`` for a local folder).
        """

    def open(self, key: str) -> BinaryIO:
        """Open the object for reading."""


SINGLE_PUT_BYTES = 16 * 1024 * 1024
"""Objects up to this size go up in one ``PutObject`` (verified by its ETag)."""


class S3Store:
    """An S3-compatible bucket, through a boto3 client the caller configured.

    Args:
        client: A boto3 S3 client (see ``S3ArchiveStorage.get_s3_client`` for path-style
            addressing and the checksum options S3-compatible stores need).
        bucket: The bucket name.
    """

    def __init__(self, client: Any, bucket: str) -> None:
        self._client = client
        self._make_client: Callable[[], Any] | None = None
        self._endpoint_url: str | None = client.meta.endpoint_url
        self.bucket = bucket

    @classmethod
    def connecting(
        cls, make_client: Callable[[], Any], bucket: str, endpoint_url: str | None
    ) -> S3Store:
        """A store whose client is made on its first request, in the worker thread that makes
        it: building a boto3 client loads botocore's service model (~0.1 s of CPU), which a
        run's start and its event loop should not wait for. ``endpoint_url`` (None: AWS S3,
        whose endpoint only the client knows) gives the store's location without a client."""
        store = cls.__new__(cls)
        store._client, store._make_client = None, make_client
        store._endpoint_url, store.bucket = endpoint_url, bucket
        return store

    @property
    def client(self) -> Any:
        """The boto3 client (made now if this store was created with ``connecting``)."""
        if self._client is None:
            assert self._make_client is not None
            self._client = self._make_client()
            self._endpoint_url = self._client.meta.endpoint_url
        return self._client

    @property
    def endpoint_url(self) -> str:
        if self._endpoint_url is None:
            self._endpoint_url = self.client.meta.endpoint_url or ""
        return self._endpoint_url

    @property
    def location(self) -> str:
        return f"s3://{self.bucket}@{self.endpoint_url}"

    def uri_for(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def head(self, key: str) -> ArchivedObject | None:
        from botocore.exceptions import ClientError

        with _store_errors(self.uri_for(key), "HEAD"):
            try:
                answer = self.client.head_object(Bucket=self.bucket, Key=key)
            except ClientError as exc:
                status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
                code = exc.response.get("Error", {}).get("Code")
                if status == 404 or code in {"404", "NoSuchKey"}:
                    return None
                raise
        metadata = dict(answer.get("Metadata") or {})
        return ArchivedObject(
            uri=self.uri_for(key),
            key=key,
            size=int(answer["ContentLength"]),
            sha256=metadata.get("sha256", ""),
            media_type=answer.get("ContentType", "application/octet-stream"),
            metadata=metadata,
            etag=str(answer.get("ETag", "")).strip('"') or None,
        )

    def put(
        self, key: str, fileobj: BinaryIO, *, size: int, media_type: str, metadata: dict[str, str]
    ) -> str | None:
        """One ``PutObject`` up to :data:`SINGLE_PUT_BYTES`, a multipart upload above.

        A single PUT answers with the ETag (the MD5 of the bytes), which is all the caller needs
        to verify the upload: no HEAD before or after. A larger object goes up in parts read in
        place from ``fileobj`` (:mod:`~prefect_image_edit.archive.multipart`: a few parts in
        flight, one block each, so memory stays bounded whatever the size). Multipart ETags
        are not an MD5: the caller verifies those by a HEAD.
        """
        extra = {"ContentType": media_type, "Metadata": metadata}
        with _store_errors(self.uri_for(key), "PUT"):
            if size <= SINGLE_PUT_BYTES:
                answer = self.client.put_object(Bucket=self.bucket, Key=key, Body=fileobj, **extra)
                return str(answer.get("ETag", "")).strip('"') or None
            upload_parts(self.client, self.bucket, key, reader_for(fileobj), size, extra=extra)
        return None

    def open(self, key: str) -> BinaryIO:
        with _store_errors(self.uri_for(key), "GET"):
            return self.client.get_object(Bucket=self.bucket, Key=key)["Body"]


class LocalStore:
    """A local directory: the embedded default when there is no cloud.

    Metadata sits beside each object in ``<name>.meta.json``. Writes go to a temporary file in
    the same directory and are renamed into place, so a crash never leaves a half object under
    its final (content-addressed) name.
    """

    _META_SUFFIX = ".meta.json"

    def __init__(self, base_dir: str | os.PathLike[str]) -> None:
        self.base_dir = Path(base_dir).expanduser().resolve()

    def _path(self, key: str) -> Path:
        path = (self.base_dir / key).resolve()
        if self.base_dir not in path.parents:
            raise ValueError(f"archive key escapes the archive directory: {key!r}")
        return path

    @property
    def location(self) -> str:
        return self.base_dir.as_uri()

    def uri_for(self, key: str) -> str:
        return self._path(key).as_uri()

    def head(self, key: str) -> ArchivedObject | None:
        path = self._path(key)
        meta_path = path.with_name(path.name + self._META_SUFFIX)
        if not path.is_file():
            return None
        try:
            record = json.loads(meta_path.read_text())
        except (OSError, ValueError):
            record = {}
        metadata = dict(record.get("metadata") or {})
        return ArchivedObject(
            uri=self.uri_for(key),
            key=key,
            size=path.stat().st_size,
            sha256=metadata.get("sha256", ""),
            media_type=record.get("media_type", "application/octet-stream"),
            metadata=metadata,
        )

    def put(
        self, key: str, fileobj: BinaryIO, *, size: int, media_type: str, metadata: dict[str, str]
    ) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        meta_path = path.with_name(path.name + self._META_SUFFIX)
        record = {"media_type": media_type, "metadata": metadata}
        atomic_write(meta_path, json.dumps(record, sort_keys=True).encode())
        atomic_write(path, fileobj)
        return None

    def open(self, key: str) -> BinaryIO:
        return self._path(key).open("rb")
