"""Serving result URLs: each vendor port also plays that vendor's object store.

A GET on a result path checks the signature and the expiry (on the emulator clock) with the
vendor's signer, then returns the image bytes; refusals are 403 XML bodies in the store's
style (COS, TOS, OSS), unknown objects 404 ``NoSuchKey``. Downloads are counted as the action
``download`` and can be given faults aimed at ``action="download"``: besides the generic ones,
URL_FORBIDDEN (403 ``AccessDenied`` although the URL has not expired) and TRICKLE (the body
served at ``rate`` bytes a second).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from prefect_image_edit.emulators.faults import FaultKind, RequestClass
from prefect_image_edit.emulators.pipeline import Call, before_acceptance, deliver
from prefect_image_edit.emulators.signed_urls import Denied
from prefect_image_edit.emulators.state import EmulatorState
from prefect_image_edit.emulators.wire import EmulatorError, TrickleResponse, base_url_of

__all__ = ["DownloadHandler"]


class StoreError(EmulatorError):
    """An object-store error, rendered as the store's XML."""

    def __init__(self, denied: Denied) -> None:
        super().__init__(denied.message)
        self.denied = denied

    def render(self, call: Call) -> Response:
        signer = call.state.signers[call.vendor]
        body = signer.error_xml(self.denied, call.request.url.path, call.request_id)
        headers = signer.headers(call.request_id)
        return Response(
            body, status_code=self.denied.status, headers=headers, media_type="application/xml"
        )


def _fault_error(call: Call, kind: FaultKind) -> EmulatorError:
    if kind is FaultKind.URL_FORBIDDEN:
        # The store revoked the object early (a lifecycle rule, a rotated key): the URL says it
        # is still valid, the store says no.
        return StoreError(
            Denied(int(call.fault.param("status", 403)), "AccessDenied", "Access Denied.")
        )
    status = int(call.fault.param("status", 503 if kind is not FaultKind.SERVER_ERROR else 500))
    if kind is FaultKind.SERVER_ERROR:
        return StoreError(Denied(status, "InternalError", "We encountered an internal error."))
    return StoreError(Denied(status, "SlowDown", "Please reduce your request rate."))


class DownloadHandler:
    """The Starlette endpoint for one vendor's result URLs."""

    def __init__(self, state: EmulatorState, vendor: str) -> None:
        self.state = state
        self.vendor = vendor

    async def handle(self, request: Request) -> Response:
        state = self.state
        call = Call(state, self.vendor, "download", RequestClass.DOWNLOAD, request, _fault_error)
        state.counters.record_request(self.vendor, "download")
        call.take_fault()
        try:
            early = await before_acceptance(call)
            if early is not None:
                return early
            signer = state.signers[self.vendor]
            _, host = base_url_of(request)
            path = request.url.path
            denied = signer.verify(path, dict(request.query_params), host, state.clock.time())
            if denied is not None:
                raise StoreError(denied)
            stored = state.results.get(path)
            if stored is None or stored.vendor != self.vendor:
                raise StoreError(Denied(404, "NoSuchKey", "The specified key does not exist."))
            if call.kind is FaultKind.TRICKLE:
                response = TrickleResponse(
                    stored.data,
                    rate=float(call.fault.param("rate", 1024)),
                    stop=state.stopping,
                    media_type=stored.content_type,
                    headers=signer.headers(call.request_id),
                )
            else:
                response = Response(
                    stored.data,
                    media_type=stored.content_type,
                    headers=signer.headers(call.request_id),
                )
        except EmulatorError as exc:
            response = exc.render(call)
        return deliver(call, response)
