"""What flows show in the Prefect UI: before/after thumbnails, progress and summary tables.

Thumbnails are small JPEGs embedded as data URIs in markdown artifacts: they render, and unlike
vendor or presigned URLs they never expire. Full-size results are linked by their archive URI.
Artifacts are stored in Prefect's database, so they are kept small (a few KB each).
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence
from typing import Any

from PIL import Image, ImageOps

__all__ = [
    "artifact_key",
    "batch_summary_markdown",
    "batch_table_rows",
    "batch_thumbnail",
    "before_after_markdown",
    "short_uri",
    "thumbnail_data_uri",
    "wrappable",
]

THUMBNAIL_SIDE = 256


def thumbnail_data_uri(data: bytes, side: int = THUMBNAIL_SIDE) -> str:
    """A ``data:image/jpeg;base64,...`` thumbnail at most ``side`` px wide and high."""
    with Image.open(io.BytesIO(data)) as im:
        im.draft(im.mode, (side, side))  # a JPEG decodes at 1/2..1/8 scale: several times faster
        thumb = ImageOps.exif_transpose(im)
        thumb.thumbnail((side, side))
        if thumb.mode not in ("RGB", "L"):
            thumb = thumb.convert("RGBA")
            canvas = Image.new("RGB", thumb.size, (255, 255, 255))
            canvas.paste(thumb, mask=thumb.getchannel("A"))
            thumb = canvas
        buffer = io.BytesIO()
        thumb.save(buffer, format="JPEG", quality=80)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def short_uri(uri: str, keep: int = 12) -> str:
    """``s3://bucket/image-edit/edited/083fe2d6…c84895.png``: a key that fits a column.

    The content hash is cut to its first and last ``keep // 2`` characters; the rest stays.
    """
    head, _, name = uri.rpartition("/")
    stem, dot, ext = name.partition(".")
    if len(stem) > keep + 1:
        stem = f"{stem[: keep // 2 + 2]}…{stem[-(keep // 2) :]}"
    tail = "/".join(head.split("/")[-1:])
    scheme = uri.split("//", 1)[0] + "//" if "//" in uri else ""
    return f"{scheme}…/{tail}/{stem}{dot}{ext}" if head else f"{stem}{dot}{ext}"


def wrappable(text: str) -> str:
    """``text`` with zero-width spaces after ``/`` and every 16 characters of long runs, so a
    table cell wraps it instead of widening the page (copying keeps the visible text)."""
    out: list[str] = []
    run = 0
    for char in str(text):
        out.append(char)
        run = 0 if char in "/ " else run + 1
        if char == "/" or run == 16:
            out.append("\u200b")
            run = 0
    return _cell("".join(out))


CONTENT_WIDTH = 680
"""Pixels an artifact's table gets at a 1280 px window: the UI's navigation (about 270 px)
and the artifact's details column (about 270 px) take the rest (measured in Chromium)."""


def _side(columns: int) -> int:
    """Thumbnail side in px so ``columns`` images (plus cell padding) fit 1280 px."""
    return max(96, min(THUMBNAIL_SIDE, CONTENT_WIDTH // max(1, columns) - 24))


def before_after_markdown(
    title: str,
    before: bytes,
    afters: Sequence[tuple[str, bytes, str]],
    details: Sequence[tuple[str, object]] = (),
) -> str:
    """Markdown with the input and each result side by side, then a details table.

    Readable at 1280 px: short column labels, thumbnails sized to the column count, table
    values shortened, and the full archive keys in a list under the tables (list items wrap,
    the UI's table cells never do).

    Args:
        title: Heading (keep it short: a file name, not a path).
        before: The input image bytes.
        afters: ``(label, image bytes, archive URI)`` for each result.
        details: ``(name, value)`` rows (provider, request id, seed...); None values are left
            out, so "seed None" never shows.
    """
    side = _side(len(afters) + 1)
    header = "| before | " + " | ".join(_cell(label) for label, _, _ in afters) + " |"
    rule = "|---|" + "---|" * len(afters)
    images = (
        f"| ![before]({thumbnail_data_uri(before, side)}) | "
        + " | ".join(
            f"![{_cell(label)}]({thumbnail_data_uri(data, side)})" for label, data, _ in afters
        )
        + " |"
    )
    # No key row under the images: even shortened keys widen the columns past 1280 px with
    # three variants; each key is in the list below, by the column's label.
    lines = [f"## {_cell(title)}", "", header, rule, images]
    rows = [(k, v) for k, v in details if v is not None and v != ""]
    if rows:
        lines += ["", "| | |", "|---|---|", *(f"| {_cell(k)} | {_short(v)} |" for k, v in rows)]
    # Full keys in a list, not a table: the UI's table cells never wrap, list items do.
    lines += ["", "Archived:", ""]
    lines += [f"- {_cell(label)}: {wrappable(uri)}" for label, _, uri in afters]
    return "\n".join(lines) + "\n"


def _short(value: object, limit: int = 60) -> str:
    """A table cell that cannot widen the page: URIs shortened, long text cut with …."""
    text = str(value)
    if "://" in text and len(text) > limit:
        text = short_uri(text)
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return _cell(text)


BATCH_THUMBNAILS = 50
"""Items of a batch summary shown with a thumbnail (the rest: one text line each)."""


BATCH_THUMBNAIL_SIDE = 96


def batch_thumbnail(data: bytes) -> str:
    """One batch item's thumbnail (a data URI) for ``batch_summary_markdown``."""
    return thumbnail_data_uri(data, BATCH_THUMBNAIL_SIDE)


def batch_summary_markdown(
    rows: Sequence[Mapping[str, Any]],
    thumbnails: Mapping[str, str] | None = None,
    *,
    title: str = "Batch erase",
) -> str:
    """The batch summary: failures first with their reason, then every item with a thumbnail
    (the first :data:`BATCH_THUMBNAILS`). Pure: no Prefect, no I/O.

    Args:
        rows: One mapping per item with ``item``, ``status`` (``done``/``failed``) and
            optionally ``provider``, ``archived``, ``request_id``, ``cached``, ``error``.
        thumbnails: Item -> its thumbnail as a data URI (``batch_thumbnail``), made while the
            batch runs, not all at its end.
        title: Heading.
    """
    thumbnails = thumbnails or {}
    failed = [r for r in rows if r.get("status") != "done"]
    done = len(rows) - len(failed)
    lines = [f"## {_cell(title)}: {done} done, {len(failed)} failed", ""]
    if failed:  # a list, not a table: the reasons wrap and stay on screen
        lines += ["Failed:", ""]
        lines += [
            f"- **{_cell(_name(r['item']))}**: {wrappable(r.get('error') or '-')}" for r in failed
        ]
        lines.append("")
    lines += ["| | item | status | provider | archived |", "|---|---|---|---|---|"]
    for index, row in enumerate(rows):
        uri = thumbnails.get(row["item"]) if index < BATCH_THUMBNAILS else None
        image = f"![{_cell(_name(row['item']))}]({uri})" if uri else ""
        status = row.get("status", "")
        if status == "done" and row.get("cached"):
            status = "done (cache hit)"
        where = short_uri(row["archived"]) if row.get("archived") else row.get("error") or ""
        lines.append(
            f"| {image} | {_short(_name(row['item']), 40)} | {_cell(status)} | "
            f"{_cell(row.get('provider') or '')} | {_short(where, 48)} |"
        )
    return "\n".join(lines) + "\n"


def batch_table_rows(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
    """Rows for the summary table artifact: short columns, failures' reasons first-class.

    ``item`` is the file name (the full reference is in ``source``), ``archived`` is shortened
    (the full URI is in the results manifest).
    """
    return [
        {
            "item": _name(r["item"]),
            "status": str(r.get("status", "")),
            "reason": str(r.get("error") or ""),
            "provider": str(r.get("provider") or ""),
            "cost": str(r.get("cost") or ""),
            "request id": str(r.get("request_id") or ""),
            "archived": short_uri(r["archived"]) if r.get("archived") else "",
            "source": str(r["item"]),
        }
        for r in sorted(rows, key=lambda r: r.get("status") == "done")
    ]


def _name(item: str) -> str:
    """The file name of a path or URI (what a person recognises in a list)."""
    return str(item).rstrip("/").rsplit("/", 1)[-1] or str(item)


def artifact_key(*parts: str) -> str:
    """A valid artifact key (lowercase letters, digits and dashes) from free text."""
    text = "-".join(parts).lower()
    cleaned = "".join(c if c.isalnum() and c.isascii() else "-" for c in text)
    return "-".join(filter(None, cleaned.split("-")))[:100] or "image-edit"
