"""Read what users point the flows at: local paths, ``file://`` URIs and ``s3://`` objects,
and check that an output path never overwrites them.

Errors are ``InputError``s naming the reference, raised before any paid call.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import anyio.to_thread

from prefect_image_edit.errors import InputError
from prefect_image_edit.tasks.models import has_parent_segment

__all__ = [
    "IMAGE_SUFFIXES",
    "any_s3",
    "check_output_path",
    "is_within",
    "list_sources",
    "read_local",
    "read_source",
    "resolve_against",
    "source_root",
    "split_s3_uri",
]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif")
MAX_SOURCE_BYTES = 200 * 1024 * 1024


def split_s3_uri(uri: str) -> tuple[str, str]:
    parts = urlsplit(uri)
    if parts.scheme != "s3" or not parts.netloc:
        raise InputError("expected s3://bucket/key", source=uri)
    return parts.netloc, parts.path.lstrip("/")


def any_s3(refs: Iterable[str | None]) -> bool:
    """Whether any of ``refs`` is an ``s3://`` URI (None entries are skipped)."""
    return any(ref and ref.startswith("s3://") for ref in refs)


def local_path(ref: str) -> Path:
    if ref.startswith("file://"):
        return Path(unquote(urlsplit(ref).path))
    return Path(ref).expanduser()


def source_root(ref: str) -> str:
    """The folder a file sits in: ``s3://bucket/prefix/`` or a resolved local folder path."""
    if ref.startswith("s3://"):
        bucket, key = split_s3_uri(ref)
        folder = key.rsplit("/", 1)[0] + "/" if "/" in key else ""
        return f"s3://{bucket}/{folder}"
    return str(local_path(ref).resolve().parent)


def resolve_against(ref: str, root: str) -> str:
    """``ref`` as written in a file under ``root``: relative references are relative to it."""
    if ref.startswith(("s3://", "file://")) or ref.startswith(("/", "~")):
        return ref
    if root.startswith("s3://"):
        return root + ref
    return str(Path(root) / ref)


def is_within(ref: str, root: str) -> bool:
    """Whether ``ref`` stays under ``root`` (from :func:`source_root`), links followed.

    An S3 key with a ``.`` or ``..`` segment is never within (some stores normalise them);
    a local reference is within only if its real path (symlinks resolved) is.
    """
    if root.startswith("s3://"):
        if not ref.startswith("s3://"):
            return False
        bucket, key = split_s3_uri(ref)
        root_bucket, prefix = split_s3_uri(root)
        return (
            bucket == root_bucket
            and key.startswith(prefix)
            and not ({".", ".."} & set(key.split("/")))
        )
    if ref.startswith("s3://"):
        return False
    try:
        return local_path(ref).resolve().is_relative_to(Path(root).resolve())
    except (OSError, RuntimeError):  # a symlink loop: not provably inside
        return False


def read_local(ref: str, max_bytes: int = MAX_SOURCE_BYTES) -> bytes:
    """The bytes of a local path or ``file://`` URI (blocking: see ``read_source``)."""
    path = local_path(ref)
    if not path.exists():
        raise InputError("file not found", source=ref)
    if not path.is_file():
        raise InputError("not a file", source=ref)
    if path.stat().st_size > max_bytes:
        raise InputError(f"larger than {max_bytes} bytes", source=ref)
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot be read ({exc.strerror})", source=ref) from exc


def _read_s3(ref: str, client: Any, max_bytes: int = MAX_SOURCE_BYTES) -> bytes:
    from botocore.exceptions import ClientError

    bucket, key = split_s3_uri(ref)
    if client is None:
        raise InputError("reading s3:// sources needs an S3 archive block", source=ref)
    try:
        body = client.get_object(Bucket=bucket, Key=key)["Body"]
        return body.read(max_bytes + 1)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "error")
        raise InputError(f"cannot be read from S3 ({code})", source=ref) from exc


async def read_source(
    ref: str, *, s3_client: Any = None, max_bytes: int = MAX_SOURCE_BYTES
) -> bytes:
    """The bytes of a path, ``file://`` URI or ``s3://bucket/key`` (read in a worker thread).

    Raises:
        InputError: missing, not a file, unreadable, or larger than ``max_bytes``.
    """
    if ref.startswith("s3://"):
        data = await anyio.to_thread.run_sync(_read_s3, ref, s3_client, max_bytes)
        if len(data) > max_bytes:
            raise InputError(f"larger than {max_bytes} bytes", source=ref)
        return data
    return await anyio.to_thread.run_sync(read_local, ref, max_bytes)


def list_sources(location: str, *, s3_client: Any = None) -> list[str]:
    """Image files in a folder (not recursive) or under an S3 prefix, sorted by name."""
    if location.startswith("s3://"):
        if s3_client is None:
            raise InputError("listing an s3:// prefix needs an S3 archive block", source=location)
        bucket, prefix = split_s3_uri(location)
        refs: list[str] = []
        for page in s3_client.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix=prefix
        ):
            for item in page.get("Contents", []):
                if item["Key"].lower().endswith(IMAGE_SUFFIXES):
                    refs.append(f"s3://{bucket}/{item['Key']}")
        return sorted(refs)
    folder = local_path(location)
    if not folder.is_dir():
        raise InputError("not a folder", source=location)
    return sorted(
        str(p) for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
    )


def _same_file(a: Path, b: Path) -> bool:
    try:
        if a.exists() and b.exists():
            return a.samefile(b)
    except OSError:
        pass
    return os.path.normcase(a.resolve()) == os.path.normcase(b.resolve())


def check_output_path(path: str | os.PathLike[str], image: str) -> None:
    """Refuse writing the edited image over its input, before any paid call.

    Call it with each local path the flow will write (after variant names are added) and
    the image reference the user gave. ``s3://`` inputs cannot be overwritten by a local path.

    Raises:
        InputError: ``path`` is the input file (same file, a link to it, or the same path
            spelled another way), or has a ``..`` segment after a named one.
    """
    target = Path(path).expanduser()
    if has_parent_segment(os.fspath(path)):
        raise InputError(
            "the output path climbs out of a folder it names ('..' after a folder)",
            source=os.fspath(path),
        )
    if image.startswith("s3://"):
        return
    if _same_file(target, local_path(image)):
        raise InputError(
            "the output path is the input image itself: choose another path so the original "
            "is kept",
            source=os.fspath(path),
        )
