"""The pack's side of the bench, run in a subprocess whose environment the harness sets.

Prefect reads its settings when it is imported, so each measurement runs here, in a fresh
process, with PREFECT_API_URL, PREFECT_HOME, PREFECT_IMAGE_EDIT_HOME and the vendors' credential
variables already in place. Only public entry points are used (the ``batch-erase`` flow, the
archive block), so the bench keeps working while the pack's internals change.

Usage (by the harness)::

    python -m prefect_image_edit.bench.runner '{"action": "batch", ...}'

It prints one line ``BENCH-RESULT {json}`` on stdout. With ``"barrier": true`` it first prints
``BENCH-READY`` (imports done) and waits for a line on stdin, so several runners start together.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

__all__ = ["RESULT_PREFIX", "main"]

RESULT_PREFIX = "BENCH-RESULT "
READY = "BENCH-READY"
ARCHIVE_BLOCK_TYPE = "image-edit-s3-archive"
DEFAULT_LIMIT_NAME = "image-edit:tencent-aiart"


def _limit_name() -> str:
    try:  # the name is DESIGN.md's contract; the module holding it may move
        from prefect_image_edit.tasks.limits import limit_name

        return limit_name("tencent")
    except (ImportError, KeyError):
        return DEFAULT_LIMIT_NAME


async def setup(spec: dict[str, Any]) -> dict[str, Any]:
    """Save the archive block(s) and set the Tencent limit to the bench's concurrency."""
    from prefect import get_client
    from prefect.client.schemas.actions import (
        GlobalConcurrencyLimitCreate,
        GlobalConcurrencyLimitUpdate,
    )
    from prefect.exceptions import ObjectNotFound

    from prefect_image_edit.blocks import S3ArchiveStorage

    for name, endpoint in spec.get("archives", {}).items():
        await S3ArchiveStorage(
            bucket=spec["bucket"],
            endpoint_url=endpoint,
            aws_access_key_id=spec["access_key_id"],
            aws_secret_access_key=spec["secret_access_key"],
        ).asave(name, overwrite=True)
    name, limit = _limit_name(), int(spec["limit"])
    async with get_client() as client:
        try:
            await client.read_global_concurrency_limit_by_name(name)
            await client.update_global_concurrency_limit(
                name, GlobalConcurrencyLimitUpdate(limit=limit, active_slots=0)
            )
        except ObjectNotFound:
            await client.create_global_concurrency_limit(
                GlobalConcurrencyLimitCreate(name=name, limit=limit, active=True)
            )
        current = await client.read_global_concurrency_limit_by_name(name)
    await _warm_server(name)
    return {"limit": current.limit, "limit_name": name}


async def _warm_server(limit_name: str) -> None:
    """Have the server serve, once, what a batch asks of it: a flow run, a task run, a progress
    artifact and a concurrency lease (Prefect's own API, not the pack's).

    A server in use has done all of these before. A new one spent ~0.35 s on its first ones
    (measured: the first batch on a new server started its paid calls that much later than
    the next), which says nothing about either side of the bench.
    """
    from prefect import flow, task
    from prefect.artifacts import acreate_progress_artifact, aupdate_progress_artifact
    from prefect.concurrency.asyncio import concurrency

    @task(name="bench-warm-up-task")
    async def step() -> None:
        async with concurrency(limit_name, occupy=1, strict=True):
            pass

    @flow(name="bench-warm-up")
    async def warm_up() -> None:
        artifact = await acreate_progress_artifact(0.0, key="bench-warm-up")
        await step()
        await aupdate_progress_artifact(artifact, 100.0)

    await warm_up()


def _warm_imports() -> None:
    """Import, before the clock starts, the libraries a run loads on first use.

    The baseline script imports boto3 and the vendor SDK and builds its clients before its
    clock starts, so both sides are timed as processes that have their libraries loaded:
    boto3 (the archive's client) and the JSON encoder Prefect serialises flow parameters with
    (it lives in FastAPI). Only imports: no client, connection, block or flow run is made here.
    """
    import boto3  # noqa: F401
    import fastapi.encoders  # noqa: F401


async def batch(spec: dict[str, Any]) -> dict[str, Any]:
    """One ``batch-erase`` flow run over a folder pair; wall time around the flow call only."""
    from prefect_image_edit.flows import BatchSource, Connections, batch_erase

    _warm_imports()

    source = BatchSource(images=spec["images"], masks=spec["masks"])
    connections = Connections(archive=f"{ARCHIVE_BLOCK_TYPE}/{spec['archive']}")
    if spec.get("barrier"):
        print(READY, flush=True)
        sys.stdin.readline()
    started_at = time.time()
    started = time.perf_counter()
    state = await batch_erase(
        source,
        provider="tencent",
        max_concurrency=int(spec["concurrency"]),
        connections=connections,
        return_state=True,
    )
    seconds = time.perf_counter() - started
    summary = await state.aresult(raise_on_failure=False)
    rows = getattr(summary, "rows", None) or []
    errors = sorted({f"{r.error_type}: {r.error}"[:300] for r in rows if r.status == "failed"})
    return {
        "seconds": seconds,
        "started_at": started_at,
        "ended_at": started_at + seconds,
        "items": getattr(summary, "total", len(rows)),
        "succeeded": getattr(summary, "succeeded", 0),
        "failed": getattr(summary, "failed", 0),
        "state": state.type.value,
        "message": state.message,
        "errors": errors[:5],
    }


ACTIONS = {"setup": setup, "batch": batch}


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    spec = json.loads(args[0])
    result = asyncio.run(ACTIONS[spec["action"]](spec))
    print(RESULT_PREFIX + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
