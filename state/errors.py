"""Errors of the state layer, and the URL masking their messages rely on.

::

    ImageEditError
    ├── IllegalTransition       a named transition attempted from a state that forbids it (a bug)
    ├── StateUnavailableError   the state backend cannot be reached (PostgreSQL down, bad URL)
    └── LockBusy                a per-input lock was not acquired within the timeout asked for
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from prefect_image_edit.errors import ImageEditError

__all__ = ["IllegalTransition", "LockBusy", "StateUnavailableError", "mask_url"]


class IllegalTransition(ImageEditError):
    """A transition that the table in ``state.model`` does not allow from the record's state.

    Args:
        transition: The transition's name, e.g. ``mark_archived``.
        key: The record's content key.
        state: The state the record is in (None: there is no record).
    """

    def __init__(self, transition: str, key: str, state: object | None) -> None:
        self.transition = transition
        self.key = key
        self.state = state
        where = "no record" if state is None else f"state {getattr(state, 'value', state)!r}"
        super().__init__(f"{transition} is not allowed from {where} (key {key})")


class StateUnavailableError(ImageEditError):
    """The pack's state (ledger and locks) cannot be reached; nothing was paid.

    The message names the state URL with its password masked, never the password.
    """

    def __init__(self, url: str, reason: str) -> None:
        self.url = mask_url(url)
        self.reason = reason
        super().__init__(f"the image-edit state at {self.url} is unavailable: {reason}")


class LockBusy(ImageEditError):
    """The per-input lock is held elsewhere and was not freed within the timeout."""

    def __init__(self, key: str, timeout: float | None) -> None:
        self.key = key
        self.timeout = timeout
        super().__init__(f"the lock of {key} is held elsewhere (waited {timeout} s)")


def mask_url(url: str) -> str:
    """``postgresql://user:secret@host/db`` -> ``postgresql://user:***@host/db``.

    Also masks a ``password=`` query parameter; anything unparsable is returned as its scheme
    only, so a malformed URL cannot leak a password either.
    """
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        if "@" in netloc:
            userinfo, host = netloc.rsplit("@", 1)
            if ":" in userinfo:
                userinfo = userinfo.split(":", 1)[0] + ":***"
            netloc = f"{userinfo}@{host}"
        query = "&".join(
            f"{name}=***" if name.lower() == "password" else f"{name}={value}" if sep else name
            for name, sep, value in (item.partition("=") for item in parts.query.split("&"))
            if name
        )
        return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
    except ValueError:
        return url.split(":", 1)[0] + "://***"
