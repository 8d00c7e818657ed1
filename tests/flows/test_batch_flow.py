"""batch-erase end to end: limits hold, re-runs are free, failures are isolated and listed."""

from __future__ import annotations

import asyncio
import json

from prefect.artifacts import Artifact

from prefect_image_edit.emulators import FaultKind
from prefect_image_edit.flows.batch import batch_erase
from prefect_image_edit.tasks.batch_items import BatchSource
from prefect_image_edit.tasks.models import MaskOptions
from prefect_image_edit.tasks.sources import split_s3_uri


def _batch(source, connections, **kwargs):
    state = asyncio.run(batch_erase(source, connections=connections, return_state=True, **kwargs))
    return state, asyncio.run(state.aresult(raise_on_failure=False))


def _folder(make_scene, tmp_path, count):
    images, masks = tmp_path / "images", tmp_path / "masks"
    images.mkdir()
    masks.mkdir()
    for i in range(count):
        image, mask = make_scene(f"item-{i:02d}")
        image.rename(images / image.name)
        mask.rename(masks / f"item-{i:02d}.png")
    return BatchSource(images=str(images), masks=str(masks))


def test_batch_of_20_holds_tencent_limit_and_a_rerun_pays_nothing(
    emu, connections, make_scene, tmp_path, s3
):
    emu.settings.tencent.latency = 0.1
    source = _folder(make_scene, tmp_path, 20)
    state, summary = _batch(source, connections, provider="tencent", max_concurrency=8)
    assert state.is_completed(), state.message
    assert (summary.total, summary.succeeded, summary.failed) == (20, 20, 0)
    assert emu.counters.billable("tencent") == 20
    assert emu.counters.max_in_flight("tencent") == 1

    bucket, key = split_s3_uri(summary.manifest_uri)
    lines = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode().splitlines()
    assert len(lines) == 20
    assert {json.loads(line)["status"] for line in lines} == {"done"}
    for row in summary.rows:
        bucket, key = split_s3_uri(row.archived)
        assert s3.head_object(Bucket=bucket, Key=key)["ContentLength"] > 0

    again, summary_again = _batch(source, connections, provider="tencent", max_concurrency=8)
    assert again.is_completed()
    assert emu.counters.billable("tencent") == 20
    assert [r.archived for r in summary_again.rows] == [r.archived for r in summary.rows]


def test_failures_are_isolated_and_listed(emu, connections, make_scene, tmp_path):
    source = _folder(make_scene, tmp_path, 4)
    (tmp_path / "images" / "zz-broken.jpg").write_bytes(b"not an image")
    (tmp_path / "masks" / "zz-broken.png").write_bytes(b"not an image either")
    emu.inject("tencent", FaultKind.MODERATION)  # the first paid call is refused
    emu.inject("tencent", FaultKind.RATE_LIMIT)  # the next one is throttled, then retried
    state, summary = _batch(source, connections, provider="tencent", max_concurrency=1)
    assert state.is_failed()
    assert state.message.startswith("3 of 5 items erased, 2 failed")
    by_item = {row.item.rsplit("/", 1)[-1]: row for row in summary.rows}
    # Two images are in progress per vendor call, so which one meets the refusal may vary.
    photos = [f"item-0{i}.jpg" for i in range(4)]
    refused = [name for name in photos if by_item[name].error_type == "ModerationError"]
    assert len(refused) == 1
    assert by_item["zz-broken.jpg"].error_type == "UnreadableImageError"
    assert [by_item[name].status for name in photos if name not in refused] == ["done"] * 3
    assert emu.counters.billable("tencent") == 3

    table = asyncio.run(Artifact.aget("batch-erase-summary"))
    rows = json.loads(table.data)
    assert {r["status"] for r in rows} == {"done", "failed"}
    assert any("ModerationError" in r["reason"] or "OperationDenied" in r["reason"] for r in rows)
    progress = asyncio.run(Artifact.aget("batch-erase-progress"))
    assert float(progress.data) == 100.0


def test_manifest_items_with_their_own_masks_settings_and_bad_rows(
    emu, connections, make_scene, tmp_path
):
    first, first_mask = make_scene("a")
    second, _ = make_scene("b")
    manifest = tmp_path / "items.jsonl"
    manifest.write_text(
        "\n".join(
            [
                json.dumps({"image": str(first), "mask": str(first_mask), "seed": 7}),
                json.dumps({"image": str(second), "boxes": "[[100, 80, 160, 120]]"}),
                json.dumps({"image": str(second), "seed": "not a number"}),
                "{broken json",
            ]
        )
    )
    state, summary = _batch(
        BatchSource(manifest=str(manifest), mask=MaskOptions(boxes=[(1, 1, 20, 20)])),
        connections,
        provider="volcengine",
    )
    statuses = [row.status for row in summary.rows]
    assert statuses == ["done", "done", "failed", "failed"]
    assert "bad manifest row" in summary.rows[2].error
    assert "not valid JSON" in summary.rows[3].error
    assert emu.counters.billable("volcengine") == 2
    assert state.is_failed()


def test_batch_from_an_s3_prefix_with_masks_paired_by_name(
    emu, connections, make_scene, s3, tmp_path
):
    prefix = f"inbox-{tmp_path.name}"
    for i in range(3):
        image, mask = make_scene(f"s3-{i}")
        s3.upload_file(str(image), "image-edit-archive", f"{prefix}/images/s3-{i}.jpg")
        s3.upload_file(str(mask), "image-edit-archive", f"{prefix}/masks/s3-{i}_mask.png")
    source = BatchSource(
        images=f"s3://image-edit-archive/{prefix}/images/",
        masks=f"s3://image-edit-archive/{prefix}/masks/",
    )
    state, summary = _batch(source, connections, provider="ailabtools")
    assert state.is_completed(), state.message
    assert [row.item for row in summary.rows] == [
        f"s3://image-edit-archive/{prefix}/images/s3-{i}.jpg" for i in range(3)
    ]
    assert emu.counters.billable("ailabtools") == 3
