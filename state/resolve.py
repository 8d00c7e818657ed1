"""Which state backend to use, decided when it is needed (never at import).

Order: the URL given, else ``PREFECT_IMAGE_EDIT_STATE_URL``, else the embedded store in the
pack's ledger directory (``PREFECT_IMAGE_EDIT_HOME``/ledger and /locks). ``postgresql://``
(also ``postgres://`` and ``postgresql+asyncpg://``) selects PostgreSQL; ``file:///dir`` an
embedded store in ``dir``.

One store is kept per URL; a PostgreSQL store keeps one connection pool per event loop inside.
Nothing connects here: the first use does, and raises ``StateUnavailableError`` (password
masked) if the database cannot be reached.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from urllib.parse import unquote, urlsplit

from prefect_image_edit.state.errors import StateUnavailableError
from prefect_image_edit.state.store import StateStore

__all__ = ["STATE_URL_ENV", "build_state", "resolve_state"]

STATE_URL_ENV = "PREFECT_IMAGE_EDIT_STATE_URL"

_POSTGRES_SCHEMES = {"postgresql", "postgres", "postgresql+asyncpg"}
_STORES: dict[tuple[str, ...], StateStore] = {}
_LOCK = threading.Lock()


def resolve_state(url: str | None = None) -> StateStore:
    """The state store for ``url``, the environment, or the embedded default.

    Raises:
        StateUnavailableError: the URL's scheme is not one the pack knows.
    """
    url = url or os.environ.get(STATE_URL_ENV) or None
    if url is None:
        from prefect_image_edit.tasks.settings import get_settings

        settings = get_settings()
        key: tuple[str, ...] = ("file", str(settings.ledger_dir), str(settings.locks_dir))
    else:
        key = (url,)
    with _LOCK:
        store = _STORES.get(key)
        if store is None:
            store = _STORES[key] = _build(key)
        return store


def _build(key: tuple[str, ...]) -> StateStore:
    if len(key) == 3:
        from prefect_image_edit.state.embedded import EmbeddedStore

        return EmbeddedStore(key[1], key[2])
    return build_state(key[0])


def build_state(url: str) -> StateStore:
    """A new, uncached store for ``url`` (``resolve_state`` shares one per URL instead)."""
    scheme = urlsplit(url).scheme.lower()
    if scheme in _POSTGRES_SCHEMES:
        from prefect_image_edit.state.postgres import PostgresStore

        return PostgresStore(url)
    if scheme == "file":
        from prefect_image_edit.state.embedded import EmbeddedStore

        return EmbeddedStore(Path(unquote(urlsplit(url).path)))
    raise StateUnavailableError(
        url, f"unknown scheme {scheme or '(none)'!r}: use postgresql://... or file:///..."
    )
