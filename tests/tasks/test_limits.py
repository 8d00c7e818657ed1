"""Vendor concurrency limits against a real Prefect API."""

from __future__ import annotations

import asyncio

import pytest
from prefect import get_client

from prefect_image_edit.tasks.limits import limit_name, vendor_slot

pytestmark = pytest.mark.usefixtures("prefect_api")


def test_missing_limit_is_created_with_the_vendor_default_and_enforced():
    inside = peak = 0

    async def call():
        nonlocal inside, peak
        async with vendor_slot("tencent"):
            inside += 1
            peak = max(peak, inside)
            await asyncio.sleep(0.05)
            inside -= 1

    async def main():
        await asyncio.gather(*(call() for _ in range(3)))
        async with get_client() as client:
            return await client.read_global_concurrency_limit_by_name(limit_name("tencent"))

    limit = asyncio.run(main())
    assert limit.limit == 1
    assert peak == 1


def test_existing_limit_is_left_as_the_user_set_it():
    name = limit_name("volcengine")

    async def main():
        async with get_client() as client:
            await client.upsert_global_concurrency_limit_by_name(name, limit=7)
        async with vendor_slot("volcengine", requests_per_second=50):
            pass
        async with get_client() as client:
            return (
                await client.read_global_concurrency_limit_by_name(name),
                await client.read_global_concurrency_limit_by_name(name + "-rate"),
            )

    limit, rate = asyncio.run(main())
    assert limit.limit == 7
    assert rate.slot_decay_per_second == 50
