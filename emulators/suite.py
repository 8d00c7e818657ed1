"""The suite: three vendor emulators sharing one state, served on free 127.0.0.1 ports.

``run_emulators(**settings)`` is the entry point tests, benchmarks and the demo use::

    with run_emulators(tencent={"latency": 0.2}) as emu:
        emu.tencent.base_url, emu.tencent.secret_id, ...
        emu.inject("tencent", FaultKind.RATE_LIMIT)
        emu.clock.advance(3600)
        emu.counters.billable("tencent")

Each vendor gets its own port because the real APIs all live at the root of their own host.
``EmulatorSuite.app(vendor)`` also gives the ASGI app, for in-process use with
``httpx.ASGITransport`` (no sockets; connection resets then surface as ``ConnectionResetError``).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.routing import Route
from starlette.types import ASGIApp

from prefect_image_edit.emulators.clock import EmulatorClock
from prefect_image_edit.emulators.control import EmulatorControl, control_routes
from prefect_image_edit.emulators.counters import Counters
from prefect_image_edit.emulators.faults import Fault, FaultKind
from prefect_image_edit.emulators.server import ServerThread
from prefect_image_edit.emulators.settings import EmulatorSettings
from prefect_image_edit.emulators.state import VENDORS, EmulatorState
from prefect_image_edit.emulators.wire import capture_transport

__all__ = [
    "AILabToolsEndpoint",
    "EmulatorSuite",
    "TencentEndpoint",
    "VolcengineEndpoint",
    "build_app",
    "run_emulators",
]


@dataclass(frozen=True)
class AILabToolsEndpoint:
    base_url: str
    api_key: str

    def connection_info(self) -> dict[str, str]:
        return asdict(self)


@dataclass(frozen=True)
class TencentEndpoint:
    base_url: str
    secret_id: str
    secret_key: str
    region: str

    def connection_info(self) -> dict[str, str]:
        return asdict(self)


@dataclass(frozen=True)
class VolcengineEndpoint:
    base_url: str
    access_key_id: str
    secret_access_key: str
    region: str

    def connection_info(self) -> dict[str, str]:
        return asdict(self)


def _route_builders() -> dict[str, Callable[[EmulatorState], list[Route]]]:
    from prefect_image_edit.emulators.ailabtools.routes import build_routes as ailabtools
    from prefect_image_edit.emulators.tencent.routes import build_routes as tencent
    from prefect_image_edit.emulators.volcengine.routes import build_routes as volcengine

    return {"ailabtools": ailabtools, "tencent": tencent, "volcengine": volcengine}


def build_app(vendor: str, state: EmulatorState) -> ASGIApp:
    """The ASGI app of one vendor emulator (its API, its result URLs, the control API)."""
    routes = _route_builders()[vendor](state) + control_routes(state, vendor)
    return capture_transport(Starlette(routes=routes))


def _check_loopback(host: str) -> None:
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ValueError(
            f"The emulators bind loopback addresses only (e.g. 127.0.0.1), not {host!r}: "
            "their credentials are throw-away and they answer anyone."
        )


def _first(mapping: dict[str, str]) -> tuple[str, str]:
    if not mapping:
        raise ValueError("No account configured.")
    key = next(iter(mapping))
    return key, mapping[key]


class EmulatorSuite:
    """Three emulators and their shared state. Use ``run_emulators`` or ``with EmulatorSuite()``."""

    def __init__(
        self, settings: EmulatorSettings | None = None, *, accounts: int = 1, **kwargs: Any
    ) -> None:
        self.settings = EmulatorSettings.build(settings=settings, **kwargs)
        self.settings.add_accounts(accounts)  # before the state keeps its initial settings
        _check_loopback(self.settings.host)
        self.state = EmulatorState(self.settings)
        self._apps = {vendor: build_app(vendor, self.state) for vendor in VENDORS}
        self._servers: dict[str, ServerThread] = {}

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> EmulatorSuite:
        """Start the three servers on their ports (0: free ports); returns once all serve."""
        self.state.stopping.clear()
        try:
            for vendor in VENDORS:
                port = getattr(self.settings, f"{vendor}_port")
                server = ServerThread(self._apps[vendor], self.settings.host, port, vendor)
                self._servers[vendor] = server
                server.start()
        except BaseException:
            self.stop()
            raise
        self.state.connection_info = self.connection_info
        return self

    def stop(self) -> None:
        """Stop every server; hanging requests are released and their connections dropped."""
        self.state.stopping.set()
        for server in self._servers.values():  # all at once: their graceful shutdowns overlap
            server.request_stop()
        for server in self._servers.values():
            server.stop()
        self._servers.clear()

    def __enter__(self) -> EmulatorSuite:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- endpoints ------------------------------------------------------------------------
    def base_url(self, vendor: str) -> str:
        if vendor not in self._servers:
            raise RuntimeError(f"The {vendor} emulator is not running; start the suite first.")
        return self._servers[vendor].base_url

    @property
    def ailabtools(self) -> AILabToolsEndpoint:
        keys = self.settings.ailabtools.api_keys
        if not keys:
            raise ValueError("No AILabTools API key configured.")
        return AILabToolsEndpoint(self.base_url("ailabtools"), keys[0])

    @property
    def tencent(self) -> TencentEndpoint:
        secret_id, secret_key = _first(self.settings.tencent.accounts)
        region = self.settings.tencent.region
        return TencentEndpoint(self.base_url("tencent"), secret_id, secret_key, region)

    @property
    def volcengine(self) -> VolcengineEndpoint:
        access_key, secret_key = _first(self.settings.volcengine.accounts)
        region = self.settings.volcengine.region
        return VolcengineEndpoint(self.base_url("volcengine"), access_key, secret_key, region)

    def accounts(self, vendor: str) -> list[Any]:
        """Every account of ``vendor`` as an endpoint (the first is ``self.<vendor>``)."""
        if vendor == "ailabtools":
            url = self.base_url(vendor)
            return [AILabToolsEndpoint(url, key) for key in self.settings.ailabtools.api_keys]
        if vendor == "tencent":
            region = self.settings.tencent.region
            return [
                TencentEndpoint(self.base_url(vendor), key, secret, region)
                for key, secret in self.settings.tencent.accounts.items()
            ]
        if vendor == "volcengine":
            region = self.settings.volcengine.region
            return [
                VolcengineEndpoint(self.base_url(vendor), key, secret, region)
                for key, secret in self.settings.volcengine.accounts.items()
            ]
        raise ValueError(f"Unknown vendor {vendor!r}; expected one of {list(VENDORS)}.")

    def connection_info(self) -> dict[str, dict[str, Any]]:
        """What a client needs, per vendor (the JSON line ``emulate --json`` prints); with
        several accounts, ``accounts`` lists each one's."""
        info: dict[str, dict[str, Any]] = {
            "ailabtools": self.ailabtools.connection_info(),
            "tencent": self.tencent.connection_info(),
            "volcengine": self.volcengine.connection_info(),
        }
        for vendor, values in info.items():
            accounts = self.accounts(vendor)
            if len(accounts) > 1:
                values["accounts"] = [account.connection_info() for account in accounts]
        return info

    def app(self, vendor: str) -> ASGIApp:
        """The ASGI app of one vendor, for ``httpx.ASGITransport`` (no server needed)."""
        return self._apps[vendor]

    def control(self, vendor: str = "tencent") -> EmulatorControl:
        """An HTTP control client on one vendor's port (same state as this object)."""
        return EmulatorControl(self.base_url(vendor))

    # -- test controls --------------------------------------------------------------------
    @property
    def clock(self) -> EmulatorClock:
        return self.state.clock

    @property
    def counters(self) -> Counters:
        return self.state.counters

    def inject(
        self,
        vendor: str,
        kind: FaultKind | str,
        times: int | None = 1,
        action: str | None = None,
        **kw: Any,
    ) -> Fault:
        """Script a fault for the next ``times`` matching requests (see ``faults.py``).

        Keywords: ``account`` (only that account's requests) and the fault's parameters
        (``delay``, ``seconds``, ``status``, ``code``, ``message``, ``retry_after``).
        """
        account = kw.pop("account", None)
        return self.state.faults.inject(vendor, kind, times, action, account, **kw)

    def ailabtools_credits_left(self, account: str | None = None) -> int | None:
        """Credits an AILabTools account has left (``None``: unlimited); default: the first key."""
        backend = self.state.backends["ailabtools"]
        return backend.credits_left(account or self.settings.ailabtools.api_keys[0])

    def clear_faults(self, vendor: str | None = None) -> int:
        return self.state.faults.clear(vendor)

    def reset(self) -> None:
        """Back to a fresh start (same ports and credentials): see ``EmulatorState.reset``."""
        self.state.reset()


@contextmanager
def run_emulators(**settings: Any) -> Iterator[EmulatorSuite]:
    """Start all three emulators on free 127.0.0.1 ports for the duration of the block.

    Keywords are settings (see ``EmulatorSettings.build``), e.g. ``tencent={"latency": 0.2}``,
    ``ailabtools_credits=40`` or ``hang_seconds=30``.
    """
    suite = EmulatorSuite(**settings)
    suite.start()
    try:
        yield suite
    finally:
        suite.stop()
