"""Turning a batch source (folder, S3 prefix or manifest) into items, with per-row errors.

Pure reading and pairing: a bad manifest row becomes a failed item with its reason, never an
exception that stops the batch.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import PurePosixPath
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from prefect_image_edit.tasks.models import EraseSettings, MaskOptions, Provider

__all__ = ["BatchItem", "BatchSource", "items_from_listing", "items_from_manifest", "stem"]


class BatchSource(BaseModel):
    """Where a batch's images come from, and how each finds its mask.

    Give either ``images`` (a folder or s3:// prefix) or ``manifest``. Masks are paired by file
    stem from ``masks`` (``photo.jpg`` takes ``photo.png``, ``photo_mask.png`` or
    ``photo-mask.png``), or one ``mask`` serves every image; a manifest row may name its own.
    """

    model_config = ConfigDict(frozen=True)

    images: str | None = Field(default=None, description="Folder or s3:// prefix of images.")
    manifest: str | None = Field(
        default=None,
        description="CSV or JSONL (path or s3://): one item per row with an image column, and "
        "optionally mask, boxes (JSON), provider, and vendor settings such as seed.",
    )
    masks: str | None = Field(
        default=None, description="Folder or s3:// prefix of masks, paired by file stem."
    )
    mask: MaskOptions | None = Field(
        default=None, description="One mask for every image (a file, boxes or the alpha)."
    )

    @model_validator(mode="after")
    def _one_source(self) -> BatchSource:
        if bool(self.images) == bool(self.manifest):
            raise ValueError("give exactly one of images (a folder or prefix) or manifest")
        return self


class BatchItem(BaseModel):
    """One image of a batch with its own mask and optional per-item overrides."""

    image: str
    mask: MaskOptions | None = None
    provider: Provider | None = None
    settings: dict[str, Any] = Field(default_factory=dict)
    error: str | None = Field(default=None, description="Why this row cannot be processed.")

    def erase_settings(self, base: EraseSettings) -> EraseSettings:
        return base.model_validate({**base.model_dump(), **self.settings})


def stem(ref: str) -> str:
    name = PurePosixPath(ref.rstrip("/")).name
    return name.rsplit(".", 1)[0] if "." in name else name


_MASK_SUFFIXES = ("", "_mask", "-mask", ".mask")


def items_from_listing(
    images: list[str], masks: list[str], default_mask: MaskOptions | None
) -> list[BatchItem]:
    """Pair listed images with masks by stem (or the default mask); say so when none fits."""
    by_stem = {stem(m): m for m in masks}
    items = []
    for image in images:
        found = next(
            (by_stem[stem(image) + s] for s in _MASK_SUFFIXES if stem(image) + s in by_stem), None
        )
        if found is not None:
            items.append(BatchItem(image=image, mask=MaskOptions(mask=found)))
        elif default_mask is not None:
            items.append(BatchItem(image=image, mask=default_mask))
        else:
            items.append(BatchItem(image=image, error=f"no mask named after {stem(image)!r}"))
    return items


_ITEM_FIELDS = {"image", "mask", "boxes", "polygons", "from_alpha", "invert", "provider"}
_MASK_FIELDS = set(MaskOptions.model_fields)


def _row_item(row: dict[str, Any], default_mask: MaskOptions | None) -> BatchItem:
    image = str(row.get("image") or "").strip()
    if not image:
        return BatchItem(image="<missing>", error="the row has no image")
    row = {k: v for k, v in row.items() if v not in (None, "")}
    try:
        mask_fields = {k: row[k] for k in _MASK_FIELDS if k in row}
        for key in ("boxes", "polygons"):
            if isinstance(mask_fields.get(key), str):
                mask_fields[key] = json.loads(mask_fields[key])
        mask = MaskOptions.model_validate(mask_fields) if mask_fields else default_mask
        settings = {k: v for k, v in row.items() if k not in _ITEM_FIELDS | _MASK_FIELDS}
        EraseSettings.model_validate(settings)
        item = BatchItem(image=image, mask=mask, provider=row.get("provider"), settings=settings)
    except (ValidationError, ValueError) as exc:
        reason = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else str(exc)
        return BatchItem(image=image, error=f"bad manifest row: {reason}")
    if item.mask is None:
        return BatchItem(image=image, error="no mask: the row names none and the batch has none")
    return item


def items_from_manifest(text: str, name: str, default_mask: MaskOptions | None) -> list[BatchItem]:
    """Items from CSV (header row) or JSONL (one object per line), by the file's extension."""
    rows: list[dict[str, Any]] = []
    if name.lower().endswith((".jsonl", ".ndjson")):
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except ValueError:
                rows.append({"image": f"{name}:{number}", "__error": "not valid JSON"})
                continue
            rows.append(value if isinstance(value, dict) else {"image": f"{name}:{number}"})
    else:
        rows = list(csv.DictReader(io.StringIO(text)))
    items = []
    for row in rows:
        if "__error" in row:
            items.append(BatchItem(image=row["image"], error=row["__error"]))
        else:
            items.append(_row_item(row, default_mask))
    return items
