"""A failed batch item as a failed task run, named after its file.

A batch isolates its items: one bad image never stops the others, so the item's own tasks may
never run (a file that is not an image fails while the batch loads) or fail inside a
``try``. The Prefect UI then shows a red batch with only green task runs. ``report_item_failure``
makes each failure visible where a user looks: a task run named ``failed: broken.jpg`` in the
Failed state, its message the reason, and one warning line in the flow run's logs.
"""

from __future__ import annotations

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

__all__ = ["ItemFailed", "item_name", "report_item_failure"]


class ItemFailed(Exception):
    """The reason a batch item failed (the failed task run's message)."""


def item_name(reference: str) -> str:
    """The file name of a path or URI: what a person recognises in a list of runs."""
    return reference.rstrip("/").rsplit("/", 1)[-1] or reference


@task(
    name="batch-item-failed",
    task_run_name="failed: {name}",
    cache_policy=NO_CACHE,
    retries=0,
    persist_result=False,
)
def _item_failed(name: str, reason: str) -> None:
    raise ItemFailed(f"{name}: {reason}")


async def report_item_failure(reference: str, reason: str) -> None:
    """Log ``NAME failed: REASON`` and record a Failed task run named after the file.

    Call it from a flow (batch-erase), once per failed item; it never raises.
    """
    name = item_name(reference)
    get_run_logger().warning("%s failed: %s", name, reason)
    _item_failed(name, reason, return_state=True)
