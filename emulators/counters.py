"""What the emulators count, so tests and benchmarks can check money and concurrency.

- ``billable``: calls the vendor would charge for, per vendor, account and action (a call is
  billable when the job ran, whatever happened to the answer afterwards; see ``faults.BILLED``).
- ``max_in_flight``: the peak number of paid requests of one vendor (or one account) being
  handled at the same time, from the moment the caller is authenticated until the answer is
  sent. Requests the vendor then refuses for concurrency count too: the number measures how
  many the client had open, which is what a client-side concurrency limit must keep down.
- ``polls``: status queries per async task id.
- ``requests``: every request per vendor and action (downloads of result URLs as ``download``).
"""

from __future__ import annotations

import threading
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["BillingRecord", "Counters"]


@dataclass(frozen=True, slots=True)
class BillingRecord:
    """One charge, with the fault (if any) that hid its answer from the client."""

    vendor: str
    account: str
    action: str
    request_id: str
    at: float
    units: int = 1
    fault: str | None = None


class Counters:
    """Thread-safe counters shared by the three servers."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._generation = 0
        self.reset()

    @property
    def generation(self) -> int:
        """Bumped by every ``reset()``; work begun before a reset records nothing after it."""
        return self._generation

    def reset(self) -> None:
        with self._lock:
            # Requests still running from before belong to the old counts: when they end they
            # must neither decrement the fresh in-flight counts nor bill into them.
            self._generation += 1
            self._billing: list[BillingRecord] = []
            self._requests: Counter[tuple[str, str]] = Counter()
            self._polls: Counter[str] = Counter()
            self._in_flight: Counter[tuple[str, str | None]] = Counter()
            self._max_in_flight: dict[tuple[str, str | None], int] = defaultdict(int)

    # -- recording (called by the servers) ------------------------------------------------
    def record_request(self, vendor: str, action: str) -> None:
        with self._lock:
            self._requests[(vendor, action)] += 1

    def record_poll(self, task_id: str) -> None:
        with self._lock:
            self._polls[task_id] += 1

    def record_billable(self, record: BillingRecord, generation: int | None = None) -> None:
        """Record a charge; ``generation`` (when the call began) drops one from before a reset."""
        with self._lock:
            if generation is None or generation == self._generation:
                self._billing.append(record)

    @contextmanager
    def in_flight(self, vendor: str, account: str) -> Iterator[None]:
        """Count one request in flight for the vendor and the account while the block runs."""
        keys = ((vendor, None), (vendor, account))
        with self._lock:
            generation = self._generation
            for key in keys:
                self._in_flight[key] += 1
                self._max_in_flight[key] = max(self._max_in_flight[key], self._in_flight[key])
        try:
            yield
        finally:
            with self._lock:
                if generation == self._generation:  # else a reset already forgot it
                    for key in keys:
                        self._in_flight[key] -= 1

    # -- reading --------------------------------------------------------------------------
    def billable(self, vendor: str, action: str | None = None, account: str | None = None) -> int:
        """Units charged (calls, for these APIs) for the vendor, optionally one action/account."""
        with self._lock:
            return sum(
                r.units
                for r in self._billing
                if r.vendor == vendor
                and (action is None or r.action == action)
                and (account is None or r.account == account)
            )

    def billing_records(self, vendor: str | None = None) -> list[BillingRecord]:
        """Every charge in order, with the request id and the fault that hid its answer."""
        with self._lock:
            return [r for r in self._billing if vendor is None or r.vendor == vendor]

    def max_in_flight(self, vendor: str, account: str | None = None) -> int:
        with self._lock:
            return self._max_in_flight.get((vendor, account), 0)

    def current_in_flight(self, vendor: str, account: str | None = None) -> int:
        with self._lock:
            return self._in_flight.get((vendor, account), 0)

    def polls(self, task_id: str) -> int:
        with self._lock:
            return self._polls.get(task_id, 0)

    def requests(self, vendor: str, action: str | None = None) -> int:
        with self._lock:
            return sum(
                n
                for (v, a), n in self._requests.items()
                if v == vendor and (action is None or a == action)
            )

    def snapshot(self) -> dict[str, Any]:
        """Everything as plain JSON data (what ``GET /_emulator/counters`` returns)."""
        with self._lock:
            return {
                "billing": [asdict(r) for r in self._billing],
                "requests": [
                    {"vendor": v, "action": a, "count": n} for (v, a), n in self._requests.items()
                ],
                "polls": dict(self._polls),
                "max_in_flight": [
                    {"vendor": v, "account": a, "max": n}
                    for (v, a), n in self._max_in_flight.items()
                ],
            }
