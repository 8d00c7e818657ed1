"""Saved blocks loaded once per flow run, not once per task.

Each ``Block.aload`` by name is an API round trip (about 160 ms on a busy server); a batch
used to load the same archive and credentials blocks for every item, several times. Blocks are
cached here by (flow run, name): every task of one run shares the first load, and a new run
loads afresh, so an edited block takes effect on the next run. Only the last few runs are
kept, so a long-lived worker does not accumulate them.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import TypeVar

__all__ = ["load_once"]

B = TypeVar("B")

_MAX_RUNS = 32
_cache: OrderedDict[str, dict[str, object]] = OrderedDict()
_lock = threading.Lock()


def _flow_run_id() -> str | None:
    from prefect.context import FlowRunContext, TaskRunContext

    task_run = TaskRunContext.get()
    if task_run is not None and task_run.task_run.flow_run_id is not None:
        return str(task_run.task_run.flow_run_id)
    flow_run = FlowRunContext.get()
    if flow_run is not None and flow_run.flow_run is not None:
        return str(flow_run.flow_run.id)
    return None


async def load_once(name: str, load: Callable[[], Awaitable[B]]) -> B:
    """``await load()`` the first time ``name`` is asked for in this flow run; then the same.

    Outside a flow run nothing is cached. Concurrent first calls may both load (harmless).
    """
    run = _flow_run_id()
    if run is None:
        return await load()
    with _lock:
        found = _cache.get(run, {}).get(name)
    if found is not None:
        return found  # type: ignore[return-value]
    block = await load()
    with _lock:
        _cache.setdefault(run, {})[name] = block
        _cache.move_to_end(run)
        while len(_cache) > _MAX_RUNS:
            _cache.popitem(last=False)
    return block
