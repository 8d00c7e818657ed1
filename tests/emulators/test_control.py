"""The HTTP control API, the suite's handles, and the ``emulate`` command line."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys

import httpx
import pytest

from prefect_image_edit.emulators import EmulatorControl, EmulatorSuite, FaultKind, run_emulators
from prefect_image_edit.vendors.results import result_url_expiry


def test_connection_info_has_every_field(emu):
    info = emu.connection_info()
    assert set(info["ailabtools"]) == {"base_url", "api_key"}
    assert set(info["tencent"]) == {"base_url", "secret_id", "secret_key", "region"}
    assert set(info["volcengine"]) == {"base_url", "access_key_id", "secret_access_key", "region"}
    assert info["tencent"]["region"] == "ap-guangzhou"
    assert info["volcengine"]["region"] == "cn-north-1"
    urls = {values["base_url"] for values in info.values()}
    assert len(urls) == 3 and all(u.startswith("http://127.0.0.1:") for u in urls)
    assert "emulator" in info["ailabtools"]["api_key"]
    assert "emulator" in info["tencent"]["secret_id"]


def test_control_over_http(emu, ailab, tencent, img):
    with EmulatorControl(emu.volcengine.base_url) as control:
        assert control.health()["ok"] is True
        assert control.connection_info() == emu.connection_info()
        fault = control.inject("ailabtools", FaultKind.RATE_LIMIT, retry_after=3)
        assert fault["kind"] == "rate_limit" and len(control.faults()) == 1
        limited = ailab.remove()
        assert limited.status_code == 429 and limited.headers["retry-after"] == "3"
        assert ailab.remove().status_code == 200
        assert control.counters.billable("ailabtools") == 1
        assert control.counters.requests("ailabtools", "remove-objects-advanced") == 2
        assert control.counters.max_in_flight("ailabtools") == 1
        assert control.counters.snapshot()["billing"][0]["vendor"] == "ailabtools"
        before = emu.clock.time()
        assert control.clock.advance(400) >= before + 400
        stale = tencent.post({"InputImage": "x"}, timestamp=int(before))
        assert stale.json()["Response"]["Error"]["Code"] == "AuthFailure.SignatureExpire"
        patched = control.update_settings({"tencent": {"latency": 0.25}})
        assert patched["tencent"]["latency"] == 0.25 and emu.settings.tencent.latency == 0.25
        with pytest.raises(ValueError, match="bad settings"):
            control.update_settings({"tencent": {"no_such_knob": 1}})
        control.inject("tencent", "server_error", times=None)
        assert control.clear_faults("tencent") == 1
        control.reset()
        assert control.counters.billable("ailabtools") == 0
        assert abs(control.clock.time() - emu.clock.time()) < 1
        assert emu.settings.tencent.latency == 0.0
        with pytest.raises(ValueError, match="bad fault"):
            control.inject("tencent", "ghost_face")


def test_in_process_app_works_with_asgi_transport(img):
    import asyncio

    suite = EmulatorSuite()  # never started: no sockets

    async def main() -> httpx.Response:
        transport = httpx.ASGITransport(app=suite.app("ailabtools"))
        async with httpx.AsyncClient(transport=transport, base_url="http://ailab.test") as client:
            files = {
                "image": ("i.png", img.scene(), "image/png"),
                "mask": ("m.png", img.mask_png(), "image/png"),
            }
            key = suite.settings.ailabtools.api_keys[0]
            return await client.post(
                "/api/image/editing/remove-objects-advanced",
                files=files,
                headers={"ailabapi-api-key": key},
            )

    response = asyncio.run(main())
    assert response.status_code == 200 and response.json()["data"]["binary_data_base64"]
    assert suite.counters.billable("ailabtools") == 1


def test_settings_keywords_and_loopback_only():
    with run_emulators(tencent={"latency": 0.1}, volcengine_max_concurrency=3) as emu:
        assert emu.settings.tencent.latency == 0.1
        assert emu.settings.volcengine.max_concurrency == 3
        emu.reset()
        assert emu.settings.tencent.latency == 0.1  # reset returns to the settings given
    with pytest.raises(TypeError, match="Unknown emulator setting"):
        EmulatorSuite(nonsense=1)
    with pytest.raises(ValueError, match="loopback"):
        EmulatorSuite(host="0.0.0.0")


def test_extra_accounts(emu, tencent, img):
    emu.settings.tencent.accounts["AKIDemulatorsecondaccount000000000000"] = "emulator-second-key"
    body = {"InputImage": base64.b64encode(img.scene()).decode()}
    second = tencent.post(
        body,
        secret_id="AKIDemulatorsecondaccount000000000000",
        secret_key="emulator-second-key",
    )
    # Authenticated as the second account: the request reaches the body checks.
    assert second.json()["Response"]["Error"]["Code"] == "InvalidParameterValue.ImageEmpty"


def test_emulate_cli_prints_one_json_line_and_serves(tmp_path, img):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "prefect_image_edit.cli", "emulate", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        line = process.stdout.readline()
        info = json.loads(line)
        ailab = info["ailabtools"]
        files = {
            "image": ("i.png", img.scene(), "image/png"),
            "mask": ("m.png", img.mask_png(), "image/png"),
        }
        response = httpx.post(
            ailab["base_url"] + "/api/image/editing/remove-objects-advanced",
            files=files,
            headers={"ailabapi-api-key": ailab["api_key"]},
            timeout=10,
            trust_env=False,
        )
        assert response.status_code == 200
        with EmulatorControl(info["tencent"]["base_url"]) as control:
            assert control.counters.billable("ailabtools") == 1
    finally:
        process.send_signal(signal.SIGINT)
        try:
            code = process.wait(timeout=60)  # a bound for a loaded machine, not a timing
        except subprocess.TimeoutExpired:
            process.kill()
            raise
    assert code == 0, process.stderr.read()


def test_result_urls_parse_for_every_vendor(emu, tencent, volcengine, ailab, img):
    from datetime import UTC, datetime

    emu.settings.ailabtools.task_queued_seconds = 0
    emu.settings.ailabtools.task_processing_seconds = 0
    emu.settings.tencent.url_ttl = 60  # TTLs are settings
    b64 = base64.b64encode
    t_url = tencent.post(
        {
            "InputImage": b64(img.scene()).decode(),
            "Mask": b64(img.mask_png()).decode(),
            "RspImgType": "url",
        }
    ).json()["Response"]["ResultImage"]
    task_id = ailab.try_on().json()["task_id"]
    a_url = ailab.query(task_id).json()["output"]["image_url"]
    now = datetime.now(UTC)
    assert (
        50
        < (result_url_expiry(t_url, vendor="tencent", received_at=now) - now).total_seconds()
        <= 61
    )
    a_left = (result_url_expiry(a_url, vendor="ailabtools", received_at=now) - now).total_seconds()
    assert 86300 < a_left <= 86401
