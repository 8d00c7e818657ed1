"""Turning a batch source (folder, S3 prefix or manifest) into items, with per-row errors.

Reading and pairing, before any paid call:

- a folder or prefix is listed and each photo paired with its mask by file stem; a file that
  is the mask of another file is never an item, and an ambiguous pairing refuses the batch
  (:class:`AmbiguousMaskError`, naming the files);
- a manifest is capped (bytes and rows), must be UTF-8 CSV or JSONL (:class:`ManifestError`),
  and its rows may only name files under the manifest's own folder or prefix unless the source
  says ``allow_outside_root``; a bad row becomes a failed item with its reason (one line, no
  traceback), never an exception that stops the batch. Local files a row names are checked
  for existence here, so a manifest of missing files fails fast and costs nothing.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterator
from functools import partial
from typing import Any

import anyio.to_thread
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from prefect_image_edit.errors import InputError
from prefect_image_edit.tasks.models import EraseSettings, MaskOptions, Provider
from prefect_image_edit.tasks.sources import (
    is_within,
    list_sources,
    local_path,
    read_source,
    resolve_against,
    source_root,
)

__all__ = [
    "MAX_MANIFEST_BYTES",
    "MAX_MANIFEST_ROWS",
    "AmbiguousMaskError",
    "BatchItem",
    "BatchSource",
    "ManifestError",
    "decode_manifest",
    "items_from_listing",
    "items_from_manifest",
    "load_items",
    "stem",
]

MAX_MANIFEST_BYTES = 16 * 1024 * 1024
"""Largest manifest read, bytes (about 100,000 rows of long S3 keys)."""
MAX_MANIFEST_ROWS = 20_000
"""Most rows one batch takes; split larger manifests into several batches."""


class AmbiguousMaskError(InputError):
    """Listed files cannot be paired one photo to one mask; raised before any paid call."""


class ManifestError(InputError):
    """A manifest that cannot be read as a whole: not UTF-8 text, too large, no image column."""


class BatchSource(BaseModel):
    """Where a batch's images come from, and how each finds its mask.

    Give either ``images`` (a folder or s3:// prefix) or ``manifest``. Masks are paired by file
    stem from ``masks`` (``photo.jpg`` takes ``photo.png``, ``photo_mask.png`` or
    ``photo-mask.png``), or one ``mask`` serves every image; a manifest row may name its own.
    ``masks`` may be the images' own folder: mask files are then never items themselves.
    """

    model_config = ConfigDict(frozen=True)

    images: str | None = Field(default=None, description="Folder or s3:// prefix of images.")
    manifest: str | None = Field(
        default=None,
        description="CSV or JSONL (path or s3://), UTF-8, at most 20,000 rows and 16 MiB: one "
        "item per row with an image column, and optionally mask, boxes (JSON), provider, and "
        "vendor settings such as seed. Relative paths are relative to the manifest's folder.",
    )
    masks: str | None = Field(
        default=None,
        description="Folder or s3:// prefix of masks, paired by file stem (`a.jpg` takes "
        "`a.png`, `a_mask.png` or `a-mask.png`); may be the images' folder.",
    )
    mask: MaskOptions | None = Field(
        default=None, description="One mask for every image (a file, boxes or the alpha)."
    )
    allow_outside_root: bool = Field(
        default=False,
        description="Let manifest rows name files outside the manifest's own folder, bucket "
        "or prefix (off: such rows fail without being read).",
    )

    def locations(self) -> list[str | None]:
        """The manifest, images and masks locations (those not given are None)."""
        return [self.manifest, self.images, self.masks]

    @model_validator(mode="after")
    def _one_source(self) -> BatchSource:
        if bool(self.images) == bool(self.manifest):
            raise ValueError("give exactly one of images (a folder or prefix) or manifest")
        return self


class BatchItem(BaseModel):
    """One image of a batch with its own mask and optional per-item overrides."""

    image: str = Field(description="The image reference (or the manifest row, when bad).")
    mask: MaskOptions | None = Field(default=None, description="The item's mask.")
    provider: Provider | None = Field(default=None, description="This item's first provider.")
    settings: dict[str, Any] = Field(
        default_factory=dict, description="Vendor settings overriding the batch's."
    )
    error: str | None = Field(default=None, description="Why this row cannot be processed.")

    def erase_settings(self, base: EraseSettings) -> EraseSettings:
        return base.model_validate({**base.model_dump(), **self.settings})


def stem(ref: str) -> str:
    """A file name without its last extension: ``s3://b/p/a.mask.png`` -> ``a.mask``."""
    name = ref.rstrip("/").rsplit("/", 1)[-1]
    return name.rsplit(".", 1)[0] if "." in name else name


# ``a.jpg`` takes ``a.png`` (same stem, masks in their own folder) or one of these.
_MASK_SUFFIXES = ("_mask", "-mask", ".mask")


def _same_file_key(ref: str, folders: dict[str, str]) -> str:
    """One spelling per file, so ``d`` and ``./d/`` listings compare equal.

    Listings share a few folders: each is resolved once (cached in ``folders``), not each
    of 10,000 files.
    """
    if ref.startswith("s3://"):
        return ref
    folder, name = os.path.split(os.path.abspath(local_path(ref)))
    if folder not in folders:
        folders[folder] = os.path.realpath(folder)
    return os.path.join(folders[folder], name)


def items_from_listing(
    images: list[str], masks: list[str], default_mask: MaskOptions | None
) -> list[BatchItem]:
    """Pair listed images with masks by stem (or the default mask); say so when none fits.

    ``masks`` may list the same folder as ``images``. A file that is another file's mask is
    never an item, even without ``masks`` (``a_mask.png`` beside ``a.jpg`` is not a photo).

    Raises:
        AmbiguousMaskError: a photo with two candidate masks (``a.png`` and ``a_mask.png``
            for ``a.jpg``), or two files of one stem in one folder (``a.jpg`` beside
            ``a.png``: which is the photo?). Every such group is named.
    """
    folders: dict[str, str] = {}
    key = {ref: _same_file_key(ref, folders) for ref in {*images, *masks}}
    stems = {ref: stem(ref) for ref in key}
    image_keys = {key[i] for i in images}
    by_stem: dict[str, list[str]] = {}
    for m in masks:
        by_stem.setdefault(stems[m], []).append(m)

    def candidates(image: str) -> list[str]:
        same = [m for m in by_stem.get(stems[image], []) if key[m] != key[image]]
        return same + [m for s in _MASK_SUFFIXES for m in by_stem.get(stems[image] + s, [])]

    found = {image: candidates(image) for image in images}
    claimed = {key[m] for cands in found.values() for m in cands}
    if not masks:  # no mask folder: a file named as another's mask is still not a photo
        image_stems = {stems[i] for i in images}
        claimed |= {
            key[i]
            for i in images
            if any(
                stems[i].endswith(suffix) and stems[i][: -len(suffix)] in image_stems
                for suffix in _MASK_SUFFIXES
            )
        }
    problems: dict[frozenset[str], str] = {}
    for image, cands in found.items():
        twins = [m for m in cands if stems[m] == stems[image] and key[m] in image_keys]
        if twins:
            group = frozenset([image, *cands])
            problems[group] = (
                f"{', '.join(sorted([image, *twins]))} share the stem {stem(image)!r} in one "
                "listing, so which is the photo and which the mask cannot be told"
                + (f" (candidate masks: {', '.join(sorted(cands))})" if len(cands) > 1 else "")
            )
        elif len(cands) > 1 and key[image] not in claimed:
            problems[frozenset([image, *cands])] = (
                f"{image} has {len(cands)} candidate masks: {', '.join(cands)}"
            )
    if problems:
        listed = sorted(problems.values())
        more = f"; and {len(listed) - 10} more" if len(listed) > 10 else ""
        raise AmbiguousMaskError(
            "ambiguous mask pairing: "
            + "; ".join(listed[:10])
            + more
            + ". Keep one mask per photo, named PHOTO_mask.png, or put masks in their own "
            "folder",
            source="masks",
        )
    items = []
    for image in images:
        if key[image] in claimed:
            continue  # the mask of another file
        cands = found[image]
        if cands:
            items.append(BatchItem(image=image, mask=MaskOptions(mask=cands[0])))
        elif default_mask is not None:
            items.append(BatchItem(image=image, mask=default_mask))
        else:
            items.append(BatchItem(image=image, error=f"no mask named after {stem(image)!r}"))
    return items


_ITEM_FIELDS = {"image", "mask", "boxes", "polygons", "from_alpha", "invert", "provider"}
_MASK_FIELDS = set(MaskOptions.model_fields)


def _check_ref(ref: str, root: str, allow_outside_root: bool, what: str) -> str:
    """``ref`` resolved against the manifest's folder; raise ``ValueError`` when refused."""
    resolved = resolve_against(ref, root)
    if not allow_outside_root and not is_within(resolved, root):
        raise ValueError(
            f"{what} {ref!r} is outside the manifest's folder {root} (set allow_outside_root "
            "on the source to allow it)"
        )
    if not resolved.startswith("s3://"):
        path = local_path(resolved)
        if not path.is_file():
            raise ValueError(f"{what} {ref!r}: " + ("not a file" if path.exists() else "not found"))
    return resolved


def _row_item(
    row: dict[str, Any],
    where: str,
    root: str,
    default_mask: MaskOptions | None,
    allow_outside_root: bool,
) -> BatchItem:
    image = str(row.get("image") or "").strip()
    if not image:
        return BatchItem(image=where, error="the row has no image")
    row = {k: v for k, v in row.items() if v not in (None, "")}
    try:
        image = _check_ref(image, root, allow_outside_root, "image")
        mask_fields = {k: row[k] for k in _MASK_FIELDS if k in row}
        if isinstance(mask_fields.get("mask"), str):
            mask_fields["mask"] = _check_ref(mask_fields["mask"], root, allow_outside_root, "mask")
        for key in ("boxes", "polygons"):
            if isinstance(mask_fields.get(key), str):
                mask_fields[key] = json.loads(mask_fields[key])
        mask = MaskOptions.model_validate(mask_fields) if mask_fields else default_mask
        settings = {k: v for k, v in row.items() if k not in _ITEM_FIELDS | _MASK_FIELDS}
        EraseSettings.model_validate(settings)
        item = BatchItem(image=image, mask=mask, provider=row.get("provider"), settings=settings)
    except (ValidationError, ValueError) as exc:
        if isinstance(exc, ValidationError):
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first["loc"])
            reason = f"{field}: {first['msg']}" if field else first["msg"]
        else:
            reason = str(exc)
        return BatchItem(image=image, error=f"bad manifest row ({where}): {reason}")
    if item.mask is None:
        return BatchItem(image=image, error="no mask: the row names none and the batch has none")
    return item


def decode_manifest(data: bytes, name: str) -> str:
    """A manifest's bytes as text, refusing what is not a UTF-8 CSV/JSONL file.

    Raises:
        ManifestError: over :data:`MAX_MANIFEST_BYTES`, not UTF-8, or binary (NUL bytes).
    """
    if len(data) > MAX_MANIFEST_BYTES:
        raise ManifestError(
            f"the manifest is over {MAX_MANIFEST_BYTES} bytes: split it into several batches",
            source=name,
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ManifestError(
            f"not UTF-8 text (byte {exc.start} cannot be decoded): a manifest is a CSV or JSONL "
            "file",
            source=name,
        ) from None
    if "\x00" in text:
        raise ManifestError(
            "binary data (NUL bytes): a manifest is a CSV or JSONL file", source=name
        )
    return text


def _rows(text: str, name: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(where, row)`` pairs; a row that cannot be parsed carries ``__error``."""
    if name.lower().endswith((".jsonl", ".ndjson")):
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            where = f"line {number}"
            try:
                value = json.loads(line)
            except ValueError:
                yield where, {"__error": "not valid JSON"}
                continue
            yield where, value if isinstance(value, dict) else {"__error": "not a JSON object"}
        return
    reader = csv.DictReader(io.StringIO(text))
    try:
        header = reader.fieldnames or []
        if "image" not in header:
            raise ManifestError(
                f"the CSV header has no image column (it has {', '.join(header) or 'nothing'})",
                source=name,
            )
        for row in reader:
            yield f"line {reader.line_num}", {k: v for k, v in row.items() if k is not None}
    except csv.Error as exc:
        raise ManifestError(f"not a readable CSV ({exc})", source=name) from None


def items_from_manifest(
    text: str,
    name: str,
    default_mask: MaskOptions | None,
    *,
    allow_outside_root: bool = False,
    max_rows: int = MAX_MANIFEST_ROWS,
) -> list[BatchItem]:
    """Items from CSV (header row) or JSONL (one object per line), by the file's extension.

    Rows name files relative to the manifest's folder (or prefix), and only files under it
    unless ``allow_outside_root``. Bad rows become failed items (their reason says which line).

    Raises:
        ManifestError: more than ``max_rows`` rows, or a CSV without an image column.
    """
    root = source_root(name)
    items = []
    for where, row in _rows(text, name):
        if len(items) == max_rows:
            raise ManifestError(
                f"more than {max_rows} rows: split the manifest into several batches",
                source=name,
            )
        if "__error" in row:
            items.append(BatchItem(image=f"{name} {where}", error=row["__error"]))
        else:
            items.append(_row_item(row, where, root, default_mask, allow_outside_root))
    return items


async def load_items(source: BatchSource, *, s3_client: Any = None) -> list[BatchItem]:
    """A batch source's items: everything the batch flow needs to know before paying.

    Raises:
        ManifestError, AmbiguousMaskError, InputError: the batch as a whole cannot run
            (unreadable manifest, ambiguous masks, no images); bad rows are failed items.
    """
    if source.manifest:
        data = await read_source(
            source.manifest, s3_client=s3_client, max_bytes=MAX_MANIFEST_BYTES + 1
        )
        text = decode_manifest(data, source.manifest)
        return await anyio.to_thread.run_sync(
            partial(
                items_from_manifest,
                text,
                source.manifest,
                source.mask,
                allow_outside_root=source.allow_outside_root,
            )
        )
    assert source.images is not None  # the model requires images or manifest
    images = await anyio.to_thread.run_sync(
        partial(list_sources, source.images, s3_client=s3_client)
    )
    if not images:
        raise InputError("no images found", source=source.images)
    masks = (
        await anyio.to_thread.run_sync(partial(list_sources, source.masks, s3_client=s3_client))
        if source.masks
        else []
    )
    return items_from_listing(images, masks, source.mask)
