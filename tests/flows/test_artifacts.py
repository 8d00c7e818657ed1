"""Artifact builders: pure functions, readable at 1280 px, no misleading fields."""

from __future__ import annotations

import io

from PIL import Image

from prefect_image_edit.flows.artifacts import (
    BATCH_THUMBNAILS,
    batch_summary_markdown,
    batch_table_rows,
    batch_thumbnail,
    before_after_markdown,
    short_uri,
)

KEY = "s3://bucket/image-edit/edited/" + "ab" * 32 + ".png"


def _png(colour=(200, 30, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), colour).save(buffer, format="PNG")
    return buffer.getvalue()


def test_short_uri_keeps_scheme_folder_and_both_ends_of_the_hash():
    short = short_uri(KEY)
    assert short.startswith("s3://") and short.endswith(".png")
    assert "/edited/" in short and len(short) < 40


def test_before_after_leaves_out_empty_details_and_lists_full_keys_outside_tables():
    markdown = before_after_markdown(
        "Erase: photo.jpg",
        _png(),
        [("seed 1", _png(), KEY), ("seed 2", _png(), KEY)],
        [("provider", "local"), ("seed", None), ("request id", None)],
    )
    assert "None" not in markdown
    table_lines = [line for line in markdown.splitlines() if line.startswith("|")]
    assert all(KEY not in line for line in table_lines)  # table cells never wrap in the UI
    list_lines = [line for line in markdown.splitlines() if line.startswith("- ")]
    assert len(list_lines) == 2
    assert all(line.replace("\u200b", "").endswith(KEY) for line in list_lines)


def test_batch_summary_lists_failures_first_and_thumbnails_the_first_items():
    rows = [
        {"item": f"/in/p{i}.jpg", "status": "done", "archived": KEY, "provider": "local"}
        for i in range(BATCH_THUMBNAILS + 5)
    ] + [{"item": "/in/broken.jpg", "status": "failed", "error": "not an image"}]
    thumbs = {row["item"]: batch_thumbnail(_png()) for row in rows}
    markdown = batch_summary_markdown(rows, thumbs)
    lines = markdown.splitlines()
    assert lines[0] == f"## Batch erase: {BATCH_THUMBNAILS + 5} done, 1 failed"
    assert lines.index("- **broken.jpg**: not an image") < 5  # visible without scrolling
    assert markdown.count("data:image/jpeg") == BATCH_THUMBNAILS
    table = batch_table_rows(rows)
    assert table[0]["item"] == "broken.jpg" and table[0]["reason"] == "not an image"
    assert list(table[0])[:3] == ["item", "status", "reason"]
