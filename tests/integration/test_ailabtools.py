"""AILabToolsClient against the AILabTools emulator: erase, the try-on task life, errors."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from prefect_image_edit.emulators import FaultKind
from prefect_image_edit.vendors import (
    AuthError,
    ErrorKind,
    NotFoundError,
    QuotaError,
    RetryVerdict,
    TaskState,
)

from .conftest import Tap, assert_erased, garment, http_client, mask_png, open_image, person, scene

pytestmark = pytest.mark.anyio

VENDOR = "ailabtools"
PRO = "try-on-clothes-pro"
REFINER = "try-on-clothes-refiner"
QUERY = "query-async-task-result"


def expires_param(url: str) -> int:
    return int(parse_qs(urlsplit(url).query)["Expires"][0])


async def download(url: str) -> httpx.Response:
    async with http_client() as http:
        return await http.get(url)


async def test_remove_objects_returns_the_erased_image(emu, clients):
    image, mask = scene(), mask_png()
    async with clients.ailabtools(default_transport=True) as client:
        result = await client.remove_objects_advanced(image, mask, dilate_size=3, seed=7)
    assert result.image_bytes and result.image_url is None and result.expires_at is None
    assert_erased(result.image_bytes, image, grown_by=3)
    assert result.seed == 7 and result.parameters["dilate_size"] == 3
    (record,) = emu.counters.billing_records(VENDOR)
    assert (record.action, record.fault) == ("remove-objects-advanced", None)
    assert result.request_id == record.request_id
    assert emu.ailabtools_credits_left() == emu.settings.ailabtools.credits - 20


async def test_try_on_pro_walks_queued_processing_succeeded(emu, clients):
    emu.settings.ailabtools.task_queued_seconds = 10
    emu.settings.ailabtools.task_processing_seconds = 20
    async with clients.ailabtools() as client:
        submitted_at = emu.clock.time()
        submission = await client.submit_try_on_pro(person(), garment())
        assert submission.parameters == {
            "task_type": "async",
            "resolution": -1,
            "restore_face": True,
        }
        (record,) = emu.counters.billing_records(VENDOR)
        assert (record.action, submission.request_id) == (PRO, record.request_id)

        seen = [await client.query_async_task(submission.task_id)]
        emu.clock.advance(10)
        seen.append(await client.query_async_task(submission.task_id))
        emu.clock.advance(20)
        seen.append(await client.query_async_task(submission.task_id))

    assert [(r.state, r.vendor_status) for r in seen] == [
        (TaskState.QUEUED, "0/PENDING"),
        (TaskState.PROCESSING, "1/RUNNING"),
        (TaskState.SUCCEEDED, "2/SUCCEEDED"),
    ]
    assert seen[0].image_url is None and seen[1].image_url is None
    done = seen[2]
    # Valid 24 h from when the task finished, as the URL itself says (OSS Expires).
    assert done.expires_at == datetime.fromtimestamp(expires_param(done.image_url), UTC)
    assert abs(done.expires_at.timestamp() - (submitted_at + 30 + 86400)) <= 2
    response = await download(done.image_url)
    assert response.status_code == 200 and response.headers["content-type"] == "image/jpeg"
    assert open_image(response.content).size == (160, 320)
    assert emu.counters.polls(submission.task_id) == 3
    assert emu.counters.requests(VENDOR, QUERY) == 3
    assert emu.counters.billable(VENDOR) == 1  # polls are free
    assert emu.ailabtools_credits_left() == emu.settings.ailabtools.credits - 30


async def test_refiner_over_a_pro_result(emu, clients):
    emu.settings.ailabtools.task_queued_seconds = 0
    emu.settings.ailabtools.task_processing_seconds = 0
    async with clients.ailabtools() as client:
        pro = await client.submit_try_on_pro(person(), garment(), resolution=1024)
        coarse = await client.query_async_task(pro.task_id)
        assert coarse.state is TaskState.SUCCEEDED
        coarse_bytes = (await download(coarse.image_url)).content
        assert open_image(coarse_bytes).size == (576, 1024)  # resolution 1024
        refiner = await client.submit_try_on_refiner(
            person(), garment(), coarse_bytes, gender="woman", bottom_garment=garment()
        )
        assert refiner.parameters == {"task_type": "async", "gender": "woman"}
        assert set(refiner.input_sha256) == {
            "person_image",
            "top_garment",
            "coarse_image",
            "bottom_garment",
        }
        refined = await client.query_async_task(refiner.task_id)
    assert refined.state is TaskState.SUCCEEDED
    assert open_image((await download(refined.image_url)).content).size == (160, 320)
    assert emu.counters.billable(VENDOR, PRO) == 1
    assert emu.counters.billable(VENDOR, REFINER) == 1
    assert emu.ailabtools_credits_left() == emu.settings.ailabtools.credits - 55


@pytest.mark.parametrize("http_status", [422, 200])
async def test_a_failed_task_is_a_result_not_an_exception(emu, clients, http_status):
    emu.settings.ailabtools.task_queued_seconds = 0
    emu.settings.ailabtools.task_processing_seconds = 0
    emu.settings.ailabtools.failed_task_http_status = http_status
    emu.inject(VENDOR, FaultKind.TASK_FAILURE)
    async with clients.ailabtools() as client:
        submission = await client.submit_try_on_pro(person(), garment())
        result = await client.query_async_task(submission.task_id)
    assert result.state is TaskState.FAILED and result.image_url is None
    if http_status == 422:
        assert result.error_code == "ERROR_POSE_NOT_ENOUGH_KEYPOINTS"
        assert result.vendor_status == "HTTP 422"
    else:
        assert result.vendor_status == "3/FAILED"
    assert emu.counters.billable(VENDOR) == 0
    assert emu.ailabtools_credits_left() == emu.settings.ailabtools.credits  # given back


async def test_unknown_task_is_not_found(emu, clients):
    tap = Tap()
    async with clients.ailabtools(transport=tap) as client:
        with pytest.raises(NotFoundError) as caught:
            await client.query_async_task("0123456789abcdef0123456789abcdef")
    error = caught.value
    assert (error.kind, error.retry) == (ErrorKind.NOT_FOUND, RetryVerdict.PERMANENT)
    assert (error.code, error.http_status) == ("ERROR_RESOURCE_NOT_FOUND", 404)
    assert error.request_id == tap.request_id(VENDOR) and error.request_id


async def test_task_past_its_24h_retention_is_not_found(emu, clients):
    emu.settings.ailabtools.task_queued_seconds = 0
    emu.settings.ailabtools.task_processing_seconds = 0
    tap = Tap()
    async with clients.ailabtools(transport=tap) as client:
        submission = await client.submit_try_on_pro(person(), garment())
        done = await client.query_async_task(submission.task_id)
        assert done.state is TaskState.SUCCEEDED
        emu.clock.advance(86400 - 5)
        assert (await client.query_async_task(submission.task_id)).state is TaskState.SUCCEEDED
        emu.clock.advance(10)
        with pytest.raises(NotFoundError) as caught:
            await client.query_async_task(submission.task_id)
    assert (caught.value.code, caught.value.http_status) == ("ERROR_RESOURCE_NOT_FOUND", 404)
    assert caught.value.retry is RetryVerdict.PERMANENT
    assert caught.value.request_id == tap.request_id(VENDOR)
    assert (await download(done.image_url)).status_code == 403  # the URL died with it


@pytest.mark.parametrize("call", ["erase", "submit", "query"])
async def test_wrong_api_key_is_an_auth_error(emu, clients, call):
    tap = Tap()
    async with clients.ailabtools(api_key="emulator-ailab-not-a-key", transport=tap) as client:
        with pytest.raises(AuthError) as caught:
            if call == "erase":
                await client.remove_objects_advanced(scene(), mask_png())
            elif call == "submit":
                await client.submit_try_on_pro(person(), garment())
            else:
                await client.query_async_task("some-task")
    error = caught.value
    assert (error.kind, error.retry) == (ErrorKind.AUTH, RetryVerdict.PERMANENT)
    assert (error.code, error.http_status) == ("ERROR_USER_NOT_EXISTS", 401)
    assert error.request_id == tap.request_id(VENDOR) and error.request_id
    assert "emulator-ailab-not-a-key" not in str(error)
    assert emu.counters.requests(VENDOR) == 1 and emu.counters.billable(VENDOR) == 0


async def test_no_credits_is_permanent_although_http_429(emu, clients):
    emu.settings.ailabtools.credits = 30
    tap = Tap()
    async with clients.ailabtools(transport=tap) as client:
        await client.remove_objects_advanced(scene(), mask_png())  # 20 of 30
        with pytest.raises(QuotaError) as caught:
            await client.remove_objects_advanced(scene(), mask_png())
    error = caught.value
    assert (error.kind, error.retry) == (ErrorKind.NO_CREDITS, RetryVerdict.PERMANENT)
    assert (error.code, error.http_status) == ("ERROR_NOT_ENOUGH_CREDITS", 429)
    assert not error.transient
    assert error.request_id == tap.request_id(VENDOR)
    assert emu.counters.billable(VENDOR) == 1 and emu.ailabtools_credits_left() == 10
