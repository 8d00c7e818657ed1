"""The control API: the same handle on the emulators over HTTP, for other processes.

Every vendor port serves ``/_emulator/...`` (all ports act on the same shared state), so a flow
running in a subprocess, or a client of ``prefect-image-edit emulate``, can reset the
emulators, script faults, move the clock and read counters::

    GET    /_emulator/health                   {"ok": true, "vendor": ...}
    GET    /_emulator/connection               connection_info()
    POST   /_emulator/reset
    GET    /_emulator/faults                   pending faults
    POST   /_emulator/faults                   {"vendor", "kind", "times", "action",
                                                "account", "params"}
    DELETE /_emulator/faults[?vendor=]
    GET    /_emulator/clock                    {"time", "offset"}
    POST   /_emulator/clock                    {"advance": s} or {"set": unix}
    GET    /_emulator/counters                 everything
    GET    /_emulator/counters/{name}?...      one number: billable, max_in_flight, polls, requests
    GET    /_emulator/settings, PATCH /_emulator/settings (a nested dict of changes)

``EmulatorControl`` is the matching httpx client, shaped like the in-process suite.
"""

from __future__ import annotations

from typing import Any

import httpx
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from prefect_image_edit.emulators.faults import FaultKind
from prefect_image_edit.emulators.state import EmulatorState
from prefect_image_edit.emulators.wire import json_response

__all__ = ["EmulatorControl", "control_routes"]

PREFIX = "/_emulator"


def _error(message: str, status: int = 400) -> Response:
    return json_response({"error": message}, status=status)


def control_routes(state: EmulatorState, vendor: str) -> list[Route]:
    """The ``/_emulator`` routes for one vendor's port."""

    async def health(request: Request) -> Response:
        return json_response({"ok": True, "vendor": vendor})

    async def connection(request: Request) -> Response:
        info = state.connection_info() if state.connection_info else {}
        return json_response(info)

    async def reset(request: Request) -> Response:
        state.reset()
        return json_response({"ok": True})

    async def faults(request: Request) -> Response:
        if request.method == "GET":
            return json_response({"faults": [f.to_dict() for f in state.faults.pending()]})
        if request.method == "DELETE":
            return json_response(
                {"cleared": state.faults.clear(request.query_params.get("vendor"))}
            )
        try:
            spec = await request.json()
            fault = state.faults.inject(
                spec.get("vendor", vendor),
                spec["kind"],
                times=spec.get("times", 1),
                action=spec.get("action"),
                account=spec.get("account"),
                **(spec.get("params") or {}),
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            return _error(f"bad fault: {exc}")
        return json_response(fault.to_dict(), status=201)

    async def clock(request: Request) -> Response:
        if request.method == "POST":
            try:
                body = await request.json()
                if "set" in body:
                    state.clock.set(float(body["set"]))
                else:
                    state.clock.advance(float(body.get("advance", 0)))
            except (ValueError, TypeError, AttributeError) as exc:
                return _error(f"bad clock change: {exc}")
        return json_response({"time": state.clock.time(), "offset": state.clock.offset})

    async def counters(request: Request) -> Response:
        return json_response(state.counters.snapshot())

    async def counter(request: Request) -> Response:
        q = request.query_params
        c = state.counters
        name = request.path_params["name"]
        readers = {
            "billable": lambda: c.billable(
                q.get("vendor", vendor), q.get("action"), q.get("account")
            ),
            "max_in_flight": lambda: c.max_in_flight(q.get("vendor", vendor), q.get("account")),
            "polls": lambda: c.polls(q.get("task_id", "")),
            "requests": lambda: c.requests(q.get("vendor", vendor), q.get("action")),
        }
        if name not in readers:
            return _error(f"unknown counter {name!r}; use one of {sorted(readers)}", 404)
        return json_response({"value": readers[name]()})

    async def settings(request: Request) -> Response:
        if request.method in ("PATCH", "POST"):
            try:
                state.settings.update(await request.json())
            except (TypeError, ValueError, AttributeError) as exc:
                return _error(f"bad settings: {exc}")
        return json_response(state.settings.to_dict())

    return [
        Route(f"{PREFIX}/health", health, methods=["GET"]),
        Route(f"{PREFIX}/connection", connection, methods=["GET"]),
        Route(f"{PREFIX}/reset", reset, methods=["POST"]),
        Route(f"{PREFIX}/faults", faults, methods=["GET", "POST", "DELETE"]),
        Route(f"{PREFIX}/clock", clock, methods=["GET", "POST"]),
        Route(f"{PREFIX}/counters", counters, methods=["GET"]),
        Route(f"{PREFIX}/counters/{{name}}", counter, methods=["GET"]),
        Route(f"{PREFIX}/settings", settings, methods=["GET", "PATCH", "POST"]),
    ]


class _RemoteClock:
    def __init__(self, control: EmulatorControl) -> None:
        self._control = control

    def time(self) -> float:
        return self._control._call("GET", "/clock")["time"]

    def advance(self, seconds: float) -> float:
        return self._control._call("POST", "/clock", json={"advance": seconds})["time"]

    def set(self, timestamp: float) -> float:
        return self._control._call("POST", "/clock", json={"set": timestamp})["time"]


class _RemoteCounters:
    def __init__(self, control: EmulatorControl) -> None:
        self._control = control

    def _value(self, name: str, **params: Any) -> int:
        query = {k: v for k, v in params.items() if v is not None}
        return self._control._call("GET", f"/counters/{name}", params=query)["value"]

    def billable(self, vendor: str, action: str | None = None, account: str | None = None) -> int:
        return self._value("billable", vendor=vendor, action=action, account=account)

    def max_in_flight(self, vendor: str, account: str | None = None) -> int:
        return self._value("max_in_flight", vendor=vendor, account=account)

    def polls(self, task_id: str) -> int:
        return self._value("polls", task_id=task_id)

    def requests(self, vendor: str, action: str | None = None) -> int:
        return self._value("requests", vendor=vendor, action=action)

    def snapshot(self) -> dict[str, Any]:
        return self._control._call("GET", "/counters")


class EmulatorControl:
    """Drive running emulators over HTTP: ``EmulatorControl("http://127.0.0.1:PORT")``.

    Any vendor's base URL works; all act on the same emulator suite.
    """

    def __init__(self, base_url: str, *, timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._client = httpx.Client(
            base_url=self.base_url + PREFIX, timeout=timeout, trust_env=False
        )
        self.clock = _RemoteClock(self)
        self.counters = _RemoteCounters(self)

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._client.request(method, path, **kwargs)
        if response.status_code >= 400:
            raise ValueError(f"emulator control {method} {path}: {response.text}")
        return response.json()

    def health(self) -> dict[str, Any]:
        return self._call("GET", "/health")

    def connection_info(self) -> dict[str, Any]:
        return self._call("GET", "/connection")

    def reset(self) -> None:
        self._call("POST", "/reset")

    def inject(
        self,
        vendor: str,
        kind: FaultKind | str,
        times: int | None = 1,
        action: str | None = None,
        account: str | None = None,
        **params: Any,
    ) -> dict[str, Any]:
        """Queue a fault (same arguments as ``EmulatorSuite.inject``); returns it as a dict."""
        spec = {
            "vendor": vendor,
            "kind": FaultKind(kind).value,
            "times": times,
            "action": action,
            "account": account,
            "params": params,
        }
        return self._call("POST", "/faults", json=spec)

    def faults(self) -> list[dict[str, Any]]:
        return self._call("GET", "/faults")["faults"]

    def clear_faults(self, vendor: str | None = None) -> int:
        params = {"vendor": vendor} if vendor else None
        return self._call("DELETE", "/faults", params=params)["cleared"]

    def settings(self) -> dict[str, Any]:
        return self._call("GET", "/settings")

    def update_settings(self, patch: dict[str, Any]) -> dict[str, Any]:
        """Change settings, e.g. ``{"tencent": {"latency": 0.5}}``; returns all settings."""
        return self._call("PATCH", "/settings", json=patch)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> EmulatorControl:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
