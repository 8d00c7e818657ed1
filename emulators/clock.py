"""The emulators' clock: real time plus an offset that tests can move forward.

Everything time-based in the emulators reads this clock and nothing else: signature windows
(Tencent ±300 s, Volcengine X-Date skew), result URL expiry, async task durations and retention.
Moving it forward lets a test expire a one-hour URL, or a 24 h task, without waiting. It only
ever adds an offset to the wall clock, so tasks also progress in real time between advances.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

__all__ = ["EmulatorClock"]


class EmulatorClock:
    """Wall-clock time shifted by an adjustable offset, safe to use from any thread."""

    def __init__(self) -> None:
        self._offset = 0.0
        self._lock = threading.Lock()

    def time(self) -> float:
        """Current emulator time as Unix seconds (float)."""
        return time.time() + self._offset

    def now(self) -> datetime:
        """Current emulator time as an aware UTC datetime."""
        return datetime.fromtimestamp(self.time(), UTC)

    @property
    def offset(self) -> float:
        """Seconds the emulator clock runs ahead of (positive) or behind the wall clock."""
        return self._offset

    def advance(self, seconds: float) -> float:
        """Move the clock forward by ``seconds`` (negative moves it back); returns the new time."""
        with self._lock:
            self._offset += float(seconds)
        return self.time()

    def set(self, timestamp: float) -> float:
        """Jump to an absolute Unix time; returns it."""
        with self._lock:
            self._offset = float(timestamp) - time.time()
        return self.time()

    def reset(self) -> None:
        """Back to the wall clock."""
        with self._lock:
            self._offset = 0.0
