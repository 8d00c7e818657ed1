"""Secrets never appear in logs, exceptions, artifacts, parameters, results or the ledger.

Runs real flows (successes, a vendor error, an auth failure) with DEBUG logging, then reads
everything Prefect stored (logs, artifacts, flow run parameters, persisted results) and
everything the pack wrote (ledger, archive metadata) and looks for any credential.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging

import pytest
from prefect import get_client
from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
from prefect.logging.handlers import APILogWorker

from prefect_image_edit.blocks import TencentCloudCredentials
from prefect_image_edit.emulators import FaultKind
from prefect_image_edit.flows.erase import erase
from prefect_image_edit.flows.try_on import try_on
from prefect_image_edit.tasks.models import MaskOptions
from prefect_image_edit.tasks.settings import get_settings
from prefect_image_edit.vendors.errors import AuthError


@pytest.fixture
def debug_logs():
    loggers = [logging.getLogger(n) for n in ("prefect", "prefect_image_edit", "httpx")]
    before = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.DEBUG)
    yield
    for lg, level in zip(loggers, before, strict=True):
        lg.setLevel(level)


def test_no_secret_anywhere(emu, emulators, connections, make_scene, tmp_path, debug_logs, s3):
    secrets = [
        emulators.ailabtools.api_key,
        emulators.tencent.secret_key,
        emulators.volcengine.secret_access_key,
    ]
    image, mask = make_scene()
    person, _ = make_scene("person", size=(300, 600))
    states = []

    async def run_all():
        states.append(
            await erase(
                str(image),
                MaskOptions(mask=str(mask)),
                "tencent",
                connections=connections,
                return_state=True,
            )
        )
        emu.inject("volcengine", FaultKind.MODERATION)
        states.append(
            await erase(
                str(image),
                MaskOptions(mask=str(mask)),
                "volcengine",
                connections=connections,
                return_state=True,
            )
        )
        states.append(
            await try_on(
                str(person), str(image), "woman", connections=connections, return_state=True
            )
        )
        await TencentCloudCredentials(
            secret_id=emulators.tencent.secret_id,
            secret_key=emulators.tencent.secret_key + "-wrong",
            endpoint_url=emulators.tencent.base_url,
        ).asave("emu-wrong", overwrite=True)
        wrong = connections.model_copy(update={"tencent": "emu-wrong"})
        other, other_mask = make_scene("other")
        states.append(
            await erase(
                str(other),
                MaskOptions(mask=str(other_mask)),
                "tencent",
                connections=wrong,
                return_state=True,
            )
        )

    asyncio.run(run_all())
    assert [s.type.value for s in states] == ["COMPLETED", "FAILED", "COMPLETED", "FAILED"]
    auth_error = asyncio.run(states[3].aresult(raise_on_failure=False))
    assert isinstance(auth_error, AuthError)
    secrets.append(emulators.tencent.secret_key + "-wrong")

    APILogWorker.drain_all(timeout=10)

    async def stored_text() -> str:
        chunks = []
        async with get_client() as client:
            for state in states:
                run_id = state.state_details.flow_run_id
                run = await client.read_flow_run(run_id)
                chunks.append(repr(run.parameters))
                chunks.append(repr(run.state))
                logs = await client.read_logs(
                    LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run_id]))
                )
                chunks += [log.message for log in logs]
            chunks += [repr(a.data) + repr(a.description) for a in await client.read_artifacts()]
        return "\n".join(chunks)

    text = asyncio.run(stored_text())
    assert "ImageInpaintingRemoval" in text  # the logs were really read
    home = get_settings().home
    for path in [*home.rglob("*.json"), *tmp_path.rglob("*.json")]:
        text += path.read_text(errors="replace")
    results = [p for p in (home.parent / "storage").rglob("*") if p.is_file()]
    assert results  # cached task results were really persisted and are read here
    for result in results:
        raw = result.read_bytes()
        text += raw.decode("latin-1")
        with contextlib.suppress(ValueError, KeyError, TypeError):  # a result record:
            text += base64.b64decode(json.loads(raw)["result"]).decode("latin-1")  # the pickle
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket="image-edit-archive"):
        for item in page.get("Contents", []):
            head = s3.head_object(Bucket="image-edit-archive", Key=item["Key"])
            text += repr(head["Metadata"])
    text += str(auth_error) + repr(auth_error)
    for secret in secrets:
        assert secret not in text
