"""Which backend is used, decided at call time; an unreachable PostgreSQL is one clear error."""

from __future__ import annotations

import asyncio
import time

import pytest

from prefect_image_edit.state import (
    PaidCall,
    StateUnavailableError,
    mask_url,
    resolve_state,
)
from prefect_image_edit.state.embedded import EmbeddedStore
from prefect_image_edit.state.postgres import PostgresStore
from prefect_image_edit.testing import PostgresServer, free_port

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("postgresql://user:s3cret@db:5432/state", "postgresql://user:***@db:5432/state"),
        ("postgres://user@db/state", "postgres://user@db/state"),
        (
            "postgresql://db/state?user=u&password=s3cret",
            "postgresql://db/state?user=u&password=***",
        ),
        ("postgresql://u:p%40ss@db/s", "postgresql://u:***@db/s"),
    ],
)
def test_passwords_are_masked(url, masked):
    assert mask_url(url) == masked


def test_the_backend_is_chosen_at_call_time(monkeypatch, tmp_path):
    monkeypatch.setenv("PREFECT_IMAGE_EDIT_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("PREFECT_IMAGE_EDIT_STATE_URL", raising=False)
    default = resolve_state()
    assert isinstance(default, EmbeddedStore)
    assert default.directory == (tmp_path / "home" / "ledger").resolve()
    assert default.locks_dir == (tmp_path / "home" / "locks").resolve()
    assert resolve_state() is default

    monkeypatch.setenv("PREFECT_IMAGE_EDIT_STATE_URL", "postgres://u:pw@127.0.0.1:1/db")
    from_env = resolve_state()
    assert isinstance(from_env, PostgresStore) and from_env.url == "postgres://u:***@127.0.0.1:1/db"
    explicit = resolve_state((tmp_path / "mine").as_uri())
    assert isinstance(explicit, EmbeddedStore) and explicit.directory == tmp_path / "mine"

    with pytest.raises(StateUnavailableError, match="unknown scheme 'redis'") as caught:
        resolve_state("redis://:pw@host/0")
    assert "pw" not in str(caught.value)


async def test_a_stopped_postgres_is_one_quick_error_with_the_password_masked():
    with PostgresServer() as server:
        store = resolve_state(server.url)
        await store.begin(PaidCall(key="k", vendor="v", action="a"))
        async with store.lock("k"):
            server.stop()  # the lock dies with the server: leaving the block does not raise
        started = time.monotonic()
        with pytest.raises(StateUnavailableError) as caught:
            await store.get("k")
        assert time.monotonic() - started < 5
        fresh = PostgresStore(server.url)
        with pytest.raises(StateUnavailableError):
            await fresh.get("k")
        for error in (caught.value,):
            message = str(error)
            assert server.password not in message and repr(server.password) not in repr(error)
            assert f"postgresql://postgres:***@127.0.0.1:{server.port}/image_edit" in message
        server.start()  # back up: the same store recovers, nothing was lost
        assert (await store.get("k")).attempts == 1
        async with store.lock("k", timeout=0):
            pass
        await store.close()
        await fresh.close()


async def test_nothing_listening_fails_fast_and_a_bad_password_is_not_shown(postgres_server):
    url = f"postgresql://postgres:hunter2@127.0.0.1:{free_port()}/image_edit"
    started = time.monotonic()
    with pytest.raises(StateUnavailableError, match=r"postgres:\*\*\*@") as caught:
        await PostgresStore(url).pending()
    assert time.monotonic() - started < 5 and "hunter2" not in str(caught.value)

    wrong = postgres_server.url.replace(postgres_server.password, "hunter2")
    with pytest.raises(StateUnavailableError, match="password") as caught:
        await PostgresStore(wrong).get("k")
    assert "hunter2" not in str(caught.value)


async def test_first_uses_racing_create_the_table_once(postgres_server):
    url = postgres_server.create_database("race_" + str(time.monotonic_ns()))
    stores = [PostgresStore(url) for _ in range(4)]  # four "machines", four sets of connections
    try:
        await asyncio.gather(
            *(s.begin(PaidCall(key=f"k{i}", vendor="v", action="a")) for i, s in enumerate(stores))
        )
        assert [r.key for r in await stores[0].pending()] == ["k0", "k1", "k2", "k3"]
    finally:
        for s in stores:
            await s.close()
