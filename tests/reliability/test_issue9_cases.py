"""Issue 9, cases 1 to 6, each run as the issue wrote it: the real flows against the real
emulators, SeaweedFS (through a switch that can kill or freeze it) and the Prefect API.

The state of each test is its own (``state`` fixture), so the figures asserted are the state's
own records: what was paid for, staged, archived, and every re-payment with its reason.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from pathlib import Path

import pytest
from PIL import Image
from prefect.artifacts import Artifact

from prefect_image_edit.blocks import S3ArchiveStorage
from prefect_image_edit.emulators import FaultKind
from prefect_image_edit.errors import InputError
from prefect_image_edit.flows.models import Connections
from prefect_image_edit.flows.try_on import try_on
from prefect_image_edit.state import CallState, RepaymentReason
from prefect_image_edit.tasks.batch_items import AmbiguousMaskError, BatchSource
from prefect_image_edit.tasks.sources import split_s3_uri
from prefect_image_edit.vendors.errors import BadResultError, VendorError
from prefect_image_edit.vendors.results import validate_result_image

from .helpers import folder_of_scenes, run_batch, run_erase

# -- 1. the cache and the archive it is for ------------------------------------------------------


def _other_bucket(seaweedfs) -> str:
    name = f"image-edit-b-{uuid.uuid4().hex[:8]}"
    seaweedfs.create_bucket(name)
    block = f"b-{name[-8:]}"
    S3ArchiveStorage(
        bucket=name,
        endpoint_url=seaweedfs.endpoint_url,
        aws_access_key_id=seaweedfs.access_key_id,
        aws_secret_access_key=seaweedfs.secret_access_key,
    ).save(block, overwrite=True)
    return name, f"image-edit-s3-archive/{block}"


def test_case1_archive_switched_from_a_to_b(emu, connections, state, make_scene, seaweedfs, s3):
    image, mask = make_scene()
    first, _ = run_erase(image, mask, "tencent", connections)
    assert first.is_completed(), first.message
    assert emu.counters.billable("tencent") == 1

    bucket_b, archive_b = _other_bucket(seaweedfs)
    again, outcome_b = run_erase(
        image, mask, "tencent", connections.model_copy(update={"archive": archive_b})
    )
    assert again.is_completed(), again.message
    erased = outcome_b.variants[0].erased
    assert erased.archived.uri.startswith(f"s3://{bucket_b}/")
    s3.head_object(Bucket=bucket_b, Key=erased.archived.key)  # written to B
    # Paying again is allowed, but never silently: each re-payment is recorded with its reason.
    billed = emu.counters.billable("tencent")
    assert state.repayments(RepaymentReason.ARCHIVE_MISSING) == billed - 1
    assert state.recorded_extra_charges() >= billed - 1


def test_case1_archived_object_deleted(emu, connections, state, make_scene, s3):
    image, mask = make_scene()
    first, outcome = run_erase(image, mask, "volcengine", connections)
    assert first.is_completed(), first.message
    archived = outcome.variants[0].erased.archived
    bucket, key = split_s3_uri(archived.uri)
    s3.delete_object(Bucket=bucket, Key=key)  # as a lifecycle rule would

    for _ in range(2):  # every re-run succeeds, not only the first
        again, outcome = run_erase(image, mask, "volcengine", connections)
        assert again.is_completed(), again.message
        s3.head_object(Bucket=bucket, Key=outcome.variants[0].erased.archived.key)
    billed = emu.counters.billable("volcengine")
    assert billed <= 2  # the second re-run is a cache hit
    assert state.repayments(RepaymentReason.ARCHIVE_MISSING) == billed - 1
    [record] = [r for r in state.records() if r.vendor == "volcengine"]
    assert record.state is CallState.ARCHIVED


def test_case1_local_archive_switched(emu, connections, state, make_scene, tmp_path, monkeypatch):
    """The local archive (the embedded default) moved to another folder: no untyped
    ``FileNotFoundError``, the result lands in the new folder, any re-payment recorded."""
    local = Connections(ailabtools="emu", tencent="emu", volcengine="emu", archive=None)
    image, mask = make_scene()
    monkeypatch.setenv("PREFECT_IMAGE_EDIT_ARCHIVE_DIR", str(tmp_path / "archive-a"))
    first, _ = run_erase(image, mask, "ailabtools", local)
    assert first.is_completed(), first.message
    monkeypatch.setenv("PREFECT_IMAGE_EDIT_ARCHIVE_DIR", str(tmp_path / "archive-b"))
    again, outcome = run_erase(image, mask, "ailabtools", local)
    assert again.is_completed(), again.message
    assert str(tmp_path / "archive-b") in outcome.variants[0].erased.archived.uri
    billed = emu.counters.billable("ailabtools")
    assert state.repayments(RepaymentReason.ARCHIVE_MISSING) == billed - 1


# -- 2. S3 killed mid-batch on Tencent --------------------------------------------------------


def _watch_first_archive_failure(monkeypatch, emu, vendor: str, seen: dict[str, int]) -> None:
    """Record how much was billed when the pack first saw the archive fail."""
    from prefect_image_edit.archive import health
    from prefect_image_edit.tasks import erase as erase_module

    for module, name in (
        (health, "note_endpoint_unreachable"),
        (health, "note_failure"),
        (erase_module, "note_failure"),
    ):
        original = getattr(module, name)

        def noted(*args, _original=original, **kwargs):
            seen.setdefault("at_first_failure", emu.counters.billable(vendor))
            return _original(*args, **kwargs)

        monkeypatch.setattr(module, name, noted)


def test_case2_s3_killed_mid_batch_on_tencent(
    emu, connections, state, make_scene, tmp_path, s3_switch, monkeypatch
):
    switch, archive = s3_switch
    source = folder_of_scenes(make_scene, tmp_path, 12)
    conn = connections.model_copy(update={"archive": archive})
    emu.settings.tencent.latency = 0.15
    killed: dict[str, int] = {}
    _watch_first_archive_failure(monkeypatch, emu, "tencent", killed)

    def kill_after_three() -> None:
        deadline = time.monotonic() + 120
        while emu.counters.billable("tencent") < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        switch.kill()
        killed["billed"] = emu.counters.billable("tencent")

    watcher = threading.Thread(target=kill_after_three, daemon=True)
    watcher.start()
    started = time.monotonic()
    first, summary = run_batch(source, conn, provider="tencent", max_concurrency=8)
    first_seconds = time.monotonic() - started
    watcher.join(timeout=5)
    assert first.is_failed()
    billed = emu.counters.billable("tencent")
    # No new paid call once the archive was seen failing, beyond the one Tencent slot that
    # may be in flight at that moment.
    assert billed <= killed["at_first_failure"] + 1, (billed, killed)
    # Everything paid for and not archived is staged as bytes in the state (not a 1 h URL).
    records = state.records()
    archived = [r for r in records if r.state is CallState.ARCHIVED]
    unarchived = [r for r in records if r.state is not CallState.ARCHIVED and r.attempts]
    assert len(archived) + len(unarchived) == billed
    for record in unarchived:
        assert record.state is CallState.READY
        data = state.staged_bytes(record)
        assert data is not None and validate_result_image(data, vendor="tencent", action="x")
    # The summary says which items were paid (published before anything touching storage).
    table = json.loads(asyncio.run(Artifact.aget("batch-erase-summary")).data)
    assert len(table) == 12
    failed = [row for row in summary.rows if row.status == "failed"]
    assert failed and all(row.error for row in failed)

    # An hour later (a COS link would be dead) with the archive back: what was paid for is
    # archived from the staged bytes, nothing expired, nothing paid again. (New paid calls
    # fail here: the emulator's clock is an hour ahead of the signer's.)
    switch.restore()
    emu.clock.advance(3700)
    run_batch(source, conn, provider="tencent", max_concurrency=8)
    assert emu.counters.billable("tencent") == billed
    paid = [r for r in state.records() if r.state is not CallState.FAILED]
    assert len(paid) == billed and all(r.state is CallState.ARCHIVED for r in paid)
    # Back on time: the items never paid for are paid once, the rest is found done.
    emu.clock.reset()
    second, summary = run_batch(source, conn, provider="tencent", max_concurrency=8)
    assert second.is_completed(), second.message
    assert (summary.succeeded, summary.failed) == (12, 0)
    assert emu.counters.billable("tencent") == 12
    assert state.repayments() == 0
    assert state.possible_double_charges() == 0
    assert not state.in_state(CallState.EXPIRED, CallState.FAILED)
    print(
        f"storage-down: killed after {killed['billed']} billed, failure seen after "
        f"{killed['at_first_failure']}, {billed} billed in all, "
        f"{len(unarchived)} staged, first run {first_seconds:.1f} s; re-run billed "
        f"{emu.counters.billable('tencent') - billed} more for {12 - billed} unpaid items"
    )


# -- 3. masks beside their photos --------------------------------------------------------------


def test_case3_masks_beside_photos_are_never_items(emu, connections, state, make_scene, tmp_path):
    folder = tmp_path / "shoot"
    folder.mkdir()
    for i in range(5):
        image, mask = make_scene(f"p{i}")
        image.rename(folder / f"p{i}.jpg")
        mask.rename(folder / f"p{i}_mask.png")  # the README's own naming
    first, summary = run_batch(
        BatchSource(images=str(folder), masks=str(folder)), connections, provider="volcengine"
    )
    assert first.is_completed(), first.message
    assert sorted(Path(r.item).name for r in summary.rows) == [f"p{i}.jpg" for i in range(5)]
    assert emu.counters.billable("volcengine") == 5

    # An ambiguous pairing is refused before any paid call.
    image, mask = make_scene("q")
    image.rename(folder / "q.jpg")
    mask.rename(folder / "q_mask.png")
    (folder / "q.png").write_bytes((folder / "q_mask.png").read_bytes())
    refused, error = run_batch(
        BatchSource(images=str(folder), masks=str(folder)), connections, provider="volcengine"
    )
    assert refused.is_failed()
    assert isinstance(error, AmbiguousMaskError)
    assert emu.counters.billable("volcengine") == 5


# -- 4. a 200 answer whose result is not an image ------------------------------------------------


@pytest.mark.parametrize("vendor", ["ailabtools", "tencent", "volcengine"])
def test_case4_corrupt_result_is_a_vendor_fault_never_archived_or_cached(
    vendor, emu, connections, state, make_scene, s3
):
    image, mask = make_scene()
    emu.inject(vendor, FaultKind.CORRUPT_RESULT, times=None)
    failed, error = run_erase(image, mask, vendor, connections)
    assert failed.is_failed()
    assert isinstance(error, BadResultError) and isinstance(error, VendorError)
    assert not isinstance(error, InputError)  # not "your image is unreadable"
    billed = emu.counters.billable(vendor)
    assert billed >= 1
    [record] = state.records()
    assert (record.state, record.poisoned, record.archived_uri) == (CallState.FAILED, True, None)
    assert state.staged_bytes(record) is None  # not cached either

    emu.clear_faults()  # the vendor recovered
    again, outcome = run_erase(image, mask, vendor, connections)
    assert again.is_completed(), again.message
    assert emu.counters.billable(vendor) == billed + 1
    assert state.repayments(RepaymentReason.POISONED) == 1
    bucket, key = split_s3_uri(outcome.variants[0].erased.archived.uri)
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    with Image.open(__import__("io").BytesIO(body)) as archived:
        archived.verify()


# -- 5. storage that hangs -----------------------------------------------------------------------


def test_case5_frozen_storage_ends_the_batch_within_its_deadline_with_the_summary(
    emu, connections, state, make_scene, tmp_path, s3_switch, monkeypatch
):
    from prefect_image_edit.tasks import erase as erase_module

    switch, archive = s3_switch
    from prefect_image_edit.archive import health
    from prefect_image_edit.flows import batch as batch_module

    monkeypatch.setattr(erase_module, "ARCHIVE_DEADLINE_SECONDS", 2.0)
    monkeypatch.setattr(batch_module, "ARCHIVE_DEADLINE_SECONDS", 2.0)
    monkeypatch.setattr(health, "PROBE_DEADLINE_SECONDS", 2.0)
    source = folder_of_scenes(make_scene, tmp_path, 4)
    conn = connections.model_copy(update={"archive": archive})
    seen: dict[str, int] = {}
    _watch_first_archive_failure(monkeypatch, emu, "tencent", seen)
    switch.freeze()
    started = time.monotonic()
    finished, _ = run_batch(source, conn, provider="tencent", max_concurrency=4)
    elapsed = time.monotonic() - started
    assert finished.is_failed()
    assert elapsed < 90, f"the batch took {elapsed:.0f} s with a frozen archive"
    table = json.loads(asyncio.run(Artifact.aget("batch-erase-summary")).data)
    assert len(table) == 4
    billed = emu.counters.billable("tencent")
    # A frozen store is seen failing only at the first deadline; no paid call after that
    # beyond the one Tencent slot in flight.
    assert billed <= seen["at_first_failure"] + 1, (billed, seen)
    for record in state.records():
        assert state.staged_bytes(record) is not None
    print(f"frozen storage: batch of 4 ended in {elapsed:.1f} s, {billed} billed, all staged")


# -- 6. possible_double_charges, over and under ---------------------------------------------------


def test_case6_unbilled_answers_and_queued_calls_are_not_counted(
    emu, connections, state, make_scene, tmp_path
):
    emu.settings.tencent.latency = 0.05  # items queue for Tencent's one slot
    emu.inject("tencent", FaultKind.SERVER_ERROR)  # the vendor's own 5xx answer: not billed
    emu.inject("tencent", FaultKind.RATE_LIMIT)
    emu.inject("tencent", FaultKind.CONCURRENCY_LIMIT)
    source = folder_of_scenes(make_scene, tmp_path, 6)
    finished, summary = run_batch(source, connections, provider="tencent", max_concurrency=6)
    assert finished.is_completed(), finished.message
    assert emu.counters.billable("tencent") == 6
    assert state.possible_double_charges() == 0
    assert sum(row.possible_double_charges for row in summary.rows) == 0


def test_case6_ambiguous_failures_are_counted(emu, connections, state, make_scene):
    image, mask = make_scene()
    emu.inject("volcengine", FaultKind.RESET_AFTER_PROCESSING)  # billed, answer never seen
    finished, outcome = run_erase(image, mask, "volcengine", connections)
    assert finished.is_completed(), finished.message
    assert emu.counters.billable("volcengine") == 2
    assert state.possible_double_charges() == 1
    assert outcome.variants[0].erased.possible_double_charges == 1


def _wardrobe(make_scene, tmp_path) -> tuple[str, str]:
    person, _ = make_scene("person", size=(300, 600))
    top = tmp_path / "top.png"
    Image.new("RGB", (300, 300), (20, 40, 200)).save(top)
    return str(person), str(top)


def test_case6_try_on_outcomes_carry_the_figure(emu, connections, state, make_scene, tmp_path):
    person, top = _wardrobe(make_scene, tmp_path)
    emu.inject("ailabtools", FaultKind.RESET_AFTER_PROCESSING, action="try-on-clothes-pro")
    outcome = asyncio.run(try_on(person, top, "woman", connections=connections))
    assert emu.counters.billable("ailabtools") == 3  # coarse twice (answer lost), refiner
    assert outcome.possible_double_charges == 1 == state.possible_double_charges()


def test_case6_try_on_repayment_after_expiry_is_counted_and_reported(
    emu, connections, state, make_scene, tmp_path
):
    person, _ = make_scene("person", size=(300, 600))
    top = tmp_path / "top.png"
    Image.new("RGB", (300, 300), (20, 40, 200)).save(top)
    emu.inject("ailabtools", FaultKind.URL_FORBIDDEN, times=None, action="download")
    with pytest.raises(Exception):  # noqa: B017 - the result could not be fetched
        asyncio.run(try_on(str(person), str(top), "woman", connections=connections))
    emu.clear_faults()
    emu.clock.advance(25 * 3600)  # the URL and the task are gone at the vendor
    outcome = asyncio.run(try_on(str(person), str(top), "woman", connections=connections))
    billed = emu.counters.billable("ailabtools")
    paid_inputs = sum(1 for r in state.records() if r.attempts)
    assert billed == 3  # coarse, coarse again (expired), refiner
    assert state.repayments(RepaymentReason.EXPIRED) == 1
    assert state.recorded_extra_charges() >= billed - paid_inputs
    assert outcome.repayments == 1  # the try-on outcome carries the figure
    assert outcome.possible_double_charges + outcome.repayments >= billed - paid_inputs
