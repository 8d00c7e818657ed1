"""Try-on content keys and its crash record in the state store, without Prefect's engine."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import pytest

from prefect_image_edit.state import CallState, RepaymentReason
from prefect_image_edit.state.embedded import EmbeddedStore
from prefect_image_edit.tasks.models import ArchivedRef, StagedFile
from prefect_image_edit.tasks.try_on import FinishedJob, PreparedOutfit, coarse_key, refiner_key
from prefect_image_edit.tasks.try_on.records import TryOnRecords
from prefect_image_edit.vendors.errors import RetryVerdict, VendorServerError
from prefect_image_edit.vendors.results import TaskResult, TaskState, TaskSubmission


def _staged(sha: str) -> StagedFile:
    return StagedFile(path=f"/staging/{sha}.png", sha256=sha, size=10, media_type="image/png")


def _outfit(person: str = "p" * 64, top: str = "t" * 64, source: str = "person.jpg"):
    return PreparedOutfit(
        person=_staged(person), top=_staged(top), person_source=source, top_source="top.png"
    )


def test_keys_are_the_prepared_content_not_where_it_came_from():
    local = _outfit(source="/photos/person.jpg")
    remote = _outfit(source="s3://bucket/people/person.jpg")
    assert coarse_key(local) == coarse_key(remote)
    assert coarse_key(_outfit(person="q" * 64)) != coarse_key(local)
    assert coarse_key(local).startswith("image-edit/try-on-coarse/ailabtools/")


def test_refiner_key_covers_the_coarse_result_and_gender():
    outfit = _outfit()
    key = refiner_key(outfit, "c" * 64, "woman")
    assert key == refiner_key(outfit, "c" * 64, "woman")
    assert key not in {
        refiner_key(outfit, "d" * 64, "woman"),
        refiner_key(outfit, "c" * 64, "man"),
        coarse_key(outfit),
    }


def test_a_bottom_garment_is_part_of_the_key():
    outfit = _outfit()
    dressed = outfit.model_copy(update={"bottom": _staged("b" * 64), "bottom_source": "b.png"})
    assert dressed.inputs() == {"person": "p" * 64, "top": "t" * 64, "bottom": "b" * 64}
    assert coarse_key(dressed) != coarse_key(outfit)


def _submission(task_id: str = "task-1") -> TaskSubmission:
    return TaskSubmission(
        vendor="ailabtools", action="try-on-clothes-pro", task_id=task_id, request_id="req-1"
    )


@pytest.fixture
def book(tmp_path) -> TryOnRecords:
    return TryOnRecords(EmbeddedStore(tmp_path))


def _pay(book: TryOnRecords, key: str = "k", send=None, slot=None):
    async def ok() -> TaskSubmission:
        return _submission()

    return asyncio.run(
        book.pay_submit(
            key, action="TryOnClothesPro", inputs={}, parameters={}, send=send or ok, slot=slot
        )
    )


def _get(book: TryOnRecords, key: str = "k"):
    return asyncio.run(book.get(key))


def test_a_submit_is_recorded_with_its_task_id_and_resumable(book):
    record = _pay(book)
    assert (record.state, record.task_id, record.request_ids) == (
        CallState.SUBMITTED,
        "task-1",
        ["req-1"],
    )
    assert record.attempts == 1 and record.possible_double_charges == 0
    assert asyncio.run(book.paid_job("k")).task_id == "task-1"


def test_a_refused_submit_is_not_a_job_to_resume(book):
    async def refused() -> TaskSubmission:
        raise VendorServerError("no", vendor="ailabtools", action="x", retry=RetryVerdict.PERMANENT)

    with pytest.raises(VendorServerError):
        _pay(book, send=refused)
    assert _get(book).state is CallState.FAILED
    assert asyncio.run(book.paid_job("k")) is None


def _poll(state: TaskState, url: str | None = None) -> TaskResult:
    return TaskResult(
        vendor="ailabtools",
        action="query-async-task-result",
        task_id="task-1",
        state=state,
        image_url=url,
        expires_at=datetime.now(UTC) + timedelta(hours=24) if url else None,
    )


def _answer(book: TryOnRecords, url: str, data: bytes | None = b"png") -> None:
    asyncio.run(
        book.record_result("k", data=data, media_type="image/png", result_url=url, expires_at=None)
    )


def test_polls_move_an_open_job_on_but_never_back(book):
    _pay(book)
    asyncio.run(book.record_poll("k", _poll(TaskState.PROCESSING)))
    assert _get(book).state is CallState.SUBMITTED
    assert asyncio.run(book.needs_result("k", "task-1"))
    assert not asyncio.run(book.needs_result("k", "an-older-task"))
    _answer(book, "https://r.example/a.png")
    assert (_get(book).state, _get(book).result_url) == (
        CallState.READY,
        "https://r.example/a.png",
    )
    assert asyncio.run(book.staged("k")) == b"png"  # the bytes, staged with the answer
    assert not asyncio.run(book.needs_result("k", "task-1"))  # nothing more to fetch
    ref = ArchivedRef(uri="s3://b/a.png", key="a.png", sha256="a" * 64, size=1, media_type="x")
    asyncio.run(book.mark_archived("k", ref))
    assert asyncio.run(book.staged("k")) is None
    # a late run's poll: an archived job needs nothing, and a failure answer changes nothing
    assert not asyncio.run(book.needs_result("k", "task-1"))
    assert asyncio.run(book.record_poll("k", _poll(TaskState.FAILED))) is None
    assert (_get(book).state, _get(book).archived_key) == (CallState.ARCHIVED, "a.png")


def test_a_failed_job_is_recorded_failed(book):
    _pay(book)
    failed = _poll(TaskState.FAILED).model_copy(
        update={"error_code": "ERROR_NO_FACE_IN_FILE", "error_message": "no face"}
    )
    asyncio.run(book.record_poll("k", failed))
    assert _get(book).state is CallState.FAILED
    assert _get(book).error == "ERROR_NO_FACE_IN_FILE: no face"


def test_a_finished_job_knows_when_its_url_expires():
    now = datetime.now(UTC)
    job = FinishedJob(task_id="t", result_url="https://r.example/a", expires_at=now)
    assert job.expired(now) and not job.expired(now - timedelta(seconds=1))
    assert not FinishedJob(task_id="t", result_url="https://r.example/a").expired()


def test_a_call_is_in_flight_only_once_its_slot_is_held(book):
    seen = []

    @asynccontextmanager
    async def slot():
        seen.append(await book.get("k"))
        yield
        seen.append((await book.get("k")).state)

    _pay(book, slot=slot)
    # nothing recorded while waiting for the slot; the task id persisted before it is freed
    assert seen == [None, CallState.SUBMITTED]
    assert _get(book).attempts == 1


def test_an_ambiguous_failure_is_resent_once_and_counted(book):
    async def lost() -> TaskSubmission:
        raise VendorServerError(
            "reset", vendor="ailabtools", action="x", retry=RetryVerdict.RETRY_ONCE
        )

    with pytest.raises(VendorServerError) as first:
        _pay(book, send=lost)
    assert first.value.retry is RetryVerdict.RETRY_ONCE
    assert (_get(book).state, _get(book).ambiguous_failures) == (CallState.IN_FLIGHT, 1)
    with pytest.raises(VendorServerError) as second:
        _pay(book, send=lost)
    assert second.value.retry is RetryVerdict.PERMANENT  # a possibly billed job: resent once
    record = _get(book)
    assert (record.attempts, record.possible_double_charges) == (2, 1)


def test_an_expired_job_is_paid_again_only_as_a_counted_repayment(book):
    _pay(book)
    _answer(book, "https://r.example/a.png", data=None)
    assert asyncio.run(book.mark_expired("k", "404: task not found")).state is CallState.EXPIRED
    assert asyncio.run(book.paid_job("k")) is None  # nothing to resume
    record = _pay(book)
    assert (record.state, record.attempts, record.possible_double_charges) == (
        CallState.SUBMITTED,
        2,
        0,
    )
    [repayment] = record.repayments
    assert (repayment.reason, repayment.previous_state) == (
        RepaymentReason.EXPIRED,
        CallState.EXPIRED,
    )
    charges = asyncio.run(book.charges(["k", "k", "other"]))
    assert (charges.attempts, charges.possible_double_charges, charges.repayments) == (2, 0, 1)


def test_an_archived_object_gone_with_its_task_is_repaid_as_archive_missing(book):
    _pay(book)
    _answer(book, "https://r.example/a.png")
    ref = ArchivedRef(uri="s3://b/a.png", key="a.png", sha256="a" * 64, size=1, media_type="x")
    asyncio.run(book.mark_archived("k", ref))
    asyncio.run(book.mark_expired("k", "archived object missing; task gone"))
    [repayment] = _pay(book).repayments
    assert repayment.reason is RepaymentReason.ARCHIVE_MISSING
