"""A failed batch item becomes a Failed task run named after its file, and one warning."""

from __future__ import annotations

import asyncio

import pytest
from prefect import flow, get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

from prefect_image_edit.tasks.report import report_item_failure


@pytest.mark.usefixtures("prefect_api")
def test_report_item_failure_records_a_failed_task_run_named_after_the_file():
    @flow
    async def batch_like() -> str:
        await report_item_failure("s3://bucket/in/broken.jpg", "not an image")
        return "the flow goes on"

    async def main():
        state = await batch_like(return_state=True)
        async with get_client() as client:
            runs = await client.read_task_runs(
                flow_run_filter=FlowRunFilter(
                    id=FlowRunFilterId(any_=[state.state_details.flow_run_id])
                )
            )
        return state, runs

    state, runs = asyncio.run(main())
    assert state.is_completed()  # reporting never raises
    [run] = runs
    assert run.name == "failed: broken.jpg"
    assert run.state.is_failed()
    assert "not an image" in run.state.message
