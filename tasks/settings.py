"""Where the pack keeps its own state, and the few knobs read from the environment.

Everything lives under ``PREFECT_IMAGE_EDIT_HOME`` (default ``$PREFECT_HOME/image-edit``): the
ledger of paid calls, lock files, and the local archive used when no archive block is given.
The ledger and locks must be on storage shared by every process that may run the same inputs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["PackSettings", "get_settings"]


@dataclass(frozen=True)
class PackSettings:
    home: Path
    retry_backoff_seconds: float
    """Base of the exponential retry backoff of vendor tasks (2 → 2, 4, 8, 16 s)."""
    poll_interval_seconds: float
    """How often async vendor jobs are polled (AILabTools advises 5 s)."""

    @property
    def ledger_dir(self) -> Path:
        return self.home / "ledger"

    @property
    def locks_dir(self) -> Path:
        return self.home / "locks"

    @property
    def local_archive_dir(self) -> Path:
        return Path(os.environ.get("PREFECT_IMAGE_EDIT_ARCHIVE_DIR", self.home / "archive"))


def _prefect_home() -> Path:
    from prefect.settings import PREFECT_HOME

    return Path(PREFECT_HOME.value()).expanduser()


def get_settings() -> PackSettings:
    """Read the settings now (cheap), so tests and users can change the environment."""
    home = os.environ.get("PREFECT_IMAGE_EDIT_HOME")
    return PackSettings(
        home=Path(home).expanduser() if home else _prefect_home() / "image-edit",
        retry_backoff_seconds=float(os.environ.get("PREFECT_IMAGE_EDIT_RETRY_BACKOFF", "2")),
        poll_interval_seconds=float(os.environ.get("PREFECT_IMAGE_EDIT_POLL_INTERVAL", "5")),
    )
