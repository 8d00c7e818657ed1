"""AILabTools: API keys, credits per account, and the async try-on task state machine.

Tasks move on the emulator clock: queued for ``task_queued_seconds``, processing for
``task_processing_seconds``, then done (or failed, when a TASK_FAILURE fault was scripted at
submit). A finished task stays queryable for ``task_retention_seconds`` (24 h) after it
finished; then the query answers 404 ``ERROR_RESOURCE_NOT_FOUND``, as for an unknown id. The
durations are captured at submit, so changing the settings affects new tasks only.

Credits: a call is charged its price when the job is accepted; an accepted job that ends
without a result (moderation, a task bound to fail) gets its credits back, so only billable
calls cost credits ("failed calls bill 0 credits").
"""

from __future__ import annotations

import asyncio
import hmac
import math
import threading
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from prefect_image_edit.emulators import images, painting
from prefect_image_edit.emulators.ailabtools.errors import AILabError
from prefect_image_edit.emulators.ailabtools.validation import ActionSpec
from prefect_image_edit.emulators.settings import AILabToolsSettings
from prefect_image_edit.emulators.state import EmulatorState

__all__ = ["AILabToolsBackend", "Task"]

_SIZES = {1024: (576, 1024), 1280: (720, 1280)}


@dataclass
class Task:
    """One async try-on job and when it changes state (emulator-clock Unix seconds)."""

    id: str
    account: str
    action: str
    created_at: float
    started_at: float
    finished_at: float
    expires_at: float
    url_ttl: int
    result_path: str | None
    failure: tuple[str, str] | None = None  # (code, message) when the task fails
    failure_status: int | None = None  # the query's HTTP status for it (else the setting)

    def status(self, now: float) -> str:
        if now >= self.expires_at:
            return "expired"
        if now < self.started_at:
            return "queued"
        if now < self.finished_at:
            return "processing"
        return "failed" if self.failure is not None else "done"


class AILabToolsBackend:
    """State of the emulated AILabTools accounts."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state
        self._lock = threading.Lock()
        self._spent: Counter[str] = Counter()
        self._tasks: dict[str, Task] = {}
        state.on_reset(self.reset)

    @property
    def settings(self) -> AILabToolsSettings:
        return self.state.settings.ailabtools

    def reset(self) -> None:
        with self._lock:
            self._spent.clear()
            self._tasks.clear()

    def authenticate(self, api_key: str) -> str:
        """The account of an ``ailabapi-api-key``.

        Raises:
            AILabError: 401 ERROR_USER_NOT_EXISTS for a missing or unknown key.
        """
        for known in self.settings.api_keys:
            if api_key and hmac.compare_digest(api_key, known):
                return known
        raise AILabError("ERROR_USER_NOT_EXISTS", "The API key does not exist.")

    # -- credits --------------------------------------------------------------------------
    def credits_left(self, account: str) -> int | None:
        """Remaining credits of an account (``None``: unlimited)."""
        total = self.settings.credits_for(account)
        with self._lock:
            return None if total is None else total - self._spent[account]

    def reserve(self, account: str, cost: int) -> None:
        """Take ``cost`` credits for an accepted call.

        Raises:
            AILabError: 429 ERROR_NOT_ENOUGH_CREDITS.
        """
        total = self.settings.credits_for(account)
        with self._lock:
            if total is not None and total - self._spent[account] < cost:
                raise AILabError(
                    "ERROR_NOT_ENOUGH_CREDITS",
                    f"This call needs {cost} credits; {max(0, total - self._spent[account])} left.",
                )
            self._spent[account] += cost

    def refund(self, account: str, cost: int) -> None:
        with self._lock:
            self._spent[account] -= cost

    # -- work -----------------------------------------------------------------------------
    async def remove_objects(
        self, params: dict[str, Any], files: dict[str, images.Decoded]
    ) -> bytes:
        """Erase the masked region (grown by ``dilate_size``, default 15 px), off the loop."""
        return await asyncio.to_thread(self._erase, params, files)

    def _erase(self, params: dict[str, Any], files: dict[str, images.Decoded]) -> bytes:
        result = painting.inpaint(
            images.to_rgb(files["image"].image),
            images.binary_mask(files["mask"].image),
            params.get("dilate_size", 15),
        )
        data, _ = images.encode(result, self.settings.result_format, self.settings.result_quality)
        return data

    def _try_on_image(
        self, spec: ActionSpec, params: dict[str, Any], files: dict[str, images.Decoded]
    ) -> bytes:
        person = images.to_rgb(files["person_image"].image)
        top = files["top_garment"].image
        bottom = files["bottom_garment"].image if "bottom_garment" in files else None
        if spec.name == "try-on-clothes-refiner":
            result = painting.refine_try_on(person, files["coarse_image"].image, top, bottom)
        else:
            result = painting.try_on(person, top, bottom, _SIZES.get(params.get("resolution", -1)))
        data, _ = images.encode(result, self.settings.result_format, self.settings.result_quality)
        return data

    async def submit(
        self,
        account: str,
        spec: ActionSpec,
        params: dict[str, Any],
        files: dict[str, images.Decoded],
        failure: tuple[str, str] | None,
        *,
        failure_status: int | None = None,
        stuck: bool = False,
        transform: Callable[[bytes], bytes] | None = None,
    ) -> Task:
        """Accept an async job; its result is computed now and revealed when it is done.

        ``stuck`` keeps it queued forever (STUCK_QUEUED); ``transform`` changes the stored
        result (CORRUPT_RESULT).
        """
        settings = self.settings
        now = self.state.clock.time()
        started = math.inf if stuck else now + settings.task_queued_seconds
        finished = started + settings.task_processing_seconds
        path = None
        if failure is None and not stuck:
            data = await asyncio.to_thread(self._try_on_image, spec, params, files)
            if transform is not None:
                data = transform(data)
            signer = self.state.signers["ailabtools"]
            path = signer.object_path(uuid.uuid4().hex, finished)
            self.state.results.put("ailabtools", path, data, "image/jpeg", now)
        task = Task(
            id=uuid.uuid4().hex,
            account=account,
            action=spec.name,
            created_at=now,
            started_at=started,
            finished_at=finished,
            expires_at=finished + settings.task_retention_seconds,
            url_ttl=settings.url_ttl,
            result_path=path,
            failure=failure,
            failure_status=failure_status,
        )
        with self._lock:
            self._tasks[task.id] = task
        return task

    def task(self, account: str, task_id: str) -> Task:
        """An account's task, if it is still retained.

        Raises:
            AILabError: 404 ERROR_RESOURCE_NOT_FOUND for unknown, foreign or expired tasks.
        """
        with self._lock:
            task = self._tasks.get(task_id)
        if (
            task is None
            or task.account != account
            or task.status(self.state.clock.time()) == "expired"
        ):
            raise AILabError(
                "ERROR_RESOURCE_NOT_FOUND", f"Task {task_id} does not exist or has expired."
            )
        return task

    def result_url(self, task: Task, base_url: str, host: str) -> str:
        """The OSS URL of a done task's result, valid ``url_ttl`` s from when it finished."""
        signer = self.state.signers["ailabtools"]
        return signer.mint(base_url, task.result_path or "", host, task.finished_at, task.url_ttl)
