"""The state the three emulators share: settings, clock, faults, counters and result objects.

One ``EmulatorState`` backs one suite. The three servers run in three threads, so everything
here is thread-safe; per-vendor rules and state (tasks, credits) live in each vendor's
``backend.py`` and register a reset hook here.
"""

from __future__ import annotations

import copy
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

from prefect_image_edit.emulators.clock import EmulatorClock
from prefect_image_edit.emulators.counters import Counters
from prefect_image_edit.emulators.faults import FaultBook
from prefect_image_edit.emulators.settings import EmulatorSettings
from prefect_image_edit.emulators.signed_urls import (
    ResultStore,
    UrlSigner,
    new_object_id,
    signer_for,
)

__all__ = ["VENDORS", "EmulatorState", "JobSlots"]

VENDORS = ("ailabtools", "tencent", "volcengine")


class JobSlots:
    """Paid jobs running per (vendor, account), against the vendor's concurrency limit."""

    def __init__(self) -> None:
        self._running: Counter[tuple[str, str]] = Counter()
        self._lock = threading.Lock()
        self._generation = 0

    def try_acquire(self, vendor: str, account: str, limit: int | None) -> int | None:
        """Take a slot; returns the ticket to release it with, or ``None`` at the limit."""
        with self._lock:
            if limit is not None and self._running[(vendor, account)] >= limit:
                return None
            self._running[(vendor, account)] += 1
            return self._generation

    def release(self, vendor: str, account: str, ticket: int | None = None) -> None:
        """Give a slot back, unless a reset since ``ticket`` already forgot it."""
        with self._lock:
            if ticket is None or ticket == self._generation:
                self._running[(vendor, account)] -= 1

    def running(self, vendor: str, account: str) -> int:
        with self._lock:
            return self._running[(vendor, account)]

    def reset(self) -> None:
        with self._lock:
            self._running.clear()
            self._generation += 1


class EmulatorState:
    """Shared by every server of one suite."""

    def __init__(self, settings: EmulatorSettings | None = None) -> None:
        self.settings = settings if settings is not None else EmulatorSettings()
        self._initial_settings = copy.deepcopy(self.settings)
        self.clock = EmulatorClock()
        self.faults = FaultBook()
        self.counters = Counters()
        self.results = ResultStore()
        self.slots = JobSlots()
        self.signers: dict[str, UrlSigner] = {vendor: signer_for(vendor) for vendor in VENDORS}
        # Set when the servers stop, so that hanging or sleeping handlers let go at once.
        self.stopping = threading.Event()
        self._reset_hooks: list[Callable[[], None]] = []
        # Each vendor's backend, registered by its routes (for the suite's helpers).
        self.backends: dict[str, Any] = {}
        # Set by the suite once the servers have ports (served at /_emulator/connection).
        self.connection_info: Callable[[], dict[str, Any]] | None = None

    def publish(
        self, vendor: str, data: bytes, content_type: str, base_url: str, host: str, ttl: int
    ) -> str:
        """Store a result image and return its signed URL, valid ``ttl`` s from now."""
        signer = self.signers[vendor]
        now = self.clock.time()
        path = signer.object_path(new_object_id(), now)
        self.results.put(vendor, path, data, content_type, now)
        return signer.mint(base_url, path, host, now, ttl)

    def on_reset(self, hook: Callable[[], None]) -> None:
        self._reset_hooks.append(hook)

    def reset(self) -> None:
        """Forget everything a test did: faults, counters, tasks, credits spent, results, clock
        offset, and settings changed since start (credentials stay the same)."""
        self.faults.clear()
        self.counters.reset()
        self.results.reset()
        self.slots.reset()
        self.clock.reset()
        fresh = copy.deepcopy(self._initial_settings)
        for name in ("ailabtools", "tencent", "volcengine"):
            setattr(self.settings, name, getattr(fresh, name))
        self.settings.hang_seconds = fresh.hang_seconds
        self.settings.fetch_timeout = fresh.fetch_timeout
        for hook in self._reset_hooks:
            hook()
