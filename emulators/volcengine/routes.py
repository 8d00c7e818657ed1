"""Volcengine visual on the wire: ``POST /?Action=..&Version=..``, plus TOS-style result URLs.

Routes only parse the raw request, call the backend and serialise; rules live in
``backend.py`` and envelopes in ``errors.py``.
"""

from __future__ import annotations

import base64
import secrets

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from prefect_image_edit.emulators.downloads import DownloadHandler
from prefect_image_edit.emulators.faults import RequestClass
from prefect_image_edit.emulators.pipeline import (
    Call,
    before_acceptance,
    deliver,
    run_job,
    tamper,
)
from prefect_image_edit.emulators.state import EmulatorState
from prefect_image_edit.emulators.volcengine.backend import VolcengineBackend
from prefect_image_edit.emulators.volcengine.errors import (
    DataError,
    GatewayError,
    ServiceError,
    fault_error,
    request_id,
    time_elapsed,
)
from prefect_image_edit.emulators.wire import base_url_of, json_response

__all__ = ["build_routes"]

VENDOR = "volcengine"


class VolcengineAPI:
    """The gateway and the CV service behind it."""

    def __init__(self, state: EmulatorState, backend: VolcengineBackend) -> None:
        self.state = state
        self.backend = backend

    async def handle(self, request: Request) -> Response:
        state, backend = self.state, self.backend
        headers = {name.lower(): value for name, value in request.headers.items()}
        query: dict[str, str | list[str]] = {}
        for key, value in request.query_params.multi_items():
            previous = query.get(key)
            if previous is None:
                query[key] = value
            else:
                query[key] = [*([previous] if isinstance(previous, str) else previous), value]
        action = request.query_params.get("Action") or "(none)"
        call = Call(state, VENDOR, action, RequestClass.PAID, request, fault_error)
        call.request_id = request_id(call)
        settings = backend.settings
        call.extra.update(
            action=request.query_params.get("Action", ""),
            version=request.query_params.get("Version", ""),
            service=settings.service,
            region=settings.region,
        )
        state.counters.record_request(VENDOR, action)
        try:
            body = await request.body()
            call.account = backend.authenticate(
                request.method, request.url.path, query, headers, body
            )
            call.take_fault()
            with state.counters.in_flight(VENDOR, call.account):
                early = await before_acceptance(call)
                if early is not None:
                    return early
                req = backend.parse(body)
                image, mask = await backend.load_inputs(req)
                data, media_type = await run_job(call, lambda: backend.process(req, image, mask))
                data = tamper(call, data)
                urls = None
                if req.return_url:
                    base_url, host = base_url_of(request)
                    urls = [
                        state.publish(VENDOR, data, media_type, base_url, host, settings.url_ttl)
                        if data
                        else ""  # EMPTY_RESULT: the vendor's [""]
                    ]
                payload = {
                    "code": 10000,
                    "data": {
                        "algorithm_base_resp": {"status_code": 0, "status_message": "Success"},
                        "binary_data_base64": [base64.b64encode(data).decode("ascii")],
                        "image_urls": urls,
                        "request_id": secrets.token_hex(12),
                    },
                    "message": "Success",
                    "request_id": call.request_id,
                    "status": 10000,
                    "time_elapsed": time_elapsed(call),
                }
                response = json_response(payload, headers={"X-Tt-Logid": call.request_id})
        except (GatewayError, ServiceError, DataError) as exc:
            response = exc.render(call)
            response.headers["X-Tt-Logid"] = call.request_id
        return deliver(call, response)


def build_routes(state: EmulatorState) -> list[Route]:
    backend = VolcengineBackend(state)
    state.backends[VENDOR] = backend
    return [
        Route("/", VolcengineAPI(state, backend).handle, methods=["GET", "POST"]),
        Route("/tos-cn-i-emulator/{name}", DownloadHandler(state, VENDOR).handle, methods=["GET"]),
    ]
