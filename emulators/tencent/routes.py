"""Tencent aiart on the wire: ``POST /`` with TC3 headers, plus the COS-style result URLs.

Routes only parse the raw request, call the backend and serialise; rules live in
``backend.py`` and envelopes in ``errors.py``.
"""

from __future__ import annotations

import base64

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
from prefect_image_edit.emulators.tencent.backend import MAX_BODY, TencentBackend
from prefect_image_edit.emulators.tencent.errors import TencentError, fault_error
from prefect_image_edit.emulators.wire import base_url_of, json_response

__all__ = ["build_routes"]

VENDOR = "tencent"


class TencentAPI:
    """The single endpoint of Tencent Cloud API 3.0."""

    def __init__(self, state: EmulatorState, backend: TencentBackend) -> None:
        self.state = state
        self.backend = backend

    async def handle(self, request: Request) -> Response:
        state, backend = self.state, self.backend
        # Names lower-cased; a repeated header keeps its last value.
        headers = {name.lower(): value for name, value in request.headers.items()}
        action = headers.get("x-tc-action") or "(none)"
        call = Call(state, VENDOR, action, RequestClass.PAID, request, fault_error)
        state.counters.record_request(VENDOR, action)
        try:
            body = await request.body()
            if len(body) > MAX_BODY:
                # Refused before anything else, as Tencent's front refuses a body over 10 MB.
                raise TencentError("RequestSizeLimitExceeded")
            query = request.scope.get("query_string", b"").decode("latin-1")
            call.account = backend.authenticate(
                request.method, request.url.path, query, headers, body
            )
            backend.check_route(headers)
            call.take_fault()
            with state.counters.in_flight(VENDOR, call.account):
                early = await before_acceptance(call)
                if early is not None:
                    return early
                req = backend.parse(headers.get("content-type", ""), body)
                inputs = await backend.load_inputs(req)
                data, media_type = await run_job(call, lambda: backend.process(req, inputs))
                data = tamper(call, data)
                if not data:
                    result = ""  # EMPTY_RESULT: ResultImage "", whichever RspImgType
                elif req.rsp_img_type == "url":
                    base_url, host = base_url_of(request)
                    ttl = backend.settings.url_ttl
                    result = state.publish(VENDOR, data, media_type, base_url, host, ttl)
                else:
                    result = base64.b64encode(data).decode("ascii")
                response = json_response(
                    {"Response": {"ResultImage": result, "RequestId": call.request_id}}
                )
        except TencentError as exc:
            response = exc.render(call)
        return deliver(call, response)


def build_routes(state: EmulatorState) -> list[Route]:
    backend = TencentBackend(state)
    state.backends[VENDOR] = backend
    return [
        Route("/", TencentAPI(state, backend).handle, methods=["GET", "POST"]),
        Route(
            "/aiart-emulator-1250000000/{name}",
            DownloadHandler(state, VENDOR).handle,
            methods=["GET"],
        ),
    ]
