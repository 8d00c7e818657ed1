"""Small helpers shared by the reliability tests (no fixtures here)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from prefect_image_edit.flows.batch import batch_erase
from prefect_image_edit.flows.erase import erase
from prefect_image_edit.tasks.batch_items import BatchSource
from prefect_image_edit.tasks.models import MaskOptions


def run_erase(image: Path, mask: Path, provider: str, connections: Any, **kwargs: Any):
    """The real ``erase`` flow; returns (final state, result or exception)."""
    state = asyncio.run(
        erase(
            str(image),
            MaskOptions(mask=str(mask)),
            provider,
            connections=connections,
            return_state=True,
            **kwargs,
        )
    )
    return state, asyncio.run(state.aresult(raise_on_failure=False))


def run_batch(source: BatchSource, connections: Any, **kwargs: Any):
    """The real ``batch-erase`` flow; returns (final state, summary or exception)."""
    state = asyncio.run(batch_erase(source, connections=connections, return_state=True, **kwargs))
    return state, asyncio.run(state.aresult(raise_on_failure=False))


def folder_of_scenes(make_scene, root: Path, count: int, prefix: str = "item") -> BatchSource:
    """``count`` unique photos in ``root/images`` with their masks in ``root/masks``."""
    images, masks = root / "images", root / "masks"
    images.mkdir(parents=True)
    masks.mkdir(parents=True)
    for i in range(count):
        image, mask = make_scene(f"{prefix}-{i:02d}")
        image.rename(images / image.name)
        mask.rename(masks / f"{prefix}-{i:02d}.png")
    return BatchSource(images=str(images), masks=str(masks))
