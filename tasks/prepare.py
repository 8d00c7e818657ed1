"""Preparing an image and its mask for one provider, as a Prefect task.

Preparation is deterministic and cheap next to a paid call, so it is not cached: a re-run
prepares again and gets the same bytes, hence the same content key, hence the cached result.
The prepared bytes are staged on this machine (content-addressed) and passed on by reference.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import io
import os
import time
import weakref
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

import anyio.to_thread
from prefect import task
from prefect.cache_policies import NO_CACHE
from pydantic import BaseModel, ConfigDict, ValidationError

from prefect_image_edit.atomic import atomic_write
from prefect_image_edit.imaging import (
    AlphaMask,
    BoxMask,
    PolygonMask,
    PreparedImage,
    PreparedMask,
    prepare_pair,
)
from prefect_image_edit.tasks.models import (
    MaskOptions,
    PreparedInputs,
    Provider,
    ResizePolicy,
    StagedFile,
)
from prefect_image_edit.tasks.providers import provider as provider_spec
from prefect_image_edit.tasks.settings import get_settings
from prefect_image_edit.tasks.sources import any_s3, read_source

__all__ = [
    "load_pair",
    "load_recipe",
    "prepare_inputs",
    "stage_bytes",
    "stage_recipe",
    "sweep_staging",
]

_EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "application/json": "json"}


def _named(data: bytes, name: str) -> io.BytesIO:
    """Bytes that carry their file name, so imaging errors name the user's file."""
    buffer = io.BytesIO(data)
    buffer.name = name
    return buffer


async def load_pair(
    image: str,
    mask: MaskOptions,
    *,
    target: str,
    policy: ResizePolicy,
    s3_client: Any = None,
    image_bytes: bytes | None = None,
) -> tuple[PreparedImage, PreparedMask]:
    """Read the user's image and mask and prepare both for ``target`` (in a worker thread).

    ``image_bytes``, when the caller already read the image, saves reading it again.

    Raises:
        InputError: unreadable, unsupported or out-of-limits input, or a bad mask.
    """
    if image_bytes is None:
        image_bytes = await read_source(image, s3_client=s3_client)
    if mask.mask:
        mask_source: Any = _named(await read_source(mask.mask, s3_client=s3_client), mask.mask)
    elif mask.boxes:
        mask_source = BoxMask(tuple(tuple(float(v) for v in box) for box in mask.boxes))
    elif mask.polygons:
        mask_source = PolygonMask(
            tuple(tuple((float(x), float(y)) for x, y in poly) for poly in mask.polygons)
        )
    else:
        mask_source = AlphaMask(_named(image_bytes, image))

    def _prepare() -> tuple[PreparedImage, PreparedMask]:
        return prepare_pair(
            _named(image_bytes, image),
            mask_source,
            target=target,
            policy=policy,
            threshold=mask.threshold,
            dilate=mask.dilate_px,
            erode=mask.erode_px,
            invert=mask.invert,
            allow_full=mask.allow_full,
        )

    return await anyio.to_thread.run_sync(_prepare)


STAGING_MAX_AGE_SECONDS = 24 * 3600
"""Staged inputs untouched for this long are deleted (``PREFECT_IMAGE_EDIT_STAGING_MAX_AGE``)."""
_SWEEP_EVERY_SECONDS = 600.0
_last_sweep = 0.0


def _staging_dir() -> Path:
    return get_settings().home / "staging"


def stage_bytes(data: bytes, sha256: str, media_type: str) -> StagedFile:
    """Write bytes under their sha256 in the staging area (once; the name is the content).

    Staged files are a short-lived hand-over between the prepare and paid tasks of a run:
    using one refreshes its age, and files untouched for a day are swept (see
    :func:`sweep_staging`). Paid results are not kept here: the ledger holds those.
    """
    folder = _staging_dir()
    path = folder / f"{sha256}.{_EXTENSIONS.get(media_type, 'bin')}"
    if path.is_file() and path.stat().st_size == len(data):
        os.utime(path)
    else:
        atomic_write(path, data)
    sweep_staging(folder)
    return StagedFile(path=str(path), sha256=sha256, size=len(data), media_type=media_type)


def sweep_staging(folder: Path | None = None, *, now: float | None = None) -> int:
    """Delete staged files older than the maximum age; at most once per 10 minutes a process.

    Returns:
        How many files were deleted.
    """
    global _last_sweep
    now = time.time() if now is None else now
    if now - _last_sweep < _SWEEP_EVERY_SECONDS:
        return 0
    _last_sweep = now
    max_age = float(os.environ.get("PREFECT_IMAGE_EDIT_STAGING_MAX_AGE", STAGING_MAX_AGE_SECONDS))
    deleted = 0
    for path in (folder or _staging_dir()).glob("*"):
        with contextlib.suppress(OSError):
            if now - path.stat().st_mtime > max_age:
                path.unlink()
                deleted += 1
    return deleted


class _Recipe(BaseModel):
    """What mapping a result back needs, as versioned JSON (never a pickle: the staging
    directory may be shared, and unpickling runs code)."""

    model_config = ConfigDict(ser_json_bytes="base64", val_json_bytes="base64")

    version: Literal[1] = 1
    image: PreparedImage
    mask: PreparedMask


def stage_recipe(prepared: PreparedImage, mask: PreparedMask) -> StagedFile:
    """Keep what mapping a result back needs, without the image's pixels (kilobytes).

    ``restore_result`` then decodes the source once instead of preparing it all again.
    """
    light = dataclasses.replace(prepared, data=b"", original=b"")
    data = _Recipe(image=light, mask=mask).model_dump_json().encode()
    return stage_bytes(data, hashlib.sha256(data).hexdigest(), "application/json")


def load_recipe(staged: StagedFile | None) -> tuple[PreparedImage, PreparedMask] | None:
    """The staged recipe, or None when it is gone or of another version (prepare again)."""
    data = read_staged(staged) if staged is not None else None
    if not data:
        return None
    try:
        recipe = _Recipe.model_validate_json(data)
    except ValidationError:
        return None
    return recipe.image, recipe.mask


def read_staged(staged: StagedFile) -> bytes | None:
    """The staged bytes, or None if they are gone or changed (then prepare again)."""
    try:
        data = Path(staged.path).read_bytes()
    except OSError:
        return None
    return data if hashlib.sha256(data).hexdigest() == staged.sha256 else None


async def source_client(archive: Any, refs: Iterable[str | None]) -> Any:
    """The S3 client that reads ``refs``' ``s3://`` sources: the archive block's, when it is S3.

    None when no ref is an ``s3://`` URI: local files need no client, and building one costs
    ~0.1 s of botocore loading.
    """
    from prefect_image_edit.blocks.archive import S3ArchiveStorage
    from prefect_image_edit.tasks.archive import resolve_archive

    if not any_s3(refs):
        return None
    storage = await resolve_archive(archive)
    if not isinstance(storage, S3ArchiveStorage):
        return None
    # The first one is built from botocore's service files (~0.1 s): not on the event loop.
    return await anyio.to_thread.run_sync(storage.get_s3_client)


_gates: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
    weakref.WeakKeyDictionary()
)


def _preparing() -> asyncio.Semaphore:
    """One preparation per core at a time, in the order they were asked for (per event loop).

    A batch starts twice its concurrency of items at once: sixteen decodes sharing two cores
    all finished late (the first after ~0.1 s instead of ~8 ms), and the first paid calls
    waited for nearly every preparation instead of their own.
    """
    loop = asyncio.get_running_loop()
    gate = _gates.get(loop)
    if gate is None:
        gate = _gates[loop] = asyncio.Semaphore(os.cpu_count() or 2)
    return gate


@task(name="prepare-inputs", task_run_name="prepare-for-{provider}", cache_policy=NO_CACHE)
async def prepare_inputs(
    image: str,
    mask: MaskOptions,
    provider: Provider = "local",
    policy: ResizePolicy = "downscale",
    archive: Any = None,
) -> PreparedInputs:
    """Turn the user's image and mask into exactly what ``provider`` accepts.

    EXIF orientation applied, 8-bit sRGB, within the provider's format, byte and pixel limits
    (by ``policy``), mask binarised to an 8-bit L PNG of the same size. Bad input raises a
    typed ``InputError`` naming the file, before any paid call. ``s3://`` sources are read
    with the archive block's S3 client.
    """
    spec = provider_spec(provider)
    client = await source_client(archive, [image, mask.mask])
    async with _preparing():
        original = await read_source(image, s3_client=client)
        prepared, prepared_mask = await load_pair(
            image, mask, target=spec.target, policy=policy, s3_client=client, image_bytes=original
        )

    def stage() -> dict[str, StagedFile]:  # four small file writes: off the event loop
        return {
            "image": stage_bytes(prepared.data, prepared.sha256, prepared.media_type),
            "mask": stage_bytes(prepared_mask.data, prepared_mask.sha256, prepared_mask.media_type),
            "recipe": stage_recipe(prepared, prepared_mask),
            "original": stage_bytes(
                original, hashlib.sha256(original).hexdigest(), "application/octet-stream"
            ),
        }

    return PreparedInputs(
        source=image,
        provider=provider,
        target=spec.target,
        policy=policy,
        outcome=prepared.outcome,
        original_size=prepared.original_size,
        sent_size=prepared.size,
        mask_coverage=prepared_mask.coverage,
        mask_bbox=prepared_mask.bbox,
        steps=[*prepared.steps, *prepared_mask.steps],
        **(await anyio.to_thread.run_sync(stage)),
    )
