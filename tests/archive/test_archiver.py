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


def test_a_large_result_rolls_to_disk_and_goes_up_by_name(bucket, monkeypatch):
    import hashlib
    import os

    from prefect_image_edit.archive import archiver as archiver_module

    monkeypatch.setattr(archiver_module, "SPOOL_MEMORY_BYTES", 1024 * 1024)
    data = os.urandom(17 * 1024 * 1024)  # over the single-PUT size: a multipart upload
    sent: list[str] = []
    real = bucket.client.upload_file
    monkeypatch.setattr(
        bucket.client, "upload_file", lambda path, *a, **k: (sent.append(path), real(path, *a, **k))
    )
    step = 1 << 20
    chunks = (data[i : i + step] for i in range(0, len(data), step))
    stored = archive_stream(
        bucket, chunks, prefix="big", vendor="tencent", media_type="image/png", metadata=META
    )
    assert len(sent) == 1 and stored.size == len(data)
    assert stored.sha256 == hashlib.sha256(data).hexdigest()
    assert hashlib.sha256(bucket.open(stored.key).read()).hexdigest() == stored.sha256
