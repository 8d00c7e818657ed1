"""try-on end to end, expired results, and the archive sweeper catching what flows left behind."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from PIL import Image
from prefect import flow

from prefect_image_edit.archive.store import ArchiveStoreError
from prefect_image_edit.emulators import FaultKind
from prefect_image_edit.errors import ResultExpired
from prefect_image_edit.flows.sweeper import archive_sweeper
from prefect_image_edit.flows.try_on import try_on
from prefect_image_edit.ledger import CallState, Ledger, PaidCall
from prefect_image_edit.state import RepaymentReason, resolve_state
from prefect_image_edit.tasks.erase import erase_image
from prefect_image_edit.tasks.models import MaskOptions
from prefect_image_edit.tasks.prepare import prepare_inputs
from prefect_image_edit.tasks.settings import get_settings
from prefect_image_edit.tasks.sources import split_s3_uri
from prefect_image_edit.tasks.try_on import (
    JobFailed,
    archive_try_on_result,
    poll_try_on_jobs,
    prepare_try_on,
    submit_try_on_coarse,
)


@pytest.fixture
def wardrobe(make_scene, tmp_path):
    person, _ = make_scene("person", size=(300, 600))
    top = tmp_path / "top.png"
    Image.new("RGB", (300, 300), (20, 40, 200)).save(top)
    return str(person), str(top)


@pytest.fixture
def own_ledger(tmp_path, monkeypatch):
    """A ledger (and locks) of this test's own, so sweeps see only what the test made."""
    monkeypatch.setenv("PREFECT_IMAGE_EDIT_HOME", str(tmp_path / "state"))
    return Ledger(get_settings().ledger_dir)


def test_try_on_end_to_end_archives_both_results_and_pays_once(emu, connections, wardrobe, s3):
    person, top = wardrobe
    outcome = asyncio.run(try_on(person, top, "woman", connections=connections))
    for ref, job in ((outcome.coarse, outcome.coarse_job), (outcome.refined, outcome.refined_job)):
        bucket, key = split_s3_uri(ref.uri)
        head = s3.head_object(Bucket=bucket, Key=key)
        assert head["Metadata"]["task-id"] == job.task_id
        assert head["Metadata"]["stage"] == job.stage
        assert emu.counters.polls(job.task_id) >= 1
    assert emu.counters.billable("ailabtools") == 2

    again = asyncio.run(try_on(person, top, "woman", connections=connections))
    assert (again.refined.uri, again.refined.sha256) == (
        outcome.refined.uri,
        outcome.refined.sha256,
    )
    assert emu.counters.billable("ailabtools") == 2


def test_a_failed_job_is_reported_and_not_billed(emu, connections, wardrobe):
    person, top = wardrobe
    emu.inject("ailabtools", FaultKind.TASK_FAILURE)
    with pytest.raises(JobFailed, match="failed at the vendor"):
        asyncio.run(try_on(person, top, "man", connections=connections))
    assert emu.counters.billable("ailabtools") == 0


@flow
async def _submit_and_poll(person: str, top: str, connections):
    outfit = await prepare_try_on(person, top, None, connections.archive)
    job = await submit_try_on_coarse(outfit, connections.ailabtools)
    await poll_try_on_jobs([job], connections.ailabtools)
    return job


@flow
async def _archive(job, connections):
    return await archive_try_on_result(job, connections.ailabtools, connections.archive)


def test_expired_result_is_requeried_then_reported(emu, connections, wardrobe):
    person, top = wardrobe
    # the download when the job succeeded fails, so only the URL is recorded, not the bytes
    emu.inject("ailabtools", FaultKind.URL_FORBIDDEN, action="download")
    job = asyncio.run(_submit_and_poll(person, top, connections))
    assert asyncio.run(resolve_state().staged(job.key)) is None
    polls = emu.counters.polls(job.task_id)
    emu.clock.advance(25 * 3600)  # past the URL's 24 h and the task's 24 h retention
    with pytest.raises(ResultExpired, match="no longer keeps the task"):
        asyncio.run(_archive(job, connections))
    assert emu.counters.polls(job.task_id) == polls + 1  # it asked the vendor again
    record = asyncio.run(resolve_state().get(job.key))
    assert record.state is CallState.EXPIRED


def test_a_result_staged_when_its_job_succeeded_is_archived_after_the_url_expired(
    emu, connections, wardrobe
):
    person, top = wardrobe
    job = asyncio.run(_submit_and_poll(person, top, connections))
    assert asyncio.run(resolve_state().get(job.key)).state is CallState.READY
    staged = asyncio.run(resolve_state().staged(job.key))
    assert staged is not None  # the bytes, downloaded the moment the job succeeded
    polls = emu.counters.polls(job.task_id)
    emu.clock.advance(25 * 3600)  # the URL and the task are gone at the vendor
    ref = asyncio.run(_archive(job, connections))
    assert emu.counters.polls(job.task_id) == polls  # nothing asked of the vendor
    assert emu.counters.billable("ailabtools") == 1
    record = asyncio.run(resolve_state().get(job.key))
    assert (record.state, record.archived_sha256) == (CallState.ARCHIVED, ref.sha256)
    assert asyncio.run(resolve_state().staged(job.key)) is None


@flow
async def _resubmit(person: str, top: str, connections):
    """The coarse stage again, as on a machine whose Prefect cache does not hold the job."""
    outfit = await prepare_try_on(person, top, None, connections.archive)
    job = await submit_try_on_coarse.with_options(refresh_cache=True)(outfit, "emu")
    [done] = await poll_try_on_jobs([job], "emu")
    await archive_try_on_result(job, "emu", connections.archive, done)
    return job


def test_an_expired_job_is_paid_again_only_as_a_counted_repayment(emu, connections, wardrobe):
    person, top = wardrobe
    emu.inject("ailabtools", FaultKind.URL_FORBIDDEN, action="download")
    first = asyncio.run(_submit_and_poll(person, top, connections))
    emu.clock.advance(25 * 3600)
    with pytest.raises(ResultExpired):
        asyncio.run(_archive(first, connections))
    again = asyncio.run(_resubmit(person, top, connections))
    assert again.task_id != first.task_id
    assert emu.counters.billable("ailabtools") == 2
    record = asyncio.run(resolve_state().get(first.key))
    assert (record.state, record.attempts, record.possible_double_charges) == (
        CallState.ARCHIVED,
        2,
        0,
    )
    assert [r.reason for r in record.repayments] == [RepaymentReason.EXPIRED]
    # the job it paid for is resumed, never paid a third time
    assert asyncio.run(_resubmit(person, top, connections)).task_id == again.task_id
    assert emu.counters.billable("ailabtools") == 2


@flow
async def _erase_into(image: str, mask: str, provider: str, credentials, archive):
    inputs = await prepare_inputs(image, MaskOptions(mask=mask), provider)
    return await erase_image(inputs, provider, None, credentials, archive)


def test_sweeper_archives_what_a_failed_archive_step_left(
    emu, connections, make_scene, own_ledger, broken_archive
):
    image, mask = make_scene()
    with pytest.raises(ArchiveStoreError, match="HTTP 403"):
        asyncio.run(_erase_into(str(image), str(mask), "volcengine", "emu", broken_archive))
    [record] = own_ledger.pending()
    assert record.state is CallState.READY
    assert emu.counters.billable("volcengine") == 1

    report = asyncio.run(archive_sweeper(connections=connections))
    assert [r.outcome for r in report.swept] == ["archived"]
    assert own_ledger.get(record.key).state is CallState.ARCHIVED
    assert own_ledger.pending() == []
    assert emu.counters.billable("volcengine") == 1


def test_sweeper_finishes_an_abandoned_try_on_job(emu, connections, wardrobe, own_ledger):
    person, top = wardrobe

    @flow
    async def submit_only():
        outfit = await prepare_try_on(person, top, None, connections.archive)
        return await submit_try_on_coarse(outfit, "emu")

    job = asyncio.run(submit_only())
    emu.clock.advance(5)  # the job is done at the vendor; its flow never polled
    report = asyncio.run(archive_sweeper(connections=connections))
    assert [r.outcome for r in report.swept] == ["archived"]
    assert own_ledger.get(job.key).state is CallState.ARCHIVED


def test_tencent_results_are_staged_so_the_sweeper_archives_them_an_hour_later(
    emu, connections, make_scene, own_ledger, broken_archive
):
    image, mask = make_scene()
    with pytest.raises(ArchiveStoreError, match="HTTP 403"):
        asyncio.run(_erase_into(str(image), str(mask), "tencent", "emu", broken_archive))
    [record] = own_ledger.pending()
    assert own_ledger.staged_path(record) is not None  # the bytes, not a 1 h COS link
    emu.clock.advance(3700)  # a COS link would have expired by now
    report = asyncio.run(archive_sweeper(connections=connections))
    assert [r.outcome for r in report.swept] == ["archived"]
    assert emu.counters.billable("tencent") == 1


def test_sweeper_reports_an_expired_url_and_raises_an_event(emu, connections, own_ledger):
    # A result known only by a link that expired before anyone archived it.
    expired = datetime.now(UTC) - timedelta(minutes=5)
    window = f"{int(expired.timestamp()) - 3600};{int(expired.timestamp())}"
    record = own_ledger.save(
        PaidCall(
            key="image-edit/erase/tencent/expired-link",
            vendor="tencent",
            action="ImageInpaintingRemoval",
            state=CallState.READY,
            result_url=f"https://r.cos.ap-guangzhou.myqcloud.com/x.jpg?q-sign-time={window}",
            expires_at=expired,
        )
    )
    report = asyncio.run(archive_sweeper(connections=connections, safety_margin_minutes=120))
    assert [r.outcome for r in report.swept] == ["expired"]
    assert report.events == 1
    assert own_ledger.get(record.key).state is CallState.EXPIRED


def test_a_result_staged_just_before_a_crash_is_archived_not_paid_again(
    emu, connections, make_scene, own_ledger, broken_archive
):
    image, mask = make_scene()
    with pytest.raises(ArchiveStoreError):
        asyncio.run(_erase_into(str(image), str(mask), "ailabtools", "emu", broken_archive))
    [record] = own_ledger.pending()
    # as if the process died after staging the bytes but before marking the call READY
    own_ledger.update(record.key, state=CallState.IN_FLIGHT)
    erased = asyncio.run(
        _erase_into(str(image), str(mask), "ailabtools", "emu", connections.archive)
    )
    assert erased.attempts == 1
    assert emu.counters.billable("ailabtools") == 1
    assert own_ledger.get(record.key).state is CallState.ARCHIVED


def test_a_paid_job_found_in_the_ledger_is_resumed_not_paid_again(emu, connections, wardrobe):
    person, top = wardrobe

    @flow
    async def crashed_after_submit():
        # .fn: the vendor is paid and the ledger written, but Prefect never records the
        # task's result, as when the process dies right after the submit returns
        outfit = await prepare_try_on(person, top, None, connections.archive)
        return await submit_try_on_coarse.fn(outfit, "emu")

    job = asyncio.run(crashed_after_submit())
    assert emu.counters.billable("ailabtools", action="try-on-clothes-pro") == 1
    outcome = asyncio.run(try_on(person, top, "woman", connections=connections))
    assert outcome.coarse_job.task_id == job.task_id
    assert emu.counters.billable("ailabtools", action="try-on-clothes-pro") == 1
