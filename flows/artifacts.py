"""What flows show in the Prefect UI: before/after thumbnails, progress and summary tables.

Thumbnails are small JPEGs embedded as data URIs in markdown artifacts: they render, and unlike
vendor or presigned URLs they never expire. Full-size results are linked by their archive URI.
Artifacts are stored in Prefect's database, so they are kept small (a few KB each).
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence

from PIL import Image, ImageOps

__all__ = ["artifact_key", "before_after_markdown", "thumbnail_data_uri"]

THUMBNAIL_SIDE = 256


def thumbnail_data_uri(data: bytes, side: int = THUMBNAIL_SIDE) -> str:
    """A ``data:image/jpeg;base64,...`` thumbnail at most ``side`` px wide and high."""
    with Image.open(io.BytesIO(data)) as im:
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


def before_after_markdown(
    title: str,
    before: bytes,
    afters: Sequence[tuple[str, bytes, str]],
    details: Sequence[tuple[str, object]] = (),
) -> str:
    """Markdown with the input and each result side by side, and a details table.

    Args:
        title: Heading.
        before: The input image bytes.
        afters: ``(label, image bytes, archive URI)`` for each result.
        details: ``(name, value)`` rows (provider, request id, ...).
    """
    header = "| before | " + " | ".join(_cell(label) for label, _, _ in afters) + " |"
    rule = "|---|" + "---|" * len(afters)
    images = (
        f"| ![before]({thumbnail_data_uri(before)}) | "
        + " | ".join(f"![{_cell(label)}]({thumbnail_data_uri(data)})" for label, data, _ in afters)
        + " |"
    )
    links = "| | " + " | ".join(f"`{_cell(uri)}`" for _, _, uri in afters) + " |"
    lines = [f"## {title}", "", header, rule, images, links]
    if details:
        lines += ["", "| | |", "|---|---|", *(f"| {_cell(k)} | {_cell(v)} |" for k, v in details)]
    return "\n".join(lines) + "\n"


def artifact_key(*parts: str) -> str:
    """A valid artifact key (lowercase letters, digits and dashes) from free text."""
    text = "-".join(parts).lower()
    cleaned = "".join(c if c.isalnum() and c.isascii() else "-" for c in text)
    return "-".join(filter(None, cleaned.split("-")))[:100] or "image-edit"
