"""Local stand-ins for the vendors: AILabTools, Tencent aiart and Volcengine visual.

Real HTTP servers on 127.0.0.1 that verify requests the way each vendor does (signatures,
fields, limits, mask rules), answer with the vendor's envelopes, return real edited images and
signed result URLs, and can be told to misbehave. No Prefect imports: tests, benchmarks, the
demo and users' own flow tests all use them::

    from prefect_image_edit.emulators import run_emulators, FaultKind

    with run_emulators(tencent={"latency": 0.2}) as emu:
        emu.inject("tencent", FaultKind.RATE_LIMIT)
        ...
        assert emu.counters.billable("tencent") == 1

Layout (moto's split): per vendor ``routes.py`` (wire only), ``backend.py`` (rules and state),
``errors.py`` (envelopes); shared flat modules for the clock, faults, counters, images, signed
URLs, servers, the control API and the suite. ``prefect-image-edit emulate`` serves them from
the command line.
"""

from __future__ import annotations

from prefect_image_edit.emulators.clock import EmulatorClock
from prefect_image_edit.emulators.control import EmulatorControl
from prefect_image_edit.emulators.counters import BillingRecord, Counters
from prefect_image_edit.emulators.faults import BILLED, Fault, FaultKind, RequestClass
from prefect_image_edit.emulators.settings import (
    AILabToolsSettings,
    EmulatorSettings,
    TencentSettings,
    VolcengineSettings,
)
from prefect_image_edit.emulators.suite import (
    AILabToolsEndpoint,
    EmulatorSuite,
    TencentEndpoint,
    VolcengineEndpoint,
    run_emulators,
)

__all__ = [
    "BILLED",
    "AILabToolsEndpoint",
    "AILabToolsSettings",
    "BillingRecord",
    "Counters",
    "EmulatorClock",
    "EmulatorControl",
    "EmulatorSettings",
    "EmulatorSuite",
    "Fault",
    "FaultKind",
    "RequestClass",
    "TencentEndpoint",
    "TencentSettings",
    "VolcengineEndpoint",
    "VolcengineSettings",
    "run_emulators",
]
