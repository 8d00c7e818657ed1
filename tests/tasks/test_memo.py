"""Memo keys of batch items: from the inputs as given, stable across versions, none for
unreadable or refused items. Pure: files on disk, no Prefect, no servers."""

from __future__ import annotations

import asyncio
import hashlib
import json

from prefect_image_edit.tasks.batch_items import BatchItem
from prefect_image_edit.tasks.memo import MEMO_VERSION, item_keys
from prefect_image_edit.tasks.models import EraseSettings, MaskOptions, OutputOptions


def _keys(items, chain=("tencent",)):
    return asyncio.run(
        item_keys(
            items,
            [list(chain)] * len(items),
            EraseSettings(),
            "downscale",
            OutputOptions(format="auto"),
            "s3://bucket@http://127.0.0.1:1",
        )
    )


def test_keys_follow_the_inputs_and_skip_what_cannot_run(tmp_path):
    for name, data in {"a.jpg": b"a", "b.jpg": b"b", "c.jpg": b"a", "m.png": b"m"}.items():
        (tmp_path / name).write_bytes(data)
    mask = MaskOptions(mask=str(tmp_path / "m.png"))
    items = [
        BatchItem(image=str(tmp_path / "a.jpg"), mask=mask),
        BatchItem(image=str(tmp_path / "b.jpg"), mask=mask),
        BatchItem(image=str(tmp_path / "c.jpg"), mask=mask),  # same bytes as a.jpg
        BatchItem(image=str(tmp_path / "missing.jpg"), mask=mask),
        BatchItem(image=str(tmp_path / "a.jpg"), mask=MaskOptions(mask=str(tmp_path / "no.png"))),
        BatchItem(image="row 7", error="no image column"),
    ]
    keys = _keys(items)
    assert sorted(keys) == [0, 1, 2]
    assert keys[0] == keys[2] != keys[1]
    assert _keys(items[:1], chain=("tencent", "local"))[0] != keys[0]


def test_a_key_is_the_one_earlier_versions_remembered(tmp_path):
    """Finished items recorded before must still be found: the canonical form is fixed."""
    (tmp_path / "a.jpg").write_bytes(b"photo")
    (tmp_path / "m.png").write_bytes(b"mask")
    mask = MaskOptions(mask=str(tmp_path / "m.png"))
    item = BatchItem(image=str(tmp_path / "a.jpg"), mask=mask)
    canonical = json.dumps(
        {
            "version": MEMO_VERSION,
            "image": hashlib.sha256(b"photo").hexdigest(),
            "mask": {**mask.model_dump(mode="json"), "mask": hashlib.sha256(b"mask").hexdigest()},
            "chain": ["tencent"],
            "settings": EraseSettings().model_dump(mode="json"),
            "policy": "downscale",
            "output": OutputOptions(format="auto").model_dump(mode="json", exclude={"path"}),
            "archive": "s3://bucket@http://127.0.0.1:1",
        },
        sort_keys=True,
        separators=(",", ":"),
    )
    expected = "image-edit/item/" + hashlib.sha256(canonical.encode()).hexdigest()
    assert _keys([item]) == {0: expected}
