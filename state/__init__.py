"""The pack's state: the ledger of paid calls and the per-input locks, behind one interface.

- ``model``: the record, its states and the table of named transitions (pure).
- ``store.StateStore``: the async interface every task, flow and the sweeper uses.
- ``embedded.EmbeddedStore``: files and ``flock`` in a directory (the zero set-up default).
- ``postgres.PostgresStore``: one table and advisory locks, shared by many machines.
- ``resolve_state()``: the store for a URL, ``PREFECT_IMAGE_EDIT_STATE_URL`` or the default.
- ``prefect_locks.StateLockManager``: Prefect's cache isolation on the same locks.

No Prefect imports here except in ``prefect_locks``.
"""

from prefect_image_edit.state.errors import (
    IllegalTransition,
    LockBusy,
    StateUnavailableError,
    mask_url,
)
from prefect_image_edit.state.model import (
    TRANSITIONS,
    CallState,
    PaidCall,
    Repayment,
    RepaymentReason,
)
from prefect_image_edit.state.resolve import STATE_URL_ENV, resolve_state
from prefect_image_edit.state.store import StateStore

__all__ = [
    "STATE_URL_ENV",
    "TRANSITIONS",
    "CallState",
    "IllegalTransition",
    "LockBusy",
    "PaidCall",
    "Repayment",
    "RepaymentReason",
    "StateStore",
    "StateUnavailableError",
    "mask_url",
    "resolve_state",
]
