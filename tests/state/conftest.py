"""Both state backends behind one fixture, each test on its own fresh state."""

from __future__ import annotations

import uuid

import pytest

from prefect_image_edit.state.resolve import build_state

BACKENDS = ["embedded", "postgres"]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(params=BACKENDS)
def state_url(request, tmp_path) -> str:
    """A fresh state's URL (with its password: subprocesses use it): a directory or a database."""
    if request.param == "embedded":
        return (tmp_path / "state").as_uri()
    server = request.getfixturevalue("postgres_server")
    return server.create_database(f"t_{uuid.uuid4().hex[:12]}")


@pytest.fixture
async def store(state_url):
    """The store for ``state_url``, built directly (not through the resolver's cache)."""
    built = build_state(state_url)
    yield built
    await built.close()
