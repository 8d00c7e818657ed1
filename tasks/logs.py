"""The logger of the step functions: Prefect's run logger in a run, the pack's own outside one.

The step functions (``erase_one`` and the functions under it) run inside Prefect tasks, and
also in-process with no Prefect run at all (the CLI's free path, ``cli._erase_here``), where
``get_run_logger`` would raise ``MissingContextError``.
"""

from __future__ import annotations

import logging
from typing import Any

from prefect import get_run_logger
from prefect.exceptions import MissingContextError

__all__ = ["run_logger"]

PACK_LOGGER = "prefect_image_edit"


def run_logger() -> logging.Logger | logging.LoggerAdapter[Any]:
    """Prefect's run logger inside a flow or task run, else the ``prefect_image_edit`` logger."""
    try:
        return get_run_logger()
    except MissingContextError:
        return logging.getLogger(PACK_LOGGER)
