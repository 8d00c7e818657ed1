"""Normalise AILabTools async task answers into :class:`TaskResult`
(docs/vendors/ailabtools.md#querying-async-tasks).

Two status vocabularies may appear, alone or together:

- ``task_status`` (int, documented): 0 queued, 1 processing, 2 succeeded. 3 is failure in the
  official SDK though undocumented; any other number is read as still processing, because
  giving up on a paid task is worse than one more poll.
- ``output.task_status`` (str, only in the Refiner page): PENDING, RUNNING, SUCCEEDED, FAILED,
  UNKNOWN. UNKNOWN means "ask again", i.e. processing.

When both are present the furthest state wins, failure first: a task either vocabulary calls
failed has failed; one either calls succeeded has succeeded.

Each may sit at the top level (the seed doc) or inside ``data`` (the official ``ailabtools-sdk``
reads ``data.task_status`` first); both places are read, with the same precedence.

The result URL is ``output.image_url`` (Pro, Refiner), also under ``data``, or ``data.image``
(plain try-on).
"""

from __future__ import annotations

from typing import Any

from prefect_image_edit.vendors.results import TaskState

__all__ = ["INT_STATES", "STRING_STATES", "combine_states", "result_url", "task_states"]

INT_STATES: dict[int, TaskState] = {
    0: TaskState.QUEUED,
    1: TaskState.PROCESSING,
    2: TaskState.SUCCEEDED,
    3: TaskState.FAILED,
}

STRING_STATES: dict[str, TaskState] = {
    "PENDING": TaskState.QUEUED,
    "RUNNING": TaskState.PROCESSING,
    "SUCCEEDED": TaskState.SUCCEEDED,
    "FAILED": TaskState.FAILED,
    "UNKNOWN": TaskState.PROCESSING,
}

# Which state wins when the two vocabularies disagree.
_PRECEDENCE = (TaskState.FAILED, TaskState.SUCCEEDED, TaskState.PROCESSING, TaskState.QUEUED)


def _int_status(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return None


def _places(payload: dict[str, Any]) -> list[dict[str, Any]]:
    """``data`` first (the official SDK's reading), then the top level."""
    data = payload.get("data")
    return [data, payload] if isinstance(data, dict) else [payload]


def task_states(payload: dict[str, Any]) -> tuple[list[TaskState], str]:
    """Every state the answer states, and the raw statuses as one string for debugging."""
    states: list[TaskState] = []
    raw: list[str] = []
    for place in _places(payload):
        number = _int_status(place.get("task_status"))
        if number is not None:
            states.append(INT_STATES.get(number, TaskState.PROCESSING))
            raw.append(str(number))
        output = place.get("output")
        text = output.get("task_status") if isinstance(output, dict) else None
        if isinstance(text, str) and text.strip():
            states.append(STRING_STATES.get(text.strip().upper(), TaskState.PROCESSING))
            raw.append(text.strip())
    return states, "/".join(raw)


def combine_states(states: list[TaskState]) -> TaskState | None:
    """The furthest of ``states`` (failure first); ``None`` when there are none."""
    for state in _PRECEDENCE:
        if state in states:
            return state
    return None


def result_url(payload: dict[str, Any]) -> str | None:
    """``output.image_url`` (top level or in ``data``), else ``data.image`` (or its first)."""
    for place in _places(payload):
        output = place.get("output")
        url = output.get("image_url") if isinstance(output, dict) else None
        if isinstance(url, str) and url:
            return url
    data = payload.get("data")
    image = data.get("image") if isinstance(data, dict) else None
    if isinstance(image, list):
        image = image[0] if image else None
    return image if isinstance(image, str) and image else None
