"""Archive storage blocks: where results go before their vendor URLs expire.

Why not prefect-aws's ``S3Bucket``? It can stream an upload with metadata
(``upload_from_file_object(..., ExtraArgs=...)``), but the archiver also needs ``head_object``
to make uploads idempotent and verified, the endpoint, path-style addressing and the checksum
mode as first-class fields (S3-compatible stores reject boto3's newer default checksums), and
it would add prefect-aws and aiobotocore to every install. These blocks are a thin, documented
configuration around boto3; the archiving logic is in ``prefect_image_edit.archive``.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from typing import Any, Literal

from prefect.blocks.core import Block
from pydantic import Field, SecretStr

from prefect_image_edit.archive.store import ArchiveStore, LocalStore, S3Store

__all__ = ["ArchiveStorage", "LocalArchiveStorage", "S3ArchiveStorage"]

_CLIENT_LOCK = threading.Lock()


class ArchiveStorage(Block, ABC):
    """Common shape of archive storage blocks: a key prefix and a store to put objects in.

    ``abc.ABC`` among the bases keeps this abstract class out of Prefect's block catalog
    (Prefect registers every Block subclass unless it is marked abstract this way).
    """

    prefix: str = Field(
        default="image-edit",
        description="Key prefix; results are archived as `PREFIX/VENDOR/SHA256.EXT`.",
    )

    @abstractmethod
    def get_store(self) -> ArchiveStore:
        """The store objects are written to."""


class LocalArchiveStorage(ArchiveStorage):
    """Archive results into a local directory: the embedded default when there is no cloud.

    Example:
        ```python
        from prefect_image_edit.blocks import LocalArchiveStorage

        archive = LocalArchiveStorage.load("BLOCK_NAME")
        store = archive.get_store()
        ```
    """

    _block_type_name = "Image Edit Local Archive"
    _block_type_slug = "image-edit-local-archive"
    _documentation_url = "https://docs.prefect.io/integrations/use-integrations"

    base_path: str = Field(
        default="./image-edit-archive",
        description="Directory the archive is written to; created when missing.",
    )

    def get_store(self) -> LocalStore:
        return LocalStore(self.base_path)


class S3ArchiveStorage(ArchiveStorage):
    """Archive results into an S3-compatible bucket (AWS S3, MinIO, SeaweedFS, R2, COS, TOS...).

    Example:
        ```python
        from prefect_image_edit.blocks import S3ArchiveStorage

        archive = S3ArchiveStorage.load("BLOCK_NAME")
        s3 = archive.get_s3_client()
        ```
    """

    _block_type_name = "Image Edit S3 Archive"
    _block_type_slug = "image-edit-s3-archive"
    _logo_url = "https://cdn.sanity.io/images/3ugk85nk/production/d74b16fe84ce626a2de17a2c9b3ec4dbc39c3d8b-250x250.png"
    _documentation_url = "https://docs.prefect.io/integrations/use-integrations"

    bucket: str = Field(default=..., description="The bucket results are archived in.")
    endpoint_url: str | None = Field(
        default=None,
        title="Endpoint URL",
        description="The S3 endpoint of an S3-compatible store; empty for AWS S3.",
    )
    region_name: str = Field(default="us-east-1", description="The region of the bucket.")
    aws_access_key_id: str | None = Field(
        default=None,
        title="Access Key ID",
        description="The access key id; empty to use boto3's default credential chain.",
    )
    aws_secret_access_key: SecretStr | None = Field(
        default=None, title="Secret Access Key", description="The secret access key."
    )
    aws_session_token: SecretStr | None = Field(
        default=None, title="Session Token", description="The session token of temporary keys."
    )
    addressing_style: Literal["path", "virtual", "auto"] = Field(
        default="path",
        description="Bucket addressing; S3-compatible stores on an IP or custom host need path.",
    )
    checksum_mode: Literal["when_required", "when_supported"] = Field(
        default="when_required",
        description="boto3 request/response checksum mode; when_required suits stores that "
        "reject the newer default checksums.",
    )

    def get_s3_client(self) -> Any:
        """A boto3 S3 client for this configuration (cached, boto3 clients are thread-safe)."""
        return _s3_client(
            self.endpoint_url,
            self.region_name,
            self.aws_access_key_id,
            self.aws_secret_access_key.get_secret_value() if self.aws_secret_access_key else None,
            self.aws_session_token.get_secret_value() if self.aws_session_token else None,
            self.addressing_style,
            self.checksum_mode,
        )

    def get_store(self) -> S3Store:
        # The client is made on the store's first request, in the thread that makes it.
        return S3Store.connecting(self.get_s3_client, self.bucket, self.endpoint_url)


_clients: dict[tuple[Any, ...], Any] = {}


def _s3_client(*config: Any) -> Any:
    """One client per configuration, made once even when threads ask at the same time (the
    second waits for the first instead of building another)."""
    with _CLIENT_LOCK:  # boto3 session creation is not thread-safe; clients are
        client = _clients.get(config)
        if client is None:
            client = _clients[config] = _new_s3_client(*config)
        return client


def _new_s3_client(
    endpoint_url: str | None,
    region_name: str,
    access_key_id: str | None,
    secret_access_key: str | None,
    session_token: str | None,
    addressing_style: str,
    checksum_mode: str,
) -> Any:
    import boto3
    from botocore.config import Config

    config = Config(
        s3={"addressing_style": addressing_style},
        request_checksum_calculation=checksum_mode,
        response_checksum_validation=checksum_mode,
        retries={"mode": "standard", "max_attempts": 5},
        # A frozen store must not hang a run: each attempt gives up after these (seconds).
        connect_timeout=5,
        read_timeout=30,
    )
    client = boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint_url,
        region_name=region_name,
        aws_access_key_id=access_key_id,
        aws_secret_access_key=secret_access_key,
        aws_session_token=session_token,
        config=config,
    )
    client.meta.events.register("needs-retry.s3", _unanswered_attempt(client.meta.endpoint_url))
    return client


def _unanswered_attempt(endpoint_url: str) -> Any:
    """A boto3 retry hook: an attempt that got no answer at all marks the archive down at once
    (``archive.health``), so no new paid call goes out while boto3 keeps retrying."""

    def hook(caught_exception: Exception | None = None, **_: Any) -> None:
        if caught_exception is not None:
            from prefect_image_edit.archive.health import note_endpoint_unreachable

            note_endpoint_unreachable(endpoint_url)
        return None

    return hook
