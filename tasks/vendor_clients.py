"""Vendor HTTP clients shared by the items of one batch run: one per account, not one per call.

A vendor client is an HTTP connection pool. Made per paid call, every item of a batch paid for
a new pool, a new connection and its set-up (a few milliseconds of the flow process's CPU per
item, more than the request itself on a busy machine). Inside ``shared_vendor_clients()`` the
paid path (``tasks.erase.Accounts``) takes the account's shared client instead, and the block
closes them all when the run is done. Outside it (a single erase, your own flows) each call
makes and closes its own, as before. Clients belong to the event loop that made them, which is
the one the block runs on.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import Any

import anyio.to_thread
from prefect.blocks.abstract import CredentialsBlock

from prefect_image_edit.vendors._http import shared_ssl_context

__all__ = ["shared_client", "shared_vendor_clients", "warm_vendor_clients"]

_clients: ContextVar[dict[tuple[str, str, int], Any] | None] = ContextVar(
    "prefect_image_edit_vendor_clients", default=None
)


async def warm_vendor_clients() -> None:
    """Load the TLS context every vendor client shares (the CA bundle: ~45 ms of CPU, more on
    a busy machine) in a worker thread, ahead of the first paid call, which would otherwise
    load it on the event loop while holding its vendor slot."""
    await anyio.to_thread.run_sync(shared_ssl_context)


@asynccontextmanager
async def shared_vendor_clients() -> AsyncIterator[None]:
    """Within this block, paid calls share one client per (vendor, account, block)."""
    clients: dict[tuple[str, str, int], Any] = {}
    token = _clients.set(clients)
    try:
        yield
    finally:
        _clients.reset(token)
        for client in clients.values():
            await client.aclose()


def shared_client(vendor: str, account: str, block: CredentialsBlock) -> Any | None:
    """The shared client of this account, made on first use; None outside the block."""
    clients = _clients.get()
    if clients is None:
        return None
    key = (vendor, account, id(block))
    if key not in clients:
        clients[key] = block.get_client()
    return clients[key]
