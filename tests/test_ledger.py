from datetime import UTC, datetime, timedelta

from prefect_image_edit.ledger import CallState, Ledger, PaidCall


def _call(key="k1", **kw):
    return PaidCall(key=key, vendor="tencent", action="ImageInpaintingRemoval", **kw)


def test_attempts_and_crash_mid_call_counts_as_possible_double_charge(tmp_path):
    ledger = Ledger(tmp_path)
    first = ledger.begin_attempt(_call(inputs={"image": "a" * 64}))
    assert (first.state, first.attempts, first.possible_double_charges) == (
        CallState.IN_FLIGHT,
        1,
        0,
    )
    # the process "dies" here: the record stays IN_FLIGHT; a new process starts again
    second = Ledger(tmp_path).begin_attempt(_call())
    assert (second.attempts, second.possible_double_charges) == (2, 1)
    done = ledger.update("k1", state=CallState.READY, request_ids=["r1"])
    third = ledger.begin_attempt(done)
    assert third.possible_double_charges == 1


def test_stage_and_drop_result_bytes(tmp_path):
    ledger = Ledger(tmp_path)
    ledger.begin_attempt(_call())
    ledger.stage("k1", b"image-bytes", "image/png")
    record = ledger.get("k1")
    assert record.media_type == "image/png"
    assert ledger.staged_path(record).read_bytes() == b"image-bytes"
    ledger.drop_staged(record)
    assert ledger.staged_path(record) is None


def test_pending_is_ordered_by_expiry_and_excludes_finished(tmp_path):
    ledger = Ledger(tmp_path)
    now = datetime.now(UTC)
    ledger.save(_call("late", state=CallState.READY, expires_at=now + timedelta(hours=20)))
    ledger.save(_call("soon", state=CallState.SUBMITTED, expires_at=now + timedelta(minutes=5)))
    ledger.save(_call("done", state=CallState.ARCHIVED))
    ledger.save(_call("nodate", state=CallState.READY))
    assert [r.key for r in ledger.pending()] == ["soon", "late", "nodate"]
    assert ledger.summary()["states"] == {"ready": 2, "submitted": 1, "archived": 1}
