"""Cache keys, isolation and retry verdicts, run through Prefect's real task engine."""

from __future__ import annotations

import asyncio

import pytest
from prefect import flow, task

from prefect_image_edit.archive.archiver import ArchiveVerificationError, SpoolTooLarge
from prefect_image_edit.archive.download import DownloadError, DownloadRefused
from prefect_image_edit.archive.store import ArchiveStoreError
from prefect_image_edit.errors import InputError, ResultExpired
from prefect_image_edit.tasks.policy import (
    MAX_RETRY_AFTER_SECONDS,
    content_key,
    paid_call_cache_policy,
    retry_delays,
    should_retry,
)
from prefect_image_edit.vendors.errors import (
    ErrorKind,
    RateLimitedError,
    RetryVerdict,
    VendorError,
    VendorServerError,
)


def _vendor_error(verdict: RetryVerdict) -> VendorError:
    return VendorServerError(
        "x", vendor="tencent", action="A", kind=ErrorKind.SERVER, retry=verdict
    )


class _State:
    def __init__(self, data):
        self.data = data


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (_vendor_error(RetryVerdict.RESUBMIT), True),
        (_vendor_error(RetryVerdict.RETRY_ONCE), True),
        (_vendor_error(RetryVerdict.PERMANENT), False),
        (_vendor_error(RetryVerdict.NEW_SEED), False),
        (DownloadError("x", transient=True), True),
        (DownloadError("x", transient=False), False),
        (DownloadRefused("x"), False),
        (SpoolTooLarge("x"), False),
        (ArchiveVerificationError("x"), True),
        (ArchiveStoreError("x", transient=True), True),
        (ArchiveStoreError("x", transient=False), False),
        (InputError("bad", source="a.png"), False),
        (ResultExpired("gone"), False),
        (TimeoutError(), True),
        (KeyError("bug"), False),
        (None, False),
    ],
)
def test_should_retry_table(exc, expected):
    assert should_retry(None, None, _State(exc)) is expected


def test_content_key_is_stable_and_sensitive_to_every_part():
    base = dict(
        kind="erase",
        vendor="tencent",
        action="ImageInpaintingRemoval",
        inputs={"image": "a" * 64, "mask": "b" * 64},
        parameters={"seed": 1, "logo_add": 0},
    )
    key = content_key(**base)
    assert key.startswith("image-edit/erase/tencent/")
    assert key == content_key(**{**base, "inputs": {"mask": "b" * 64, "image": "a" * 64}})
    for change in (
        {"vendor": "volcengine"},
        {"action": "Other"},
        {"inputs": {"image": "c" * 64, "mask": "b" * 64}},
        {"parameters": {"seed": 2, "logo_add": 0}},
    ):
        assert content_key(**{**base, **change}) != key


def test_retry_delays_are_read_when_a_retry_is_scheduled(monkeypatch):
    delays = retry_delays(4)  # made at import time in the tasks
    monkeypatch.setenv("PREFECT_IMAGE_EDIT_RETRY_BACKOFF", "2")
    assert len(delays) == 4
    for index, base in enumerate([2, 4, 8, 16]):
        assert base <= delays[index] <= base * 1.5  # jitter only ever adds
    monkeypatch.setenv("PREFECT_IMAGE_EDIT_RETRY_BACKOFF", "0.5")
    assert 0.5 <= delays[0] <= 0.75


def test_retry_after_is_honoured_and_clamped(monkeypatch):
    monkeypatch.setenv("PREFECT_IMAGE_EDIT_RETRY_BACKOFF", "0.05")
    delays = retry_delays(3)
    limited = RateLimitedError(
        "slow down",
        vendor="tencent",
        action="A",
        kind=ErrorKind.RATE_LIMITED,
        retry=RetryVerdict.RESUBMIT,
    )
    limited.retry_after = 4.0
    assert should_retry(None, None, _State(limited)) is True
    assert delays[0] >= 4.0
    limited.retry_after = 3600.0
    should_retry(None, None, _State(limited))
    assert delays[0] == MAX_RETRY_AFTER_SECONDS
    should_retry(None, None, _State(_vendor_error(RetryVerdict.RESUBMIT)))
    assert delays[0] < 1


pytestmark = pytest.mark.usefixtures("prefect_api")

CALLS: list[str] = []


def _key(context, parameters):
    return content_key("test", "tencent", "A", {"image": parameters["digest"]}, {})


@task(cache_policy=paid_call_cache_policy(_key), persist_result=True)
async def paid(digest: str, delay: float) -> str:
    CALLS.append(digest)
    await asyncio.sleep(delay)
    return f"result-{digest}"


def test_concurrent_runs_of_the_same_content_pay_once():
    CALLS.clear()

    @flow
    async def two_at_once(digest: str):
        return await asyncio.gather(paid(digest, 0.3), paid(digest, 0.3))

    @flow
    async def in_another_flow(digest: str):
        return await paid(digest, 0.0)

    assert asyncio.run(two_at_once("d1")) == ["result-d1", "result-d1"]
    assert asyncio.run(in_another_flow("d1")) == "result-d1"
    assert CALLS == ["d1"]


ATTEMPTS: dict[str, int] = {}


@task(retries=3, retry_delay_seconds=0, retry_condition_fn=should_retry)
async def flaky(name: str, verdict: str) -> int:
    ATTEMPTS[name] = ATTEMPTS.get(name, 0) + 1
    if ATTEMPTS[name] < 3:
        raise RateLimitedError(
            "slow down",
            vendor="tencent",
            action="A",
            kind=ErrorKind.RATE_LIMITED,
            retry=RetryVerdict(verdict),
        )
    return ATTEMPTS[name]


def test_async_task_retries_follow_the_verdict():
    @flow
    async def run(name: str, verdict: str) -> str:
        state = await flaky(name, verdict, return_state=True)
        return state.type.value

    assert asyncio.run(run("rate", "resubmit")) == "COMPLETED"
    assert ATTEMPTS["rate"] == 3
    assert asyncio.run(run("perm", "permanent")) == "FAILED"
    assert ATTEMPTS["perm"] == 1
