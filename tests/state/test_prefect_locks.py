"""The Prefect lock manager over the state's locks: correct from any thread and event loop,
and under Prefect's real engine with async tasks (which release with the sync method)."""

from __future__ import annotations

import asyncio
import threading
import uuid

import pytest
from prefect import flow, task
from prefect.cache_policies import CacheKeyFnPolicy
from prefect.locking.protocol import LockManager

from prefect_image_edit.state.prefect_locks import StateLockManager


@pytest.fixture
def manager(state_url):
    made = StateLockManager(state_url)
    yield made
    made.close()


def test_it_is_a_prefect_lock_manager(manager):
    assert isinstance(manager, LockManager)


def test_sync_and_async_calls_from_different_threads_and_loops(manager, state_url):
    other = StateLockManager(state_url)  # another process's view: its own connections
    try:
        taken = []
        thread = threading.Thread(target=lambda: taken.append(manager.acquire_lock("k", "a")))
        thread.start()
        thread.join(30)
        assert taken == [True] and manager.is_lock_holder("k", "a")
        assert manager.acquire_lock("k", "a")  # the same holder again: already held
        assert not manager.is_lock_holder("k", "b")
        assert manager.acquire_lock("k", "b", acquire_timeout=0.2) is False
        assert asyncio.run(manager.aacquire_lock("k", "b", acquire_timeout=0.2)) is False
        assert other.is_locked("k") and not other.wait_for_lock("k", timeout=0.2)
        with pytest.raises(ValueError):
            manager.release_lock("k", "b")

        async def release_inside_a_loop():  # what Prefect's async transactions do
            manager.release_lock("k", "a")

        asyncio.run(release_inside_a_loop())
        assert not manager.is_locked("k") and other.wait_for_lock("k", timeout=5)

        async def async_round_trip() -> bool:
            assert await manager.aacquire_lock("k", "c", acquire_timeout=5)
            held = other.is_locked("k")
            await manager.arelease_lock("k", "c")
            return held and await other.await_for_lock("k", timeout=5)

        assert asyncio.run(async_round_trip())
    finally:
        other.close()


def test_a_waiting_acquire_gets_the_lock_when_it_is_released(manager, state_url):
    other = StateLockManager(state_url)
    try:
        assert other.acquire_lock("k", "first")
        got = []
        waiter = threading.Thread(target=lambda: got.append(manager.acquire_lock("k", "second")))
        waiter.start()
        assert not got
        other.release_lock("k", "first")
        waiter.join(30)
        assert got == [True] and manager.is_lock_holder("k", "second")
        manager.release_lock("k", "second")
    finally:
        other.close()


@pytest.mark.usefixtures("prefect_api")
def test_prefect_async_tasks_run_once_for_one_input_and_release_the_lock(manager, state_url):
    runs: list[str] = []
    key = f"image-edit/test/{uuid.uuid4()}"

    async def paid(digest: str) -> str:
        runs.append(digest)
        await asyncio.sleep(0.3)
        return f"result-{digest}"

    policy = CacheKeyFnPolicy(cache_key_fn=lambda context, parameters: key).configure(
        isolation_level="SERIALIZABLE", lock_manager=manager
    )
    paid_task = task(paid, cache_policy=policy, persist_result=True)

    @flow
    async def four_at_once(digest: str) -> list[str]:
        return await asyncio.gather(*(paid_task(digest) for _ in range(4)))

    @flow
    async def once_more(digest: str) -> str:
        return await paid_task(digest)

    assert asyncio.run(four_at_once("d")) == ["result-d"] * 4
    assert runs == ["d"]
    # Released although the async task's transaction released it with the sync method.
    assert not manager.is_locked(key)
    other = StateLockManager(state_url)
    try:
        assert other.acquire_lock(key, "probe", acquire_timeout=5)
        other.release_lock(key, "probe")
    finally:
        other.close()
    assert asyncio.run(asyncio.wait_for(once_more("d"), 60)) == "result-d"
    assert runs == ["d"]
