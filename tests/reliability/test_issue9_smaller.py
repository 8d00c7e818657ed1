"""Issue 9, case 7: the smaller items, each run as the issue wrote it, on the real flows."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta

import pytest
from PIL import Image
from pydantic import ValidationError

from prefect_image_edit.emulators import FaultKind
from prefect_image_edit.errors import InputError
from prefect_image_edit.flows.models import OutputOptions
from prefect_image_edit.flows.sweeper import archive_sweeper
from prefect_image_edit.flows.try_on import try_on
from prefect_image_edit.state import CallState
from prefect_image_edit.tasks.batch_items import BatchSource, ManifestError
from prefect_image_edit.tasks.models import MaskOptions
from prefect_image_edit.vendors.errors import BadResultError

from .helpers import run_batch, run_erase

# -- Retry-After -----------------------------------------------------------------------------


@pytest.mark.parametrize("vendor", ["tencent", "volcengine"])
def test_retry_after_is_honoured(vendor, emu, connections, state, make_scene, request_times):
    image, mask = make_scene()
    emu.inject(vendor, FaultKind.RATE_LIMIT, retry_after=2)
    finished, _ = run_erase(image, mask, vendor, connections)
    assert finished.is_completed(), finished.message
    paid = [t for v, action, t in request_times if v == vendor and action != "download"]
    assert len(paid) == 2
    assert paid[1] - paid[0] >= 2.0, f"retried after {paid[1] - paid[0]:.2f} s"
    assert emu.counters.billable(vendor) == 1


# -- a trickling result download ---------------------------------------------------------------


def test_trickling_download_is_cut_by_its_deadline(
    emu, connections, state, make_scene, tmp_path, monkeypatch
):
    from prefect_image_edit.tasks import archive as archive_tasks

    monkeypatch.setattr(archive_tasks, "DOWNLOAD_DEADLINE_SECONDS", 1.5)
    person, _ = make_scene("person", size=(300, 600))
    top = tmp_path / "top.png"
    Image.new("RGB", (300, 300), (20, 40, 200)).save(top)
    emu.inject("ailabtools", FaultKind.TRICKLE, times=None, action="download", rate=16)
    started = time.monotonic()
    state_ = asyncio.run(
        try_on(str(person), str(top), "woman", connections=connections, return_state=True)
    )
    elapsed = time.monotonic() - started
    # Tens of kilobytes at 16 B/s would take hours: every download attempt was cut.
    assert elapsed < 60, f"{elapsed:.0f} s"
    assert state_.is_failed()
    # What was paid for is not lost: its URL (valid 24 h) is recorded for a later run.
    [record] = [r for r in state.records() if r.attempts]
    assert record.state is CallState.READY and record.result_url
    emu.clear_faults()
    outcome = asyncio.run(try_on(str(person), str(top), "woman", connections=connections))
    assert outcome.coarse.uri
    assert emu.counters.billable("ailabtools") == 2  # coarse once, refiner once


# -- manifests ---------------------------------------------------------------------------------


def test_ten_thousand_missing_files_finish_in_seconds(emu, connections, state, tmp_path):
    manifest = tmp_path / "items.csv"
    manifest.write_text(
        "image,boxes\n" + "".join(f'missing-{i}.jpg,"[[1,1,5,5]]"\n' for i in range(10_000))
    )
    started = time.monotonic()
    finished, summary = run_batch(
        BatchSource(manifest=str(manifest)), connections, provider="tencent"
    )
    elapsed = time.monotonic() - started
    assert finished.is_failed()
    assert (summary.total, summary.failed) == (10_000, 10_000)
    assert all("not found" in row.error and "\n" not in row.error for row in summary.rows)
    assert emu.counters.billable("tencent") == 0
    assert elapsed < 60, f"{elapsed:.0f} s"


def test_binary_manifest_is_a_typed_error(emu, connections, state, tmp_path):
    fake = tmp_path / "items.csv"
    fake.write_bytes(b"\xff\xd8\xff\xe0" + bytes(range(256)) * 8)  # a JPEG named .csv
    finished, error = run_batch(BatchSource(manifest=str(fake)), connections, provider="tencent")
    assert finished.is_failed()
    assert isinstance(error, ManifestError) and isinstance(error, InputError)
    assert not isinstance(error, UnicodeDecodeError)
    assert emu.counters.billable("tencent") == 0


def test_inverted_boxes_are_typed(emu, connections, state, make_scene, tmp_path):
    with pytest.raises(ValidationError, match="inverted"):
        MaskOptions(boxes=[(40, 40, 10, 10)])
    image, _ = make_scene("boxed")
    manifest = tmp_path / "items.csv"
    manifest.write_text(f'image,boxes\n{image.name},"[[40, 40, 10, 10]]"\n')
    finished, summary = run_batch(
        BatchSource(manifest=str(manifest)), connections, provider="tencent"
    )
    assert finished.is_failed()
    [row] = summary.rows
    assert row.error_type == "InputError" and "inverted" in row.error
    assert emu.counters.billable("tencent") == 0


def test_manifest_rows_outside_its_root_are_refused(emu, connections, state, make_scene, tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    image, mask = make_scene("inside")
    image.rename(inbox / "inside.jpg")
    mask.rename(inbox / "inside_mask.png")
    rows = [
        {"image": "inside.jpg", "mask": "inside_mask.png"},
        {"image": "/proc/self/environ", "mask": "inside_mask.png"},
        {"image": "../outside.jpg", "mask": "inside_mask.png"},
        {"image": "s3://image-edit-archive/elsewhere/x.jpg", "mask": "inside_mask.png"},
    ]
    manifest = inbox / "items.jsonl"
    manifest.write_text("\n".join(json.dumps(r) for r in rows))
    finished, summary = run_batch(
        BatchSource(manifest=str(manifest)), connections, provider="tencent"
    )
    assert finished.is_failed()
    assert [r.status for r in summary.rows] == ["done", "failed", "failed", "failed"]
    assert all("outside" in r.error for r in summary.rows[1:])
    assert emu.counters.billable("tencent") == 1


# -- output paths --------------------------------------------------------------------------


def test_output_path_equal_to_the_input_is_refused(emu, connections, state, make_scene):
    image, mask = make_scene()
    original = image.read_bytes()
    finished, error = run_erase(
        image, mask, "tencent", connections, output=OutputOptions(path=str(image))
    )
    assert finished.is_failed()
    assert isinstance(error, InputError) and "input image itself" in str(error)
    assert image.read_bytes() == original
    assert emu.counters.requests("tencent") == 0


def test_output_path_climbing_out_is_refused(emu, connections, state, make_scene, tmp_path):
    with pytest.raises(ValidationError, match="climbs out"):
        OutputOptions(path="a/../../x.png")
    image, mask = make_scene()
    # as a form or API caller would send it: a plain dict, validated by the flow
    refused, _ = run_erase(image, mask, "tencent", connections, output={"path": "a/../../x.png"})
    assert refused.is_failed() and "climbs out" in refused.message
    assert not (tmp_path.parent / "x.png").exists()
    assert emu.counters.requests("tencent") == 0


# -- a hostile ResultImage -------------------------------------------------------------------


def test_result_image_file_url_is_not_paid_twice(emu, connections, state, make_scene, monkeypatch):
    from prefect_image_edit.emulators.tencent import routes

    class Hostile:
        @staticmethod
        def b64encode(data: bytes) -> bytes:
            return b"file:///etc/passwd"

    monkeypatch.setattr(routes, "base64", Hostile)
    image, mask = make_scene()
    finished, error = run_erase(image, mask, "tencent", connections)
    assert finished.is_failed()
    assert isinstance(error, BadResultError)
    assert emu.counters.requests("tencent", "ImageInpaintingRemoval") == 1
    assert emu.counters.billable("tencent") == 1
    [record] = state.records()
    assert record.poisoned and record.attempts == 1


# -- variants --------------------------------------------------------------------------------


def test_variants_with_one_refused_end_failed_with_the_reason(emu, connections, state, make_scene):
    image, mask = make_scene()
    emu.inject("volcengine", FaultKind.MODERATION)  # one of the three is refused
    finished, outcome = run_erase(image, mask, "volcengine", connections, variants=3)
    assert finished.is_failed()
    assert "2 of 3 variants made" in finished.message
    assert "50411" in finished.message or "moderation" in finished.message.lower()
    assert len(outcome.variants) == 2 and len(outcome.failed_variants) == 1


# -- the sweeper -----------------------------------------------------------------------------


def test_sweeper_checks_staged_bytes_before_reporting_lost(
    emu, connections, state, make_scene, broken_archive
):
    image, mask = make_scene()
    failed, _ = run_erase(
        image, mask, "tencent", connections.model_copy(update={"archive": broken_archive})
    )
    assert failed.is_failed()
    [record] = state.records()
    assert state.staged_bytes(record) is not None
    # As if the process died after staging the bytes and before recording the answer, long ago.
    path = state.ledger / "calls"
    [file] = list(path.glob("*.json"))
    stale = datetime.now(UTC) - timedelta(hours=3)
    data = json.loads(file.read_text())
    data.update(state="in_flight", updated_at=stale.isoformat())
    file.write_text(json.dumps(data))
    report = asyncio.run(archive_sweeper(stale_after_minutes=60, connections=connections))
    assert [r.outcome for r in report.swept] == ["archived"]
    assert emu.counters.billable("tencent") == 1
