"""AILabTools async task polls, normalised: int and string statuses, URLs, failures."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from prefect_image_edit.vendors import AILabToolsClient, TaskResult, TaskState
from prefect_image_edit.vendors.ailabtools.status import combine_states, result_url, task_states
from prefect_image_edit.vendors.errors import (
    AuthError,
    InvalidParameterError,
    NotFoundError,
    RateLimitedError,
    RetryVerdict,
    VendorRequestError,
    VendorServerError,
)

from .conftest import AILAB_KEY, Recorder, json_response

pytestmark = pytest.mark.anyio

Q, P, S, F = TaskState.QUEUED, TaskState.PROCESSING, TaskState.SUCCEEDED, TaskState.FAILED
OSS_URL = (
    "https://ailab-outputs.oss-accelerate.aliyuncs.com/out/a.png"
    "?OSSAccessKeyId=LTAIexample&Expires=1731577645&Signature=abc"
)
PLAIN_URL = "https://ailab-outputs.oss-accelerate.aliyuncs.com/out/b.png"


def answer(status: int = 200, **fields) -> httpx.Response:
    body = {
        "request_id": "q-req",
        "log_id": "q-log",
        "error_code": 0,
        "error_msg": "",
        "error_detail": {"status_code": 200, "code": "", "code_message": "", "message": ""},
        **fields,
    }
    return json_response(body, status)


def failure(status: int, code: str, message: str = "task failed") -> httpx.Response:
    return answer(
        status,
        error_code=status,
        error_detail={"status_code": status, "code": code, "code_message": "", "message": message},
    )


async def query(response: httpx.Response, task_id: str = "task-1") -> tuple[TaskResult, Recorder]:
    recorder = Recorder(response)
    async with AILabToolsClient(AILAB_KEY, transport=recorder.transport) as ailab:
        return await ailab.query_async_task(task_id), recorder


async def test_query_wire_format():
    result, recorder = await query(answer(task_status=0), task_id="abc/123 x")
    sent = recorder.last
    assert sent.method == "GET"
    assert sent.url.path == "/api/common/query-async-task-result"
    assert sent.url.params["task_id"] == "abc/123 x"
    assert sent.headers["ailabapi-api-key"] == AILAB_KEY
    assert (result.vendor, result.action, result.task_id, result.request_id) == (
        "ailabtools",
        "query-async-task-result",
        "abc/123 x",
        "q-req",
    )


@pytest.mark.parametrize(
    ("fields", "state", "raw"),
    [
        ({"task_status": 0}, Q, "0"),
        ({"task_status": 1}, P, "1"),
        ({"task_status": "1"}, P, "1"),
        ({"task_status": 7}, P, "7"),
        ({"task_status": 0, "output": {"task_status": "", "image_url": ""}}, Q, "0"),
        ({"output": {"task_status": "PENDING"}}, Q, "PENDING"),
        ({"output": {"task_status": "RUNNING"}}, P, "RUNNING"),
        ({"output": {"task_status": "UNKNOWN"}}, P, "UNKNOWN"),
        ({"output": {"task_status": "running"}}, P, "running"),
        ({"task_status": 0, "output": {"task_status": "RUNNING"}}, P, "0/RUNNING"),
    ],
)
async def test_unfinished_states(fields, state, raw):
    result, _ = await query(answer(**fields))
    assert (result.state, result.vendor_status) == (state, raw)
    assert not result.state.terminal
    assert (result.image_url, result.expires_at, result.error_code) == (None, None, None)


@pytest.mark.parametrize(
    "fields",
    [
        {"task_status": 2, "output": {"image_url": OSS_URL}},
        {"output": {"task_status": "SUCCEEDED", "image_url": OSS_URL}},
        {"task_status": 2, "output": {"task_status": "SUCCEEDED", "image_url": OSS_URL}},
        {"task_status": 1, "output": {"task_status": "SUCCEEDED", "image_url": OSS_URL}},
        {"task_status": 2, "data": {"image": OSS_URL}},
        {"task_status": 2, "data": {"image": [OSS_URL]}},
    ],
    ids=["int", "string", "both", "string-ahead", "data.image", "data.image-list"],
)
async def test_succeeded_with_url_and_expiry_from_url(fields):
    result, _ = await query(answer(**fields))
    assert result.state is S
    assert result.image_url == OSS_URL
    assert result.expires_at == datetime.fromtimestamp(1731577645, UTC)


async def test_url_without_expiry_lives_24_hours_from_receipt():
    result, _ = await query(answer(task_status=2, output={"image_url": PLAIN_URL}))
    assert (result.expires_at - result.received_at).total_seconds() == 86400


async def test_output_image_url_wins_over_data_image():
    result, _ = await query(
        answer(task_status=2, output={"image_url": OSS_URL}, data={"image": PLAIN_URL})
    )
    assert result.image_url == OSS_URL


@pytest.mark.parametrize(
    "fields",
    [
        {"task_status": 3},
        {"output": {"task_status": "FAILED"}},
        {"task_status": 2, "output": {"task_status": "FAILED", "image_url": OSS_URL}},
    ],
    ids=["int-3", "string", "failure-wins"],
)
async def test_failed_states(fields):
    result, _ = await query(answer(**fields))
    assert result.state is F
    assert result.state.terminal
    assert result.image_url is None


async def test_failed_state_carries_the_envelope_code():
    result, _ = await query(
        answer(
            task_status=3,
            error_msg="face not found",
            error_detail={"code": "ERROR_NO_FACE_IN_FILE", "message": ""},
        )
    )
    assert (result.error_code, result.error_message) == ("ERROR_NO_FACE_IN_FILE", "face not found")


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (422, "ERROR_NO_FACE_IN_FILE"),
        (422, "FILE_CONTENT_NON_COMPLIANCE"),
        (400, "ERROR_PARAMETERS"),
        (422, ""),
        (409, "ERROR_SOMETHING_UNDOCUMENTED"),
    ],
)
async def test_non_200_envelope_about_the_task_is_a_failed_task(status, code):
    result, _ = await query(failure(status, code))
    assert result.state is F
    assert result.vendor_status == f"HTTP {status}"
    assert result.error_code == (code or None)
    assert result.error_message == "task failed"
    assert result.request_id == "q-req"


@pytest.mark.parametrize(
    ("response", "cls", "verdict"),
    [
        (failure(401, "ERROR_USER_NOT_EXISTS"), AuthError, RetryVerdict.PERMANENT),
        (failure(404, "ERROR_RESOURCE_NOT_FOUND"), NotFoundError, RetryVerdict.PERMANENT),
        (failure(410, "ERROR_TASK_REVOKED"), NotFoundError, RetryVerdict.PERMANENT),
        (failure(429, "EXCEEDING_LIMITS"), RateLimitedError, RetryVerdict.RESUBMIT),
        (failure(500, "SERVICE_INTERNAL_ERROR"), VendorServerError, RetryVerdict.RETRY_ONCE),
        (failure(504, "AI_SERVICE_TIMEOUT"), VendorServerError, RetryVerdict.RETRY_ONCE),
        (
            httpx.Response(502, text="<html>bad gateway</html>"),
            VendorServerError,
            RetryVerdict.RESUBMIT,
        ),
    ],
    ids=["auth", "not-found", "revoked", "rate-limited", "internal", "timeout", "gateway"],
)
async def test_errors_about_the_query_itself_raise(response, cls, verdict):
    with pytest.raises(cls) as caught:
        await query(response)
    assert caught.value.retry is verdict
    assert caught.value.action == "query-async-task-result"


@pytest.mark.parametrize(
    "fields",
    [{}, {"task_status": None}, {"output": {"task_status": ""}}, {"task_status": 2}],
    ids=["no-status", "null-status", "blank-string", "succeeded-without-url"],
)
async def test_malformed_answers_raise_and_may_be_polled_again(fields):
    with pytest.raises(VendorRequestError) as caught:
        await query(answer(**fields))
    assert caught.value.retry is RetryVerdict.RETRY_ONCE


@pytest.mark.parametrize("task_id", ["", "   ", None, 42])
async def test_bad_task_id_sends_nothing(task_id):
    recorder = Recorder(answer(task_status=0))
    async with AILabToolsClient(AILAB_KEY, transport=recorder.transport) as ailab:
        with pytest.raises(InvalidParameterError, match="task_id"):
            await ailab.query_async_task(task_id)
    assert recorder.requests == []


# --- the pure helpers ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("states", "expected"),
    [([], None), ([Q], Q), ([Q, P], P), ([P, S], S), ([S, F], F), ([F, Q], F)],
)
def test_combine_states(states, expected):
    assert combine_states(states) == expected


def test_task_states_ignores_bools_and_junk():
    assert task_states({"task_status": True, "output": "nope"}) == ([], "")
    assert task_states({"task_status": "2", "output": {"task_status": " SUCCEEDED "}}) == (
        [S, S],
        "2/SUCCEEDED",
    )


def test_result_url_prefers_output_and_ignores_empties():
    assert result_url({"output": {"image_url": ""}, "data": {"image": PLAIN_URL}}) == PLAIN_URL
    assert result_url({"data": {"image": []}}) is None
    assert result_url({"output": None, "data": None}) is None


@pytest.mark.parametrize("base_url", ["https://www.ailabapi.com", "http://127.0.0.1:8080/ailab/"])
@pytest.mark.parametrize("task_id", ["abc-123", "abc/123 x", "a&b=c#d?e", "é+%20ü", " t "])
async def test_query_url_is_what_httpx_builds_from_the_path_and_params(base_url, task_id):
    # The poll builds its URL from one string (cheaper); it must be the very URL httpx builds.
    recorder = Recorder(answer(task_status=0))
    async with AILabToolsClient(
        AILAB_KEY, base_url=base_url, transport=recorder.transport
    ) as ailab:
        await ailab.query_async_task(task_id)
        expected = ailab._http.build_request(
            "GET", "/api/common/query-async-task-result", params={"task_id": task_id}
        ).url
    assert recorder.last.url == expected
    assert str(recorder.last.url) == str(expected)
    assert recorder.last.url.params["task_id"] == task_id
