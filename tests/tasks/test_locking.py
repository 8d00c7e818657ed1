"""The flock lock manager: exclusion across threads and processes, release on crash."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from prefect_image_edit.tasks.locking import FlockLockManager


def test_one_holder_at_a_time_across_threads(tmp_path):
    manager = FlockLockManager(tmp_path)
    inside, peak = [0], [0]
    guard = threading.Lock()

    def worker(i):
        holder = f"h{i}"
        assert manager.acquire_lock("key/with/slashes", holder)
        with guard:
            inside[0] += 1
            peak[0] = max(peak[0], inside[0])
        time.sleep(0.02)
        with guard:
            inside[0] -= 1
        manager.release_lock("key/with/slashes", holder)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert peak[0] == 1
    assert not manager.is_locked("key/with/slashes")


def test_reentrant_for_the_same_holder_and_timeout_for_others(tmp_path):
    manager = FlockLockManager(tmp_path)
    assert manager.acquire_lock("k", "a")
    assert manager.acquire_lock("k", "a")
    assert manager.is_lock_holder("k", "a")
    assert not manager.is_lock_holder("k", "b")
    assert manager.acquire_lock("k", "b", acquire_timeout=0.1) is False
    assert asyncio.run(manager.aacquire_lock("k", "b", acquire_timeout=0.1)) is False
    with pytest.raises(ValueError):
        manager.release_lock("k", "b")
    manager.release_lock("k", "a")
    assert asyncio.run(manager.aacquire_lock("k", "b", acquire_timeout=1))
    manager.release_lock("k", "b")


HOLD = textwrap.dedent(
    """
    import sys, time
    from prefect_image_edit.tasks.locking import FlockLockManager
    m = FlockLockManager(sys.argv[1])
    assert m.acquire_lock("shared", "child")
    print("held", flush=True)
    time.sleep(60)
    """
)


def test_lock_held_by_another_process_is_released_when_it_is_killed(tmp_path):
    child = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout.readline().strip() == "held"
        manager = FlockLockManager(tmp_path)
        assert manager.is_locked("shared")
        assert manager.acquire_lock("shared", "parent", acquire_timeout=0.2) is False
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
        assert manager.wait_for_lock("shared", timeout=5)
        assert manager.acquire_lock("shared", "parent", acquire_timeout=1)
        manager.release_lock("shared", "parent")
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
