"""AILabToolsClient against a MockTransport: multipart format, submissions, errors, refusals."""

from __future__ import annotations

import base64
from email.parser import BytesParser
from email.policy import HTTP

import httpx
import pytest

from prefect_image_edit.vendors import AILabToolsClient, EraseResult, TaskSubmission
from prefect_image_edit.vendors._constants import USER_AGENT
from prefect_image_edit.vendors.errors import (
    AuthError,
    InvalidImageError,
    InvalidParameterError,
    ModerationError,
    NotFoundError,
    QuotaError,
    RateLimitedError,
    RetryVerdict,
    VendorAPIError,
    VendorInputError,
    VendorRequestError,
    VendorServerError,
)

from .conftest import (
    AILAB_KEY,
    BMP,
    JPEG,
    MASK_PNG,
    PNG,
    WEBP,
    Recorder,
    assert_no_secrets,
    json_response,
)

pytestmark = pytest.mark.anyio

OUT = PNG  # a real image: results are decoded and checked
OK_DETAIL = {"status_code": 200, "code": "", "code_message": "", "message": ""}


def envelope(**fields) -> dict:
    return {
        "request_id": "req-1",
        "log_id": "log-1",
        "error_code": 0,
        "error_code_str": "",
        "error_msg": "",
        "error_detail": OK_DETAIL,
        **fields,
    }


def erased() -> httpx.Response:
    return json_response(envelope(data={"binary_data_base64": [base64.b64encode(OUT).decode()]}))


def submitted(**fields) -> httpx.Response:
    return json_response(envelope(task_type="async", **fields))


def failure(status: int, code: str = "", message: str = "went wrong", **extra) -> httpx.Response:
    body = envelope(
        error_code=status,
        error_msg=f"legacy {message}",
        error_detail={"status_code": status, "code": code, "code_message": "", "message": message},
        **extra,
    )
    return json_response(body, status)


def parts(request: httpx.Request) -> dict[str, tuple[str | None, str | None, bytes]]:
    """Multipart parts by name: (filename, content type, payload)."""
    head = f"Content-Type: {request.headers['Content-Type']}\r\n\r\n".encode()
    message = BytesParser(policy=HTTP).parsebytes(head + request.content)
    return {
        part.get_param("name", header="content-disposition"): (
            part.get_filename(),
            part.get("Content-Type"),
            part.get_payload(decode=True),
        )
        for part in message.iter_parts()
    }


def client(recorder: Recorder, **kwargs) -> AILabToolsClient:
    return AILabToolsClient(AILAB_KEY, transport=recorder.transport, **kwargs)


async def test_remove_objects_advanced_wire_and_result():
    recorder = Recorder(erased())
    async with client(recorder) as ailab:
        result = await ailab.remove_objects_advanced(
            JPEG, MASK_PNG, steps=20, strength=0.6, scale=7.0, seed=-1, dilate_size=9, quality="H"
        )
    sent = recorder.last
    assert (sent.method, str(sent.url)) == (
        "POST",
        "https://www.ailabapi.com/api/image/editing/remove-objects-advanced",
    )
    assert sent.headers["ailabapi-api-key"] == AILAB_KEY
    assert sent.headers["User-Agent"] == USER_AGENT
    assert sent.headers["Content-Type"].startswith("multipart/form-data; boundary=")
    got = parts(sent)
    assert got["image"] == ("image.jpg", "image/jpeg", JPEG)
    assert got["mask"] == ("mask.png", "image/png", MASK_PNG)
    texts = {name: value[2].decode() for name, value in got.items() if value[0] is None}
    assert texts == {
        "steps": "20",
        "strength": "0.6",
        "scale": "7",
        "seed": "-1",
        "dilate_size": "9",
        "quality": "H",
    }
    assert isinstance(result, EraseResult)
    assert (result.vendor, result.action, result.request_id) == (
        "ailabtools",
        "remove-objects-advanced",
        "req-1",
    )
    assert result.image_bytes == OUT
    assert (result.image_url, result.expires_at) == (None, None)
    assert result.seed == -1
    assert result.parameters == {
        "steps": 20,
        "strength": 0.6,
        "scale": 7,
        "seed": -1,
        "dilate_size": 9,
        "quality": "H",
    }
    assert set(result.input_sha256) == {"image", "mask"}


async def test_try_on_pro_submission():
    recorder = Recorder(submitted(task_id="task-pro-1"))
    async with client(recorder, base_url="http://127.0.0.1:8125") as ailab:
        submission = await ailab.submit_try_on_pro(PNG, JPEG, bottom_garment=BMP)
    sent = recorder.last
    assert str(sent.url) == "http://127.0.0.1:8125/api/portrait/editing/try-on-clothes-pro"
    got = parts(sent)
    assert got["person_image"][:2] == ("person_image.png", "image/png")
    assert got["top_garment"][:2] == ("top_garment.jpg", "image/jpeg")
    assert got["bottom_garment"][:2] == ("bottom_garment.bmp", "image/bmp")
    assert {name: got[name][2] for name in ("task_type", "resolution", "restore_face")} == {
        "task_type": b"async",
        "resolution": b"-1",
        "restore_face": b"true",
    }
    assert isinstance(submission, TaskSubmission)
    assert (submission.vendor, submission.action, submission.task_id, submission.request_id) == (
        "ailabtools",
        "try-on-clothes-pro",
        "task-pro-1",
        "req-1",
    )
    assert submission.parameters == {"task_type": "async", "resolution": -1, "restore_face": True}
    assert set(submission.input_sha256) == {"person_image", "top_garment", "bottom_garment"}


async def test_try_on_pro_false_and_resolution_as_text():
    recorder = Recorder(submitted(task_id="t"))
    async with client(recorder) as ailab:
        await ailab.submit_try_on_pro(PNG, PNG, resolution=1280, restore_face=False)
    got = parts(recorder.last)
    assert (got["resolution"][2], got["restore_face"][2]) == (b"1280", b"false")
    assert "bottom_garment" not in got


async def test_try_on_refiner_submission_with_task_id_under_data():
    recorder = Recorder(submitted(data={"task_id": "task-ref-1"}))
    async with client(recorder) as ailab:
        submission = await ailab.submit_try_on_refiner(PNG, PNG, JPEG, gender="man")
    sent = recorder.last
    assert sent.url.path == "/api/portrait/enhance/try-on-clothes-refiner"
    got = parts(sent)
    assert got["coarse_image"][:2] == ("coarse_image.jpg", "image/jpeg")
    assert (got["task_type"][2], got["gender"][2]) == (b"async", b"man")
    assert submission.task_id == "task-ref-1"
    assert submission.action == "try-on-clothes-refiner"
    assert submission.parameters == {"task_type": "async", "gender": "man"}


async def test_submission_without_task_id_is_malformed_and_retried_once_at_most():
    recorder = Recorder(submitted())
    async with client(recorder) as ailab:
        with pytest.raises(VendorRequestError) as caught:
            await ailab.submit_try_on_pro(PNG, PNG)
    assert (caught.value.retry, caught.value.request_id) == (RetryVerdict.RETRY_ONCE, "req-1")


@pytest.mark.parametrize(
    ("status", "code", "cls", "verdict"),
    [
        (401, "ERROR_USER_NOT_EXISTS", AuthError, RetryVerdict.PERMANENT),
        (400, "ERROR_MASK_IMAGE_RESOLUTION_MISMATCH", VendorInputError, RetryVerdict.PERMANENT),
        (422, "FILE_CONTENT_NON_COMPLIANCE", ModerationError, RetryVerdict.PERMANENT),
        (429, "ERROR_NOT_ENOUGH_CREDITS", QuotaError, RetryVerdict.PERMANENT),
        (404, "ERROR_AI_NOT_EXISTS", NotFoundError, RetryVerdict.PERMANENT),
        (429, "EXCEEDING_LIMITS", RateLimitedError, RetryVerdict.RESUBMIT),
        (503, "AI_SERVICE_FLOW_RESTRICTION", RateLimitedError, RetryVerdict.RESUBMIT),
        (503, "ERROR_INSUFFICIENT_RESOURCES", VendorServerError, RetryVerdict.RESUBMIT),
        (500, "PROCESSING_FAILURE", VendorServerError, RetryVerdict.RETRY_ONCE),
        (502, "AI_SERVICE_ERROR", VendorServerError, RetryVerdict.RETRY_ONCE),
        (504, "AI_SERVICE_TIMEOUT", VendorServerError, RetryVerdict.RETRY_ONCE),
        (418, "ERROR_TEAPOT", VendorAPIError, RetryVerdict.PERMANENT),
    ],
)
async def test_error_envelopes(status, code, cls, verdict):
    recorder = Recorder(failure(status, code))
    async with client(recorder) as ailab:
        with pytest.raises(cls) as caught:
            await ailab.remove_objects_advanced(PNG, MASK_PNG)
    err = caught.value
    assert type(err) is cls
    assert (err.code, err.retry, err.http_status, err.request_id) == (
        code,
        verdict,
        status,
        "req-1",
    )
    assert "went wrong" in str(err)


async def test_error_code_str_and_error_msg_are_the_fallbacks():
    body = {
        "log_id": "log-7",
        "error_code": 429,
        "error_code_str": "ERROR_NOT_ENOUGH_CREDITS",
        "error_msg": "no credits left",
    }
    async with client(Recorder(json_response(body, 429))) as ailab:
        with pytest.raises(QuotaError) as caught:
            await ailab.submit_try_on_pro(PNG, PNG)
    assert (caught.value.code, caught.value.request_id) == ("ERROR_NOT_ENOUGH_CREDITS", "log-7")
    assert "no credits left" in str(caught.value)


async def test_nonzero_error_code_inside_http_200_is_an_error_classified_by_it():
    body = envelope(error_code=503, error_detail={"status_code": 503})
    async with client(Recorder(json_response(body, 200))) as ailab:
        with pytest.raises(VendorServerError) as caught:
            await ailab.remove_objects_advanced(PNG, MASK_PNG)
    assert (caught.value.retry, caught.value.http_status) == (RetryVerdict.RESUBMIT, 200)


@pytest.mark.parametrize(
    ("status", "cls", "verdict"),
    [
        (429, RateLimitedError, RetryVerdict.RESUBMIT),
        (502, VendorServerError, RetryVerdict.RESUBMIT),
        (500, VendorServerError, RetryVerdict.RETRY_ONCE),
        (401, AuthError, RetryVerdict.PERMANENT),
    ],
)
async def test_answers_without_code_by_status(status, cls, verdict):
    async with client(Recorder(httpx.Response(status, text="nginx"))) as ailab:
        with pytest.raises(cls) as caught:
            await ailab.remove_objects_advanced(PNG, MASK_PNG)
    assert (caught.value.retry, caught.value.code) == (verdict, "")


@pytest.mark.parametrize(
    "data",
    [None, {}, {"binary_data_base64": []}, {"binary_data_base64": ["%%%"]}],
    ids=["none", "empty", "no-image", "bad-base64"],
)
async def test_remove_objects_without_image_is_malformed(data):
    async with client(Recorder(json_response(envelope(data=data)))) as ailab:
        with pytest.raises(VendorRequestError) as caught:
            await ailab.remove_objects_advanced(PNG, MASK_PNG)
    assert caught.value.retry is RetryVerdict.RETRY_ONCE


REMOVE_BAD = [
    ({"steps": 0}, InvalidParameterError, "steps"),
    ({"steps": 2.5}, InvalidParameterError, "steps"),
    ({"strength": 0.0}, InvalidParameterError, "strength"),
    ({"strength": 1.5}, InvalidParameterError, "strength"),
    ({"scale": 0}, InvalidParameterError, "scale"),
    ({"scale": 20.5}, InvalidParameterError, "scale"),
    ({"seed": -5}, InvalidParameterError, "seed"),
    ({"seed": "7"}, InvalidParameterError, "seed"),
    ({"dilate_size": 0}, InvalidParameterError, "dilate_size"),
    ({"quality": "m"}, InvalidParameterError, "quality"),
    ({"image": WEBP}, InvalidImageError, "image"),
    ({"image": BMP}, InvalidImageError, "image"),
    ({"mask": JPEG}, InvalidImageError, "mask"),
    ({"mask": b""}, InvalidImageError, "mask"),
    ({"image": b"GIF89a but really text"}, InvalidImageError, "image"),
    ({"image": "/definitely/missing.jpg"}, InvalidImageError, "image"),
    ({"image": PNG + b"\x00" * 5_000_000}, InvalidImageError, "image"),
]


@pytest.mark.parametrize(("kwargs", "cls", "field"), REMOVE_BAD)
async def test_remove_objects_bad_input_sends_nothing(kwargs, cls, field):
    recorder = Recorder(erased())
    image, mask = kwargs.pop("image", PNG), kwargs.pop("mask", MASK_PNG)
    async with client(recorder) as ailab:
        with pytest.raises(cls) as caught:
            await ailab.remove_objects_advanced(image, mask, **kwargs)
    assert recorder.requests == []
    assert caught.value.field == field


TRY_ON_BAD = [
    ("pro", {"resolution": 720}, InvalidParameterError, "resolution"),
    ("pro", {"resolution": True}, InvalidParameterError, "resolution"),
    ("pro", {"restore_face": "yes"}, InvalidParameterError, "restore_face"),
    ("pro", {"top_garment": WEBP}, InvalidImageError, "top_garment"),
    ("pro", {"bottom_garment": b""}, InvalidImageError, "bottom_garment"),
    ("refiner", {"gender": "female"}, InvalidParameterError, "gender"),
    ("refiner", {"coarse_image": b"not an image"}, InvalidImageError, "coarse_image"),
    ("refiner", {"person_image": "/missing/person.png"}, InvalidImageError, "person_image"),
]


@pytest.mark.parametrize(("api", "kwargs", "cls", "field"), TRY_ON_BAD)
async def test_try_on_bad_input_sends_nothing(api, kwargs, cls, field):
    recorder = Recorder(submitted(task_id="t"))
    person = kwargs.pop("person_image", PNG)
    top = kwargs.pop("top_garment", PNG)
    async with client(recorder) as ailab:
        with pytest.raises(cls) as caught:
            if api == "pro":
                await ailab.submit_try_on_pro(person, top, **kwargs)
            else:
                coarse = kwargs.pop("coarse_image", PNG)
                kwargs.setdefault("gender", "woman")
                await ailab.submit_try_on_refiner(person, top, coarse, **kwargs)
    assert recorder.requests == []
    assert caught.value.field == field


async def test_empty_api_key_is_refused():
    with pytest.raises(InvalidParameterError, match="api_key"):
        AILabToolsClient("")


async def test_secrets_never_reach_errors_or_repr():
    recorder = Recorder(failure(401, "ERROR_USER_NOT_EXISTS", f"key {AILAB_KEY} unknown"))
    ailab = client(recorder)
    async with ailab:
        with pytest.raises(AuthError) as caught:
            await ailab.remove_objects_advanced(PNG, MASK_PNG)
    # The vendor echoed the key back; the sanitiser removes long tokens from messages.
    assert_no_secrets(str(caught.value), repr(caught.value), repr(ailab))
    assert "ailabapi-api-key" not in repr(ailab)
