"""The archiver against a local directory and a real SeaweedFS S3 server."""

from __future__ import annotations

import hashlib

import pytest

from prefect_image_edit.archive import LocalStore, S3Store, archive_bytes, archive_stream
from prefect_image_edit.archive.archiver import ArchiveVerificationError

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40
SHA = hashlib.sha256(PNG).hexdigest()
META = {"vendor": "tencent", "action": "ImageInpaintingRemoval", "request_id": "req-1"}


def _archive(store, data=PNG, chunks=None):
    return archive_stream(
        store,
        chunks or [data[i : i + 1000] for i in range(0, len(data), 1000)],
        prefix="image-edit",
        vendor="tencent",
        media_type="image/png",
        metadata=META,
    )


def test_local_store_round_trip_and_idempotence(tmp_path):
    store = LocalStore(tmp_path)
    first = _archive(store)
    assert first.key == f"image-edit/tencent/{SHA}.png"
    assert first.sha256 == SHA and first.size == len(PNG)
    assert first.metadata["request-id"] == "req-1"
    assert store.open(first.key).read() == PNG
    second = archive_bytes(
        store, PNG, prefix="image-edit", vendor="tencent", media_type="image/png", metadata=META
    )
    assert second.uri == first.uri and second.sha256 == first.sha256
    assert store.open(first.key).read() == PNG
    assert not list(tmp_path.rglob(".partial-*"))


def test_local_store_replaces_a_corrupt_object(tmp_path):
    store = LocalStore(tmp_path)
    first = _archive(store)
    (tmp_path / first.key).write_bytes(b"truncated")
    _archive(store)
    assert store.open(first.key).read() == PNG


def test_local_store_refuses_keys_outside_its_directory(tmp_path):
    with pytest.raises(ValueError):
        LocalStore(tmp_path).head("../outside.png")


@pytest.fixture
def bucket(seaweedfs):
    seaweedfs.create_bucket("archive-tests")
    return S3Store(seaweedfs.client(), "archive-tests")


def test_s3_upload_is_streamed_verified_and_idempotent(bucket):
    first = _archive(bucket)
    assert first.uri == f"s3://archive-tests/image-edit/tencent/{SHA}.png"
    head = bucket.client.head_object(Bucket="archive-tests", Key=first.key)
    assert head["ContentType"] == "image/png"
    assert head["Metadata"]["sha256"] == SHA
    assert head["Metadata"]["vendor"] == "tencent"
    assert head["Metadata"]["request-id"] == "req-1"
    assert head["ContentLength"] == len(PNG)
    again = _archive(bucket)
    assert (again.uri, again.sha256) == (first.uri, first.sha256)
    assert bucket.open(first.key).read() == PNG


def test_s3_upload_is_one_request(bucket):
    sent: list[str] = []
    bucket.client.meta.events.register(
        "before-send.s3", lambda request, **_: sent.append(request.method)
    )
    try:
        _archive(bucket)
    finally:
        bucket.client.meta.events.unregister("before-send.s3")
    assert sent == ["PUT"]


def test_s3_mismatching_object_is_uploaded_again(bucket):
    key = f"image-edit/tencent/{SHA}.png"
    bucket.client.put_object(
        Bucket="archive-tests", Key=key, Body=b"junk", Metadata={"sha256": SHA}
    )
    _archive(bucket)
    assert bucket.open(key).read() == PNG


def test_s3_verification_catches_a_store_that_loses_bytes(bucket, monkeypatch):
    real_put = bucket.put

    def lossy_put(key, fileobj, **kwargs):
        fileobj.read(10)  # the store silently drops the first bytes
        return real_put(key, fileobj, **kwargs)

    monkeypatch.setattr(bucket, "put", lossy_put)
    data = PNG + b"different"
    with pytest.raises(ArchiveVerificationError):
        archive_bytes(
            bucket, data, prefix="lossy", vendor="tencent", media_type="image/png", metadata=META
        )


def _requests(client):
    """Record ``(method, query keys)`` of every request the client sends."""
    sent: list[tuple[str, str]] = []

    def record(request, **_):
        query = request.url.split("?", 1)[1] if "?" in request.url else ""
        keys = sorted({part.split("=", 1)[0] for part in query.split("&") if part})
        sent.append((request.method, ",".join(keys)))

    client.meta.events.register("before-send.s3", record)
    return sent, lambda: client.meta.events.unregister("before-send.s3", record)


def test_a_large_result_rolls_to_disk_and_goes_up_in_parts_read_in_place(bucket, monkeypatch):
    import os

    from prefect_image_edit.archive import archiver as archiver_module
    from prefect_image_edit.archive import multipart

    monkeypatch.setattr(archiver_module, "SPOOL_MEMORY_BYTES", 1024 * 1024)
    data = os.urandom(17 * 1024 * 1024)  # over the single-PUT size: a multipart upload
    reads: list[int] = []
    real_pread = os.pread
    monkeypatch.setattr(
        multipart.os, "pread", lambda fd, n, at: (reads.append(n), real_pread(fd, n, at))[1]
    )
    sent, stop = _requests(bucket.client)
    step = 1 << 20
    try:
        stored = archive_stream(
            bucket,
            (data[i : i + step] for i in range(0, len(data), step)),
            prefix="big",
            vendor="tencent",
            media_type="image/png",
            metadata=META,
        )
    finally:
        stop()
    assert stored.size == len(data)
    assert stored.sha256 == hashlib.sha256(data).hexdigest()
    assert hashlib.sha256(bucket.open(stored.key).read()).hexdigest() == stored.sha256
    parts = multipart.part_size_for(len(data))
    count = -(-len(data) // parts)
    assert count >= 2
    assert sent == [
        ("POST", "uploads"),
        *[("PUT", "partNumber,uploadId")] * count,
        ("POST", "uploadId"),
        ("HEAD", ""),
    ]
    # Streamed from the spool file on disk, never a part read whole into memory.
    assert reads and max(reads) <= multipart.BLOCK_BYTES


def test_a_large_result_already_in_memory_goes_up_in_parts_without_a_copy(bucket):
    import os

    data = os.urandom(17 * 1024 * 1024)
    stored = archive_bytes(
        bucket, data, prefix="big-bytes", vendor="tencent", media_type="image/png", metadata=META
    )
    assert stored.size == len(data) and stored.sha256 == hashlib.sha256(data).hexdigest()
    assert bucket.open(stored.key).read() == data


def test_a_failed_part_aborts_the_upload_and_raises_a_transient_store_error(bucket, monkeypatch):
    import os

    from prefect_image_edit.archive.store import ArchiveStoreError

    real = bucket.client.upload_part
    from botocore.exceptions import ClientError

    def flaky(**kwargs):
        if kwargs["PartNumber"] == 2:
            raise ClientError(
                {"Error": {"Code": "InternalError"}, "ResponseMetadata": {"HTTPStatusCode": 500}},
                "UploadPart",
            )
        return real(**kwargs)

    monkeypatch.setattr(bucket.client, "upload_part", flaky)
    data = os.urandom(17 * 1024 * 1024)
    with pytest.raises(ArchiveStoreError) as caught:
        archive_bytes(
            bucket, data, prefix="flaky", vendor="tencent", media_type="image/png", metadata=META
        )
    assert caught.value.transient
    key = f"flaky/tencent/{hashlib.sha256(data).hexdigest()}.png"
    assert bucket.head(key) is None
    pending = bucket.client.list_multipart_uploads(Bucket="archive-tests", Prefix="flaky/")
    assert not pending.get("Uploads")


def test_extra_memory_of_a_large_upload_is_bounded_whatever_its_size(bucket):
    """Python-side peak while archiving 40 MiB stays under 16 MiB (spool, parts in flight)."""
    import tracemalloc

    block = hashlib.sha256(b"seed").digest() * (1 << 15)  # 1 MiB, reused: no 40 MiB in hand
    chunks = (block[:-8] + i.to_bytes(8, "big") for i in range(40))
    tracemalloc.start()
    try:
        stored = archive_stream(
            bucket, chunks, prefix="bounded", vendor="tencent", media_type="image/png", metadata={}
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert stored.size == 40 * len(block)
    assert peak < 16 * 1024 * 1024


def test_a_part_the_store_fails_once_is_sent_again_whole(bucket):
    """botocore's retry rewinds the part (a seekable window) and signs and sends it again."""
    import os

    from botocore.awsrequest import AWSResponse

    failed: list[int] = []

    class _Raw:
        def stream(self, **_):
            yield b"<Error><Code>InternalError</Code><Message>try again</Message></Error>"

    def fail_first_part_once(request, **_):
        if "partNumber=1&" in request.url + "&" and not failed:
            request.body.read(12345)  # part of the body went out before the store failed
            failed.append(1)
            return AWSResponse(request.url, 500, {}, _Raw())
        return None

    bucket.client.meta.events.register("before-send.s3.UploadPart", fail_first_part_once)
    try:
        data = os.urandom(17 * 1024 * 1024)
        stored = archive_bytes(
            bucket, data, prefix="retried", vendor="tencent", media_type="image/png", metadata={}
        )
    finally:
        bucket.client.meta.events.unregister("before-send.s3.UploadPart", fail_first_part_once)
    assert failed == [1]
    assert bucket.open(stored.key).read() == data


def test_an_s3_store_makes_its_client_on_first_use_and_once(seaweedfs):
    """``S3Store.connecting``: a batch's start does not wait ~0.1 s for botocore; the location
    (the caches' identity) is the same as an eager store's."""
    seaweedfs.create_bucket("archive-tests")
    made = []

    def make_client():
        made.append(seaweedfs.client())
        return made[-1]

    lazy = S3Store.connecting(make_client, "archive-tests", seaweedfs.endpoint_url)
    assert lazy.location == S3Store(seaweedfs.client(), "archive-tests").location
    assert not made
    stored = _archive(lazy)
    assert lazy.head(stored.key).sha256 == SHA
    assert len(made) == 1
