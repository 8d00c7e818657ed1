"""Preparing the person and garments for try-on, once, as a Prefect task.

Every image is read (a path, ``file://`` or ``s3://``), turned upright, 8-bit sRGB and brought
within AILabTools' try-on limits (``imaging/limits.py``, row ``ailabtools-try-on``), then staged
on this machine under its sha256. The task returns small references (``StagedFile``: path,
sha256, size, media type): the Pro and Refiner submits send these same bytes, and their cache
keys are these sha256 values. Bad input raises a typed ``InputError`` before any paid call.

Not cached: preparing is deterministic and cheap next to a paid call, so a re-run prepares
again, gets the same bytes, hence the same keys, hence the cached jobs.
"""

from __future__ import annotations

import asyncio
import io
from typing import Any

import anyio.to_thread
from prefect import task
from prefect.cache_policies import NO_CACHE

from prefect_image_edit.blocks.archive import ArchiveStorage
from prefect_image_edit.imaging import PreparedImage, prepare_image
from prefect_image_edit.tasks.models import StagedFile
from prefect_image_edit.tasks.prepare import source_client, stage_bytes
from prefect_image_edit.tasks.sources import read_source
from prefect_image_edit.tasks.try_on.models import TARGET, PreparedOutfit, TryOnPolicy

__all__ = ["prepare_try_on", "prepare_try_on_image"]


async def prepare_try_on_image(
    ref: str, *, policy: TryOnPolicy = "downscale", s3_client: Any = None
) -> tuple[StagedFile, list[str]]:
    """Read, prepare and stage one try-on image; the staged reference and what was done.

    Raises:
        InputError: unreadable, unsupported or out-of-limits input (``policy`` permitting).
    """
    data = await read_source(ref, s3_client=s3_client)

    def _prepare() -> PreparedImage:
        buffer = io.BytesIO(data)
        buffer.name = ref  # so imaging errors name the user's file
        return prepare_image(buffer, target=TARGET, policy=policy)

    prepared = await anyio.to_thread.run_sync(_prepare)
    staged = await anyio.to_thread.run_sync(
        stage_bytes, prepared.data, prepared.sha256, prepared.media_type
    )
    return staged, list(prepared.steps)


@task(name="prepare-try-on", cache_policy=NO_CACHE)
async def prepare_try_on(
    person_image: str,
    top_garment: str,
    bottom_garment: str | None = None,
    archive: ArchiveStorage | str | None = None,
    policy: TryOnPolicy = "downscale",
) -> PreparedOutfit:
    """Prepare the person and garments for try-on, once for both submits.

    Args:
        person_image: Path, ``file://`` or ``s3://`` URI of a full-body front photo.
        top_garment: Path or URI of the top garment, laid flat.
        bottom_garment: Optional bottom garment (leave empty for a dress).
        archive: The archive block (an instance, or a saved block's ``slug/name``); its S3
            client reads ``s3://`` sources.
        policy: ``downscale`` (default) brings a too-large image within the limits;
            ``fail`` refuses it.

    Raises:
        InputError: a bad image, named, before anything is paid.
    """
    named = {"person": person_image, "top": top_garment, "bottom": bottom_garment}
    client = await source_client(archive, named.values())
    given = {name: ref for name, ref in named.items() if ref}
    prepared = await asyncio.gather(
        *(prepare_try_on_image(ref, policy=policy, s3_client=client) for ref in given.values())
    )
    staged = dict(zip(given, prepared, strict=True))
    return PreparedOutfit(
        person=staged["person"][0],
        top=staged["top"][0],
        bottom=staged["bottom"][0] if "bottom" in staged else None,
        person_source=person_image,
        top_source=top_garment,
        bottom_source=bottom_garment or None,
        steps={name: steps for name, (_, steps) in staged.items()},
    )
