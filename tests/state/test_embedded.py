"""The embedded store keeps the legacy layout: the old Ledger and flock manager agree with it."""

from __future__ import annotations

import pytest

from prefect_image_edit.ledger import Ledger
from prefect_image_edit.state import CallState, PaidCall
from prefect_image_edit.state.embedded import EmbeddedStore
from prefect_image_edit.tasks.locking import FlockLockManager

pytestmark = pytest.mark.anyio


async def test_the_ledger_and_the_flock_manager_see_what_the_store_wrote(tmp_path):
    store = EmbeddedStore(tmp_path / "ledger", tmp_path / "locks")
    await store.begin(PaidCall(key="k", vendor="tencent", action="A"))
    await store.record_answer("k", data=b"result-bytes", media_type="image/png")
    ledger = Ledger(tmp_path / "ledger")
    record = ledger.get("k")
    assert record.state is CallState.READY
    assert ledger.staged_path(record).read_bytes() == b"result-bytes"
    assert [r.key for r in ledger.pending()] == ["k"]

    flock = FlockLockManager(tmp_path / "locks")
    async with store.lock("k"):
        assert flock.is_locked("k")
    assert not flock.is_locked("k")
