"""AILabTools on the wire: multipart APIs under ``/api/...``, the async query, OSS result URLs.

Routes only parse the raw request, call the backend and serialise; rules live in
``backend.py`` and ``validation.py``, envelopes in ``errors.py``.
"""

from __future__ import annotations

import base64
import secrets
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from prefect_image_edit.emulators.ailabtools.backend import AILabToolsBackend, Task
from prefect_image_edit.emulators.ailabtools.errors import AILabError, fault_error, success
from prefect_image_edit.emulators.ailabtools.validation import (
    ACTIONS,
    ActionSpec,
    read_form,
    validate,
)
from prefect_image_edit.emulators.downloads import DownloadHandler
from prefect_image_edit.emulators.faults import FaultKind, RequestClass
from prefect_image_edit.emulators.pipeline import (
    Call,
    before_acceptance,
    deliver,
    run_job,
    tamper,
)
from prefect_image_edit.emulators.state import EmulatorState
from prefect_image_edit.emulators.wire import base_url_of

__all__ = ["QUERY_ACTION", "build_routes"]

VENDOR = "ailabtools"
QUERY_ACTION = "query-async-task-result"
_STATUS = {"queued": (0, "PENDING"), "processing": (1, "RUNNING"), "done": (2, "SUCCEEDED")}


class AILabToolsAPI:
    def __init__(self, state: EmulatorState, backend: AILabToolsBackend) -> None:
        self.state = state
        self.backend = backend

    def _call(self, request: Request, action: str, cls: RequestClass) -> Call:
        call = Call(self.state, VENDOR, action, cls, request, fault_error)
        call.extra["log_id"] = secrets.token_hex(16).upper()
        self.state.counters.record_request(VENDOR, action)
        return call

    def endpoint(self, spec: ActionSpec):
        cls = RequestClass.SUBMIT if spec.is_async else RequestClass.PAID

        async def handle(request: Request) -> Response:
            return await self._paid(request, spec, cls)

        return handle

    async def _paid(self, request: Request, spec: ActionSpec, cls: RequestClass) -> Response:
        state, backend = self.state, self.backend
        call = self._call(request, spec.name, cls)
        try:
            call.account = backend.authenticate(request.headers.get("ailabapi-api-key", ""))
            call.take_fault()
            with state.counters.in_flight(VENDOR, call.account):
                early = await before_acceptance(call)
                if early is not None:
                    return early
                params, files, _ = await validate(spec, await read_form(request))
                account = call.account
                fails = call.kind is FaultKind.TASK_FAILURE
                stuck = call.kind is FaultKind.STUCK_QUEUED
                hooks = {
                    "accept": lambda: backend.reserve(account, spec.cost),
                    "refund": lambda: backend.refund(account, spec.cost),
                    "billable": not (fails or stuck),
                }
                if spec.is_async:
                    failure, failure_status = None, None
                    if fails:
                        error = fault_error(call, FaultKind.TASK_FAILURE)
                        failure = (error.code, error.message)
                        if "status" in call.fault.params:
                            failure_status = error.status
                    task = await run_job(
                        call,
                        lambda: backend.submit(
                            account,
                            spec,
                            params,
                            files,
                            failure,
                            failure_status=failure_status,
                            stuck=stuck,
                            transform=lambda data: tamper(call, data),
                        ),
                        **hooks,
                    )
                    response = success(call, task_type="async", task_id=task.id)
                else:
                    data = await run_job(
                        call, lambda: backend.remove_objects(params, files), **hooks
                    )
                    b64 = base64.b64encode(tamper(call, data)).decode("ascii")
                    response = success(call, data={"binary_data_base64": [b64]})
        except AILabError as exc:
            response = exc.render(call)
        return deliver(call, response)

    async def query(self, request: Request) -> Response:
        """``GET /api/common/query-async-task-result?task_id=``: one poll."""
        state, backend = self.state, self.backend
        call = self._call(request, QUERY_ACTION, RequestClass.POLL)
        task_id = request.query_params.get("task_id", "")
        try:
            call.account = backend.authenticate(request.headers.get("ailabapi-api-key", ""))
            if not task_id:
                raise AILabError("MISSING_PARAMETERS", "Missing parameters: task_id.")
            state.counters.record_poll(task_id)
            call.take_fault()
            early = await before_acceptance(call)
            if early is not None:
                return early
            response = self._task_answer(call, backend.task(call.account, task_id), request)
        except AILabError as exc:
            response = exc.render(call)
        return deliver(call, response)

    def _task_answer(self, call: Call, task: Task, request: Request) -> Response:
        status = task.status(self.state.clock.time())
        if status == "failed":
            code, message = task.failure or ("ERROR_POSE_NOT_ENOUGH_KEYPOINTS", "")
            fields = {
                "task_status": 3,
                "output": {"task_status": "FAILED", "image_url": ""},
                "usage": {"image_count": 0},
            }
            status_code = task.failure_status or self.backend.settings.failed_task_http_status
            if status_code == 200:
                fields["output"].update(code=code, message=message)
                return success(call, **self._shaped(task, fields))
            raise AILabError(code, message, status=status_code, extra=self._shaped(task, fields))
        number, name = _STATUS[status]
        url = ""
        if status == "done":
            base_url, host = base_url_of(request)
            url = self.backend.result_url(task, base_url, host)
        fields = {
            "task_status": number,
            "output": {"task_status": name, "image_url": url},
            "usage": {"image_count": 1 if status == "done" else 0},
        }
        return success(call, **self._shaped(task, fields))

    def _shaped(self, task: Task, fields: dict[str, Any]) -> dict[str, Any]:
        """The task fields at the top level, or inside ``data`` (``settings.query_shape``)."""
        if self.backend.settings.query_shape != "data":
            return fields
        usage = fields.pop("usage", None)
        shaped: dict[str, Any] = {"data": {"task_id": task.id, **fields}}
        if usage is not None:
            shaped["usage"] = usage
        return shaped

    async def unknown(self, request: Request) -> Response:
        call = self._call(request, "(unknown)", RequestClass.POLL)
        return AILabError("ERROR_AI_NOT_EXISTS", f"No API at {request.url.path}.").render(call)


def build_routes(state: EmulatorState) -> list[Route]:
    backend = AILabToolsBackend(state)
    state.backends[VENDOR] = backend
    api = AILabToolsAPI(state, backend)
    routes = [Route(spec.path, api.endpoint(spec), methods=["POST"]) for spec in ACTIONS.values()]
    routes += [
        Route("/api/common/query-async-task-result", api.query, methods=["GET"]),
        Route("/api/{rest:path}", api.unknown, methods=["GET", "POST"]),
        Route(
            "/ailab-outputs/{day}/{name}", DownloadHandler(state, VENDOR).handle, methods=["GET"]
        ),
    ]
    return routes
