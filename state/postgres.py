"""The PostgreSQL backend: one table for records and staged bytes, advisory locks per input.

Chosen with ``PREFECT_IMAGE_EDIT_STATE_URL=postgresql://user:pass@host:5432/db`` so every
machine of a team shares one ledger and one set of locks.

- Records are rows of ``image_edit_calls`` (the record as JSONB, plus the columns queries
  need); staged result bytes are a BYTEA column of the same row, so a result paid for
  survives an S3 outage. The table is created on first use; concurrent first uses are
  serialised by a transaction-level advisory lock.
- A transition is one transaction: ``SELECT ... FOR UPDATE``, the pure rule, one write.
- The per-input lock is a session advisory lock (``pg_advisory_lock`` of a 64-bit hash of the
  key) held on a connection of its own: PostgreSQL frees it the moment that connection dies.
- asyncpg pools belong to one event loop, so the store keeps one pair of pools per loop.

Connection problems surface as one ``StateUnavailableError`` naming the URL, password masked.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import threading
import weakref
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from prefect_image_edit.state import model
from prefect_image_edit.state.errors import LockBusy, StateUnavailableError, mask_url
from prefect_image_edit.state.model import PENDING_STATES, PaidCall
from prefect_image_edit.state.store import COUNTER_EPSILON, StateStore

__all__ = ["CONNECT_TIMEOUT_S", "TABLE", "PostgresStore", "lock_id"]

_log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 5.0
"""Seconds to wait for a connection before the state is declared unavailable."""

TABLE = "image_edit_calls"
MEMO_TABLE = "image_edit_memo"
COUNTER_TABLE = "image_edit_counters"

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    key         text PRIMARY KEY,
    state       text NOT NULL,
    expires_at  timestamptz,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    record      jsonb NOT NULL,
    staged      bytea
);
CREATE INDEX IF NOT EXISTS {TABLE}_pending ON {TABLE} (expires_at, created_at)
    WHERE state IN ('in_flight', 'submitted', 'ready');
CREATE TABLE IF NOT EXISTS {MEMO_TABLE} (
    key         text PRIMARY KEY,
    value       jsonb NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS {COUNTER_TABLE} (
    key         text PRIMARY KEY,
    total       double precision NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
"""

_UNAVAILABLE: tuple[type[BaseException], ...] = (
    OSError,  # refused, reset, unknown host
    TimeoutError,
    asyncpg.PostgresConnectionError,  # SQLSTATE class 08
    asyncpg.InterfaceError,  # connection closed under us
    asyncpg.exceptions.InternalClientError,  # what asyncpg may say on a connection just lost
    asyncpg.InvalidAuthorizationSpecificationError,  # 28000, 28P01 (bad password)
    asyncpg.InvalidCatalogNameError,  # the database does not exist
    asyncpg.CannotConnectNowError,  # starting up or shutting down
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.TooManyConnectionsError,
)


def lock_id(key: str) -> int:
    """The signed 64-bit advisory lock id of ``key``."""
    return int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "big", signed=True)


_SCHEMA_LOCK = lock_id("prefect-image-edit:schema")


def _dsn(url: str) -> str:
    """Accept SQLAlchemy-style ``postgresql+asyncpg://`` too (the form Prefect's server uses)."""
    parts = urlsplit(url)
    scheme = parts.scheme.split("+", 1)[0]
    return urlunsplit(("postgresql" if scheme == "postgres" else scheme, *parts[1:]))


@dataclass
class _LoopPools:
    ready: asyncio.Lock = field(default_factory=asyncio.Lock)
    data: asyncpg.Pool | None = None
    locks: asyncpg.Pool | None = None


class PostgresStore(StateStore):
    """State in a PostgreSQL database.

    Args:
        url: ``postgresql://user:password@host:port/database``.
        connect_timeout: Seconds before a connection attempt gives up.
        max_lock_connections: Locks held (or waited for) at once per event loop; each uses one
            connection of its own.
    """

    def __init__(
        self,
        url: str,
        *,
        connect_timeout: float = CONNECT_TIMEOUT_S,
        max_lock_connections: int = 64,
    ) -> None:
        self._dsn = _dsn(url)
        self.url = mask_url(url)
        self.connect_timeout = connect_timeout
        self.max_lock_connections = max_lock_connections
        self._loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopPools] = (
            weakref.WeakKeyDictionary()
        )
        self._mutex = threading.Lock()
        self._schema_ready = False

    # -- connections -------------------------------------------------------------------------

    @contextlib.contextmanager
    def _translate(self):
        try:
            yield
        except _UNAVAILABLE as error:
            reason = str(error) or type(error).__name__
            raise StateUnavailableError(self.url, reason.replace(self._dsn, self.url)) from None

    def _for_loop(self) -> _LoopPools:
        loop = asyncio.get_running_loop()
        with self._mutex:
            pools = self._loops.get(loop)
            if pools is None:
                for dead in [other for other in self._loops if other.is_closed()]:
                    del self._loops[dead]  # its connections close as the pools are collected
                pools = self._loops[loop] = _LoopPools()
            return pools

    async def _pools(self) -> _LoopPools:
        pools = self._for_loop()
        if pools.data is not None and pools.locks is not None:
            return pools
        async with pools.ready:
            with self._translate():
                if pools.data is None:
                    pools.data = await asyncpg.create_pool(
                        self._dsn, min_size=1, max_size=10, timeout=self.connect_timeout
                    )
                if not self._schema_ready:
                    await self._create_schema(pools.data)
                if pools.locks is None:
                    pools.locks = await asyncpg.create_pool(
                        self._dsn,
                        min_size=0,
                        max_size=self.max_lock_connections,
                        timeout=self.connect_timeout,
                    )
        return pools

    async def _create_schema(self, pool: asyncpg.Pool) -> None:
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _SCHEMA_LOCK)
            await conn.execute(_SCHEMA)
        self._schema_ready = True

    async def close(self) -> None:
        pools = self._for_loop()
        data, locks, pools.data, pools.locks = pools.data, pools.locks, None, None
        if locks is not None:
            locks.terminate()  # a held lock dies with its connection; do not wait for it
        if data is not None:
            with contextlib.suppress(*_UNAVAILABLE):
                await data.close()

    # -- reads -------------------------------------------------------------------------------

    async def get(self, key: str) -> PaidCall | None:
        pools = await self._pools()
        with self._translate():
            text = await pools.data.fetchval(
                f"SELECT record::text FROM {TABLE} WHERE key = $1", key
            )
        return None if text is None else PaidCall.model_validate_json(text)

    async def staged(self, key: str) -> bytes | None:
        pools = await self._pools()
        with self._translate():
            return await pools.data.fetchval(f"SELECT staged FROM {TABLE} WHERE key = $1", key)

    async def recall(self, keys: list[str]) -> dict[str, dict[str, Any]]:
        if not keys:
            return {}
        pools = await self._pools()
        with self._translate():
            rows = await pools.data.fetch(
                f"SELECT key, value::text FROM {MEMO_TABLE} WHERE key = ANY($1::text[])", keys
            )
        return {row["key"]: json.loads(row["value"]) for row in rows}

    async def add_to_counter(
        self, key: str, amount: float, *, cap: float | None = None
    ) -> float | None:
        # One statement: the row lock of the upsert serialises concurrent adds, and the WHERE
        # clauses refuse an add past the cap without writing anything.
        limit = None if cap is None or amount <= 0 else cap + COUNTER_EPSILON
        pools = await self._pools()
        with self._translate():
            return await pools.data.fetchval(
                f"INSERT INTO {COUNTER_TABLE} AS c (key, total) "
                "SELECT $1, $2::float8 WHERE $3::float8 IS NULL OR $2::float8 <= $3::float8 "
                "ON CONFLICT (key) DO UPDATE SET total = c.total + EXCLUDED.total, "
                "updated_at = now() "
                "WHERE $3::float8 IS NULL OR c.total + EXCLUDED.total <= $3::float8 "
                "RETURNING total",
                key,
                float(amount),
                limit,
            )

    async def counter(self, key: str) -> float:
        pools = await self._pools()
        with self._translate():
            total = await pools.data.fetchval(
                f"SELECT total FROM {COUNTER_TABLE} WHERE key = $1", key
            )
        return float(total or 0.0)

    async def remember(self, key: str, value: dict[str, Any]) -> None:
        pools = await self._pools()
        data = json.dumps(value, sort_keys=True, default=str)
        with self._translate():
            await pools.data.execute(
                f"INSERT INTO {MEMO_TABLE} (key, value, updated_at) VALUES ($1, $2::jsonb, now()) "
                "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, updated_at = now()",
                key,
                data,
            )

    async def pending(self, limit: int | None = None) -> list[PaidCall]:
        pools = await self._pools()
        with self._translate():
            rows = await pools.data.fetch(
                f"SELECT record::text FROM {TABLE} WHERE state = ANY($1::text[]) "
                "ORDER BY expires_at NULLS LAST, created_at LIMIT $2",
                [s.value for s in PENDING_STATES],
                limit,
            )
        return [PaidCall.model_validate_json(row[0]) for row in rows]

    # -- transitions -------------------------------------------------------------------------

    async def _transition(self, key: str, transition: str, **args: Any) -> PaidCall:
        pools = await self._pools()
        with self._translate():
            async with pools.data.acquire() as conn:
                while True:
                    async with conn.transaction():
                        text = await conn.fetchval(
                            f"SELECT record::text FROM {TABLE} WHERE key = $1 FOR UPDATE", key
                        )
                        current = None if text is None else PaidCall.model_validate_json(text)
                        step = model.apply(transition, key, current, **args)
                        if await _write(conn, step, insert=current is None):
                            return step.record
                    # another process created the record meanwhile: read it under its row lock

    # -- the per-input lock ------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def lock(self, key: str, *, timeout: float | None = None) -> AsyncIterator[None]:
        pools = await self._pools()
        ident = lock_id(key)
        with self._translate():
            conn = await pools.locks.acquire()
        try:
            with self._translate():
                await _advisory_lock(conn, ident, key, timeout)
        except LockBusy:
            await _release(pools.locks, conn)  # it holds nothing: reuse it
            raise
        except BaseException:
            # A wait cut short (cancellation, a dead server) must not leave a lock behind on a
            # pooled connection: drop the connection, which frees anything it held.
            _drop(conn)
            await _release(pools.locks, conn)
            raise
        try:
            yield
        finally:
            try:
                if not await conn.fetchval("SELECT pg_advisory_unlock($1)", ident):
                    _log.warning("the lock of %s was no longer held when released", key)
            except Exception as error:
                # The connection died while the lock was held, and the server freed the lock
                # with it. Say so, but do not hide the outcome of the work done under the lock.
                _log.warning("the lock of %s was lost with its connection: %s", key, error)
                _drop(conn)
            except BaseException:
                _drop(conn)
                raise
            finally:
                await _release(pools.locks, conn)


def _drop(conn: asyncpg.Connection) -> None:
    """Close a connection at once (freeing its locks); one already gone is left alone."""
    with contextlib.suppress(asyncpg.InterfaceError):  # the pool detached it when it died
        conn.terminate()


async def _release(pool: asyncpg.Pool, conn: asyncpg.Connection) -> None:
    """Give a lock connection back; one that died on the way is simply dropped by the pool."""
    with contextlib.suppress(*_UNAVAILABLE):
        await pool.release(conn)


async def _advisory_lock(
    conn: asyncpg.Connection, ident: int, key: str, timeout: float | None
) -> None:
    if timeout is None:
        await conn.execute("SELECT pg_advisory_lock($1)", ident)
    elif timeout <= 0:
        if not await conn.fetchval("SELECT pg_try_advisory_lock($1)", ident):
            raise LockBusy(key, timeout)
    else:
        await conn.execute(f"SET lock_timeout = {max(1, round(timeout * 1000))}")
        try:
            await conn.execute("SELECT pg_advisory_lock($1)", ident)
        except asyncpg.LockNotAvailableError:
            raise LockBusy(key, timeout) from None
        finally:
            await conn.execute("RESET lock_timeout")


async def _write(conn: asyncpg.Connection, step: model.Step, *, insert: bool) -> bool:
    """Write ``step``'s record (and bytes); False if an insert lost a race to another writer."""
    record = step.record
    values = [
        record.key,
        record.state.value,
        record.expires_at,
        record.created_at,
        record.updated_at,
        record.model_dump_json(),
    ]
    if insert:
        return bool(
            await conn.fetchval(
                f"INSERT INTO {TABLE} (key, state, expires_at, created_at, updated_at, record, "
                "staged) VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7) "
                "ON CONFLICT (key) DO NOTHING RETURNING true",
                *values,
                step.stage,
            )
        )
    staged = ""
    if step.stage is not None:
        staged, values = ", staged = $7", [*values, step.stage]
    elif step.drop_staged:
        staged = ", staged = NULL"
    await conn.execute(
        f"UPDATE {TABLE} SET state = $2, expires_at = $3, created_at = $4, updated_at = $5, "
        f"record = $6::jsonb{staged} WHERE key = $1",
        *values,
    )
    return True
