"""Every fault the emulators inject ends in success after retry, or in the documented error.

Expectations come from the classification tables and docs/design.md#money-rules: faults before
acceptance are resubmitted (no double charge); ambiguous ones are resent once and counted as
possible double charges; permanent ones are never retried.
"""

from __future__ import annotations

import asyncio

import pytest

from prefect_image_edit.blocks import TencentCloudCredentials
from prefect_image_edit.emulators import FaultKind
from prefect_image_edit.flows.erase import erase
from prefect_image_edit.flows.models import Connections
from prefect_image_edit.tasks.models import EraseSettings, MaskOptions
from prefect_image_edit.vendors.errors import (
    ModerationError,
    RetryVerdict,
    VendorRequestError,
)

# fault, options, billable calls, paid attempts, possible double charges
RECOVERED = [
    (FaultKind.SERVER_ERROR, {}, 1, 2, 0),  # the vendor's own 5xx answer: not billed
    (FaultKind.GATEWAY_ERROR, {"status": 503}, 1, 2, 0),
    (FaultKind.RATE_LIMIT, {}, 1, 2, 0),
    (FaultKind.GATEWAY_RATE_LIMIT, {}, 1, 2, 0),
    (FaultKind.CONCURRENCY_LIMIT, {}, 1, 2, 0),
    (FaultKind.RESET_BEFORE_PROCESSING, {}, 1, 2, 1),
    (FaultKind.RESET_AFTER_PROCESSING, {}, 2, 2, 1),
    (FaultKind.MALFORMED_JSON, {}, 2, 2, 1),
    (FaultKind.SLOW, {"delay": 0.3}, 1, 1, 0),
]


def _erase(image, mask, provider, connections, **kwargs):
    return asyncio.run(
        erase(str(image), MaskOptions(mask=str(mask)), provider, connections=connections, **kwargs)
    )


@pytest.mark.parametrize(
    ("fault", "options", "billed", "attempts", "doubles"),
    RECOVERED,
    ids=[f[0].value for f in RECOVERED],
)
def test_transient_fault_recovers(
    fault, options, billed, attempts, doubles, emu, connections, make_scene
):
    image, mask = make_scene()
    emu.inject("tencent", fault, **options)
    erased = _erase(image, mask, "tencent", connections).variants[0].erased
    assert (erased.attempts, erased.possible_double_charges) == (attempts, doubles)
    assert emu.counters.billable("tencent") == billed


def test_timeout_is_resent_once_and_counted(emu, connections, make_scene, emulators):
    TencentCloudCredentials(
        secret_id=emulators.tencent.secret_id,
        secret_key=emulators.tencent.secret_key,
        endpoint_url=emulators.tencent.base_url,
        timeout_seconds=1.0,
    ).save("emu-impatient", overwrite=True)
    image, mask = make_scene()
    emu.inject("tencent", FaultKind.TIMEOUT, seconds=3)
    impatient = connections.model_copy(update={"tencent": "emu-impatient"})
    erased = _erase(image, mask, "tencent", impatient).variants[0].erased
    assert (erased.attempts, erased.possible_double_charges) == (2, 1)


def test_moderation_is_permanent_and_never_retried(emu, connections, make_scene):
    image, mask = make_scene()
    emu.inject("tencent", FaultKind.MODERATION)
    with pytest.raises(ModerationError) as info:
        _erase(image, mask, "tencent", connections)
    assert info.value.retry is RetryVerdict.PERMANENT
    assert emu.counters.requests("tencent", "ImageInpaintingRemoval") == 1
    assert emu.counters.billable("tencent") == 0


def test_a_second_ambiguous_failure_is_final(emu, connections, make_scene):
    image, mask = make_scene()
    emu.inject("tencent", FaultKind.RESET_AFTER_PROCESSING, times=2)
    with pytest.raises(VendorRequestError) as info:
        _erase(image, mask, "tencent", connections)
    assert info.value.retry is RetryVerdict.PERMANENT
    assert "resent once" in str(info.value)
    assert emu.counters.billable("tencent") == 2


def test_ghost_face_is_retried_with_another_seed(emu, connections, make_scene):
    image, mask = make_scene()
    emu.inject("volcengine", FaultKind.GHOST_FACE)
    erased = (
        _erase(image, mask, "volcengine", connections, settings=EraseSettings(seed=42))
        .variants[0]
        .erased
    )
    assert erased.seed != 42
    assert emu.counters.billable("volcengine") == 1


def test_ghost_face_on_every_seed_falls_back(emu, connections, make_scene):
    image, mask = make_scene()
    emu.inject("volcengine", FaultKind.GHOST_FACE, times=None)
    outcome = _erase(image, mask, "volcengine", connections, fallback=["local"])
    assert outcome.provider == "local"
    assert "201304" in outcome.skipped[0].error


def test_no_credits_falls_back_but_bad_credentials_do_not(emu, connections, make_scene):
    image, mask = make_scene()
    emu.inject("ailabtools", FaultKind.RATE_LIMIT, code="ERROR_NOT_ENOUGH_CREDITS", status=429)
    outcome = _erase(image, mask, "ailabtools", connections, fallback=["local"])
    assert outcome.provider == "local"
    assert emu.counters.billable("ailabtools") == 0

    bad = Connections(tencent="no-such-block", archive=connections.archive)
    with pytest.raises(Exception, match="no saved tencent-cloud-credentials block"):
        _erase(image, mask, "tencent", bad, fallback=["local"])
